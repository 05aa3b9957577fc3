"""The local mirror must behave like the GitHub release download, faults included."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from taxi_etl import source
from taxi_etl.devtools import sample
from taxi_etl.devtools.mirror import MAX_DELAY, FaultPlan, serve

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


@pytest.mark.parametrize("code", ["500", "503", "404"])
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
