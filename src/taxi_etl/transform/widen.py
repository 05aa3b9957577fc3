"""A partition of an older schema version onto the current one, without its source.

Columns are only ever added to a schema, at the end, so an older partition is the
current one minus some columns: they are null, unless the source had them and its
values were kept beside the partition (``extra``), in which case they are taken from
there, cast as a load would cast them. Row group by row group; the extra file is read
whole, as it holds only what loads could not place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from taxi_etl.schemas import FLAG_COLUMN, DatasetSchema
from taxi_etl.transform.cast import cast
from taxi_etl.transform.conform import TransformStats, memory_pool
from taxi_etl.transform.writer import COMPRESSION, staged, writer_options


@dataclass
class Widened:
    rows: int
    bytes: int
    #: Canonical columns the old partition lacked -> nulls in the new one.
    added: dict[str, int] = field(default_factory=dict)
    #: Source columns taken in from the extra file (no longer kept there).
    taken: list[str] = field(default_factory=list)


def takeable(schema: DatasetSchema, extra_columns: list[str]) -> dict[str, str]:
    """Kept source columns the schema now has a canonical column for: raw -> canonical."""
    out: dict[str, str] = {}
    for raw in extra_columns:
        col = schema.lookup(raw)
        if col is not None and col.name not in out.values():
            out[raw] = col.name
    return out


def widen(
    old: Path, dst: Path, schema: DatasetSchema, extra: Path | None = None
) -> Widened:
    """Write `old` onto `schema` at `dst`, atomically; take in what `extra` keeps of
    the columns the schema has gained."""
    source = pq.ParquetFile(old)
    have = set(source.schema_arrow.names)
    kept = pa.ipc.open_file(str(extra)).read_all() if extra is not None else None
    take = {
        raw: name
        for raw, name in takeable(schema, kept.column_names if kept else []).items()
        if name not in have
    }
    stats = TransformStats(colour=schema.colour.value)
    result = Widened(rows=0, bytes=0, taken=list(take))
    mem = memory_pool()
    with (
        staged(dst) as tmp,
        pq.ParquetWriter(tmp, schema.arrow, **writer_options(schema, COMPRESSION, mem)) as pw,
    ):
        for i in range(source.num_row_groups):
            group = source.read_row_group(i)
            n = group.num_rows
            arrays = []
            for col in schema.columns:
                if col.name in have:
                    arr = group[col.name].combine_chunks()
                    arrays.append(arr if arr.type == col.arrow_type else arr.cast(col.arrow_type))
                    continue
                raw = next((r for r, c in take.items() if c == col.name), None)
                if raw is not None and kept is not None:
                    values = kept[raw].slice(result.rows, n).combine_chunks()
                    arr, _ = cast(values, col, stats, mem)
                else:
                    arr = pa.nulls(n, col.arrow_type)
                result.added[col.name] = result.added.get(col.name, 0) + arr.null_count
                arrays.append(arr)
            arrays.append(group[FLAG_COLUMN].combine_chunks())
            pw.write_table(pa.Table.from_arrays(arrays, schema=schema.arrow), row_group_size=n)
            result.rows += n
    result.bytes = dst.stat().st_size
    return result


def drop_taken(extra: Path, taken: list[str], dst: Path) -> Path | None:
    """The extra file without the columns taken into the partition; None if empty."""
    table = pa.ipc.open_file(str(extra)).read_all()
    rest = table.select([c for c in table.column_names if c not in taken])
    if not rest.num_columns:
        return None
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with (
        pa.OSFile(str(dst), "wb") as sink,
        pa.ipc.new_file(sink, rest.schema, options=options) as out,
    ):
        out.write_table(rest)
    return dst
