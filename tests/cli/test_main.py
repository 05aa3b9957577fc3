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
        (["--colour", "yellow", "--year", "2021", "--months", "13"], "months: '13'"),
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


REFUSED_UP_FRONT = [
    (["run", "--months", "1-99999999"], "months: '1-99999999': 99999999 is not a month"),
    (["run", "--months", "3-1"], "months: '3-1' ends before it starts"),
    (["run", "--months", "1-13"], "months: '1-13': 13 is not a month (1-12)"),
    (["run", "--months", "1", "--lake", ""], "lake: '' is empty"),
    (["run", "--months", "1", "--lake", "s3://bucket/x"], "unsupported scheme in 's3://bucket/x'"),
    (["run", "--months", "1", "--lake", "gs://"], "lake: 'gs://' names no bucket"),
    (["run", "--months", "1", "--source-url", "notaurl"], "'notaurl' is not an http(s) URL"),
    (["backfill", "green", "2021-03..2019-01"], "ends before it starts"),
]


@pytest.mark.parametrize(("args", "needle"), REFUSED_UP_FRONT, ids=lambda v: " ".join(v)[:40])
def test_parameters_are_refused_before_prefect_starts(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    """Exit 2 with the parameter and the value as written, before Prefect is imported
    (a range is not expanded first; a URL is not retried), and nothing written."""
    command, rest = args[0], args[1:]
    if command == "run":
        rest = ["--colour", "green", "--year", "2020", *rest]
    probe = (
        "import sys; from taxi_etl.cli import main; code = main(sys.argv[1:]);"
        "assert 'prefect' not in sys.modules, 'prefect was imported'; sys.exit(code)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, command, *rest],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert needle in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_lake_that_cannot_be_written_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    lake = str(not_a_folder / "lake")
    args = ["run", "--colour", "green", "--year", "2020", "--months", "1", "--lake", lake]
    assert main([*args, "--source-url", "http://127.0.0.1:9"]) == 2
    assert f"lake: {lake!r} is not writable" in capsys.readouterr().err


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
