"""What the local mirror (:mod:`taxi_etl.devtools.mirror`) is told to do wrong, and what
it counts: a :class:`FaultPlan` per serve, so retry and freshness logic can be tested
exactly."""

from __future__ import annotations

import math
import threading
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["ACTIONS", "MAX_DELAY", "STATUS_ACTIONS", "FaultPlan"]

#: Faults that answer with their status code and nothing else.
STATUS_ACTIONS: frozenset[str] = frozenset({"500", "503", "404", "403"})
#: Fault actions understood by :class:`FaultPlan`, besides ``"slow:<seconds>"``.
ACTIONS: frozenset[str] = STATUS_ACTIONS | {"reset", "truncate"}

#: Upper bound for ``"slow:<seconds>"`` so a mistyped plan cannot hang a test run.
MAX_DELAY = 30.0


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
    Actions: ``"500"``, ``"503"``, ``"404"``, ``"403"`` (status only; 403 is what
    CloudFront answers for a TLC month not yet published, and what a throttled client may
    see), ``"reset"`` (headers and part of the body, then a TCP RST), ``"truncate"`` (full
    Content-Length, half the body, then a clean close), ``"slow:<seconds>"`` (wait, then
    serve normally).

    Only GETs consume faults and count in :attr:`requests`, so a client that checks a
    file with HEAD first does not shift the plan; HEADs are counted in
    :attr:`head_requests`.  :attr:`not_modified` counts the 304 answers to conditional
    GETs and HEADs, so a test can prove that a fresh copy was not downloaded again.  Safe
    to use from the server's handler threads.
    """

    faults: dict[str, list[str]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter, init=False)
    head_requests: Counter[str] = field(default_factory=Counter, init=False)
    not_modified: Counter[str] = field(default_factory=Counter, init=False)
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

    def record_not_modified(self, path: str) -> None:
        """Count one 304 answer for `path`."""
        with self._lock:
            self.not_modified[_norm(path)] += 1
