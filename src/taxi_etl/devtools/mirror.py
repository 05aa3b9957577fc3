"""Local read-only HTTP mirror of the release files, for the offline demo and tests.

The base URL it yields stands in for the download hosts, so the downloader is exercised
over real sockets: the course's GitHub release
(``{base}/{colour}/{colour}_tripdata_{year}-{month:02}.csv.gz``) and, for a root laid out
by :mod:`taxi_etl.devtools.tlc_mirror`, the TLC's CloudFront host under ``{base}/tlc/``.
A :class:`FaultPlan` makes chosen requests fail the ways real downloads fail (5xx, 403,
404, connection reset, short body, slow start) so retry logic can be tested exactly.

Freshness works as on the real hosts, because the TLC republishes files in place and an
ingester must notice: every 200 and 206 carries ``ETag`` (the quoted hex MD5 of the
content, as CloudFront and S3 give for a file uploaded in one part), ``Last-Modified`` and
``Content-Length``; ``If-None-Match`` or ``If-Modified-Since`` answer ``304 Not Modified``
while the file is unchanged.  A file with no match answers 404 unless `missing` says
otherwise for its path prefix (CloudFront answers 403 for a month not published yet).

Stdlib only, and it binds to loopback only (unless the caller opts in with
``allow_non_loopback``): it has no authentication and serves any file under `root`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

from taxi_etl.devtools.mirror_faults import ACTIONS, MAX_DELAY, STATUS_ACTIONS, FaultPlan

__all__ = ["ACTIONS", "MAX_DELAY", "FaultPlan", "serve"]

_CHUNK = 256 * 1024
_RESET_BYTES = 64 * 1024


class _MirrorServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        root: Path,
        faults: FaultPlan | None,
        rate: float | None,
        missing: Mapping[str, int],
    ) -> None:
        self.root = root.resolve()
        self.faults = faults
        self.rate = rate
        self.missing = sorted(missing.items(), key=lambda item: -len(item[0]))  # longest first
        self.stopping = threading.Event()
        self._etags: dict[Path, tuple[tuple[int, int, int], str]] = {}
        self._etags_lock = threading.Lock()
        super().__init__(address, _Handler)

    def missing_status(self, url_path: str) -> int:
        """The status for a path with no file: the longest matching `missing` prefix's."""
        return next((code for prefix, code in self.missing if url_path.startswith(prefix)), 404)

    def etag(self, target: Path, f: BinaryIO, stat: os.stat_result) -> str:
        """The quoted MD5 of open file `f`, hashed once per version of `target`: a version
        is its (inode, size, mtime), so a file replaced or rewritten gets a new tag at once
        while a big file is not re-read for every request."""
        version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._etags_lock:
            cached = self._etags.get(target)
        if cached is not None and cached[0] == version:
            return cached[1]
        digest = hashlib.md5(usedforsecurity=False)
        f.seek(0)
        for _ in range(stat.st_size // _CHUNK + 1):
            digest.update(f.read(_CHUNK))
        tag = f'"{digest.hexdigest()}"'
        with self._etags_lock:
            self._etags[target] = (version, tag)
        return tag

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-download are expected; keep stderr clean."""


class _Handler(BaseHTTPRequestHandler):
    server: _MirrorServer
    server_version = "taxi-etl-mirror"
    sys_version = ""
    timeout = 60  # a stalled client must not pin a thread forever

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests and the demo own stderr."""

    def do_GET(self) -> None:
        self._respond(head=False)

    def do_HEAD(self) -> None:
        self._respond(head=True)

    def _respond(self, *, head: bool) -> None:
        url_path = unquote(urlsplit(self.path).path)
        action = self.server.faults.take(url_path, self.command) if self.server.faults else None
        if action is not None and action.startswith("slow:"):
            self.server.stopping.wait(float(action[5:]))
            action = None
        if action in STATUS_ACTIONS:
            self._status(int(action), f"injected fault {action}")
            return
        target = self._resolve(url_path)
        if target is None:
            self._status(400, "bad path")
            return
        try:
            f = target.open("rb") if target.is_file() else None
        except OSError:  # gone since, or unreadable
            f = None
        if f is None:
            code = self.server.missing_status(url_path)
            self._status(code, self.responses.get(code, ("missing",))[0].lower())
            return
        with f:  # one open file: its tag, length and bytes belong to the same version
            self._send_file(url_path, target, f, head=head, action=action)

    def _resolve(self, url_path: str) -> Path | None:
        """Map a URL path to a file under root, or None for anything that could escape."""
        parts = url_path.split("/")
        if (
            not url_path.startswith("/")
            or "\\" in url_path
            or "\x00" in url_path
            or any(p in {".", ".."} for p in parts)
        ):
            return None
        target = self.server.root.joinpath(*[p for p in parts if p]).resolve()
        return target if target.is_relative_to(self.server.root) else None

    def _status(self, code: int, message: str) -> None:
        body = f"{code} {message}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_file(
        self, url_path: str, target: Path, f: BinaryIO, *, head: bool, action: str | None
    ) -> None:
        stat = os.fstat(f.fileno())
        size = stat.st_size
        etag = self.server.etag(target, f, stat)
        last_modified = formatdate(stat.st_mtime, usegmt=True)
        if self._not_modified(etag, stat.st_mtime):
            if self.server.faults:
                self.server.faults.record_not_modified(url_path)
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
            self.end_headers()
            return
        start, end = 0, size - 1
        ranged = self._range(size)
        if ranged == "unsatisfiable":
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if isinstance(ranged, tuple):
            start, end = ranged
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        length = end - start + 1
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", last_modified)
        self.end_headers()
        if head:
            return
        limit = length
        if action == "truncate":
            limit = length // 2
        elif action == "reset":
            limit = min(length // 2, _RESET_BYTES)
        try:
            f.seek(start)
            left = limit
            began, sent = time.monotonic(), 0
            while left > 0 and not self.server.stopping.is_set():
                chunk = f.read(min(_CHUNK, left))
                if not chunk:
                    break
                sent += len(chunk)
                if self.server.rate:  # a chunk arrives when a link of that rate would
                    ahead = sent / self.server.rate - (time.monotonic() - began)
                    if ahead > 0:
                        self.server.stopping.wait(ahead)
                self.wfile.write(chunk)
                left -= len(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
            return
        if action == "reset":
            self._abort()
        elif action == "truncate" or limit < length:
            self.close_connection = True

    def _not_modified(self, etag: str, mtime: float) -> bool:
        """RFC 9110 §13.2.2: If-None-Match decides when present (weak comparison, as for
        GET and HEAD), else If-Modified-Since at the one-second resolution of HTTP dates."""
        if (tags := self.headers.get("If-None-Match")) is not None:
            given = {tag.strip().removeprefix("W/") for tag in tags.split(",")}
            return "*" in given or etag in given
        if (since := self.headers.get("If-Modified-Since")) is None:
            return False
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False  # an unparseable date is ignored, as the RFC says
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        return int(mtime) <= when.timestamp()

    def _range(self, size: int) -> tuple[int, int] | str | None:
        """Parse a single ``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` range so that a
        resuming downloader can be tested; anything else is ignored (full 200)."""
        value = self.headers.get("Range")
        if not value or not value.startswith("bytes=") or "," in value:
            return None
        first, _, last = value[6:].strip().partition("-")
        try:
            if first:
                start = int(first)
                end = int(last) if last else size - 1
            else:
                start, end = max(size - int(last), 0), size - 1
        except ValueError:
            return None
        if start > end and first and last:
            return None
        if start >= size or size == 0:
            return "unsatisfiable"
        return start, min(end, size - 1)

    def _abort(self) -> None:
        """Close with RST instead of FIN, like a dropped connection."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def finish(self) -> None:
        with suppress(OSError):  # the socket may already be gone after a fault
            super().finish()


def _check_host(host: str, *, allow_non_loopback: bool = False) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        address = None
    if address is None or not (address.is_loopback or allow_non_loopback):
        raise ValueError(f"the mirror binds to IPv4 loopback only, got host {host!r}")
    return host


@contextmanager
def serve(
    root: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: FaultPlan | None = None,
    allow_non_loopback: bool = False,
    rate: float | None = None,
    missing: Mapping[str, int] | None = None,
) -> Iterator[str]:
    """Serve `root` read-only over HTTP and yield the base URL, e.g. http://127.0.0.1:PORT.

    Shuts down on exit.
    `rate` caps each download at that many bytes per second, like a real link to the
    release host, so benchmarks can show what overlapping downloads is worth.
    `missing` maps URL path prefixes to the status for a path with no file there, the
    longest prefix winning, e.g. ``{"/tlc/": 403}`` as CloudFront answers for a TLC month
    not published yet; every other path answers 404.
    `allow_non_loopback` lets an IPv4 address such as ``0.0.0.0`` through; only for a
    container whose network is private to its compose stack (the offline mirror).
    Port 0 picks a free port, so parallel tests never collide.  On exit pending
    ``slow:`` waits and file streams stop at once instead of delaying the caller.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"mirror root {root} is not a directory")
    host = _check_host(host, allow_non_loopback=allow_non_loopback)
    missing = dict(missing or {})
    for prefix, code in missing.items():
        if not prefix.startswith("/") or not 400 <= code <= 599:
            raise ValueError(f"missing: want {{'/prefix/': 4xx or 5xx}}, got {prefix!r}: {code!r}")
    server = _MirrorServer((host, port), root, faults, rate, missing)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="taxi-etl-mirror",
        daemon=True,
    )
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
