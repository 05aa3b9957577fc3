"""The compose mirror (taxi_etl.devtools.offline_mirror), without Docker.

The container tests rely on its month sets: green 2019-12 for the backfill across a year
boundary, and TAXI_ETL_MIRROR_EXTRA_MONTHS for the big month the fault tests interrupt.
Its main loop runs here as compose runs it, as a process stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import gzip
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from taxi_etl.devtools import demo, offline_mirror, tlc_mirror, tlc_sample
from taxi_etl.devtools.demo import MonthSet
from taxi_etl.devtools.net import free_port, wait_healthy
from taxi_etl.devtools.tlc_mirror import TlcSet
from taxi_etl.params import Colour

pytestmark = pytest.mark.one_line


def test_defaults_cover_a_year_boundary_for_green() -> None:
    served = {(s.colour, s.year, m) for s in demo.MIRROR_SETS for m in s.months}
    assert {(Colour.green, 2019, 12), (Colour.green, 2020, 1), (Colour.green, 2020, 2)} <= served


def test_a_set_may_give_its_own_row_count() -> None:
    assert MonthSet.parse("yellow:2019:3:1000000") == MonthSet(Colour.yellow, 2019, (3,), 1_000_000)
    assert MonthSet.parse("green:2020:1-2") == MonthSet(Colour.green, 2020, (1, 2))
    assert str(MonthSet.parse("yellow:2019:3:1000000")) == "yellow:2019:3:1000000"
    for bad in ("yellow:2019:3:0", "yellow:2019:3:x", "yellow:2019:3:1:2", "purple:2019:3"):
        with pytest.raises(argparse.ArgumentTypeError, match="colour:year:months"):
            MonthSet.parse(bad)


def test_extra_months_from_the_environment(tmp_path: Path) -> None:
    sets = offline_mirror.extra_sets(" yellow:2019:3:300  fhv:2019:5 ")
    assert sets == [MonthSet(Colour.yellow, 2019, (3,), 300), MonthSet(Colour.fhv, 2019, (5,))]
    assert offline_mirror.extra_sets("") == []
    with pytest.raises(SystemExit, match="TAXI_ETL_MIRROR_EXTRA_MONTHS"):
        offline_mirror.extra_sets("yellow:2019")
    written = demo.write_months(tmp_path, sets, rows=90)
    assert [p.name for p in written] == [
        "yellow_tripdata_2019-03.csv.gz",
        "fhv_tripdata_2019-05.csv.gz",
    ]
    with gzip.open(written[0], "rt") as fh:
        assert sum(1 for _ in fh) == 300 + 1  # its own rows, plus the header
    with gzip.open(written[1], "rt") as fh:
        assert sum(1 for _ in fh) == 90 + 1  # the mirror's --rows


def test_extra_tlc_months_from_the_environment() -> None:
    sets = offline_mirror.extra_tlc_sets(" fhvhv:2024:2-3  yellow:2009:1:500 ")
    assert sets == [TlcSet("fhvhv", 2024, (2, 3)), TlcSet("yellow", 2009, (1,), 500)]
    assert offline_mirror.extra_tlc_sets(None) == []
    with pytest.raises(SystemExit, match="TAXI_ETL_MIRROR_EXTRA_TLC_MONTHS"):
        offline_mirror.extra_tlc_sets("green:2013:8")  # green parquet starts at 2014-01


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_main_generates_and_serves_both_hosts_until_sigterm(tmp_path: Path) -> None:
    """Course months, every default TLC month plus an extra one, both zone files; served
    on loopback with 403 for TLC months not written; SIGTERM stops it with status 0."""
    port = free_port()
    env = os.environ | {
        "TAXI_ETL_MIRROR_EXTRA_MONTHS": "",
        "TAXI_ETL_MIRROR_EXTRA_TLC_MONTHS": "fhvhv:2024:2:40",
        "TAXI_ETL_MIRROR_TLC_ROWS": "30",
    }
    command = [sys.executable, "-m", "taxi_etl.devtools.offline_mirror", "--root", str(tmp_path)]
    command += ["--port", str(port), "--rows", "90", "--months", "green:2020:1"]
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{url}/green/green_tripdata_2020-01.csv.gz", 60, gave_up=lambda: (
            proc.poll() is not None
        ))
        base = tlc_mirror.tlc_base_url(url)
        assert status_of(f"{base}/{tlc_sample.file_name('green', 2025, 2)}") == 200
        assert status_of(f"{base}/{tlc_sample.file_name('green', 2025, 3)}") == 403
        assert status_of(f"{base}/{tlc_sample.file_name('fhvhv', 2024, 2)}") == 200
        assert status_of(tlc_mirror.zone_url(base)) == 200
        assert status_of(f"{url}/misc/taxi_zone_lookup.csv") == 200
        assert status_of(f"{url}/green/green_tripdata_2020-02.csv.gz") == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()  # ours, by its handle; then fail
            out, err = proc.communicate(timeout=5)
            pytest.fail(f"the mirror ignored SIGTERM: {err}")
    assert proc.returncode == 0, err
    assert "serving TLC yellow:2009:1, " in out and f"fhvhv:2024:2:40 at {base}\n" in out
    trip_data = tmp_path / "tlc" / "trip-data"
    served = [(s.dataset, s.year, m) for s in demo.TLC_SETS for m in s.months]
    expected = {tlc_sample.file_name(*key) for key in [*served, ("fhvhv", 2024, 2)]}
    assert {p.name for p in trip_data.iterdir()} == expected
    rows = [pq.ParquetFile(trip_data / tlc_sample.file_name(*key)).metadata.num_rows
            for key in [("green", 2025, 1), ("fhvhv", 2024, 2)]]
    assert rows == [30, 40]  # TAXI_ETL_MIRROR_TLC_ROWS, and the extra set's own
