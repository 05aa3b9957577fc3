"""Running a flow from the command line and reading its outcome.

Prefect is imported only here, and only by the commands that run flows, so ``convert``
starts fast and small. Flows run on Prefect's embedded (ephemeral) API unless
PREFECT_API_URL points at a server; its state lives in ``./.prefect`` unless
PREFECT_HOME says else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from taxi_etl import stopping
from taxi_etl.orchestration import embedded
from taxi_etl.orchestration.deprecations import silence_prefect2_deprecations
from taxi_etl.pipeline import MonthResult


def prefect_env() -> None:
    """Defaults for the embedded mode; must run before prefect is imported."""
    embedded.configure()
    silence_prefect2_deprecations()


def run_flow(which: Any, **parameters: Any) -> Any:
    """Run a flow to its final state from synchronous code, its task runs recorded."""
    from taxi_etl.orchestration.compat import server

    async def main() -> Any:
        began = datetime.now(UTC)
        try:
            state = await which(**parameters, return_state=True)
            stopping.check()  # a stop Prefect returned as a Crashed state, or one at the end
        except stopping.Stopped as stop:
            await server.end_stopped_runs(began, str(stop))
            raise
        await server.wait_until_recorded(state.state_details.flow_run_id)
        return state

    from prefect import tags

    from taxi_etl.orchestration.orphans import command_tag

    with embedded.first_start():
        server.start_embedded_server()
    with tags(command_tag()):  # the next command's sweep knows whose runs these are
        return asyncio.run(main())


def outcome(state: Any) -> tuple[bool, list[MonthResult]]:
    """(completed?, per-month results) of a parent or backfill run's final state."""
    from taxi_etl.orchestration.fanout import LoadFailed

    try:
        results: list[MonthResult] = state.result()
    except LoadFailed as exc:
        results = exc.results
    return state.is_completed(), results


#: The months this process's runs finished, as they finished: what an interrupted
#: command says it got done (cli.stops).
FINISHED: list[MonthResult] = []


def run(flow_name: str, **parameters: Any) -> Any:
    """The final state of one of the flows, by its name, run with these parameters."""
    prefect_env()
    from taxi_etl import flows

    with month_listener(FINISHED.append):
        return run_flow(getattr(flows, flow_name), **parameters)


def run_parent(**parameters: Any) -> Any:
    """The parent flow's final state (the course's flow; tests and benchmarks use it)."""
    return run("etl_parent_flow", **parameters)


@contextmanager
def month_listener(listener: Callable[[MonthResult], None]) -> Iterator[None]:
    """Call `listener` with each month's result as it finishes (a progress bar)."""
    from taxi_etl.orchestration import progress

    with progress.watching(listener):
        yield


def finished(state: Any) -> tuple[bool, list[MonthResult]]:
    """A CLI run's outcome; the home is now migrated, so the next start can be warm."""
    embedded.record_full_start()
    return outcome(state)
