#!/usr/bin/env python3
"""Container health checks without curl: the minimal base images have none.

    taxi-etl-healthcheck http://127.0.0.1:4200/api/health
    taxi-etl-healthcheck --any-status http://127.0.0.1:8000/
    taxi-etl-healthcheck unix:///var/run/docker.sock http://server:4200/api/health
    taxi-etl-healthcheck tcp://dask-scheduler:8786

Every target must answer; exit 0 if they all do, 1 with one line on stderr otherwise
(Docker keeps that line in `docker inspect`, which is where a failing check is read).
An ``http://`` target must answer 2xx, or any status with ``--any-status``. A
``unix://`` target is a Docker socket and must answer ``GET /_ping``: it proves the
agent can start flow-run containers (socket mounted, and its group granted). A
``tcp://host:port`` target (a Dask scheduler) must accept a connection.
Stdlib only, so the same file serves every image.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import sys
import urllib.error
import urllib.request


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def check(target: str, *, any_status: bool, timeout: float) -> str | None:
    """None when `target` is healthy, else the reason."""
    if target.startswith("tcp://"):
        host, _, port = target[len("tcp://") :].rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
        except (OSError, ValueError) as exc:
            return f"{target}: {exc}"
        return None
    if target.startswith("unix://"):
        path = target[len("unix://") :]
        conn = _UnixConnection(path, timeout)
        try:
            conn.request("GET", "/_ping")
            status = conn.getresponse().status
        except PermissionError:
            return (
                f"{path}: permission denied; give the container the socket's group: "
                "DOCKER_GID=$(stat -c %g /var/run/docker.sock) docker compose up"
            )
        except OSError as exc:
            return f"{path}: {exc}"
        finally:
            conn.close()
        return None if status == 200 else f"{path}: /_ping answered {status}"
    # No proxies: a health check talks to this container or its compose neighbours.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(target, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        return f"{target}: {exc}"
    if any_status or 200 <= status < 300:
        return None
    return f"{target}: HTTP {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("targets", nargs="+", help="http(s)://..., unix:///path/docker.sock or tcp://host:port")
    parser.add_argument("--any-status", action="store_true", help="any HTTP answer is healthy")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    for target in args.targets:
        problem = check(target, any_status=args.any_status, timeout=args.timeout)
        if problem:
            print(f"unhealthy: {problem}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
