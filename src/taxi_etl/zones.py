"""The taxi zone lookup as a typed table in the lake, every revision kept.

The trips carry zone ids; their names and boroughs come from the lookup, which the TLC
revises (in 2024 it renamed zones 264 and 265) and the course mirror keeps an older
copy of. So each revision the source has served is kept, keyed by the first 16 hex
digits of its sha256: ``zones/revision=<sha>/data.parquet``, with a manifest that says
where and when it came from. Loading a revision the lake holds writes nothing.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from taxi_etl import source
from taxi_etl.lake import Lake
from taxi_etl.params import Source
from taxi_etl.schemas import SchemaError
from taxi_etl.settings import Settings

SCHEMA = pa.schema(
    [
        pa.field("LocationID", pa.int64()),
        pa.field("Borough", pa.string()),
        pa.field("Zone", pa.string()),
        pa.field("service_zone", pa.string()),
    ]
)
#: Added to every row, so SQL can pick the newest revision: ``QUALIFY loaded_at =
#: max(loaded_at) OVER ()``.
LOADED_AT = pa.field("loaded_at", pa.timestamp("us", tz="UTC"))


class ZonesManifest(BaseModel):
    revision: str
    source: Source
    source_url: str
    source_sha256: str
    source_etag: str | None = None
    source_last_modified: str | None = None
    rows: int
    loaded_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def revision_key(sha256: str) -> str:
    """Where a revision lives below the lake's root."""
    return f"zones/revision={sha256[:16]}"


def read_lookup(path: Path) -> pa.Table:
    """The lookup CSV as typed columns. ``N/A``, ``NA`` and ``Unknown`` are names here,
    not missing values (pandas' default would make them NaN)."""
    options = pacsv.ConvertOptions(
        column_types=SCHEMA, include_columns=SCHEMA.names, strings_can_be_null=False
    )
    try:
        table = pacsv.read_csv(path, convert_options=options)
    except (pa.ArrowInvalid, KeyError) as exc:
        raise SchemaError(f"{path.name}: not a zone lookup ({exc})") from None
    if table.num_rows == 0 or table["LocationID"].null_count:
        raise SchemaError(f"{path.name}: a zone lookup needs a LocationID on every row")
    return table.select(SCHEMA.names)


def load_zones(lake: Lake, cfg: Settings) -> tuple[ZonesManifest, bool]:
    """The source's current lookup in the lake; (its manifest, whether it was new)."""
    url = source.zones_url(cfg.base_url, cfg.source)
    with tempfile.TemporaryDirectory(prefix="taxi-etl-zones-") as tmp:
        got = source.download(url, Path(tmp) / "taxi_zone_lookup.csv", cfg.source, cfg.retries())
        key = revision_key(got.sha256)
        held = lake.table_manifest(key)
        if held is not None:
            return ZonesManifest.model_validate_json(held), False
        table = read_lookup(got.path)
        now = datetime.now(UTC)
        stamped = table.append_column(LOADED_AT, pa.array([now] * table.num_rows, LOADED_AT.type))
        out = Path(tmp) / "zones.parquet"
        pq.write_table(stamped, out, compression="zstd")
        manifest = ZonesManifest(
            loaded_at=now,
            revision=got.sha256[:16],
            source=cfg.source,
            source_url=got.url,
            source_sha256=got.sha256,
            source_etag=got.etag,
            source_last_modified=got.last_modified,
            rows=table.num_rows,
        )
        lake.publish_table(key, out, manifest.model_dump_json(indent=2).encode())
    return manifest, True
