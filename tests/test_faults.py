"""Faults and bad inputs at flow level: each leaves a lake that tells the truth."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from gcs_fault_proxy import fault_proxy

from taxi_etl import flows, lake, source
from taxi_etl.cli import main, running
from taxi_etl.devtools import mirror, sample
from taxi_etl.lake import DATA_FILE, EXTRA_FILE, MANIFEST_FILE, PENDING_FILE, Manifest
from taxi_etl.params import Colour, Partition

pytestmark = pytest.mark.prefect

PART_DIR = "colour=green/year=2020/month=01"


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def odd_mirror(tmp_path: Path) -> Path:
    """green 2020-01 fine; 2020-02 truncated gzip; 2020-03 a column no era knows; 2020-04 a
    bad row."""
    root = tmp_path / "odd"
    sample.write_mirror(root, "green", 2020, [1, 2], 6_000)
    feb = root / "green" / source.file_name("green", 2020, 2)
    feb.write_bytes(feb.read_bytes()[:-5000])
    mar = root / "green" / source.file_name("green", 2020, 3)
    sample.generate_month(mar, "green", 2020, 3, 6_000)
    lines = gzip.decompress(mar.read_bytes()).decode().splitlines()
    lines = [lines[0] + ",surge_fee"] + [line + ",1.25" for line in lines[1:]]
    mar.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    apr = root / "green" / source.file_name("green", 2020, 4)
    sample.generate_month(apr, "green", 2020, 4, 6_000)
    lines = gzip.decompress(apr.read_bytes()).decode().splitlines()
    lines.insert(3000, lines[3000].replace(",", ",,", 1))  # one field too many
    apr.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return root


def test_bad_sources_write_nothing_and_say_why(
    workdir: Path, odd_mirror: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAXI_ETL_DOWNLOAD_ATTEMPTS", "1")
    with mirror.serve(odd_mirror) as url:
        state = running.run_parent(months=[1, 2, 3, 4], year=2020, colour="green", source_url=url)
    with pytest.raises(flows.LoadFailed) as err:
        state.result()
    by_month = {f"{r.month:02d}": r for r in err.value.results}
    assert by_month["01"].status == "loaded"
    assert "CorruptSource" in by_month["02"].error
    assert "Expected 20 columns, got 21" in by_month["04"].error
    # A column no era knows is not a failure, nor lost: the month loads without it, its
    # values are kept beside the partition, its manifest names it, and the quality
    # check warns (the policy in quality.POLICY).
    assert by_month["03"].status == "loaded"
    assert by_month["03"].warnings == ["unknown_columns"]
    march = "colour=green/year=2020/month=03"
    manifest = Manifest.model_validate_json((workdir / "lake" / march / MANIFEST_FILE).read_bytes())
    assert manifest.columns_not_loaded == ["surge_fee"]
    assert manifest.extra == {"surge_fee": 6_000}
    assert "surge_fee" not in pq.read_schema(workdir / "lake" / march / DATA_FILE).names
    kept = pa.ipc.open_file(str(workdir / "lake" / march / EXTRA_FILE)).read_all()
    assert kept["surge_fee"].to_pylist() == ["1.25"] * 6_000
    assert manifest.extra_bytes == (workdir / "lake" / march / EXTRA_FILE).stat().st_size
    assert files_under(workdir / "lake") == [
        f"{PART_DIR}/{MANIFEST_FILE}",
        f"{PART_DIR}/{DATA_FILE}",
        f"{march}/{EXTRA_FILE}",
        f"{march}/{MANIFEST_FILE}",
        f"{march}/{DATA_FILE}",
    ]
    assert not any((workdir / "cache" / "staging").iterdir())


@pytest.mark.parametrize("status", [503, 429])
def test_gcs_upload_errors_are_retried_until_complete(
    workdir: Path,
    mirror_url: str,
    gcs_emulator: str,
    gcs_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
) -> None:
    with fault_proxy(gcs_emulator, [status, status]) as proxy:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        state = running.run_parent(
            months=[1], year=2020, colour="green", source_url=mirror_url, lake=f"gs://{gcs_bucket}"
        )
        assert state.is_completed(), state
        assert proxy.seen["upload"] >= 4  # two refused, then data and manifest
        target = lake.open_lake(f"gs://{gcs_bucket}")
        part = Partition(Colour.green, 2020, 1)
        manifest = target.loaded(part)
        assert manifest is not None and manifest.rows == 12_000


def test_crash_between_data_and_manifest_is_repaired(
    workdir: Path, mirror_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies after the data is in place, before its manifest: the pending
    manifest written before the data vouches for it, and the next run makes it the
    manifest without loading the month again."""
    real = lake.LocalLake._put_bytes

    def die(self: lake.LocalLake, key: str, leaf: str, body: bytes) -> None:
        if leaf == MANIFEST_FILE:
            raise OSError("process died before the manifest")
        real(self, key, leaf, body)

    monkeypatch.setattr(lake.LocalLake, "_put_bytes", die)
    assert running.run_parent(
        months=[1], year=2020, colour="green", source_url=mirror_url
    ).is_failed()
    stopped = [f"{PART_DIR}/{PENDING_FILE}", f"{PART_DIR}/{DATA_FILE}"]
    assert files_under(workdir / "lake") == stopped
    target = lake.open_lake(workdir / "lake")
    pending = target.loaded(Partition(Colour.green, 2020, 1), finish=False)
    assert pending is not None and pending.rows == 12_000  # what a glob reads is vouched for

    monkeypatch.setattr(lake.LocalLake, "_put_bytes", real)
    again = running.run_parent(months=[1], year=2020, colour="green", source_url=mirror_url)
    assert [r.status for r in again.result()] == ["skipped"]
    assert files_under(workdir / "lake") == [
        f"{PART_DIR}/{MANIFEST_FILE}",
        f"{PART_DIR}/{DATA_FILE}",
    ]


def test_same_month_twice_at_once_gives_one_partition(workdir: Path, mirror_url: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "taxi_etl",
        "run",
        "--colour",
        "green",
        "--year",
        "2020",
        "--months",
        "1",
        "--source-url",
        mirror_url,
        "--force",
    ]
    procs = [
        subprocess.Popen(
            cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert files_under(workdir / "lake") == [
        f"{PART_DIR}/{MANIFEST_FILE}",
        f"{PART_DIR}/{DATA_FILE}",
    ]
    assert ds.dataset(workdir / "lake", partitioning="hive").count_rows() == 12_000


def test_force_reload_is_atomic_for_readers(workdir: Path, mirror_url: str) -> None:
    assert running.run_parent(
        months=[1], year=2020, colour="green", source_url=mirror_url
    ).is_completed()
    stop = threading.Event()
    seen: list[Any] = []

    def reader() -> None:
        for _ in range(2000):  # bounded; the reload takes well under that many reads
            if stop.is_set():
                return
            try:
                seen.append(ds.dataset(workdir / "lake", partitioning="hive").count_rows())
            except Exception as exc:  # any error is what this test looks for
                seen.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(3):
            assert running.run_parent(
                months=[1], year=2020, colour="green", source_url=mirror_url, force=True
            ).is_completed()
    finally:
        stop.set()
        thread.join(timeout=60)
    assert seen, "the reader never read"
    assert set(seen) == {12_000}, {x for x in seen if x != 12_000}


def test_a_damaged_manifest_costs_only_its_month(
    workdir: Path,
    mirror_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A truncated _manifest.json made every backfill and catch-up of the dataset fail
    with a bare ValidationError, --force too. Now that month alone is not loaded, said
    with its path, and loaded again; the others go on, and the summary has every month."""
    monkeypatch.setenv("COLUMNS", "300")  # the table's notes whole, whatever the terminal
    args = ["backfill", "yellow", "2021-01..2021-03", "--source-url", mirror_url]
    assert main(args) == 0
    folder = "colour=yellow/year=2021/month=02"
    manifest = workdir / "lake" / folder / MANIFEST_FILE
    manifest.write_bytes(manifest.read_bytes()[:80])  # the disk filled mid-write, say
    capsys.readouterr()
    assert main(args) == 0
    said = capsys.readouterr().out
    assert said.count("skipped") == 2 and "reloaded" in said
    assert "not loaded, manifest damaged" in said and f"{folder}/_manifest.json" in said, said
    part = Partition(Colour.yellow, 2021, 2)
    repaired = lake.open_lake(workdir / "lake").loaded(part)
    assert repaired is not None and repaired.rows == 30_000
    manifest.write_text('{"partition": "colour=yellow/year=2021/month=03"}')  # another's
    assert main([*args, "--force"]) == 0
    assert lake.open_lake(workdir / "lake").loaded(part) is not None


def test_an_unreachable_lake_fails_each_month_clearly_and_the_run_still_reports(
    workdir: Path,
    mirror_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """GCS that cannot be reached cost about 105 s a month, then a backfill failed with a
    bare RetryError and no table. Now the first month says the lake could not be
    reached, within the storage deadline, the months not started are not tried, and the
    summary lists every month."""
    from taxi_etl.devtools.net import free_port

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")  # nothing
    monkeypatch.setenv("TAXI_ETL_STORAGE_DEADLINE", "2")
    monkeypatch.setenv("COLUMNS", "300")  # the table on one line per month
    lake = ["--lake", "gs://unreachable-bucket", "--source-url", mirror_url]
    run = ["run", "--colour", "yellow", "--year", "2021", "--months", "1-3"]
    assert main([*run, *lake, "--concurrency", "1"]) == 1
    said = capsys.readouterr().out
    assert said.count("could not be reached") == 3, said  # the first month's, then twice
    assert said.count("not tried: LakeUnreachable") == 2
    # A backfill asks the lake of each month first: each says so, and none is run.
    assert main(["backfill", "yellow", "2021-01..2021-03", *lake]) == 1
    said = capsys.readouterr().out
    assert said.count("could not be reached") == 3, said
    for month in ("2021-01", "2021-02", "2021-03"):
        assert month in said
