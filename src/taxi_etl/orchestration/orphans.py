"""Child runs that outlived their parent, marked Crashed by the next parent run.

When a flow-run container dies (killed, out of memory), the agent marks the parent
run Crashed, but nothing reaches the child flow runs and task runs it had started:
Prefect 2 has no heartbeat for them, so the UI shows them Running forever. Every
parent and backfill run starts by looking for children that are still Running or
Pending under a parent that has ended, and marks them, their unfinished task runs and
the parent's task run that stood for them Crashed, with a message naming the parent.
Children of parents that are still running are left alone, however many agents run.
"""

from __future__ import annotations

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


async def reap() -> list[str]:
    """Mark the orphaned children Crashed; return their names."""
    reaped = []
    async with get_client() as client:
        for child, stand_in, parent in await _orphans(client):
            crashed: Any = Crashed(
                message=f"its parent flow run {parent.name} ({parent.id}) ended "
                f"{parent.state.name}; this run could not finish"
            )
            await client.set_flow_run_state(child.id, crashed, force=True)
            tasks = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[child.id])),
                task_run_filter=TaskRunFilter(
                    state=TaskRunFilterState(
                        type=TaskRunFilterStateType(any_=_UNFINISHED), name=None
                    )
                ),
            )
            for task_run in [*tasks, stand_in]:
                if not (task_run.state and task_run.state.is_final()):
                    await client.set_task_run_state(task_run.id, crashed, force=True)
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
