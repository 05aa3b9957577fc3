"""Ctrl-C and SIGTERM end a command within seconds, with one line saying how far it got.

The command runs in a thread of its own, and the main thread only waits and takes the
signals. Run in the main thread, the flows met the signal wherever they were: Prefect
swaps in its own SIGTERM handler while a flow runs (a bare ``TerminationSignal``), a
``KeyboardInterrupt`` left the event loop to wait for every download thread and its
retries (616 s against a slow host), and the embedded server, in the terminal's process
group, got the Ctrl-C too. Here a signal asks the work to stop (:mod:`taxi_etl.stopping`):
downloads and transforms end at their next chunk, their staging files are removed on the
way out, and Prefect records the runs' end on a server that is still up. A second signal,
or work still running :data:`GRACE` seconds later, ends the process at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from taxi_etl import stopping

#: Seconds the work has to end after the first signal.
GRACE = 20.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_stoppable(work: Callable[[], int]) -> int:
    """`work()`, in a thread, with SIGINT and SIGTERM asking it to stop. Off the main
    thread (where no handler can be set) it just runs."""
    if threading.current_thread() is not threading.main_thread():
        return work()
    stopping.reset()
    running = sys.modules.get("taxi_etl.cli.running")
    if running is not None:  # an earlier command in this process (tests)
        running.FINISHED.clear()
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as exc:  # handed to the main thread as it is
            outcome.append((False, exc))

    def on_signal(signum: int, _frame: Any) -> None:
        if stopping.asked():
            _end_now(signum, "a second signal")
        stopping.ask(signum)

    previous = {s: signal.signal(s, on_signal) for s in SIGNALS}
    thread = threading.Thread(target=target, name="taxi-etl-command", daemon=True)
    try:
        thread.start()
        deadline: float | None = None
        while thread.is_alive():
            thread.join(0.2)
            if deadline is None and stopping.asked():
                deadline = time.monotonic() + GRACE
            if deadline is not None and time.monotonic() > deadline and thread.is_alive():
                _end_now(stopping.asked(), f"not ended {GRACE:.0f} s after the signal")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    done, value = outcome[0]
    if not done:
        raise value
    return int(value)


def _end_now(signum: int, why: str) -> None:
    """The last resort: say so, stop the embedded server, exit without waiting."""
    print(f"stopped by {signal.Signals(signum).name}: {why}; exiting now", flush=True)
    if "prefect" in sys.modules:  # only a command that ran flows has a server to stop
        from taxi_etl.orchestration.compat.server import stop_embedded_server

        stop_embedded_server()
    os._exit(128 + signum)


def how_far() -> str:
    """What the interrupted command had finished, for its one line."""
    running = sys.modules.get("taxi_etl.cli.running")
    done = list(getattr(running, "FINISHED", ()))
    if not done:
        return "no month finished; a plain run starts again"
    months = ", ".join(f"{r.partition.colour} {r.partition.ym} {r.status}" for r in done)
    return f"{len(done)} finished ({months}), the others not; a plain run resumes"
