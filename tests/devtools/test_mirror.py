"""The local mirror must behave like the GitHub release download, faults included."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from taxi_etl import source
from taxi_etl.devtools import mirror, sample
from taxi_etl.devtools.mirror import MAX_DELAY, FaultPlan, serve

pytestmark = pytest.mark.one_line

PATH = "/yellow/yellow_tripdata_2021-01.csv.gz"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("mirror")
    (base / "secret.txt").write_text("do not serve me\n")
    root = base / "root"
    sample.write_mirror(root, "yellow", 2021, [1], 20_000)
    return root


@pytest.fixture(scope="module")
def payload(root: Path) -> bytes:
    data = (root / PATH.lstrip("/")).read_bytes()
    assert len(data) > 2 * 64 * 1024  # big enough for partial bodies to be partial
    return data


@pytest.fixture
def base(root: Path) -> Iterator[str]:
    with serve(root) as url:
        yield url


def request(
    base: str, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Raw http.client so nothing normalises the path or retries behind our back."""
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def raw_exchange(base: str, path: str) -> bytes:
    """Everything the server sends until it closes, as bytes."""
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def test_get_serves_exact_bytes(base: str, payload: bytes) -> None:
    assert base.startswith("http://127.0.0.1:")
    status, headers, body = request(base, PATH)
    assert status == 200
    assert int(headers["content-length"]) == len(payload)
    assert body == payload


def test_urlopen_with_the_release_url_pattern(base: str, payload: bytes) -> None:
    url = f"{base}/yellow/{source.file_name('yellow', 2021, 1)}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.read() == payload


def test_head_gives_length_without_body(base: str, payload: bytes) -> None:
    status, headers, body = request(base, PATH, "HEAD")
    assert status == 200
    assert int(headers["content-length"]) == len(payload)
    assert body == b""


def test_range_request_for_resume(base: str, payload: bytes) -> None:
    status, headers, body = request(base, PATH, headers={"Range": "bytes=1000-"})
    assert status == 206
    assert headers["content-range"] == f"bytes 1000-{len(payload) - 1}/{len(payload)}"
    assert body == payload[1000:]
    assert headers["etag"] == request(base, PATH, "HEAD")[1]["etag"]  # the file's, not the part's
    status, _, _ = request(base, PATH, headers={"Range": f"bytes={len(payload)}-"})
    assert status == 416


@pytest.mark.parametrize(
    "path",
    [
        "/yellow/yellow_tripdata_2021-08.csv.gz",
        "/green/green_tripdata_2021-01.csv.gz",
        "/yellow",
        "/",
    ],
)
def test_missing_files_are_404(base: str, path: str) -> None:
    status, _, _ = request(base, path)
    assert status == 404
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + path, timeout=10)
    assert err.value.code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/yellow/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/yellow/%2E%2E%2F%2E%2E%2Fsecret.txt",
        "/..%5csecret.txt",
        "/yellow/./yellow_tripdata_2021-01.csv.gz",
    ],
)
def test_path_traversal_is_refused(base: str, path: str) -> None:
    status, _, body = request(base, path)
    assert status in (400, 404)
    assert b"do not serve" not in body


def test_absolute_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    with serve(root) as url:
        assert request(url, "/link.txt")[0] in (400, 404)


@pytest.mark.parametrize("code", ["500", "503", "404", "403"])
def test_status_faults_then_normal(root: Path, payload: bytes, code: str) -> None:
    plan = FaultPlan({PATH: [code, code]})
    with serve(root, faults=plan) as url:
        assert request(url, PATH)[0] == int(code)
        assert request(url, PATH)[0] == int(code)
        status, _, body = request(url, PATH)
    assert (status, body == payload) == (200, True)
    assert plan.requests[PATH] == 3
    assert plan.remaining(PATH) == []


def test_reset_sends_partial_body_then_drops(root: Path, payload: bytes) -> None:
    plan = FaultPlan({PATH: ["reset"]})
    with serve(root, faults=plan) as url:
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            request(url, PATH)
        assert request(url, PATH)[2] == payload
    assert plan.requests[PATH] == 2


def test_truncate_announces_full_length_but_sends_half(root: Path, payload: bytes) -> None:
    plan = FaultPlan({PATH: ["truncate", "truncate"]})
    with serve(root, faults=plan) as url:
        raw = raw_exchange(url, PATH)
        with pytest.raises(http.client.IncompleteRead):
            request(url, PATH)
        assert request(url, PATH)[2] == payload
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200")
    assert f"Content-Length: {len(payload)}".encode() in head
    assert body == payload[: len(payload) // 2]
    assert plan.requests[PATH] == 3


def test_slow_delays_then_serves(root: Path, payload: bytes) -> None:
    plan = FaultPlan().add(PATH.lstrip("/"), "slow:0.4")  # leading slash is optional
    with serve(root, faults=plan) as url:
        t0 = time.perf_counter()
        status, _, body = request(url, PATH)
        slow = time.perf_counter() - t0
        t0 = time.perf_counter()
        request(url, PATH)
        fast = time.perf_counter() - t0
    assert (status, body == payload) == (200, True)
    assert slow >= 0.4 > fast
    assert plan.requests[PATH] == 2


def test_exit_does_not_wait_for_slow_requests(root: Path) -> None:
    plan = FaultPlan({PATH: [f"slow:{MAX_DELAY}"]})
    errors: list[BaseException] = []

    def client(url: str) -> None:
        try:
            request(url, PATH)
        except BaseException as exc:  # the aborted response is expected to fail
            errors.append(exc)

    with serve(root, faults=plan) as url:
        thread = threading.Thread(target=client, args=(url,))
        thread.start()
        time.sleep(0.2)
        t0 = time.perf_counter()
    assert time.perf_counter() - t0 < 2
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_head_does_not_consume_faults(root: Path) -> None:
    plan = FaultPlan({PATH: ["503"]})
    with serve(root, faults=plan) as url:
        assert request(url, PATH, "HEAD")[0] == 200
        assert request(url, PATH)[0] == 503
        assert request(url, PATH)[0] == 200
    assert plan.head_requests[PATH] == 1
    assert plan.requests[PATH] == 2


def test_faults_are_per_path(root: Path) -> None:
    other = "/yellow/yellow_tripdata_2021-02.csv.gz"
    plan = FaultPlan({other: ["500"]})
    with serve(root, faults=plan) as url:
        assert request(url, PATH)[0] == 200
        assert request(url, other)[0] == 500
        assert request(url, other)[0] == 404  # faults used up, and the file is absent
    assert plan.requests == {PATH: 1, other: 2}


def test_concurrent_requests_are_counted_exactly(root: Path, payload: bytes) -> None:
    plan = FaultPlan({PATH: ["503"] * 4})
    results: list[int] = []
    lock = threading.Lock()

    def client(url: str) -> None:
        status, _, body = request(url, PATH)
        with lock:
            results.append(status if status != 200 or body == payload else -1)

    with serve(root, faults=plan) as url:
        threads = [threading.Thread(target=client, args=(url,)) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(results) == [200] * 6 + [503] * 4
    assert plan.requests[PATH] == 10


@pytest.mark.parametrize("action", ["502", "slow", "slow:-1", f"slow:{MAX_DELAY + 1}", "slow:x"])
def test_invalid_actions_rejected(action: str) -> None:
    with pytest.raises(ValueError):
        FaultPlan({PATH: [action]})


def test_binds_loopback_only_and_stops(root: Path) -> None:
    with pytest.raises(ValueError), serve(root, host="0.0.0.0"):
        pass
    with serve(root) as url:
        assert request(url, PATH)[0] == 200
    with pytest.raises(OSError):
        request(url, PATH)


def test_logs_nothing(root: Path, capfd: pytest.CaptureFixture[str]) -> None:
    plan = FaultPlan({PATH: ["reset", "truncate", "500"]})
    with serve(root, faults=plan) as url:
        for _ in range(3):
            with contextlib.suppress(OSError, http.client.HTTPException):
                request(url, PATH)
        request(url, "/../secret.txt")
        request(url, "/nothing")
        request(url, PATH)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_rate_paces_a_download(tmp_path: Path) -> None:
    """A capped rate makes 1 MiB at 4 MiB/s take at least a quarter of a second."""
    (tmp_path / "yellow").mkdir()
    body = bytes(range(256)) * 4096  # 1 MiB
    (tmp_path / "yellow" / "f.csv.gz").write_bytes(body)
    with serve(tmp_path, rate=4 << 20) as url:
        began = time.monotonic()
        with urllib.request.urlopen(f"{url}/yellow/f.csv.gz", timeout=10) as resp:
            got = resp.read()
        took = time.monotonic() - began
    assert got == body
    assert 0.2 <= took < 5, took


# -- freshness: ETag, Last-Modified, conditional requests, as CloudFront and S3 answer ------


def md5_tag(data: bytes) -> str:
    return f'"{hashlib.new("md5", data).hexdigest()}"'  # not the md5 a test may count


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_every_200_carries_etag_last_modified_and_length(
    root: Path, base: str, payload: bytes, method: str
) -> None:
    status, headers, _ = request(base, PATH, method)
    assert status == 200
    assert headers["etag"] == md5_tag(payload)
    mtime = (root / PATH.lstrip("/")).stat().st_mtime
    assert headers["last-modified"] == formatdate(mtime, usegmt=True)
    assert int(headers["content-length"]) == len(payload)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    "given",
    ["{tag}", "W/{tag}", '"0123", {tag}', "*"],
    ids=["exact", "weak", "list", "star"],
)
def test_if_none_match_with_the_current_tag_is_304_without_body(
    root: Path, payload: bytes, method: str, given: str
) -> None:
    plan = FaultPlan()
    with serve(root, faults=plan) as url:
        tag = request(url, PATH, "HEAD")[1]["etag"]
        status, headers, body = request(
            url, PATH, method, headers={"If-None-Match": given.format(tag=tag)}
        )
        assert (status, body) == (304, b"")
        assert headers["etag"] == tag and "last-modified" in headers
        other = request(url, PATH, method, headers={"If-None-Match": '"0123"'})
        assert other[0] == 200 and other[2] == (payload if method == "GET" else b"")
    assert plan.not_modified == {PATH: 1}
    assert (plan.requests[PATH], plan.head_requests[PATH]) == (
        (2, 1) if method == "GET" else (0, 3)
    )


def test_if_modified_since(root: Path, base: str) -> None:
    last_modified = request(base, PATH, "HEAD")[1]["last-modified"]
    mtime = int((root / PATH.lstrip("/")).stat().st_mtime)
    for since, expected in [
        (last_modified, 304),
        (formatdate(mtime + 3600, usegmt=True), 304),
        (formatdate(mtime - 1, usegmt=True), 200),
        ("not a date", 200),
    ]:
        for method in ("GET", "HEAD"):
            status = request(base, PATH, method, headers={"If-Modified-Since": since})[0]
            assert status == expected, (since, method)
    # If-None-Match decides when both are given (RFC 9110 13.2.2).
    both = {"If-None-Match": '"0123"', "If-Modified-Since": last_modified}
    assert request(base, PATH, headers=both)[0] == 200


def test_a_file_republished_in_place_is_fresh_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new ETag and Last-Modified on the next request, whether the file was replaced
    (a new inode, as the generators write) or rewritten; hashed once per version."""
    hashed: list[int] = []
    real_md5 = hashlib.md5

    def counting_md5(*args: bytes, **kwargs: bool) -> object:
        hashed.append(1)
        return real_md5(*args, **kwargs)

    monkeypatch.setattr(mirror.hashlib, "md5", counting_md5)
    path = tmp_path / "tlc" / "trip-data" / "green_tripdata_2024-01.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"first version")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    url_path = "/tlc/trip-data/green_tripdata_2024-01.parquet"
    with serve(tmp_path) as url:
        first = request(url, url_path)[1]
        for _ in range(3):
            assert request(url, url_path, headers={"If-None-Match": first["etag"]})[0] == 304
        assert len(hashed) == 1  # cached per (inode, size, mtime)

        tmp = path.with_name("new")
        tmp.write_bytes(b"other version")  # same size
        os.utime(tmp, (1_700_000_000, 1_700_000_000))  # same mtime: the inode tells
        os.replace(tmp, path)
        status, second, body = request(url, url_path, headers={"If-None-Match": first["etag"]})
        assert (status, body, second["etag"]) == (200, b"other version", md5_tag(body))

        path.write_bytes(b"third version")  # same inode and size, a later mtime
        os.utime(path, (1_700_086_400, 1_700_086_400))
        status, third, body = request(
            url, url_path, headers={"If-Modified-Since": first["last-modified"]}
        )
        assert (status, body, third["etag"]) == (200, b"third version", md5_tag(body))
        assert third["last-modified"] == "Wed, 15 Nov 2023 22:13:20 GMT"
    assert len(hashed) == 3


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_missing_status_by_path_prefix(tmp_path: Path, method: str) -> None:
    """CloudFront answers 403 for a TLC month not published yet; the rest stays 404."""
    (tmp_path / "tlc" / "trip-data").mkdir(parents=True)
    (tmp_path / "tlc" / "trip-data" / "yellow_tripdata_2024-01.parquet").write_bytes(b"x")
    missing = {"/tlc/": 403, "/tlc/misc/": 410}
    with serve(tmp_path, missing=missing) as url:
        status = {p: request(url, p, method)[0] for p in [
            "/tlc/trip-data/yellow_tripdata_2024-01.parquet",
            "/tlc/trip-data/yellow_tripdata_2024-02.parquet",
            "/tlc/trip-data/",
            "/tlc/misc/taxi_zone_lookup.csv",
            "/tlc",
            "/yellow/yellow_tripdata_2021-08.csv.gz",
            "/tlc/../secret",
        ]}
    assert list(status.values()) == [200, 403, 403, 410, 404, 404, 400]
    for bad in ({"tlc/": 403}, {"/tlc/": 200}, {"/tlc/": 600}):
        with pytest.raises(ValueError, match="missing"), serve(tmp_path, missing=bad):
            pass


def test_a_status_fault_of_403_then_the_file(root: Path, payload: bytes) -> None:
    """A throttled client sees 403 too; retrying then gets the file."""
    plan = FaultPlan({PATH: ["403"]})
    with serve(root, faults=plan) as url:
        assert request(url, PATH)[0] == 403
        assert request(url, PATH)[2] == payload
