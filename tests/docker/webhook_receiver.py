"""A webhook receiver for the notification tests, run in a container on a stack's network.

    python webhook_receiver.py [PORT]

Writes one JSON line per POST to stdout (path, user agent, body), which the test reads
back with `docker logs`, and answers 204; or the status written in /tmp/status (e.g.
500, via `docker exec`), to see what a failing receiver makes the senders log. Stdlib
only, so it runs in the project image; it listens only inside its container's network.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Quiet: stdout carries the received requests only."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20)).decode("utf-8", "replace")
        line = {
            "path": self.path,
            "user_agent": self.headers.get("User-Agent"),
            "content_type": self.headers.get("Content-Type"),
            "body": body,
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        try:
            with open("/tmp/status") as fh:
                status = int(fh.read().strip())
        except (OSError, ValueError):
            status = 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main(argv: list[str]) -> int:
    port = int(argv[1]) if len(argv) > 1 else 8080
    server = ThreadingHTTPServer(("0.0.0.0", port), _Handler)
    print(f"listening on {port}", file=sys.stderr, flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
