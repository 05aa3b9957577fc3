"""A stop ends a download and a transform at their next step, and leaves no file."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taxi_etl import source, stopping
from taxi_etl.devtools import mirror, sample
from taxi_etl.devtools.net import free_port
from taxi_etl.transform import convert


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    stopping.reset()
    yield
    stopping.reset()


def _ask_after(seconds: float) -> None:
    threading.Timer(seconds, stopping.ask, args=(signal.SIGTERM,)).start()


def test_a_stop_ends_a_trickling_download_at_once(tmp_path: Path) -> None:
    """The host sends 2 KB/s: the download would take minutes; the stop ends it, the
    retries are not tried, and the partial file is gone."""
    host = tmp_path / "host"
    sample.generate_month(host / "yellow" / "f.csv.gz", "yellow", 2019, 1, 5_000)
    dest = tmp_path / "cache" / "f.csv.gz"
    with mirror.serve(host, rate=2_000) as url:
        _ask_after(1.0)
        began = time.monotonic()
        with pytest.raises(stopping.Stopped, match="stopped by SIGTERM"):
            source.download(f"{url}/yellow/f.csv.gz", dest)
        took = time.monotonic() - began
    assert took < 3, took
    assert not list(dest.parent.iterdir())


def test_a_stop_during_a_silent_read_shuts_the_socket(tmp_path: Path) -> None:
    """A host that says nothing holds a read for the idle timeout (60 s); the stop
    shuts the socket down instead of waiting."""
    host = tmp_path / "host"
    sample.generate_month(host / "yellow" / "f.csv.gz", "yellow", 2019, 1, 5_000)
    dest = tmp_path / "cache" / "f.csv.gz"
    with mirror.serve(host, rate=1) as url:  # a byte a second: the reads wait
        _ask_after(1.0)
        began = time.monotonic()
        with pytest.raises(stopping.Stopped):
            source.download(f"{url}/yellow/f.csv.gz", dest, retries=source.Retries(grace=600))
    assert time.monotonic() - began < 3
    assert not list(dest.parent.iterdir())


def test_a_stop_ends_a_transform_and_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / source.file_name("yellow", 2019, 1)
    sample.generate_month(src, "yellow", 2019, 1, 50_000)
    stopping.ask(signal.SIGINT)
    with pytest.raises(stopping.Stopped, match="SIGINT"):
        convert(src, tmp_path / "out" / "o.parquet", "yellow")
    assert not list((tmp_path / "out").iterdir())


def test_a_stop_ends_a_retry_wait(tmp_path: Path) -> None:
    """Between attempts the download waits (1, 2, 4 ... s); a stop ends the wait."""
    closed = f"http://127.0.0.1:{free_port()}/x"  # refused: retried after a wait
    _ask_after(0.5)
    began = time.monotonic()
    with pytest.raises(stopping.Stopped):
        source.download(closed, tmp_path / "x", retries=source.Retries(backoff=30, attempts=3))
    assert time.monotonic() - began < 3
