"""Prefect's embedded server, as a command needs it on either line: started apart from
the terminal's signals, stopped as a last resort, and waited on until it has recorded
a run's end. Prefect 2 runs that API inside the process, so most of this is Prefect 3's;
what Prefect 2 needs is its first start's slow steps, done with no time limit.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from taxi_etl.orchestration.compat import PREFECT_2


def _embedded_server() -> Any:
    """Prefect 3's embedded API server (the one its client starts), None on Prefect 2,
    which runs that API inside this process, or when PREFECT_API_URL names a server."""
    if PREFECT_2:
        return None
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return None
    from prefect.server.api.server import (  # type: ignore[attr-defined,unused-ignore]
        SubprocessASGIServer,
    )

    return SubprocessASGIServer()


def start_embedded_server() -> None:
    """Start Prefect 3's embedded server now, apart: in a session of its own, and ended
    by the kernel if this process dies. (Prefect 2: its first start's slow steps.)

    A terminal's Ctrl-C goes to its whole process group; the server, in it, shut down at
    once, and the command could record neither its runs' end nor their Crashed states.
    A killed command left the server running. Prefect starts it with a plain Popen, so
    its module's ``subprocess`` is swapped for the start only."""
    if PREFECT_2:
        _first_start_prefect2()
        return
    server = _embedded_server()
    if server is None or server.running:
        return
    import subprocess

    from prefect.server.api import server as api

    popen: Any = subprocess.Popen

    class _Apart:
        def __getattr__(self, name: str) -> Any:
            return getattr(subprocess, name)

        @staticmethod
        def Popen(*args: Any, **kwargs: Any) -> Any:
            return popen(*args, start_new_session=True, preexec_fn=_die_with_parent, **kwargs)

    failed: list[BaseException] = []
    started = threading.Event()

    def keeper() -> None:
        # setattr: the module does not export `subprocess`, so mypy refuses an assignment.
        setattr(api, "subprocess", _Apart())  # noqa: B010
        try:
            server.start()
        except BaseException as exc:  # raised in the caller's thread
            failed.append(exc)
        finally:
            setattr(api, "subprocess", subprocess)  # noqa: B010
            started.set()
        threading.Event().wait()  # the server's parent thread: as long as this process

    # The kernel's "parent died" is the death of the thread that started the process:
    # a thread that lives as long as this process starts it, not a command's thread.
    threading.Thread(target=keeper, name="taxi-etl-embedded-server", daemon=True).start()
    started.wait()
    if failed:
        raise failed[0]
    import atexit

    atexit.register(_drain, server)  # after Prefect's own stop, so it runs first


#: How long the server may take to stop at exit: its services write what they hold
#: (the task-run recorder's last batch) as it stops.
DRAIN_SECONDS = 60.0


def _drain(server: Any) -> None:
    """At exit, before Prefect's own stop: SIGTERM the server and wait for it.

    Prefect's stop kills the server 5 s after its SIGTERM; on a loaded machine the
    recorder's last batch was not written by then (CI: 'Error flushing 19 events', and
    a month's task runs left Pending or never recorded). Prefect's stop then finds no
    process left."""
    import subprocess

    process = server.server_process
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=DRAIN_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    server.server_process = None


def _first_start_prefect2() -> None:
    """Prefect 2 on a full start (a new or changed home): migrate the database now,
    with no time limit, then start the API once so its block types are registered.
    Left to the API's first start, both ran within asgi-lifespan's 30 s startup limit,
    which a new home on a loaded 2-core machine exceeded (TimeoutError)."""
    from prefect.settings import PREFECT_API_DATABASE_MIGRATE_ON_START, PREFECT_API_URL

    if PREFECT_API_URL.value() or not PREFECT_API_DATABASE_MIGRATE_ON_START.value():
        return  # a server, or a warm start: nothing to do

    async def start() -> None:
        from prefect.client.orchestration import get_client
        from prefect.server.database.dependencies import provide_database_interface

        db: Any = provide_database_interface()
        await db.create_db()
        async with get_client() as client:
            await client.api_healthcheck()

    # Its own thread and loop: the API's lifespan is kept per thread and loop.
    failed: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(start())
        except BaseException as exc:  # raised in the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=run, name="taxi-etl-first-start")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]


def _die_with_parent() -> None:
    """In the server's process before exec: SIGTERM when its parent dies (Linux)."""
    import contextlib
    import ctypes
    import signal

    # Not Linux: no such call, and a killed command may leave the server running.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def stop_embedded_server() -> None:
    """Stop Prefect 3's embedded server now (the last resort of an interrupt)."""
    server = _embedded_server()
    if server is not None and server.running:
        server.stop()


_UNFINISHED = ("SCHEDULED", "PENDING", "RUNNING")


async def _unfinished_task_runs(client: Any, flow_run_ids: list[Any]) -> list[Any]:
    """The task runs of these flow runs and of the subflows below them that are not in a
    final state."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    runs, level = list(flow_run_ids), list(flow_run_ids)
    while level:
        below = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=level)
            )
        )
        level = [run.id for run in below if run.id not in runs]
        runs.extend(level)
    unfinished = TaskRunFilterState(
        type=TaskRunFilterStateType(any_=[StateType(t) for t in _UNFINISHED]), name=None
    )
    return list(
        await client.read_task_runs(
            task_run_filter=TaskRunFilter(
                flow_run_id=TaskRunFilterFlowRunId(any_=runs), state=unfinished
            )
        )
    )


async def wait_until_recorded(flow_run_id: Any, timeout: float = 30.0) -> bool:
    """Whether every task run of the flow run and of the subflows below it is recorded
    in a final state, waiting up to `timeout` seconds; True at once on Prefect 2 and
    with a server.

    Prefect 3's embedded server writes task-run states in batches, every 2 s
    (embedded.EMBEDDED_SERVER), and a stop cuts its last batch short: a command that
    returned at once left Pending or Running task runs behind (CI: a month's history
    ['Pending', 'Running'], then 'Error flushing 19 events' as the server stopped). So
    a command waits for the records it can see; one still in the batch is not there to
    see, and is written as the server stops at exit (_drain)."""
    if _embedded_server() is None:
        return True
    from prefect.client.orchestration import get_client

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with get_client() as client:
        while await _unfinished_task_runs(client, [flow_run_id]):
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.25)
    return True


async def end_stopped_runs(since: Any, why: str, settle: float = 8.0) -> int:
    """After a stop: every task run still Pending or Running under the flow runs that
    ended Crashed or Cancelled since `since` is marked Crashed; how many were.

    A stop ends the flows, but both lines leave a subflow's placeholder task run
    Pending in its parent, and on Prefect 3 task runs reach the database through the
    batched recorder, up to a flush interval later: it is asked again until it has
    brought nothing new for longer than that, for `settle` seconds at most."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    loop = asyncio.get_running_loop()
    deadline = loop.time() + settle
    async with get_client() as client:
        ended = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                start_time=FlowRunFilterStartTime(after_=since),
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.CRASHED, StateType.CANCELLED]),
                    name=None,
                ),
            )
        )
        ids = [run.id for run in ended]
        if not ids:
            return 0
        crashed, quiet_since = 0, None
        while True:
            left = await _unfinished_task_runs(client, ids)
            for task_run in left:
                await client.set_task_run_state(task_run.id, Crashed(message=why), force=True)
            crashed += len(left)
            now = loop.time()
            quiet_since = None if left else (quiet_since or now)
            # Prefect 3: until a flush interval and more has brought nothing new.
            if PREFECT_2 or now > deadline or (quiet_since and now - quiet_since > 2.5):
                return crashed
            await asyncio.sleep(0.5)
