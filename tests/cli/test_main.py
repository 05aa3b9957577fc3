"""The command line itself: what is refused, and with which exit status, before any run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from taxi_etl.cli import main


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taxi_etl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--colour", "yellow", "--year", "2021", "--months", "13"], "months.0"),
        (["--colour", "yellow", "--year", "2100", "--months", "1"], "year"),
        (["--colour", "yellow", "--year", "2021", "--months", "1", "1"], "duplicate"),
        (["--colour", "yellow", "--year", "2021", "--months", "jan"], "months"),
    ],
)
def test_bad_parameters_exit_2_and_write_nothing(
    workdir: Path, args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", *args, "--source-url", "http://127.0.0.1:9"]) == 2
    assert needle in capsys.readouterr().err
    assert list(workdir.iterdir()) == []


def test_unknown_colour_is_a_usage_error(workdir: Path) -> None:
    proc = cli("run", "--colour", "purple", "--year", "2021", "--months", "1", cwd=workdir)
    assert proc.returncode == 2
    assert "colour" in proc.stderr
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize(
    "abbreviated",
    [["--lak", "x"], ["--sourc", "tlc"], ["--source-u", "http://127.0.0.1:9"], ["--conc", "1"]],
)
def test_abbreviated_options_are_refused(
    workdir: Path, abbreviated: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse would take `--lak` for `--lake` (or a future `--source` for
    `--source-url`) without a word; a typo must not change what is loaded."""
    args = ["run", "--colour", "green", "--year", "2020", "--months", "1", *abbreviated]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err
    assert list(workdir.iterdir()) == []


def test_convert_missing_input_exits_2(tmp_path: Path) -> None:
    proc = cli(
        "convert", "--colour", "fhv", str(tmp_path / "nope.csv.gz"), str(tmp_path / "o.parquet")
    )
    assert proc.returncode == 2
    assert "not a file" in proc.stderr


def test_bad_ranges_exit_2(workdir: Path) -> None:
    assert main(["backfill", "yellow", "2021-07..2021-01"]) == 2
    assert main(["backfill", "yellow", "2021-13"]) == 2
    assert main(["backfill", "yellow", "2021-01..2021-02", "--concurrency", "0"]) == 2
    assert list(workdir.iterdir()) == []
