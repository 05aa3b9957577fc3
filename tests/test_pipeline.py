"""One month through the plain pipeline functions, with no Prefect involved."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taxi_etl import pipeline, quality, transform
from taxi_etl.lake import open_lake
from taxi_etl.params import Colour, Partition
from taxi_etl.schemas import for_colour
from taxi_etl.settings import Settings

PART = Partition(Colour.fhv, 2019, 2)


def test_load_month_then_skip(workdir: Path, mirror_url: str) -> None:
    cfg = Settings(source_url=mirror_url)
    first = pipeline.load_month(PART, cfg, flow_run_id="run-1")
    assert first.status == "loaded" and first.rows == 25_000
    again = pipeline.load_month(PART, cfg)
    assert again.status == "skipped" and again.uri == first.uri
    forced = pipeline.load_month(PART, cfg, force=True, flow_run_id="run-2")
    assert forced.status == "reloaded" and forced.reason == "forced"
    manifest = open_lake(cfg.lake).loaded(PART)
    assert manifest is not None and manifest.flow_run_id == "run-2"
    assert not any((workdir / "cache" / "staging").iterdir())


def test_failed_check_publishes_nothing(
    workdir: Path, mirror_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(quality.POLICY, "rows_positive", quality.Rule(quality.Severity.fail, 10**9))
    with pytest.raises(quality.QualityError, match="rows_positive"):
        pipeline.load_month(PART, Settings(source_url=mirror_url))
    assert not (workdir / "lake").exists()
    assert not any((workdir / "cache" / "staging").iterdir())


def test_transforms_wait_for_a_slot(
    workdir: Path, mirror_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Months in flight may outnumber transform slots; no more than the slots transform
    at once, and every slot is used."""
    cfg = Settings(source_url=mirror_url, transform_slots=2)
    parts = [Partition(Colour.yellow, 2021, m) for m in (1, 2, 3)] + [PART]
    downloads = [pipeline.fetch(p, cfg) for p in parts]
    inside, peak, changed = 0, 0, threading.Condition()
    real = transform.convert

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal inside, peak
        with changed:
            inside += 1
            peak = max(peak, inside)
            changed.notify_all()
            changed.wait_for(lambda: inside >= 2, timeout=5)  # slot-holders overlap
        try:
            return real(*args, **kwargs)
        finally:
            with changed:
                inside -= 1

    monkeypatch.setattr(transform, "convert", counting)
    with ThreadPoolExecutor(len(parts)) as pool:
        jobs = [
            pool.submit(pipeline.transform_month, p, d, cfg)
            for p, d in zip(parts, downloads, strict=True)
        ]
        done = [job.result() for job in jobs]
    assert peak == 2
    assert [t.stats.rows for t in done] == [
        pq.ParquetFile(t.parquet).metadata.num_rows for t in done
    ]


def _age(lake_root: Path, part: Partition, *, drop: str, kept: list[str] | None = None) -> None:
    """Make a loaded partition look written by the schema version before `drop` was
    added: without that column, and, with `kept`, with those values kept beside it
    (the column unknown to that version), as a load then did."""
    import json

    from taxi_etl.lake import DATA_FILE, EXTRA_FILE, MANIFEST_FILE, partition_key

    folder = lake_root / partition_key(part)
    table = pq.read_table(folder / DATA_FILE)
    values = table[drop]
    pq.write_table(table.drop_columns([drop]), folder / DATA_FILE)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["schema_version"] -= 1
    manifest["bytes"] = (folder / DATA_FILE).stat().st_size
    manifest["stats"]["columns_null_filled"].append(drop)
    if kept is not None:
        manifest["columns_not_loaded"].append(drop)
        column = pa.array(kept, pa.string())
        with pa.OSFile(str(folder / EXTRA_FILE), "wb") as sink, pa.ipc.new_file(
            sink, pa.schema([(drop, pa.string())])
        ) as out:
            out.write_table(pa.table({drop: column}))
        manifest["extra_bytes"] = (folder / EXTRA_FILE).stat().st_size
        manifest["extra"] = {drop: len(kept)}
    elif values.null_count < len(values):
        manifest["columns_not_loaded"].append(drop)  # the source had it; nothing kept
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_an_older_schema_is_upgraded_in_place_without_a_download(
    workdir: Path, mirror_url: str
) -> None:
    """request_source joined yellow in schema v3: a v2 partition gains it, null, from
    the lake alone, and reads as one table with the months loaded since."""
    cfg = Settings(source_url=mirror_url)
    part = Partition(Colour.yellow, 2021, 1)
    first = pipeline.load_month(part, cfg)
    pipeline.download_path(part, cfg).unlink()  # a download would bring it back
    _age(workdir / "lake", part, drop="request_source")
    again = pipeline.load_month(part, cfg)
    assert again.status == "upgraded" and again.reason == "schema v2 -> v3"
    assert again.rows == first.rows
    assert not pipeline.download_path(part, cfg).exists()
    manifest = open_lake(cfg.lake).loaded(part)
    assert manifest is not None and manifest.schema_version == 3
    table = pq.read_table(workdir / "lake" / "colour=yellow/year=2021/month=01/data.parquet")
    assert table.schema.equals(for_colour("yellow").arrow, check_metadata=True)
    assert table["request_source"].null_count == table.num_rows
    assert pipeline.load_month(part, cfg).status == "skipped"


def test_an_upgrade_takes_in_what_was_kept_beside_the_partition(
    workdir: Path, mirror_url: str
) -> None:
    cfg = Settings(source_url=mirror_url)
    part = Partition(Colour.yellow, 2021, 1)
    first = pipeline.load_month(part, cfg)
    assert first.rows is not None
    kept = ["app" if i % 3 else None for i in range(first.rows)]
    _age(workdir / "lake", part, drop="request_source", kept=kept)
    folder = workdir / "lake" / "colour=yellow/year=2021/month=01"
    assert (folder / "_extra.arrow").exists()
    assert pipeline.load_month(part, cfg).status == "upgraded"
    table = pq.read_table(folder / "data.parquet")
    assert table["request_source"].to_pylist() == kept
    assert not (folder / "_extra.arrow").exists()  # nothing left to keep
    manifest = open_lake(cfg.lake).loaded(part)
    assert manifest is not None
    assert manifest.extra_bytes is None and manifest.extra == {}
    assert "request_source" not in manifest.columns_not_loaded


def test_a_column_its_source_had_and_nothing_kept_is_reloaded(
    workdir: Path, mirror_url: str
) -> None:
    """A partition loaded before values were kept beside it lost them: only its source
    can give them back."""
    cfg = Settings(source_url=mirror_url)
    part = Partition(Colour.yellow, 2021, 1)
    pipeline.load_month(part, cfg)
    folder = workdir / "lake" / "colour=yellow/year=2021/month=01"
    table = pq.read_table(folder / "data.parquet")
    with_values = table.set_column(
        table.schema.get_field_index("request_source"),
        "request_source",
        pa.array(["app"] * table.num_rows, pa.string()),
    )
    pq.write_table(with_values, folder / "data.parquet")
    _age(workdir / "lake", part, drop="request_source")
    again = pipeline.load_month(part, cfg)
    assert again.status == "reloaded"
    assert again.reason == "its source's request_source has a column now"
