"""What differs between the two Prefect lines at run time, in one place: which line is
installed, the few spellings the flow code cannot share, and the two workarounds of
Prefect internals the project needs (the fetch task's result storage, the Dask
workers' API). How a command starts, stops and waits on Prefect's embedded server
differs too, and is in ``compat.server``; the warnings Prefect 2 raises and this
project accepts are in ``deprecations``. Dropping Prefect 2 means emptying these.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
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
