"""Local read-only HTTP mirror of the TLC release files, for the offline demo and tests.

The base URL it yields stands in for
``https://github.com/DataTalksClub/nyc-tlc-data/releases/download``, so the downloader
is exercised over real sockets: ``{base}/{colour}/{colour}_tripdata_{year}-{month:02}.csv.gz``.
A :class:`FaultPlan` makes chosen requests fail the ways real downloads fail (5xx,
404, connection reset, short body, slow start) so retry logic can be tested exactly.

Stdlib only, and it binds to loopback only (unless the caller opts in with
``allow_non_loopback``): it has no authentication and serves any file under `root`.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["ACTIONS", "MAX_DELAY", "FaultPlan", "serve"]

#: Fault actions understood by :class:`FaultPlan`, besides ``"slow:<seconds>"``.
ACTIONS: frozenset[str] = frozenset({"500", "503", "404", "reset", "truncate"})

#: Upper bound for ``"slow:<seconds>"`` so a mistyped plan cannot hang a test run.
MAX_DELAY = 30.0

_CHUNK = 256 * 1024
_RESET_BYTES = 64 * 1024


def _norm(path: str) -> str:
    return path if path.startswith("/") else "/" + path


def _check_action(action: str) -> None:
    if action in ACTIONS:
        return
    if action.startswith("slow:"):
        try:
            seconds = float(action[5:])
        except ValueError:
            seconds = math.nan
        if 0 <= seconds <= MAX_DELAY:
            return
        raise ValueError(f"{action!r}: delay must be a number of seconds in 0..{MAX_DELAY}")
    raise ValueError(f"unknown fault {action!r}; expected one of {sorted(ACTIONS)} or 'slow:<s>'")


@dataclass
class FaultPlan:
    """Faults to inject per URL path, consumed one per GET in the order given.

    Keys are URL paths such as ``/yellow/yellow_tripdata_2021-01.csv.gz`` (a missing
    leading slash is added).  Once a path's actions are used up it is served normally.
    Actions: ``"500"``, ``"503"``, ``"404"`` (status only), ``"reset"`` (headers and part
    of the body, then a TCP RST), ``"truncate"`` (full Content-Length, half the body,
    then a clean close), ``"slow:<seconds>"`` (wait, then serve normally).

    Only GETs consume faults and count in :attr:`requests`, so a client that checks a
    file with HEAD first does not shift the plan; HEADs are counted in
    :attr:`head_requests`.  Safe to use from the server's handler threads.
    """

    faults: dict[str, list[str]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter, init=False)
    head_requests: Counter[str] = field(default_factory=Counter, init=False)
    _queues: dict[str, deque[str]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        given: Mapping[str, Iterable[str]] = self.faults
        self.faults = {}
        for path, actions in given.items():
            self.add(path, *actions)

    def add(self, path: str, *actions: str) -> FaultPlan:
        """Append actions for `path`; returns the plan so calls can be chained."""
        for action in actions:
            _check_action(action)
        key = _norm(path)
        with self._lock:
            self.faults.setdefault(key, []).extend(actions)
            self._queues.setdefault(key, deque()).extend(actions)
        return self

    def remaining(self, path: str) -> list[str]:
        """Actions not yet consumed for `path`."""
        with self._lock:
            return list(self._queues.get(_norm(path), ()))

    def take(self, path: str, method: str = "GET") -> str | None:
        """Record one request and return the fault to apply to it, if any."""
        key = _norm(path)
        with self._lock:
            if method == "HEAD":
                self.head_requests[key] += 1
                return None
            self.requests[key] += 1
            queue = self._queues.get(key)
            return queue.popleft() if queue else None


class _MirrorServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], root: Path, faults: FaultPlan | None, rate: float | None
    ) -> None:
        self.root = root.resolve()
        self.faults = faults
        self.rate = rate
        self.stopping = threading.Event()
        super().__init__(address, _Handler)

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
        if action in {"500", "503", "404"}:
            self._status(int(action), f"injected fault {action}")
            return
        target = self._resolve(url_path)
        if target is None:
            self._status(400, "bad path")
            return
        if not target.is_file():
            self._status(404, "not found")
            return
        self._send_file(target, head=head, action=action)

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

    def _send_file(self, target: Path, *, head: bool, action: str | None) -> None:
        stat = target.stat()
        size = stat.st_size
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
        self.send_header("Last-Modified", formatdate(stat.st_mtime, usegmt=True))
        self.end_headers()
        if head:
            return
        limit = length
        if action == "truncate":
            limit = length // 2
        elif action == "reset":
            limit = min(length // 2, _RESET_BYTES)
        try:
            with target.open("rb") as f:
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
) -> Iterator[str]:
    """Serve `root` read-only over HTTP and yield the base URL, e.g. http://127.0.0.1:PORT.

    Shuts down on exit.
    `rate` caps each download at that many bytes per second, like a real link to the
    release host, so benchmarks can show what overlapping downloads is worth.
    `allow_non_loopback` lets an IPv4 address such as ``0.0.0.0`` through; only for a
    container whose network is private to its compose stack (the offline mirror).
    Port 0 picks a free port, so parallel tests never collide.  On exit pending
    ``slow:`` waits and file streams stop at once instead of delaying the caller.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"mirror root {root} is not a directory")
    host = _check_host(host, allow_non_loopback=allow_non_loopback)
    server = _MirrorServer((host, port), root, faults, rate)
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
