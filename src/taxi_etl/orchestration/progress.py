"""A run's finished months, reported as each one ends: to the one hook a command hangs
its progress bar on, and to a backfill's or catch-up's progress artifact."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from taxi_etl.orchestration import artifacts
from taxi_etl.orchestration.compat import state_result
from taxi_etl.params import Partition
from taxi_etl.pipeline import MonthResult

#: Called with each month's result as it finishes.
MonthHook = Callable[[MonthResult], None]
_hook: MonthHook | None = None


@contextmanager
def watching(hook: MonthHook) -> Iterator[None]:
    """Call `hook` with the result of each month a run in this process finishes (the
    CLI's progress bar: a flow's parameters cannot carry a callable). Nested, each
    hook is called, the innermost first."""
    global _hook
    previous = _hook

    def both(result: MonthResult) -> None:
        hook(result)
        if previous is not None:
            previous(result)

    _hook = both
    try:
        yield
    finally:
        _hook = previous


class Progress:
    """One run's finished months, as they come; handed to where its months run."""

    def __init__(self, total: int, key: str | None) -> None:
        self.total, self.key = total, key
        self.done: list[MonthResult] = []

    async def add(self, result: MonthResult) -> MonthResult:
        self.done.append(result)
        if _hook is not None:
            _hook(result)
        if self.key:
            await artifacts.publish_progress(self.key, self.done, self.total)
        return result


async def as_result(part: Partition, state: Any) -> MonthResult:
    """A child flow's or Dask task's final state as the month's result; its error is
    kept and reported, it does not stop the other months."""
    data = await state_result(state)
    if state.is_completed():
        return data  # type: ignore[no-any-return]
    if not isinstance(data, BaseException):
        data = RuntimeError(f"ended {state.type.value}")
    return MonthResult.failed(part, data)
