"""A TLC month as the TLC publishes it: the whole month in ONE row group, zstd.

The real 2024 files (green 2024-03, which the tests hold the generator against: parquet-
cpp-arrow 14, a single row group, zstd, dictionaries on, no column statistics, an
embedded ``ARROW:schema`` saying ``timestamp[ns]`` over microsecond columns) are what a
reader of a 20 M-row fhvhv month meets.
:func:`taxi_etl.devtools.tlc_sample.generate_month` makes the values (realistic
distributions, pickups sorted over the month, the exact :class:`Truth`), but one row
group through it would hold the month as Arrow arrays (~4 GB for 20 M fhvhv rows) on the
heap. So the month is generated in 1 Mi-row groups, spilled to an uncompressed Arrow IPC
file, memory-mapped back as one table (file-backed pages the kernel can drop) and
written with a single ``write_table(row_group_size=rows)``: 20 M rows take ~65 s, with
0.65 GB of heap (peak RSS 4.2 GB, the rest the map). The values and the truth are the
generator's; only the layout and the writer's options change. The same seed gives the
same bytes.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from taxi_etl.devtools import tlc_sample
from taxi_etl.devtools.tlc_months import source_schema

#: Rows per row group of the intermediate file, which bounds the generator's memory.
STAGE_ROWS = 1 << 20
#: How the real files were written: parquet-cpp-arrow 14's defaults (dictionaries on every
#: column, 1 MB data pages, 1 MB dictionary page limit, zstd's default level) and no
#: statistics. Arrow 14 cut pages by size only; pyarrow >= 22 also cuts every 20,000 rows,
#: which turns a month into ~1,000 pages per column where the TLC's files have a few.
REAL_OPTIONS: dict[str, object] = {
    "compression": "zstd",
    "max_rows_per_page": 1 << 40,
    "write_statistics": False,
    "coerce_timestamps": "us",
    "allow_truncated_timestamps": True,
    "store_schema": True,
}


def generate_one_group(
    path: Path, dataset: str, year: int, month: int, rows: int, *, seed: int
) -> tlc_sample.Truth:
    """Write the month at `path` as one zstd row group; return the generator's truth."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stage = path.with_name(f".{path.name}.stage.parquet")
    spill = path.with_name(f".{path.name}.arrow")
    part = path.with_name(f".{path.name}.part")
    schema = source_schema(dataset, year, month, embedded=True)
    try:
        t0 = time.perf_counter()
        truth = tlc_sample.generate_month(
            stage, dataset, year, month, rows, seed=seed, row_group_rows=STAGE_ROWS
        )
        t1 = time.perf_counter()
        # pyarrow reads the generated microseconds as timestamp[us]; the embedded schema
        # must say ns again, so each batch is cast to it on the way to the spill file.
        with pa.OSFile(str(spill), "wb") as sink, pa.ipc.new_file(sink, schema) as ipc:
            for batch in pq.ParquetFile(stage).iter_batches(batch_size=1 << 17):
                ipc.write_batch(batch.cast(schema))
        stage.unlink()
        t2 = time.perf_counter()
        with pa.memory_map(str(spill)) as mapped:
            table = pa.ipc.open_file(mapped).read_all()  # zero-copy views of the map
            with pq.ParquetWriter(part, schema, **REAL_OPTIONS) as writer:
                writer.write_table(table, row_group_size=table.num_rows)
            del table
        os.replace(part, path)
        t3 = time.perf_counter()
    finally:
        for tmp in (stage, spill, part):
            tmp.unlink(missing_ok=True)
    print(
        f"  generated {t1 - t0:.1f}s, spilled {t2 - t1:.1f}s, one row group (zstd) {t3 - t2:.1f}s",
        flush=True,
    )
    return dataclasses.replace(truth, row_groups=1)
