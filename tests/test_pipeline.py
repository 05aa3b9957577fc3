"""One month through the plain pipeline functions, with no Prefect involved."""

from __future__ import annotations

from pathlib import Path

import pytest

from taxi_etl import pipeline, quality
from taxi_etl.lake import Partition, open_lake
from taxi_etl.params import Colour
from taxi_etl.settings import Settings

PART = Partition(Colour.fhv, 2019, 2)


def test_load_month_then_skip(workdir: Path, mirror_url: str) -> None:
    cfg = Settings(source_url=mirror_url)
    first = pipeline.load_month(PART, cfg, flow_run_id="run-1")
    assert first.status == "loaded" and first.rows == 25_000
    again = pipeline.load_month(PART, cfg)
    assert again.status == "skipped" and again.uri == first.uri
    forced = pipeline.load_month(PART, cfg, force=True, flow_run_id="run-2")
    assert forced.status == "loaded"
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
