"""Downloads against a local fault-injecting mirror on 127.0.0.1."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from taxi_etl import source
from taxi_etl.devtools import mirror, sample

PATH = "/green/green_tripdata_2020-01.csv.gz"


@pytest.fixture
def one_month(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    sample.write_mirror(root, "green", 2020, [1], 20_000)
    return root


def fetch(url: str, dest: Path, **kw: float) -> source.Download:
    retries = source.Retries(backoff=0.05, **kw)  # type: ignore[arg-type]
    return source.download(url + PATH, dest, retries=retries)


def test_url_pattern_is_the_release_layout() -> None:
    assert source.url_for(
        "https://github.com/DataTalksClub/nyc-tlc-data/releases/download/", "fhv", 2019, 1
    ) == (
        "https://github.com/DataTalksClub/nyc-tlc-data/releases/download/"
        "fhv/fhv_tripdata_2019-01.csv.gz"
    )


def test_download_streams_and_records_sha256(one_month: Path, tmp_path: Path) -> None:
    body = (one_month / PATH.lstrip("/")).read_bytes()
    with mirror.serve(one_month) as url:
        got = fetch(url, tmp_path / "cache" / "f.csv.gz")
    assert got.path.read_bytes() == body
    assert got.sha256 == hashlib.sha256(body).hexdigest() == source.sha256_of(got.path)
    assert got.bytes == len(body)
    assert [p.name for p in got.path.parent.iterdir()] == ["f.csv.gz"]


def test_404_is_not_published_without_retries(one_month: Path, tmp_path: Path) -> None:
    plan = mirror.FaultPlan()
    with (
        mirror.serve(one_month, faults=plan) as url,
        pytest.raises(source.NotPublished, match="2021-08"),
    ):
        source.download(
            url + "/yellow/yellow_tripdata_2021-08.csv.gz",
            tmp_path / "cache" / "x.csv.gz",
            retries=source.Retries(backoff=0.05),
        )
    assert plan.requests["/yellow/yellow_tripdata_2021-08.csv.gz"] == 1
    assert not list((tmp_path / "cache").iterdir())


@pytest.mark.parametrize("faults", [["500", "503"], ["reset"], ["truncate", "503"]])
def test_transient_faults_are_retried_then_succeed(
    one_month: Path, tmp_path: Path, faults: list[str]
) -> None:
    plan = mirror.FaultPlan({PATH: faults})
    with mirror.serve(one_month, faults=plan) as url:
        got = fetch(url, tmp_path / "f.csv.gz")
    assert plan.requests[PATH] == len(faults) + 1
    assert got.sha256 == source.sha256_of(one_month / PATH.lstrip("/"))


@pytest.mark.parametrize("fault", ["reset", "truncate", "503"])
def test_when_every_attempt_fails_nothing_is_left(
    one_month: Path, tmp_path: Path, fault: str
) -> None:
    plan = mirror.FaultPlan({PATH: [fault] * 3})
    with (
        mirror.serve(one_month, faults=plan) as url,
        pytest.raises(source.SourceError, match="attempt 3/3"),
    ):
        fetch(url, tmp_path / "cache" / "f.csv.gz", attempts=3)
    assert plan.requests[PATH] == 3
    assert not list((tmp_path / "cache").iterdir())


def test_a_silent_server_times_out(one_month: Path, tmp_path: Path) -> None:
    plan = mirror.FaultPlan({PATH: ["slow:5", "slow:5"]})
    started = time.monotonic()
    with (
        mirror.serve(one_month, faults=plan) as url,
        pytest.raises(source.SourceError, match="Timeout"),
    ):
        fetch(url, tmp_path / "cache" / "f.csv.gz", timeout=0.3, attempts=2)
    assert time.monotonic() - started < 4
    assert not list((tmp_path / "cache").iterdir())


def test_a_host_that_trickles_is_abandoned_at_the_deadline(tmp_path: Path) -> None:
    """A host that keeps sending, but slowly, never trips the idle timeout: each attempt
    lasted as long as the host liked. Below min_rate after the grace period, an attempt
    ends, and the download fails after its attempts, naming the rate."""
    one_month = tmp_path / "mirror"
    sample.write_mirror(one_month, "green", 2020, [1], 150_000)
    size = (one_month / PATH.lstrip("/")).stat().st_size
    rate = 64_000  # the mirror's 256 KiB chunk every 4 s: never 30 s of silence
    retries = source.Retries(timeout=30, attempts=2, backoff=0.05, min_rate=500_000, grace=1.0)
    started = time.monotonic()
    with (
        mirror.serve(one_month, rate=rate) as url,
        pytest.raises(source.SourceError, match=r"slower than 500,000 bytes/s: .*attempt 2/2"),
    ):
        source.download(url + PATH, tmp_path / "cache" / "f.csv.gz", retries=retries)
    # Two attempts of a little over the grace period, not the whole file at that rate.
    assert size / rate > 40
    assert time.monotonic() - started < size / rate / 3
    assert not list((tmp_path / "cache").iterdir())
