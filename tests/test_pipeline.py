"""One month through the plain pipeline functions, with no Prefect involved."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from taxi_etl import pipeline, quality, transform
from taxi_etl.lake import open_lake
from taxi_etl.params import Colour, Partition
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
