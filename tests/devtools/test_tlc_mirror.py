"""A mirror root holds the TLC host's flat layout under tlc/, and serves it as CloudFront
does: 200 with an ETag for a month written, 403 for one that is not."""

from __future__ import annotations

import argparse
import hashlib
import http.client
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest

from taxi_etl.devtools import sample, tlc_sample
from taxi_etl.devtools.mirror import FaultPlan, serve
from taxi_etl.devtools.tlc_mirror import (
    MISSING,
    TlcSet,
    republish,
    sets_of,
    tlc_base_url,
    tlc_path,
    write_tlc_months,
    write_zone_files,
    zone_url,
)

pytestmark = pytest.mark.one_line

SETS = [TlcSet("green", 2025, (1, 2)), TlcSet("fhvhv", 2019, (2,), rows=30)]


def get(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    """Raw http.client, so the path goes out exactly as given."""
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.port is not None
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        sent = {name.replace("_", "-"): value for name, value in headers.items()}
        conn.request(method, parts.path, headers=sent)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tlc-mirror")
    sample.write_mirror(root, "green", 2020, [1], 50)
    write_tlc_months(root, SETS, rows=40)
    write_zone_files(root)
    return root


def test_layout_rows_and_files_kept(tmp_path: Path) -> None:
    written = write_tlc_months(tmp_path, SETS, rows=40)
    assert written == [
        tmp_path / "tlc" / "trip-data" / "green_tripdata_2025-01.parquet",
        tmp_path / "tlc" / "trip-data" / "green_tripdata_2025-02.parquet",
        tmp_path / "tlc" / "trip-data" / "fhvhv_tripdata_2019-02.parquet",
    ]
    assert [pq.ParquetFile(p).metadata.num_rows for p in written] == [40, 40, 30]
    assert pq.read_schema(written[0]).equals(tlc_sample.source_schema("green", 2025, 1))
    before = [p.read_bytes() for p in written]
    assert write_tlc_months(tmp_path, SETS, rows=99) == []  # present: kept as they are
    assert [p.read_bytes() for p in written] == before
    assert tlc_path("yellow", 2024, 1) == "tlc/trip-data/yellow_tripdata_2024-01.parquet"

    zones = write_zone_files(tmp_path)
    assert zones == [tmp_path / p / "taxi_zone_lookup.csv" for p in ("misc", "tlc/misc")]
    assert write_zone_files(tmp_path) == []


def test_written_months_answer_200_with_etag_and_missing_ones_403(root: Path) -> None:
    plan = FaultPlan()
    with serve(root, missing=MISSING, faults=plan) as url:
        base = tlc_base_url(url)
        assert base == f"{url}/tlc/trip-data"
        month = f"{base}/{tlc_sample.file_name('green', 2025, 1)}"
        body = (root / tlc_path("green", 2025, 1)).read_bytes()
        for method in ("GET", "HEAD"):
            status, headers, got = get(month, method)
            assert status == 200 and got == (body if method == "GET" else b"")
            assert headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
            assert int(headers["content-length"]) == len(body) and headers["last-modified"]
            assert get(month, method, If_None_Match=headers["etag"])[0] == 304
            assert get(f"{base}/{tlc_sample.file_name('green', 2025, 3)}", method)[0] == 403
        assert get(f"{base}/{tlc_sample.file_name('yellow', 2025, 1)}")[0] == 403
        assert get(f"{url}/green/green_tripdata_2020-01.csv.gz")[0] == 200  # the course's
        assert get(f"{url}/green/green_tripdata_2020-02.csv.gz")[0] == 404  # GitHub's 404
    assert plan.not_modified == {"/" + tlc_path("green", 2025, 1): 2}


def test_zone_files_differ_exactly_in_rows_264_and_265(root: Path) -> None:
    with serve(root, missing=MISSING) as url:
        base = tlc_base_url(url)
        assert zone_url(base) == f"{url}/tlc/misc/taxi_zone_lookup.csv"
        assert zone_url(base + "/") == zone_url(base)
        status, _, tlc = get(zone_url(base))
        assert status == 200
        status, _, course = get(f"{url}/misc/taxi_zone_lookup.csv")
        assert status == 200
        assert get(f"{base}/../misc/taxi_zone_lookup.csv")[0] == 400  # resolved by clients
    new, old = tlc.decode().splitlines(), course.decode().splitlines()
    assert new[0] == old[0] == '"LocationID","Borough","Zone","service_zone"'
    assert [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b] == [264, 265]
    assert new[265] == '265,"N/A","Outside of NYC","N/A"' and old[265] == '265,"Unknown","NA","N/A"'


def test_republished_month_gets_a_new_etag_at_once(tmp_path: Path) -> None:
    write_tlc_months(tmp_path, [TlcSet("yellow", 2024, (5,))], rows=30)
    with serve(tmp_path, missing=MISSING) as url:
        month = f"{tlc_base_url(url)}/{tlc_sample.file_name('yellow', 2024, 5)}"
        first = get(month, "HEAD")[1]["etag"]
        path = republish(tmp_path, "yellow", 2024, 5, rows=30, revision=1)
        assert path == tmp_path / tlc_path("yellow", 2024, 5)
        status, headers, body = get(month, If_None_Match=first)
        assert status == 200 and headers["etag"] != first
        assert headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
        assert get(month, If_None_Match=headers["etag"])[0] == 304
    with pytest.raises(ValueError, match="revision must be >= 1"):
        republish(tmp_path, "yellow", 2024, 5, rows=30, revision=0)


def test_sets_parse_print_and_group() -> None:
    assert TlcSet.parse("fhvhv:2024:1-3") == TlcSet("fhvhv", 2024, (1, 2, 3))
    assert TlcSet.parse("yellow:2009:1:500") == TlcSet("yellow", 2009, (1,), 500)
    assert str(TlcSet.parse("yellow:2009:1,2:500")) == "yellow:2009:1,2:500"
    bad = ["purple:2024:1", "green:2013:12", "fhvhv:2019:1", "green:2024:13", "green:2024:1:0",
           "green:2024", "green:2024:1:2:3", "green:x:1", "green:2024:"]
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match="dataset:year:months"):
            TlcSet.parse(text)
    months = [("fhvhv", 2019, 2), ("green", 2025, 1), ("green", 2024, 12), ("green", 2025, 1)]
    assert sets_of(months, rows=7) == (
        TlcSet("green", 2024, (12,), 7), TlcSet("green", 2025, (1,), 7),
        TlcSet("fhvhv", 2019, (2,), 7),
    )
