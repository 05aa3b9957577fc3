"""The taxi-etl command: exit codes, convert, run and the offline demo."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from taxi_etl import source
from taxi_etl.cli import main
from taxi_etl.devtools import sample
from taxi_etl.devtools.demo import DEMO_SETS, DEMO_TLC_SETS, catch_up_months
from taxi_etl.lake import DATA_FILE, partition_key
from taxi_etl.params import Partition
from taxi_etl.schemas import for_colour


def test_run_loads_and_reruns_as_noop(
    workdir: Path, mirror_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "run",
        "--colour",
        "green",
        "--year",
        "2020",
        "--months",
        "1-2",
        "--source-url",
        mirror_url,
        "--lake",
        str(workdir / "mylake"),
    ]
    assert main(args) == 0
    assert "loaded" in capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out.count("skipped") == 2
    assert ds.dataset(workdir / "mylake", partitioning="hive").count_rows() == 24_000


def test_run_exits_1_when_a_month_is_not_published(
    workdir: Path, mirror_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "run",
                "--colour",
                "green",
                "--year",
                "2020",
                "--months",
                "12",
                "--source-url",
                mirror_url,
            ]
        )
        == 1
    )
    assert "not_published" in capsys.readouterr().out


def test_convert_needs_no_prefect(tmp_path: Path) -> None:
    src = tmp_path / source.file_name("fhv", 2019, 1)
    sample.generate_month(src, "fhv", 2019, 1, 10_000, header="fhv_2019")
    probe = (
        "import sys, runpy; sys.argv=['taxi-etl', *sys.argv[1:]];"
        "from taxi_etl.cli import main; code = main();"
        "assert 'prefect' not in sys.modules, 'convert imported prefect';"
        "sys.exit(code)"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            probe,
            "convert",
            "--colour",
            "fhv",
            str(src),
            str(tmp_path / "o.parquet"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "10,000 rows" in proc.stdout
    assert pq.read_schema(tmp_path / "o.parquet").equals(for_colour("fhv").arrow)


def test_convert_says_what_it_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A header the schema does not know leaves columns null: convert says which, keeps
    the unknown ones beside its output, and still writes a month that passes run's
    fail checks."""
    src = tmp_path / source.file_name("yellow", 2021, 1)
    sample.generate_month(src, "yellow", 2021, 1, 2_000)
    renamed = tmp_path / "renamed" / src.name  # the same month: its content is judged
    renamed.parent.mkdir()
    with gzip.open(src, "rt") as fh, gzip.open(renamed, "wt") as out:
        out.write(fh.readline().replace("RatecodeID", "rate_code_id"))
        out.write(fh.read())
    assert main(["convert", "--colour", "yellow", str(renamed), str(tmp_path / "o.parquet")]) == 0
    said = capsys.readouterr().out
    assert "source columns not loaded: rate_code_id" in said
    assert "not in the file (null):" in said and "RatecodeID" in said
    assert "kept as the source wrote them, in _o.extra.arrow: rate_code_id (" in said
    assert "warning: unknown_columns" in said
    assert (tmp_path / "o.parquet").exists() and (tmp_path / "_o.extra.arrow").exists()


def test_convert_applies_runs_fail_checks_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Renamed location ids leave a key column null in every row: run refuses such a
    month, and so does convert (exit 1, no file)."""
    src = tmp_path / source.file_name("yellow", 2021, 1)
    sample.generate_month(src, "yellow", 2021, 1, 2_000)
    renamed = tmp_path / "renamed" / src.name
    renamed.parent.mkdir()
    with gzip.open(src, "rt") as fh, gzip.open(renamed, "wt") as out:
        header = fh.readline().replace("PULocationID", "pu_loc").replace("DOLocationID", "do_loc")
        out.write(header)
        out.write(fh.read())
    dst = tmp_path / "o.parquet"
    dst.write_bytes(b"an earlier conversion")
    assert main(["convert", "--colour", "yellow", str(renamed), str(dst)]) == 1
    said = capsys.readouterr().out
    assert "not written: key_null_share=1.0" in said
    assert dst.read_bytes() == b"an earlier conversion"  # left as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, "renamed", dst.name])
    assert [p.name for p in renamed.parent.iterdir()] == [renamed.name]


def test_demo_runs_offline_and_reads_back(tmp_path: Path) -> None:
    """The README's first command, at a small size, in a fresh directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TAXI_ETL_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "taxi_etl", "demo", "--rows", "5000"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lake = tmp_path / "data" / "demo" / "lake"
    # Every month of the course's sets, of the TLC's and of the catch-up, once (fhv
    # 2019-02 is in both sources: the course's load is kept), each in one schema.
    parts = {Partition(c.colour, c.year, m) for c in DEMO_SETS for m in c.months}
    parts |= {Partition(t.dataset, t.year, m) for t in DEMO_TLC_SETS for m in t.months}
    parts |= {Partition(d, y, m) for d, y, m in catch_up_months()}
    colours = {p.colour.value for p in parts}
    assert sorted(p.name for p in lake.iterdir() if p.name.startswith("colour=")) == sorted(
        f"colour={c}" for c in colours
    )
    files = {str(f.relative_to(lake)) for c in colours for f in lake.glob(f"colour={c}/**/*")}
    assert {f for f in files if f.endswith(".parquet")} == {
        f"{partition_key(p)}/{DATA_FILE}" for p in parts
    }
    for colour in colours:
        dataset = ds.dataset(lake / f"colour={colour}", partitioning="hive")
        assert {f.physical_schema for f in dataset.get_fragments()} == {for_colour(colour).arrow}
    assert (tmp_path / ".prefect").is_dir()  # Prefect state stays in the project folder
    assert "one schema" in proc.stdout


def test_run_options_are_the_flow_runs_parameters(workdir: Path, mirror_url: str) -> None:
    """What the CLI was told shows on the run's page in the UI, not None."""
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    lake = str(workdir / "param-lake")
    args = ["run", "--colour", "green", "--year", "2020", "--months", "2"]
    options = ["--lake", lake, "--source-url", mirror_url, "--runner", "local"]
    assert main([*args, *options, "--concurrency", "1"]) == 0

    async def latest() -> dict[str, object]:
        async with get_client() as client:
            [run] = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["etl_parent_flow"])),
                sort=FlowRunSort.START_TIME_DESC,
                limit=1,
            )
            return dict(run.parameters)

    parameters = asyncio.run(latest())
    assert parameters["lake"] == lake
    assert parameters["source_url"] == mirror_url
    assert parameters["runner"] == "local"
    assert parameters["concurrency"] == 1
    assert (workdir / "param-lake" / "colour=green").is_dir()
