"""What differs between the two Prefect lines, in one place: which line is installed,
the few spellings the flow code cannot share (the helpers below), and the Prefect 2
deprecations this project has read and accepts, silenced here and nowhere else.

The container path uses Prefect 2's agent + infrastructure-block model on purpose: it is
what the course teaches and what prefect 2.20 / prefect-docker 0.5 support together.
Prefect marks that whole model deprecated in favour of workers, which the Prefect 3 line
here uses (docs/containers.md, "Prefect 3: a work pool and a worker"); the warnings say
nothing new after the first read, so each one is listed here with the reason it is
accepted, and nothing else is hidden. A deprecation that is not listed still shows, so
a new one gets read before it gets silenced.

Not covered, because Prefect prints them with ``print`` rather than ``warnings``: the
one ``WARNING: The 'agent' command group has been deprecated`` line at agent start, and
the like for ``prefect deployment build``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import warnings
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


#: (message regex, why it is accepted). Matched with ``re.match`` against the text.
ACCEPTED_DEPRECATIONS: tuple[tuple[str, str], ...] = (
    (
        r"prefect\.infrastructure\.container\.DockerContainer has been deprecated",
        "the agent runs flows through this block; on the Prefect 3 line a work pool and "
        "prefect-docker's DockerWorker replace it",
    ),
    (
        r"prefect\.infrastructure\.base\.Infrastructure has been deprecated",
        "the base class of DockerContainer, warned again on each instance",
    ),
    (
        r"prefect\.infrastructure\.process\.Process has been deprecated",
        "the default infrastructure of Deployment, used by the course's CLI route",
    ),
    (
        r"prefect\.deployments\.deployments\.Deployment has been deprecated",
        "Deployment.build_from_flow is the only 2.x API that takes an infrastructure block",
    ),
    (
        r"prefect\.client\.schemas\.objects\.MinimalDeploymentSchedule has been deprecated",
        "build_from_flow(schedules=[...]) makes it internally; its replacement is Prefect 3's",
    ),
)


#: (PYTHONWARNINGS entry, why it is accepted) for the flow-run containers, where
#: ``python -m prefect.engine`` warns before any project code could install a filter.
#: deployments.settings passes them as the containers' PYTHONWARNINGS. Entries match by
#: message prefix (Python escapes it), so they cannot hide anything else.
FLOW_RUN_WARNING_FILTERS: tuple[tuple[str, str], ...] = (
    (
        "ignore:prefect.deployments.deployments.load_flow_from_flow_run has been deprecated"
        ":DeprecationWarning",
        "the engine's own loader for deployments with a path; workers replace it",
    ),
    (
        "ignore:'prefect.engine' found in sys.modules:RuntimeWarning",
        "runpy's note on Prefect's own `python -m prefect.engine` command; harmless",
    ),
)


#: (message regex, category name, why) for warnings Prefect's own server code raises on
#: the embedded (ephemeral) API, which a CLI user would otherwise see on every first run.
ACCEPTED_NOISE: tuple[tuple[str, str, str], ...] = (
    (
        r"Skipped unsupported reflection of expression-based index",
        "SAWarning",
        "SQLAlchemy reflecting Prefect's own SQLite indexes during migrations; harmless",
    ),
)


def flow_run_pythonwarnings() -> str:
    """The PYTHONWARNINGS value for flow-run containers."""
    return ",".join(entry for entry, _why in FLOW_RUN_WARNING_FILTERS)


def silence_prefect2_deprecations() -> None:
    """Ignore exactly the accepted deprecations; idempotent, cheap, and Prefect-free."""
    for pattern, _why in ACCEPTED_DEPRECATIONS:
        # DeprecationWarning also matches Prefect's PrefectDeprecationWarning subclass,
        # without importing it from a private module.
        warnings.filterwarnings("ignore", message=pattern, category=DeprecationWarning)
    for pattern, category, _why in ACCEPTED_NOISE:
        # Matched by the category's name, so silencing needs no SQLAlchemy import.
        warnings.filterwarnings("ignore", message=pattern, category=_named(category))


def _named(category: str) -> type[Warning]:
    """The warning class called `category`, looked up lazily; Warning if unknown."""
    if category == "SAWarning":
        try:
            from sqlalchemy.exc import SAWarning
        except ImportError:  # the embedded API is not installed: nothing to silence
            return Warning
        return SAWarning
    return Warning
