"""What differs between the two Prefect lines at run time, in one place: which line is
installed, the few spellings the flow code cannot share, and the two workarounds of
Prefect internals the project needs (the fetch task's result storage, the Dask
workers' API). The warnings Prefect 2 raises and this project accepts are beside it,
in ``deprecations``. Dropping Prefect 2 means emptying these two modules.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from importlib.metadata import version
from typing import Any

#: Which Prefect line is installed (constraints.txt: 2.20; constraints-prefect3.txt:
#: 3.9). The flow modules run on both and branch on this only where the two lines
#: cannot share one spelling; those places are the helpers below.
PREFECT_2 = version("prefect").startswith("2.")


async def state_result(state: Any) -> Any:
    """A final state's result or exception, from async code: 2.x needs ``fetch=True``
    to load a persisted result; 3.x has no ``fetch``, and ``aresult`` is its async form."""
    if PREFECT_2:
        return await state.result(raise_on_failure=False, fetch=True)
    return await state.aresult(raise_on_failure=False)


async def submit(task: Any, *args: Any) -> Any:
    """``task.submit(...)`` from an async flow: 2.x returns a coroutine of the future,
    3.x the future itself (awaiting it is a TypeError)."""
    future = task.submit(*args)
    return await future if inspect.isawaitable(future) else future


async def final_state(future: Any) -> Any:
    """A submitted task's final state without blocking the event loop: 2.x's ``wait()``
    is awaitable in async code; 3.x's blocks, so it waits in a thread."""
    if PREFECT_2:
        return await future.wait()
    await asyncio.to_thread(future.wait)
    return future.state


async def awaited(created: Any) -> Any:
    """An artifact call's result from async code: a coroutine on both lines at run
    time, but 3.x types it ``UUID | Coroutine``."""
    return await created if inspect.isawaitable(created) else created


def construct(block_cls: Any, **fields: Any) -> Any:
    """A block made without validation (which would resolve credentials on the deploying
    machine): 2.x's blocks are pydantic v1 models (``construct``), 3.x's v2
    (``model_construct``)."""
    return (block_cls.construct if PREFECT_2 else block_cls.model_construct)(**fields)


def validated(block_cls: Any, data: dict[str, Any]) -> Any:
    """A block validated from data, the v1 way on 2.x and the v2 way on 3.x."""
    return block_cls.parse_obj(data) if PREFECT_2 else block_cls.model_validate(data)


def no_cache() -> dict[str, Any]:
    """Task options for "never cached": 2.x caches only tasks with a cache_key_fn, 3.x
    every task by its inputs (and logs an error for inputs it cannot hash, such as a
    GCS lake's client) unless told not to."""
    if PREFECT_2:
        return {}
    from prefect.cache_policies import NO_CACHE

    return {"cache_policy": NO_CACHE}


@functools.cache
def fetch_result_storage() -> Any:
    """Where the cached fetch task's results go. Prefect 2 saves an anonymous block for
    it on first use; two children doing that at once deadlock SQLite ("database is
    locked"), so the parent saves it once before it starts them
    (:func:`prepare_result_storage`). Prefect 3 refuses an unsaved block here and needs
    none: a task with a cache_key_fn persists its result to
    PREFECT_RESULTS_LOCAL_STORAGE_PATH (the old name is still read)."""
    if not PREFECT_2:
        return None
    from prefect.filesystems import LocalFileSystem
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    return LocalFileSystem(basepath=str(PREFECT_LOCAL_STORAGE_PATH.value()))


async def prepare_result_storage() -> None:
    """Save the fetch task's result storage once, before a parent starts its children."""
    storage = fetch_result_storage()
    if storage is not None and storage._block_document_id is None:
        await storage._save(is_anonymous=True, overwrite=True)


def dask_worker_env() -> dict[str, str]:
    """The API the local Dask workers report to: this process's.

    Without a server, Prefect 3's embedded API is a subprocess of the process that
    started it. A worker process left to itself starts its own (13-30 s here, on the
    same database), and a worker its nanny kills leaves that server running. Prefect 2's
    embedded API runs inside each worker process and goes with it: nothing to pass.
    """
    if PREFECT_2:
        return {}
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        from prefect.server.api.server import (  # type: ignore[attr-defined,unused-ignore]
            SubprocessASGIServer,
        )

        server = SubprocessASGIServer()  # the one this process's client already uses
        server.start()
        url = server.api_url
    return {"PREFECT_API_URL": url}


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
    a command waits for its records before the server stops."""
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
