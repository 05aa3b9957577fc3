"""Scale-out on the compose stack: the `dask` profile's cluster and two agents (#8), or
two Prefect workers on the Prefect 3 line.

One stack with `--profile dask` (a scheduler and two workers from the project image)
and `--scale agent=2` (`--scale worker=2`):

* N deployment runs, half triggered while one agent (worker) is paused and half while
  the other is: each executes exactly once (one submission, one container, one Pending
  and one Running state), both execute runs, and the one that wakes up does not run
  again what the other took.
* The same 6-month backfill run in a flow-run container (runner=local) and on the
  Dask cluster (runner=dask, dask_address=tcp://dask-scheduler:8786), into two
  prefixes of the emulator's bucket: equal row counts and equal digests of the
  sorted rows per partition.
* A Dask worker container killed while it loads a big month: the run completes,
  Prefect shows the month's task as rerun, and each partition holds exactly one
  data object and its manifest.

Also measured, not asserted: the same 6-month backfill on 1 Dask worker.
"""

from __future__ import annotations

import json
import re
import subprocess
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
    read_run,
    run,
    start_run,
    wait_for_final_state,
)
from lake_digest import table_digest
from lines import LINE

PROJECT = "taxi-etl-scale"
ROWS = 300_000
BIG_ROWS = 1_500_000
MONTHS = "2019-01..2019-06"
SCHEDULER = "tcp://dask-scheduler:8786"
RUNS = 4

STACK = {
    "mirror_extra": f"yellow:2019:1-6:{ROWS} green:2019:5:{BIG_ROWS}",
    "profiles": ("offline", "dask"),
    "scale": {LAUNCHER: 2},
}
# Flow-run containers are kept after they exit, so they can be counted per run
# (`docker events` keeps too few events to go back that far); down() removes them.
DEPLOY_ENV = {"TAXI_ETL_DEPLOY_AUTO_REMOVE": "false"}

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]


def _partitions(stack: Stack, prefix: str) -> dict[str, dict[str, Any]]:
    """Per partition under `prefix`: object names, manifest, rows, digest of sorted rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    c = bucket_client(stack)
    bucket = c.bucket(BUCKET)
    names: dict[str, set[str]] = {}
    for blob in c.list_blobs(BUCKET, prefix=prefix + "/"):
        key, _, name = blob.name[len(prefix) + 1 :].rpartition("/")
        names.setdefault(key, set()).add(name)
    out = {}
    for key, objects in names.items():
        table = pq.read_table(pa.BufferReader(bucket.blob(f"{prefix}/{key}/data.parquet")
                                              .download_as_bytes()))  # fmt: skip
        out[key] = {
            "objects": objects,
            "manifest": json.loads(
                bucket.blob(f"{prefix}/{key}/_manifest.json").download_as_bytes()
            ),
            "rows": table.num_rows,
            "digest": table_digest(table),
        }
    return out


def _backfill(stack: Stack, prefix: str, *params: str) -> Any:
    run_id, _ = start_run(
        stack,
        "etl_backfill_flow/backfill",
        "colour=yellow",
        f"months={MONTHS}",
        f"lake=gs://{BUCKET}/{prefix}",
        *params,
    )
    flow_run = wait_for_final_state(stack.api_url, run_id, timeout=600)
    assert flow_run.state.is_completed(), flow_run.state
    return flow_run


def _seconds(flow_run: Any) -> float:
    return round((flow_run.end_time - flow_run.start_time).total_seconds(), 1)


@pytest.fixture(scope="module")
def local_run(stack: Stack, deployed: dict[str, str]) -> Any:
    flow_run = _backfill(stack, "local", "runner=local")
    stack.measure("6-month backfill, runner=local, start to end (s)", _seconds(flow_run))
    return flow_run


@pytest.fixture(scope="module")
def dask_run(stack: Stack, local_run: Any) -> Any:
    flow_run = _backfill(stack, "dask", "runner=dask", f"dask_address={SCHEDULER}")
    stack.measure("6-month backfill, Dask 2 workers, start to end (s)", _seconds(flow_run))
    return flow_run


def test_each_run_executes_exactly_once_with_two_agents_or_workers(
    stack: Stack, deployed: dict[str, str]
) -> None:
    agents = stack.container_ids(LAUNCHER)
    assert len(agents) == 2

    def trigger(months: range) -> list[str]:
        return [
            start_run(
                stack,
                "etl_parent_flow/custom",
                "colour=yellow",
                "year=2019",
                f"months=[{m}]",
                f"lake=gs://{BUCKET}/agents",
            )[0]
            for m in months
        ]

    def taken(run_ids: list[str]) -> None:
        deadline = time.monotonic() + 120
        while any(read_run(stack.api_url, i).state.is_scheduled() for i in run_ids):
            assert time.monotonic() < deadline, f"no {LAUNCHER} took the runs"
            time.sleep(0.5)

    # Half the runs while one agent is paused, half while the other is: both agents
    # execute runs, and the one that wakes up does not run again what the other took.
    ids: list[str] = []
    for idle, half in ((agents[0], range(1, 3)), (agents[1], range(3, RUNS + 1))):
        _pause(idle)
        try:
            ids += trigger(half)
            taken(ids)
        finally:
            run(["docker", "unpause", idle])
    finished = [wait_for_final_state(stack.api_url, i, timeout=600) for i in ids]
    assert all(f.state.is_completed() for f in finished), [f.state for f in finished]

    async def histories() -> dict[str, list[str]]:
        async with client(stack.api_url) as c:
            return {i: [s.type.value for s in await c.read_flow_run_states(uuid.UUID(i))]
                    for i in ids}  # fmt: skip

    for run_id, states in await_(histories).items():
        # Prefect 3's runner in the container proposes Pending once more before Running;
        # one Running, and one submission per run (below), is what "once" means there.
        pending = states.count("PENDING")
        assert pending in LINE.pending_per_run, (run_id, states)
        assert states.count("RUNNING") == 1, (run_id, states)
    # One flow-run container per run, and one completed submission per run. The agent
    # names the run's id; the worker its name.
    logs = {}
    for a in agents:
        out = subprocess.run(["docker", "logs", a], capture_output=True, text=True, timeout=60)
        logs[a] = out.stdout + out.stderr
    submitted: dict[str, list[str]] = {i: [] for i in ids}
    pairs = zip(ids, finished, strict=True)
    id_of = {(f.name if LINE.submitted_by == "name" else i): i for i, f in pairs}
    done = LINE.submitted
    aborted = 0
    for agent, text in logs.items():
        for key in re.findall(done, text):
            if key in id_of:
                submitted[id_of[key]].append(agent)
        aborted += len(re.findall(r"Aborted submission of flow run", text))
    assert all(len(v) == 1 for v in submitted.values()), submitted
    assert [submitted[i] for i in ids] == [[agents[1]]] * 2 + [[agents[0]]] * (RUNS - 2)
    for run_id in ids:
        containers = run(
            ["docker", "ps", "-aq", "--filter", f"label={RUN_LABEL}={run_id}"]
        ).stdout.split()
        assert len(containers) == 1, (run_id, containers)
    stack.measure(
        f"{RUNS} runs, submissions by {LAUNCHER}",
        sorted(sum(1 for v in submitted.values() if v == [a]) for a in agents),
    )
    stack.measure(f"{RUNS} runs, submissions aborted by the server", aborted)


def test_dask_backfill_equals_the_local_one(stack: Stack, local_run: Any, dask_run: Any) -> None:
    local = _partitions(stack, "local")
    on_dask = _partitions(stack, "dask")
    assert sorted(local) == [f"colour=yellow/year=2019/month={m:02d}" for m in range(1, 7)]
    assert sorted(on_dask) == sorted(local)
    for key, want in local.items():
        got = on_dask[key]
        assert got["objects"] == want["objects"] == {"data.parquet", "_manifest.json"}, key
        assert got["rows"] == want["rows"] == ROWS, key
        assert got["digest"] == want["digest"], key
        assert got["manifest"]["source_sha256"] == want["manifest"]["source_sha256"], key
    # The Dask run did its months as tasks of one subflow, not as child flow runs.
    subflows = child_runs(stack.api_url, str(dask_run.id))
    assert [f.name for f in subflows] == ["yellow-on-dask"]
    assert len(child_runs(stack.api_url, str(local_run.id))) == 6


def _scale_workers(stack: Stack, n: int) -> None:
    stack.compose(
        "up", "--detach", "--wait", "--no-build", "--no-deps", f"--scale=dask-worker={n}",
        "dask-worker",
    )  # fmt: skip
    assert len(stack.container_ids("dask-worker")) == n


def test_two_dask_workers_against_one_on_the_same_backfill(stack: Stack, dask_run: Any) -> None:
    """The speed-up the issue asks for, measured (not asserted: a shared 2-core CI
    machine is no place for timing assertions); both runs must load all 6 months."""
    _scale_workers(stack, 1)
    try:
        one = _backfill(stack, "dask1", "runner=dask", f"dask_address={SCHEDULER}")
    finally:
        _scale_workers(stack, 2)
    assert sorted(_partitions(stack, "dask1")) == sorted(_partitions(stack, "dask"))
    stack.measure("6-month backfill, Dask 1 worker, start to end (s)", _seconds(one))
    stack.measure("Dask 2 workers vs 1, speed-up", round(_seconds(one) / _seconds(dask_run), 2))


#: Run in the scheduler's container: wait until some worker processes a task (the
#: only run on the cluster at that moment), print that worker's address.
WAIT_FOR_BUSY_WORKER = """
import time
from distributed import Client
with Client("tcp://127.0.0.1:8786", timeout=10) as c:
    deadline = time.monotonic() + 170
    while time.monotonic() < deadline:
        busy = [w for w, keys in c.processing().items() if keys]
        if busy:
            print(busy[0])
            break
        time.sleep(0.05)
"""


def _busy_worker(stack: Stack) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*stack.compose_cmd, "exec", "-T", "dask-scheduler", "python", "-c",
         WAIT_FOR_BUSY_WORKER],
        env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _container_with_ip(stack: Stack, ip: str) -> str:
    for cid in stack.container_ids("dask-worker"):
        inspect = json.loads(run(["docker", "inspect", cid]).stdout)[0]
        nets = inspect["NetworkSettings"]["Networks"].values()
        if any(n["IPAddress"] == ip for n in nets):
            return cid
    raise AssertionError(f"no dask-worker container has {ip}")


def test_a_worker_killed_mid_month_is_survived_without_duplicates(
    stack: Stack, dask_run: Any, tmp_path: Path
) -> None:
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

    name = "load-green-2019-05"

    async def task_runs() -> list[Any]:
        async with client(stack.api_url) as c:
            return list(await c.read_task_runs(
                task_run_filter=TaskRunFilter(name=TaskRunFilterName(any_=[name]))
            ))  # fmt: skip

    probe = _busy_worker(stack)
    try:
        run_id, _ = start_run(
            stack,
            "etl_backfill_flow/backfill",
            "colour=green",
            "months=2019-05..2019-05",
            f"lake=gs://{BUCKET}/killed",
            "runner=dask",
            f"dask_address={SCHEDULER}",
        )
        out, err = probe.communicate(timeout=180)
    finally:
        probe.kill()
    assert out.strip(), f"no worker took the month: {err}"
    ip = out.split()[0].split("://")[1].rsplit(":", 1)[0]
    victim = _container_with_ip(stack, ip)
    # Kill once Prefect has the task Running on it: mid-month, not before it starts.
    deadline = time.monotonic() + 60
    while not any(t.state and t.state.is_running() for t in await_(task_runs)):
        assert time.monotonic() < deadline, "the month never started running"
        time.sleep(0.1)
    run(["docker", "kill", victim])
    flow_run = wait_for_final_state(stack.api_url, run_id, timeout=600)
    assert flow_run.state.is_completed(), flow_run.state

    async def history() -> list[str]:
        (task_run,) = await task_runs()
        async with client(stack.api_url) as c:
            return [s.name for s in await c.read_task_run_states(task_run.id)]

    assert await_(history) == [*LINE.dask_rerun]
    parts = _partitions(stack, "killed")
    assert list(parts) == ["colour=green/year=2019/month=05"]
    (part,) = parts.values()
    assert part["objects"] == {"data.parquet", "_manifest.json"}
    assert part["rows"] == part["manifest"]["rows"] == BIG_ROWS
    stack.measure("killed worker container", victim[:12])


def _pause(container: str, attempts: int = 5) -> None:
    """`docker pause`, again if the cgroup freezer gave up ("unable to freeze": a process
    was in an uninterruptible wait, seen once on the Prefect 3 worker in CI)."""
    for attempt in range(1, attempts + 1):
        try:
            run(["docker", "pause", container])
            return
        except AssertionError as exc:
            if "unable to freeze" not in str(exc) or attempt == attempts:
                raise
            time.sleep(1)
