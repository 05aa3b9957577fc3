"""Process faults on the container stack (#6 §5), each bounded in time.

* The flow-run container is killed (SIGKILL, as the OOM killer or a host reboot would)
  while it transforms a big month: the run ends Crashed, the bucket holds no partial
  partition, and a re-run completes with exactly one data object and its manifest.
  Killing a forced re-load leaves the complete old version in place.
* The server container restarts: the agent (the worker, on Prefect 3) rides out the
  outage without being restarted itself, and the next run executes to Completed.

The big month (1,000,000 yellow rows, about 20 MB of csv.gz) comes from the offline
mirror (TAXI_ETL_MIRROR_EXTRA_MONTHS); its transform takes a few seconds, which is
the window the kill aims at: the test waits until the transform task is Running.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from compose_stack import (
    BUCKET,
    LAUNCHER,
    RUN_LABEL,
    Stack,
    await_,
    bucket_client,
    child_runs,
    client,
    object_names,
    read_partition,
    read_run,
    run,
    start_run,
    wait_for_final_state,
)
from lines import LINE

from taxi_etl.devtools.net import wait_healthy

PROJECT = "taxi-etl-faults"
BIG_ROWS = 1_000_000
BIG = ("yellow", 2019, 3)
KEY = "colour=yellow/year=2019/month=03"
BIG_PARAMS = ("colour=yellow", "year=2019", "months=[3]")
KILL_WINDOW = 120.0  # seconds to reach the transform before the test gives up

STACK = {"mirror_extra": "{}:{}:{}:{}".format(*BIG, BIG_ROWS)}

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


def _running_transform(api_url: str, parent_id: str) -> Any:
    """The month's transform task run of `parent_id`'s child, if it is Running now."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterName,
        FlowRunFilterParentFlowRunId,
        TaskRunFilter,
        TaskRunFilterName,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    async def read() -> list[Any]:
        async with client(api_url) as c:
            return list(
                await c.read_task_runs(
                    flow_run_filter=FlowRunFilter(
                        parent_flow_run_id=FlowRunFilterParentFlowRunId(
                            any_=[uuid.UUID(parent_id)]
                        ),
                        name=FlowRunFilterName(any_=["yellow-2019-03"]),
                    ),
                    task_run_filter=TaskRunFilter(
                        name=TaskRunFilterName(like_="transform-"),
                        state=TaskRunFilterState(
                            type=TaskRunFilterStateType(any_=[StateType.RUNNING])
                        ),
                    ),
                )
            )

    found = await_(read)
    return found[0] if found else None


def _flow_run_container(run_id: str) -> str:
    out = run(["docker", "ps", "-q", "--filter", f"label={RUN_LABEL}={run_id}"])
    return out.stdout.strip()


def kill_mid_transform(stack: Stack, *params: str) -> tuple[Any, dict[str, Any]]:
    """Start a Custom run of the big month, SIGKILL its container while the transform
    runs, and return (final flow run, facts about the container and timings)."""
    run_id, requested = start_run(stack, "etl_parent_flow/custom", *params)
    deadline = time.monotonic() + KILL_WINDOW
    container, inspect = "", None
    while True:
        assert time.monotonic() < deadline, f"run {run_id} never reached its transform"
        if not container:
            container = _flow_run_container(run_id)
            if container:  # read while it runs: auto_remove deletes it after the kill
                inspect = json.loads(run(["docker", "inspect", container]).stdout)[0]
        elif _running_transform(stack.api_url, run_id) is not None:
            break
        state = read_run(stack.api_url, run_id).state
        assert not (state and state.is_final()), f"run {run_id} ended {state} before the kill"
        time.sleep(0.2)
    killed = time.monotonic()
    run(["docker", "kill", container])
    flow_run = wait_for_final_state(stack.api_url, run_id, timeout=120)
    facts = {
        "container": inspect,
        "request to kill (s)": round(killed - requested, 1),
        "kill to final state (s)": round(time.monotonic() - killed, 1),
    }
    return flow_run, facts


def _generations(stack: Stack) -> dict[str, int]:
    return {
        b.name: int(b.generation) for b in bucket_client(stack).list_blobs(BUCKET, prefix=KEY + "/")
    }


def test_killed_flow_run_crashes_and_a_rerun_leaves_one_complete_partition(
    stack: Stack, deployed: dict[str, str], tmp_path: Path
) -> None:
    flow_run, facts = kill_mid_transform(stack, *BIG_PARAMS)
    stack.measure("kill: request to kill, mid-transform (s)", facts["request to kill (s)"])
    stack.measure("kill: SIGKILL to Crashed (s)", facts["kill to final state (s)"])
    assert flow_run.state.is_crashed(), flow_run.state
    assert "non-zero status code 137" in flow_run.state.message
    # The flow-run container the agent or worker started: non-root, unprivileged, no Docker
    # socket, no published port, only on the stack's network.
    container = facts["container"]
    assert container["Config"]["User"] == "10001:10001"
    assert container["HostConfig"]["Privileged"] is False
    assert not container["HostConfig"].get("PortBindings")
    assert all("docker.sock" not in m["Source"] for m in container["Mounts"]), container["Mounts"]
    assert set(container["NetworkSettings"]["Networks"]) == {stack.network}
    # The month's subflow run died with the container, and nothing marks it yet: Prefect
    # 2 has no heartbeat for subflows. The next parent run marks it (below).
    orphans = child_runs(stack.api_url, str(flow_run.id))
    assert [c.state_name for c in orphans] == ["Running"]
    # Nothing published: no manifest, so no reader or re-run takes it for loaded.
    assert f"{KEY}/_manifest.json" not in object_names(stack, KEY + "/")

    rerun_id, requested = start_run(stack, "etl_parent_flow/custom", *BIG_PARAMS)
    rerun = wait_for_final_state(stack.api_url, rerun_id)
    stack.measure("kill: re-run request to Completed (s)", round(time.monotonic() - requested, 1))
    assert rerun.state.is_completed(), rerun.state
    # The orphan, its unfinished transform and the killed parent's task for it: Crashed,
    # with a message naming the parent, instead of Running forever in the UI.
    [orphan] = child_runs(stack.api_url, str(flow_run.id))
    assert orphan.state_name == "Crashed"
    assert str(flow_run.id) in orphan.state.message
    manifest, rows, names = read_partition(stack, KEY, tmp_path)
    assert names == {f"{KEY}/data.parquet", f"{KEY}/_manifest.json"}
    assert manifest["rows"] == rows == BIG_ROWS
    assert manifest["partition"] == KEY
    [child] = child_runs(stack.api_url, rerun_id)
    assert manifest["flow_run_id"] == str(child.id)
    # No stray objects anywhere in the bucket either (temporary names, other months).
    assert object_names(stack) == names


def test_killing_a_forced_reload_keeps_the_complete_old_partition(
    stack: Stack, deployed: dict[str, str], tmp_path: Path
) -> None:
    before = _generations(stack)
    if len(before) != 2:  # the previous test did not load it; load it here
        loaded = wait_for_final_state(
            stack.api_url, start_run(stack, "etl_parent_flow/custom", *BIG_PARAMS)[0]
        )
        assert loaded.state.is_completed(), loaded.state
        before = _generations(stack)
    old_manifest, _, _ = read_partition(stack, KEY, tmp_path)

    flow_run, facts = kill_mid_transform(stack, *BIG_PARAMS, "force=true")
    stack.measure("kill: forced re-load, request to kill (s)", facts["request to kill (s)"])
    assert flow_run.state.is_crashed(), flow_run.state
    # Same objects, same generations: readers still see the whole old version.
    assert _generations(stack) == before
    manifest, rows, _ = read_partition(stack, KEY, tmp_path)
    assert manifest == old_manifest
    assert rows == BIG_ROWS


def test_server_restart_the_agent_or_worker_reconnects_and_later_runs_complete(
    stack: Stack, deployed: dict[str, str]
) -> None:
    agent = stack.container_id(LAUNCHER)
    before = json.loads(run(["docker", "inspect", agent]).stdout)[0]
    t0 = time.monotonic()
    since = str(int(time.time()) - 1)
    stack.compose("restart", "--timeout", "10", "server", timeout=180)
    wait_healthy(f"{stack.api_url}/health", 180)
    stack.measure("restart: server restart to healthy (s)", round(time.monotonic() - t0, 1))

    run_id, requested = start_run(
        stack, "etl_parent_flow/custom", "colour=green", "year=2020", "months=[1]"
    )
    flow_run = wait_for_final_state(stack.api_url, run_id, timeout=180)
    stack.measure(
        "restart: run request to Completed after the restart (s)",
        round(time.monotonic() - requested, 1),
    )
    assert flow_run.state.is_completed(), flow_run.state
    after = json.loads(run(["docker", "inspect", agent]).stdout)[0]
    # The same agent process: not restarted by Docker, it reconnected by itself ...
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"]
    assert after["RestartCount"] == before["RestartCount"]
    assert after["State"]["Running"] is True
    # ... after it saw the outage (it polls every 2 s; the restart takes several).
    outage = run(["docker", "logs", "--since", since, agent]).stdout
    outage += run(["docker", "logs", "--since", since, agent]).stderr
    if LINE.poll_error is not None:
        assert LINE.poll_error in outage, outage[-3000:]
    # Prefect 3's worker logs failed polls at DEBUG only; that the same process (above)
    # submitted the run after the restart (below) is what shows it reconnected.
    assert f"{LINE.submitting} '{run_id}'" in outage
