"""What a partition holds and where it came from, its name in the lake, and what a
damaged one says."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from taxi_etl.params import Partition, Source

_PARQUET = "application/vnd.apache.parquet"
DATA_FILE = "data.parquet"
MANIFEST_FILE = "_manifest.json"
#: What the partition cannot hold, kept row for row beside it (transform/extra.py).
EXTRA_FILE = "_extra.arrow"
#: The manifest of a publish under way, written before its data (see Lake.publish).
PENDING_FILE = "_manifest.pending.json"
#: The prefix of a damaged partition's objects, moved out of readers' way (verify).
QUARANTINE = "_damaged."


class ManifestDamaged(ValueError):
    """A partition's manifest that cannot be read (truncated, edited by hand): that
    month is not loaded and is loaded again; no other month is affected."""

    def __init__(self, uri: str, why: str) -> None:
        super().__init__(f"manifest damaged: {uri}: {why}")
        self.uri = uri


def partition_key(part: Partition) -> str:
    """The hive path of a partition under a lake's root, the single place it is spelt out."""
    return f"colour={part.colour.value}/year={part.year}/month={part.month:02d}"


class Manifest(BaseModel):
    """What a partition holds and where it came from; its presence marks it complete.

    The source's ETag, Last-Modified and size are what its host said of the file when
    it was loaded, so a later run can ask the host whether the file changed without
    downloading it. Manifests from before they were recorded say ``dtc`` and nothing
    else: such a month is compared by downloading it once and hashing."""

    partition: str
    source: Source = Source.dtc
    source_url: str
    source_sha256: str
    source_bytes: int
    source_etag: str | None = None
    source_last_modified: str | None = None
    #: Source columns that are not in the partition (a leaked index, unknown columns).
    columns_not_loaded: list[str] = Field(default_factory=list)
    rows: int
    bytes: int = Field(description="size of the data object")
    #: sha256 of the data object as written (None in manifests before it was recorded).
    data_sha256: str | None = None
    #: Size of ``_extra.arrow``, when the source held values the partition cannot (a
    #: column no era knows, unmapped codes), and source column -> rows kept there.
    extra_bytes: int | None = None
    extra_sha256: str | None = None
    extra: dict[str, int] = Field(default_factory=dict)
    schema_version: int
    flow_run_id: str | None = None
    written_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    stats: dict[str, Any] = Field(default_factory=dict)
    checks: list[dict[str, Any]] = Field(default_factory=list)


def _json(manifest: BaseModel) -> bytes:
    return manifest.model_dump_json(indent=2).encode()
