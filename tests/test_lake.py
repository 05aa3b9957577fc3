"""Both lake backends through the same contract; GCS runs against an emulator on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from taxi_etl.lake import (
    DATA_FILE,
    EXTRA_FILE,
    MANIFEST_FILE,
    GcsLake,
    Lake,
    LocalLake,
    Manifest,
    open_lake,
    partition_key,
)
from taxi_etl.params import Colour, Partition

PART = Partition(Colour.green, 2020, 1)


def manifest(sha: str, size: int, rows: int = 10) -> Manifest:
    return Manifest(
        partition=partition_key(PART),
        source_url="http://127.0.0.1/x",
        source_sha256=sha,
        source_bytes=1,
        rows=rows,
        bytes=size,
        schema_version=1,
    )


@pytest.fixture(params=["local", "gcs"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    if request.param == "local":
        return open_lake(tmp_path / "lake")
    bucket = request.getfixturevalue("gcs_bucket")
    return open_lake(f"gs://{bucket}/trips")


def test_partition_key_is_hive_layout() -> None:
    assert partition_key(PART) == "colour=green/year=2020/month=01"


def test_publish_then_loaded(lake: Lake, tmp_path: Path) -> None:
    data = tmp_path / "part.parquet"
    data.write_bytes(b"PAR1" + b"x" * 1000)
    assert lake.read_manifest(PART) is None
    assert lake.loaded(PART) is None
    uri = lake.publish(PART, data, manifest("abc", data.stat().st_size))
    assert uri.endswith(f"{partition_key(PART)}/{DATA_FILE}")
    assert lake.data_size(PART) == 1004
    got = lake.loaded(PART)
    assert got is not None and got.rows == 10 and got.source_sha256 == "abc"
    # A manifest recorded again (what the host now says) leaves the data as it was.
    lake.record(PART, got.model_copy(update={"source_etag": '"e1"'}))
    again = lake.loaded(PART)
    assert again is not None and again.source_etag == '"e1"' and lake.data_size(PART) == 1004


def test_what_a_partition_cannot_hold_comes_and_goes_with_its_load(
    lake: Lake, tmp_path: Path
) -> None:
    """A load that keeps values beside its partition publishes them with it; a reload
    with nothing to keep removes the earlier load's, which no longer lines up."""
    data, extra = tmp_path / "part.parquet", tmp_path / "part.extra.arrow"
    data.write_bytes(b"PAR1" + b"x" * 100)
    extra.write_bytes(b"ARROW1" + b"e" * 50)
    lake.publish(PART, data, manifest("abc", 104), extra)
    assert lake.fetch(PART, EXTRA_FILE, tmp_path / "back.arrow")
    assert (tmp_path / "back.arrow").read_bytes() == extra.read_bytes()
    lake.publish(PART, data, manifest("def", 104))
    assert not lake.fetch(PART, EXTRA_FILE, tmp_path / "gone.arrow")
    assert not (tmp_path / "gone.arrow").exists()
    assert lake.fetch(PART, DATA_FILE, tmp_path / "data.parquet")


def test_tables_beside_the_partitions(lake: Lake, tmp_path: Path) -> None:
    data = tmp_path / "zones.parquet"
    data.write_bytes(b"PAR1zones")
    assert lake.table_manifest("zones/revision=ab") is None
    uri = lake.publish_table("zones/revision=ab", data, b'{"rows": 1}')
    assert uri.endswith("zones/revision=ab/data.parquet")
    assert lake.table_manifest("zones/revision=ab") == b'{"rows": 1}'


def test_data_without_matching_manifest_is_not_loaded(lake: Lake, tmp_path: Path) -> None:
    """A crash between the data write and the manifest write must not look complete."""
    data = tmp_path / "part.parquet"
    data.write_bytes(b"v1")
    lake.publish(PART, data, manifest("abc", 2))
    data.write_bytes(b"version-2")
    lake._put_file(partition_key(PART), DATA_FILE, data)  # new data, then the process died
    assert lake.loaded(PART) is None


def test_local_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    data = tmp_path / "part.parquet"
    data.write_bytes(b"x")
    for _ in range(3):
        lake.publish(PART, data, manifest("abc", 1))
    files = sorted(p.name for p in (tmp_path / "lake" / partition_key(PART)).iterdir())
    assert files == [MANIFEST_FILE, DATA_FILE]


def test_gcs_objects_land_under_the_prefix(gcs_bucket: str, tmp_path: Path) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    lake = open_lake(f"gs://{gcs_bucket}/trips")
    assert isinstance(lake, GcsLake) and lake.uri == f"gs://{gcs_bucket}/trips"
    data = tmp_path / "p.parquet"
    data.write_bytes(b"y" * 3_000_000)
    lake.publish(PART, data, manifest("abc", 3_000_000))
    client = storage.Client(credentials=AnonymousCredentials(), project="test")
    names = sorted(b.name for b in client.list_blobs(gcs_bucket))
    key = partition_key(PART)
    assert names == [f"trips/{key}/{MANIFEST_FILE}", f"trips/{key}/{DATA_FILE}"]


def test_bad_lake_specs() -> None:
    with pytest.raises(ValueError, match="no bucket"):
        open_lake("gs://")
    with pytest.raises(ValueError, match="unsupported scheme"):
        open_lake("s3://bucket/x")


def _table(path: Path, rows: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": pa.array(range(rows), pa.int64())}), path)
    return path


def _vouched(lake: Lake, root: Path) -> tuple[int, int | None]:
    """(rows a glob over data.parquet reads, rows the manifest that vouches for it
    says): a reader may see no partition, never one the lake does not vouch for."""
    import pyarrow.dataset as ds

    files = sorted(root.rglob(DATA_FILE))
    read = ds.dataset(files, format="parquet").count_rows() if files else 0
    held = lake.loaded(PART)
    return read, (held.rows if held is not None else None if files else 0)


class _Failing(LocalLake):
    """A local lake whose `fail_at`-th write or removal fails as a full disk would."""

    def __init__(self, root: Path, fail_at: int) -> None:
        super().__init__(root)
        self.fail_at, self.calls = fail_at, 0

    def _step(self) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise OSError(28, "No space left on device")

    def _put_file(self, key: str, leaf: str, local: Path) -> None:
        self._step()
        super()._put_file(key, leaf, local)

    def _put_bytes(self, key: str, leaf: str, body: bytes) -> None:
        self._step()
        super()._put_bytes(key, leaf, body)

    def _delete(self, key: str, leaf: str) -> None:
        self._step()
        super()._delete(key, leaf)


@pytest.mark.parametrize("step", [1, 2, 3, 4, 5])
def test_a_publish_stopped_at_any_step_leaves_what_readers_see_vouched_for(
    tmp_path: Path, step: int
) -> None:
    """Reloading a month (10 rows -> 20): the publish fails at each of its five steps
    (pending manifest, data, extra file, manifest, removing the pending one). Globs
    over data.parquet read the old partition or the new one, and the lake vouches for
    exactly what they read; a publish afterwards leaves it whole."""
    root = tmp_path / "lake"
    old, new = _table(tmp_path / "old.parquet", 10), _table(tmp_path / "new.parquet", 20)
    LocalLake(root).publish(PART, old, manifest("old", old.stat().st_size, rows=10))
    failing = _Failing(root, step)
    with pytest.raises(OSError, match="No space"):
        failing.publish(PART, new, manifest("new", new.stat().st_size, rows=20))
    read, vouched = _vouched(failing, root)
    assert read == vouched, f"globs read {read} rows, the lake vouches for {vouched}"
    assert read == (10 if step <= 2 else 20)
    LocalLake(root).publish(PART, new, manifest("new", new.stat().st_size, rows=20))
    assert _vouched(failing, root) == (20, 20)
    assert sorted(p.name for p in (root / partition_key(PART)).iterdir()) == [
        MANIFEST_FILE, DATA_FILE
    ]  # fmt: skip


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real filesystem of 512 KiB (tmpfs), where a disk fills for real."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
        capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("free_pages", [0, 1, 3])
def test_a_disk_that_fills_during_a_publish_leaves_the_old_partition_whole(
    tmp_path: Path, tiny_disk: Path, free_pages: int
) -> None:
    """The disk full with no room for the pending manifest (0 pages free), or for the
    new data (1 and 3 pages: the manifest fits, the data does not)."""
    root = tiny_disk / "lake"
    old, new = _table(tmp_path / "old.parquet", 10), _table(tmp_path / "new.parquet", 60_000)
    lake = LocalLake(root)
    lake.publish(PART, old, manifest("old", old.stat().st_size, rows=10))
    filler = tiny_disk / "filler"
    with filler.open("wb", buffering=0) as fh:  # fill the disk, then give back some
        while True:
            try:
                fh.write(b"\0" * 4096)
            except OSError:
                break
    os.truncate(filler, max(0, filler.stat().st_size - free_pages * 4096))
    with pytest.raises(OSError):
        lake.publish(PART, new, manifest("new", new.stat().st_size, rows=60_000))
    assert _vouched(lake, root) == (10, 10)
    filler.unlink()
    lake.publish(PART, new, manifest("new", new.stat().st_size, rows=60_000))
    assert _vouched(lake, root) == (60_000, 60_000)
