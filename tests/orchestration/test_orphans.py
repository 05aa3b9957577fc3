"""Children of a parent that died are marked Crashed by the next parent run; children of
a parent that still runs are left alone. On the embedded API, with real runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from prefect import get_client
from prefect.states import Crashed, Running
from prefect.tasks import Task

from taxi_etl import flows
from taxi_etl.cli import running
from taxi_etl.orchestration import month_tasks

pytestmark = pytest.mark.prefect


async def _family(parent_state: Any) -> dict[str, Any]:
    """A parent run with one child flow run mid-month, as a killed container leaves it:
    the child, its transform task and the parent's task for the child all Running."""
    async with get_client() as client:
        parent = await client.create_flow_run(flows.etl_parent_flow, state=Running())
        stand_in = await client.create_task_run(
            Task(lambda: None, name="etl_web_to_gcs"), parent.id, "0", state=Running()
        )
        child = await client.create_flow_run(
            flows.etl_web_to_gcs, parent_task_run_id=stand_in.id, state=Running()
        )
        transform = month_tasks.transform_month
        task = await client.create_task_run(transform, child.id, "0", state=Running())
        await client.set_flow_run_state(parent.id, parent_state, force=True)
    return {"parent": parent.id, "stand_in": stand_in.id, "child": child.id, "task": task.id}


async def _states(ids: dict[str, Any]) -> dict[str, str]:
    async with get_client() as client:
        return {
            "parent": (await client.read_flow_run(ids["parent"])).state.type.value,
            "child": (await client.read_flow_run(ids["child"])).state.type.value,
            "task": (await client.read_task_run(ids["task"])).state.type.value,
            "stand_in": (await client.read_task_run(ids["stand_in"])).state.type.value,
        }


def test_next_parent_run_crashes_the_orphans_of_a_dead_one(
    workdir: Path, mirror_url: str
) -> None:
    dead = asyncio.run(_family(Crashed(message="container exited with code 137")))
    alive = asyncio.run(_family(Running()))

    state = running.run_parent(months=[1], year=2020, colour="green", source_url=mirror_url)
    assert state.is_completed(), state

    assert asyncio.run(_states(dead)) == {
        "parent": "CRASHED",
        "child": "CRASHED",
        "task": "CRASHED",
        "stand_in": "CRASHED",
    }
    assert asyncio.run(_states(alive)) == dict.fromkeys(
        ("parent", "child", "task", "stand_in"), "RUNNING"
    )

    async def message() -> str:
        async with get_client() as client:
            return str((await client.read_flow_run(dead["child"])).state.message)

    assert str(dead["parent"]) in asyncio.run(message())
