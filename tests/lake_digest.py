"""What "the same data" means when two runs are compared: per partition, the row count
and a digest of the rows sorted on every column, so file layout (row groups, row order
from parallel parsing, compression) does not matter but every value does."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def table_digest(table: pa.Table) -> str:
    ordered = table.sort_by([(name, "ascending") for name in table.column_names])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, ordered.schema) as writer:
        writer.write_table(ordered.combine_chunks())
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def parquet_digest(path: Path) -> tuple[int, str]:
    """(rows, digest) of one partition's data file."""
    table = pq.read_table(path)
    return table.num_rows, table_digest(table)


def local_lake_digests(root: Path) -> dict[str, tuple[int, str]]:
    """(rows, digest) by partition key (colour=/year=/month=) for a local lake."""
    return {
        str(p.parent.relative_to(root)): parquet_digest(p)
        for p in sorted(root.glob("colour=*/*/*/*.parquet"))
    }
