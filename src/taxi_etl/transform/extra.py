"""What the source held that the canonical partition cannot, kept beside it.

A column no era of the schema knows (the TLC added ``request_source`` in 2026 before
this project knew it, and every month since lost it), a code the data dictionary has
no value for, a timestamp's digits below the microsecond: each is kept here as the
source wrote it, row for row with the partition (null where the partition holds the
value), so nothing is lost and a later schema can take it in without a download.

It is an Arrow IPC file (zstd), written only when there is something to keep: ``_extra.
arrow`` beside a partition's ``data.parquet``, ``_NAME.extra.arrow`` beside ``convert``'s
``NAME.parquet``. Not a ``.parquet`` file, so no glob over a dataset's ``*.parquet``
(DuckDB, BigQuery) mistakes it for trips, and named with a leading ``_``, which
``pyarrow.dataset`` discovery over a folder skips; pyarrow, pandas (``read_feather``),
Polars and DuckDB read it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa

from taxi_etl.schemas import ColumnMap, Kind

_CHUNK = 1 << 16  # rows of nulls written at a time before the first value


def extra_path(dst: Path) -> Path:
    """Where ``convert`` keeps what ``dst`` cannot hold."""
    return dst.with_name(f"_{dst.stem}.extra.arrow")


def extra_schema(cmap: ColumnMap, types: Mapping[str, pa.DataType]) -> pa.Schema:
    """Every source column that may have values to keep: unknown columns in their own
    type, coded and timestamp columns as text. `types`: the source's column types."""
    fields = [pa.field(raw, _plain(types.get(raw, pa.string()))) for raw in cmap.unknown]
    for raw, canonical in cmap.source_to_canonical.items():
        col = cmap.schema.column(canonical)
        if col.codes is not None or col.kind is Kind.TS:
            fields.append(pa.field(raw, pa.string()))
    return pa.schema(fields)


def _plain(type_: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(type_):
        return _plain(type_.value_type)
    return pa.string() if pa.types.is_large_string(type_) or pa.types.is_null(type_) else type_


class ExtraWriter:
    """Writes kept values in the partition's row order, opening the file only at the
    first value: before that, only the number of rows is remembered."""

    def __init__(self, dst: Path, schema: pa.Schema) -> None:
        self.dst, self.schema = dst, schema
        self.tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.tmp")
        self._writer: pa.ipc.RecordBatchFileWriter | None = None
        self._sink: pa.OSFile | None = None
        self._before = 0  # rows seen before the first value
        self._nulls: dict[pa.DataType, pa.Array] = {}
        self._held: set[str] = set()  # columns with at least one value

    def _null(self, n: int, type_: pa.DataType) -> pa.Array:
        arr = self._nulls.get(type_)
        if arr is None or len(arr) < n:
            arr = self._nulls[type_] = pa.nulls(max(n, _CHUNK), type_)
        return arr.slice(0, n)

    def _write(self, n: int, values: Mapping[str, pa.Array]) -> None:
        assert self._writer is not None
        arrays = []
        for f in self.schema:
            arr = values.get(f.name)
            if arr is None:
                arr = self._null(n, f.type)
            elif arr.type != f.type:
                arr = arr.cast(f.type)
            if arr.null_count < n:
                self._held.add(f.name)
            arrays.append(arr)
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))

    def add(self, n: int, values: Mapping[str, pa.Array]) -> None:
        """The kept values of the next `n` rows (any column may be missing: null)."""
        if self._writer is None:
            if not any(len(a) > a.null_count for a in values.values()):
                self._before += n
                return
            self.dst.parent.mkdir(parents=True, exist_ok=True)
            self._sink = pa.OSFile(str(self.tmp), "wb")
            options = pa.ipc.IpcWriteOptions(compression="zstd")
            self._writer = pa.ipc.new_file(self._sink, self.schema, options=options)
            for start in range(0, self._before, _CHUNK):
                self._write(min(_CHUNK, self._before - start), {})
        self._write(n, values)

    def finish(self) -> Path | None:
        """Close the file and move it onto `dst`; None (and no file) if nothing was kept.
        Call only once the partition itself is complete."""
        self.dst.unlink(missing_ok=True)  # a kept file of an earlier load is not this one's
        if self._writer is None:
            return None
        self._close()
        if len(self._held) < len(self.schema):
            self._prune()
        os.replace(self.tmp, self.dst)
        return self.dst

    def _prune(self) -> None:
        """Rewrite the file with only the columns that hold values, a batch at a time."""
        names = [f.name for f in self.schema if f.name in self._held]
        pruned = self.tmp.with_suffix(".pruned")
        try:
            with pa.ipc.open_file(str(self.tmp)) as src, pa.OSFile(str(pruned), "wb") as sink:
                schema = pa.schema([self.schema.field(n) for n in names])
                options = pa.ipc.IpcWriteOptions(compression="zstd")
                with pa.ipc.new_file(sink, schema, options=options) as out:
                    for i in range(src.num_record_batches):
                        out.write_batch(src.get_batch(i).select(names))
            os.replace(pruned, self.tmp)
        finally:
            pruned.unlink(missing_ok=True)

    def _close(self) -> None:
        writer, sink, self._writer, self._sink = self._writer, self._sink, None, None
        if writer is not None:
            writer.close()
        if sink is not None:
            sink.close()

    def abandon(self) -> None:
        """Stop without keeping anything (a no-op after `finish`)."""
        self._close()
        self.tmp.unlink(missing_ok=True)
