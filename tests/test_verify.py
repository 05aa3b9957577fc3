"""taxi-etl verify: what a run cannot see, found in the lake, and repaired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taxi_etl import pipeline, verify
from taxi_etl.cli import main
from taxi_etl.lake import DATA_FILE, MANIFEST_FILE, PENDING_FILE, open_lake, partition_key
from taxi_etl.params import Colour, Partition
from taxi_etl.settings import Settings

MONTHS = [Partition(Colour.yellow, 2021, m) for m in (1, 2, 3)]


@pytest.fixture
def lake_root(workdir: Path, mirror_url: str) -> Path:
    cfg = Settings(source_url=mirror_url)
    for part in MONTHS:
        assert pipeline.load_month(part, cfg).status == "loaded"
    return workdir / "lake"


def _folder(root: Path, part: Partition) -> Path:
    return root / partition_key(part)


def _flip(path: Path, at: float = 0.5, n: int = 4096) -> None:
    """Damage the file without changing its size (a bad sector, a hand)."""
    body = bytearray(path.read_bytes())
    i = int(len(body) * at)
    body[i : i + n] = bytes(b ^ 0xFF for b in body[i : i + n])
    path.write_bytes(bytes(body))


def test_a_sound_lake_verifies(lake_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--lake", str(lake_root)]) == 0
    assert "3 partitions, 0 bad, 0 orphans" in capsys.readouterr().out


def test_damage_a_run_cannot_see_is_found_named_and_repaired(
    lake_root: Path, workdir: Path, mirror_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    jan, feb, mar = (_folder(lake_root, p) for p in MONTHS)
    _flip(jan / DATA_FILE)  # same size: a run skipped it; every reader failed on it
    manifest = json.loads((feb / MANIFEST_FILE).read_text())
    manifest["rows"] += 1  # a hand-edited count was believed and shown
    (feb / MANIFEST_FILE).write_text(json.dumps(manifest))
    (mar / f".{DATA_FILE}.0123.tmp").write_bytes(b"half")  # a killed publish's temp file
    staging = workdir / "cache" / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "yellow-2021-03-x.parquet").write_bytes(b"a killed transform's")
    assert main(["verify", "--lake", str(lake_root)]) == 1
    said = capsys.readouterr().out
    assert f"bad: {partition_key(MONTHS[0])}: data.parquet: sha256" in said
    assert f"bad: {partition_key(MONTHS[1])}: rows: the data has 30,000, the manifest" in said
    assert f"orphan: {open_lake(lake_root).uri}/{partition_key(MONTHS[2])}/.{DATA_FILE}" in said
    assert "orphan: " + str(staging / "yellow-2021-03-x.parquet") in said
    assert "3 partitions, 2 bad, 2 orphans" in said

    assert main(["verify", "--lake", str(lake_root), "--repair"]) == 1
    assert "repaired" in capsys.readouterr().out
    assert not (jan / DATA_FILE).exists() and (jan / "_damaged.data").exists()
    assert not any(staging.iterdir()) and not (mar / f".{DATA_FILE}.0123.tmp").exists()
    assert main(["verify", "--lake", str(lake_root)]) == 0  # the damaged are not loaded now
    capsys.readouterr()
    cfg = Settings(source_url=mirror_url)
    again = [pipeline.load_month(p, cfg).status for p in MONTHS]
    assert again == ["loaded", "loaded", "skipped"]  # a plain run loads what it found bad


def test_runs_make_the_cheap_checks_on_the_months_they_skip(
    lake_root: Path, mirror_url: str
) -> None:
    """A hand-edited row count, or data from another month of the same size class, is
    reloaded by the next plain run instead of skipped."""
    feb = _folder(lake_root, MONTHS[1])
    manifest = json.loads((feb / MANIFEST_FILE).read_text())
    manifest["rows"] = 7
    (feb / MANIFEST_FILE).write_text(json.dumps(manifest))
    result = pipeline.load_month(MONTHS[1], Settings(source_url=mirror_url))
    assert result.status == "reloaded"
    assert result.reason == "damaged: rows: the data has 30,000, the manifest says 7"


def test_deep_finds_damage_where_no_checksum_was_recorded(
    lake_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Manifests written before data_sha256 are checked by decoding every row group."""
    jan = _folder(lake_root, MONTHS[0])
    manifest = json.loads((jan / MANIFEST_FILE).read_text())
    manifest["data_sha256"] = None
    (jan / MANIFEST_FILE).write_text(json.dumps(manifest))
    _flip(jan / DATA_FILE, at=0.3)
    assert main(["verify", "--lake", str(lake_root)]) == 0  # nothing to compare
    capsys.readouterr()
    assert main(["verify", "--lake", str(lake_root), "--deep"]) == 1
    assert "row group unreadable" in capsys.readouterr().out


def test_an_unfinished_publish_is_finished_not_removed(lake_root: Path) -> None:
    """A publish stopped after its data: the pending manifest vouches for it and is
    not an orphan; --repair makes it the manifest."""
    feb = _folder(lake_root, MONTHS[1])
    (feb / MANIFEST_FILE).rename(feb / PENDING_FILE)
    report = verify.verify(open_lake(lake_root), [Colour.yellow])
    assert report.unfinished == [partition_key(MONTHS[1])]
    assert report.ok
    verify.repair(open_lake(lake_root), report)
    assert (feb / MANIFEST_FILE).exists() and not (feb / PENDING_FILE).exists()
