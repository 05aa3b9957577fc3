"""Settings: the TAXI_ETL_* names in one place, and the environment of another process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from taxi_etl.params import Runner
from taxi_etl.settings import Settings


def test_env_names_every_value_set_and_nothing_else() -> None:
    cfg = Settings.of(lake="gs://b/p", cache=Path("/tmp/c"), upload_timeout=900, runner="dask")
    assert cfg.env() == {
        "TAXI_ETL_LAKE": "gs://b/p",
        "TAXI_ETL_CACHE": "/tmp/c",
        "TAXI_ETL_UPLOAD_TIMEOUT": "900.0",
        "TAXI_ETL_RUNNER": "dask",
    }


def test_of_ignores_this_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A container's settings are built here from what it is given, not from ours."""
    monkeypatch.setenv("TAXI_ETL_LAKE", "/here/only")
    monkeypatch.setenv("TAXI_ETL_SOURCE_URL", "http://127.0.0.1:9")
    cfg = Settings.of(cache="/c")
    assert cfg.lake == "data/lake"
    assert cfg.env() == {"TAXI_ETL_CACHE": "/c"}
    assert Settings().lake == "/here/only"


def test_env_round_trips_through_a_child_process(tmp_path: Path) -> None:
    cfg = Settings.of(
        lake=str(tmp_path / "lake"), download_attempts=7, runner=Runner.local, notify_block="w/x"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXI_ETL_")}
    code = "from taxi_etl.settings import Settings; print(Settings().model_dump_json())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, **cfg.env()},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Settings.model_validate_json(out) == Settings.of(**cfg.model_dump())


def test_overrides_win_and_empty_ones_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXI_ETL_LAKE", "/from/env")
    assert Settings.with_overrides(lake="/given").lake == "/given"
    assert Settings.with_overrides(lake="", source_url=None).lake == "/from/env"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("download_attempts", 0),
        ("runner", "spark"),
        ("dask_address", "no port"),
        ("upload_timeout", -1),
    ],
)
def test_bad_values_are_refused(name: str, value: object) -> None:
    with pytest.raises(ValidationError, match=name):
        Settings.of(**{name: value})
