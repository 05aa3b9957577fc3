"""Loopback helpers the tests and benchmarks share: a free port, and waiting for health."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable


def free_port() -> int:
    """A port free on 127.0.0.1 now, chosen by the kernel."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(
    url: str, timeout: float, *, gave_up: Callable[[], bool] = lambda: False
) -> float:
    """Poll `url` until it answers 200; return the seconds it took. Raises TimeoutError
    after `timeout` seconds, or at once when `gave_up()` says the server died."""
    t0 = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - t0
        except OSError:
            pass
        if gave_up() or time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{url} was not healthy within {timeout:.0f} s")
        time.sleep(0.5)
