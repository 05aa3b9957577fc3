"""A stop asked for by a signal, seen by the loops that take long: a download's chunks
and retry waits, a transform's blocks and row groups.

A signal handler runs in the main thread, but a month's work runs in worker threads
(``asyncio.to_thread``, the parse pool), which Python cannot interrupt; and the event
loop's shutdown waits for them. So the handler only calls :func:`ask`, and each loop
calls :func:`check` between steps. A socket blocked in a read is shut down by
:func:`ask` as well, so a silent host does not hold the stop for its idle timeout.

:class:`Stopped` is a BaseException: no ``except Exception`` retries or swallows it,
staging files are removed by the ``finally`` blocks it passes through, and Prefect
records the runs it ends as Crashed, not Failed.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class Stopped(BaseException):
    """The command was asked to stop (Ctrl-C, SIGTERM)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


_asked = threading.Event()
_signum = 0
_sockets: set[socket.socket] = set()
_lock = threading.Lock()


def ask(signum: int) -> None:
    """Ask every loop to stop; safe from a signal handler (no lock is waited for long)."""
    global _signum
    _signum = _signum or signum
    _asked.set()
    with _lock:
        held = list(_sockets)
    for sock in held:
        with suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)  # the blocked recv returns at once


def asked() -> int:
    """The signal that asked for the stop, 0 if none has."""
    return _signum if _asked.is_set() else 0


def check() -> None:
    """Raise Stopped if a stop was asked for."""
    if _asked.is_set():
        raise Stopped(_signum)


def sleep(seconds: float) -> None:
    """time.sleep that a stop ends early."""
    if _asked.wait(seconds):
        raise Stopped(_signum)


@contextmanager
def reading(sock: socket.socket | None) -> Iterator[None]:
    """While the block runs, a stop shuts `sock` down."""
    if sock is None:
        yield
        return
    with _lock:
        _sockets.add(sock)
    try:
        check()
        yield
    finally:
        with _lock:
            _sockets.discard(sock)


def reset() -> None:
    """Forget a stop: a new command in the same process (tests) starts clean."""
    global _signum
    _asked.clear()
    _signum = 0
