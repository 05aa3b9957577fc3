"""Child runs that outlived their parent, marked Crashed by the next parent run.

When a flow-run container dies (killed, out of memory), the agent marks the parent
run Crashed, but nothing reaches the child flow runs and task runs it had started:
Prefect 2 has no heartbeat for them, so the UI shows them Running forever. Every
parent and backfill run starts by looking for children that are still Running or
Pending under a parent that has ended, and marks them, their unfinished task runs and
the parent's task run that stood for them Crashed, with a message naming the parent.
Children of parents that are still running are left alone, however many agents run.

A command killed with its runs (SIGKILL, out of memory) leaves the parent Running too.
Each command tags its runs with its host and process id (:func:`command_tag`); a
parent still unfinished whose command on this host is gone is marked Crashed first,
and its children then with it.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from prefect import get_client, get_run_logger
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentTaskRunId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    TaskRunFilter,
    TaskRunFilterId,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.states import Crashed

CHILD_FLOWS = ("etl_web_to_gcs", "etl_dask_months")
_UNFINISHED = [StateType.RUNNING, StateType.PENDING]
#: The start of the tag a command's runs carry (cli.running).
COMMAND_TAG = "taxi-etl-command:"


def command_tag() -> str:
    """This process's tag: host and process id."""
    return f"{COMMAND_TAG}{socket.gethostname()}:{os.getpid()}"


def _command_gone(tags: list[str]) -> bool:
    """Whether the runs' tags name a command on this host that no longer runs."""
    for tag in tags:
        if tag.startswith(COMMAND_TAG):
            host, _, pid = tag.removeprefix(COMMAND_TAG).rpartition(":")
            if host != socket.gethostname() or not pid.isdigit():
                return False  # another machine's: it cannot be asked from here
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return True
            except PermissionError:  # another user's live process
                return False
            return False
    return False


async def _crash_killed_commands(client: Any) -> list[str]:
    """Mark Crashed the unfinished top-level runs whose command was killed."""
    parents = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=_UNFINISHED), name=None),
            parent_task_run_id=FlowRunFilterParentTaskRunId(is_null_=True),
        ),
    )
    crashed = []
    for parent in parents:
        if not _command_gone(list(parent.tags or [])):
            continue
        pid = next(t for t in parent.tags if t.startswith(COMMAND_TAG)).rpartition(":")[2]
        state: Any = Crashed(message=f"the command that ran it (process {pid}) is gone")
        await client.set_flow_run_state(parent.id, state, force=True)
        await _crash_task_runs(client, parent.id, state)
        crashed.append(parent.name)
    return crashed


async def _crash_task_runs(client: Any, flow_run_id: Any, state: Any) -> list[Any]:
    tasks = await client.read_task_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
        task_run_filter=TaskRunFilter(
            state=TaskRunFilterState(type=TaskRunFilterStateType(any_=_UNFINISHED), name=None)
        ),
    )
    for task_run in tasks:
        await client.set_task_run_state(task_run.id, state, force=True)
    return list(tasks)


async def reap() -> list[str]:
    """Mark the orphaned children Crashed; return their names."""
    reaped = []
    async with get_client() as client:
        killed = await _crash_killed_commands(client)
        if killed:
            get_run_logger().warning(
                "marked %d runs of killed commands Crashed: %s", len(killed), ", ".join(killed)
            )
        for child, stand_in, parent in await _orphans(client):
            crashed: Any = Crashed(
                message=f"its parent flow run {parent.name} ({parent.id}) ended "
                f"{parent.state.name}; this run could not finish"
            )
            await client.set_flow_run_state(child.id, crashed, force=True)
            await _crash_task_runs(client, child.id, crashed)
            if not (stand_in.state and stand_in.state.is_final()):
                await client.set_task_run_state(stand_in.id, crashed, force=True)
            reaped.append(child.name)
    if reaped:
        get_run_logger().warning(
            "marked %d child runs of ended parents Crashed: %s", len(reaped), ", ".join(reaped)
        )
    return reaped


async def _orphans(client: Any) -> list[tuple[Any, Any, Any]]:
    """(child flow run, the parent's task run for it, parent flow run) of every child
    that is unfinished under a parent that has ended."""
    children = await client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=list(CHILD_FLOWS))),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=_UNFINISHED), name=None
            ),
            parent_task_run_id=FlowRunFilterParentTaskRunId(is_null_=False),
        ),
    )
    if not children:
        return []
    stand_ins = await client.read_task_runs(
        task_run_filter=TaskRunFilter(
            id=TaskRunFilterId(any_=[c.parent_task_run_id for c in children])
        )
    )
    parents = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[t.flow_run_id for t in stand_ins]))
    )
    stand_in_of = {t.id: t for t in stand_ins}
    parent_of = {p.id: p for p in parents}
    found = []
    for child in children:
        stand_in = stand_in_of.get(child.parent_task_run_id)
        parent = parent_of.get(stand_in.flow_run_id) if stand_in else None
        if parent is not None and parent.state is not None and parent.state.is_final():
            found.append((child, stand_in, parent))
    return found
