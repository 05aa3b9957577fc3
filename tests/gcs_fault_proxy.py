"""A fault-injecting HTTP proxy in front of the GCS emulator, on 127.0.0.1 only.

Uploads (``/upload/...``) get the listed status codes, one per request, before the
proxy starts forwarding them; everything else is forwarded as is. Location headers
of resumable uploads are rewritten so the client keeps talking to the proxy.
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class FaultProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, upload_faults: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = urlsplit(upstream)
        self.upload_faults = deque(upload_faults)
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def next_fault(self, path: str) -> int | None:
        with self.lock:
            kind = "upload" if path.startswith("/upload/") else "other"
            self.seen[kind] += 1
            if kind == "upload" and self.upload_faults:
                return self.upload_faults.popleft()
        return None


class _Handler(BaseHTTPRequestHandler):
    server: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.server.next_fault(self.path)
        if fault is not None:
            payload = b'{"error": {"code": %d, "message": "injected"}}' % fault
            self.send_response(fault)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        up = self.server.upstream
        conn = http.client.HTTPConnection(up.hostname or "127.0.0.1", up.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() in ("transfer-encoding", "connection", "content-length"):
                continue
            if key.lower() == "location":
                value = value.replace(f"{up.scheme}://{up.netloc}", self.server.url)
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _relay


@contextmanager
def fault_proxy(upstream: str, upload_faults: list[int]) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream, upload_faults)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
