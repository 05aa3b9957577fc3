"""The child flow's steps as tasks: the cached fetch never hands a month another host's
bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from taxi_etl import source
from taxi_etl.cli import main
from taxi_etl.devtools import mirror, sample
from taxi_etl.lake import DATA_FILE, open_lake
from taxi_etl.params import Colour, Partition

pytestmark = pytest.mark.prefect

PART = Partition(Colour.yellow, 2019, 1)


def _host(root: Path, rows: int) -> Path:
    path = root / "yellow" / source.file_name("yellow", 2019, 1)
    sample.generate_month(path, "yellow", 2019, 1, rows, seed=rows)
    return root


@pytest.mark.parametrize("how", ["force", "data lost"])
def test_two_hosts_of_one_month_never_share_a_cached_download(
    workdir: Path, tmp_path: Path, how: str
) -> None:
    """Lake A loads 2019-01 from host X; lake B loads it from host Y, another version,
    through the same cache; lake A then reloads it from X (forced, or after losing its
    data.parquet). The fetch task's day-long cache held a path keyed by the month alone,
    which Y's file had replaced: A got Y's rows under a manifest vouching for X's."""
    x = _host(tmp_path / "x", 3_000)
    y = _host(tmp_path / "y", 5_000)
    lake_a, lake_b = str(workdir / "a"), str(workdir / "b")
    run = ["run", "--colour", "yellow", "--year", "2019", "--months", "1"]
    with mirror.serve(x) as url_x, mirror.serve(y) as url_y:
        assert main([*run, "--source-url", url_x, "--lake", lake_a]) == 0
        assert main([*run, "--source-url", url_y, "--lake", lake_b]) == 0
        again = [*run, "--source-url", url_x, "--lake", lake_a]
        if how == "force":
            again.append("--force")
        else:
            (Path(lake_a) / "colour=yellow/year=2019/month=01" / DATA_FILE).unlink()
        assert main(again) == 0
    held_a = open_lake(lake_a).loaded(PART)
    held_b = open_lake(lake_b).loaded(PART)
    assert held_a is not None and held_b is not None
    assert (held_a.rows, held_b.rows) == (3_000, 5_000)
    x_file = x / "yellow" / source.file_name("yellow", 2019, 1)
    assert held_a.source_sha256 == source.sha256_of(x_file) != held_b.source_sha256
    assert held_a.data_sha256 == source.sha256_of(
        Path(lake_a) / "colour=yellow/year=2019/month=01" / DATA_FILE
    )


def test_a_cached_download_changed_on_disk_is_downloaded_again(
    workdir: Path, tmp_path: Path
) -> None:
    """The cache is used only while its bytes are the ones recorded: a file changed in
    place (by hand, or by a disk) is downloaded again, not loaded."""
    x = _host(tmp_path / "x", 3_000)
    run = ["run", "--colour", "yellow", "--year", "2019", "--months", "1"]
    with mirror.serve(x) as url:
        assert main([*run, "--source-url", url]) == 0
        cached = next((workdir / "cache").rglob(source.file_name("yellow", 2019, 1)))
        body = bytearray(cached.read_bytes())
        body[-20] ^= 0xFF  # same size, other bytes: no stat would see it
        cached.write_bytes(bytes(body))
        assert main([*run, "--source-url", url, "--force"]) == 0
    held = open_lake(workdir / "lake").loaded(PART)
    assert held is not None and held.rows == 3_000
    x_file = x / "yellow" / source.file_name("yellow", 2019, 1)
    assert held.source_sha256 == source.sha256_of(x_file) == source.sha256_of(cached)


def test_a_new_container_has_neither_the_download_nor_the_cached_result(
    workdir: Path, tmp_path: Path
) -> None:
    """A deployment's flow-run container starts without the cache and without Prefect's
    result storage, while the server still holds the fetch task's cached state: reading
    it failed the month ('Path .../storage/... does not exist', seen in CI's container
    test of a re-run after a kill). A missing download is downloaded again instead."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    x = _host(tmp_path / "x", 3_000)
    run = ["run", "--colour", "yellow", "--year", "2019", "--months", "1"]
    with mirror.serve(x) as url:
        assert main([*run, "--source-url", url]) == 0
        shutil.rmtree(workdir / "cache")
        shutil.rmtree(Path(PREFECT_LOCAL_STORAGE_PATH.value()))
        assert main([*run, "--source-url", url, "--force"]) == 0
    held = open_lake(workdir / "lake").loaded(PART)
    assert held is not None and held.rows == 3_000
