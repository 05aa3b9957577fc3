"""The parent and backfill flows on a local Dask cluster (prefect-dask's DaskTaskRunner):
the same lake as the in-process runner, failures reported the same way, and a worker
killed mid-month survived without a duplicate or half-written partition."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lake_digest import local_lake_digests, table_digest
from lines import LINE

from taxi_etl import flows, source
from taxi_etl.cli import main, running
from taxi_etl.devtools import mirror, sample
from taxi_etl.lake import MANIFEST_FILE
from taxi_etl.orchestration import runners
from taxi_etl.params import Colour, ParameterError, Runner
from taxi_etl.settings import Settings

ROWS = 6_000
MONTHS = [(2020, 11), (2020, 12), (2021, 1), (2021, 2)]
RANGE = "2020-11..2021-02"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def dask_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dask-mirror")
    for colour in ("yellow", "green"):
        for year, month in MONTHS:
            sample.write_mirror(root, colour, year, [month], ROWS, seed=month)
    return root

#: How Prefect records a task run that Dask ran again after its worker died.
RERUN = [*LINE.dask_rerun]
#: What follows Completed when Dask recomputes a month that had finished on the killed
#: worker before the client fetched its result (tests/lines.py).
RECOMPUTED = [*LINE.dask_recomputed]


def path_of(colour: str, year: int, month: int) -> str:
    return f"/{colour}/{source.file_name(colour, year, month)}"


def manifests(lake: Path) -> list[Path]:
    return sorted(lake.rglob(MANIFEST_FILE))


def test_runner_resolution() -> None:
    plain = Settings()
    assert runners.resolve(None, None, plain).runner is Runner.local
    assert runners.resolve("dask", None, plain) == runners.Execution(Runner.dask, None)
    # An address alone, as a parameter or a setting, means Dask.
    at = "tcp://dask-scheduler:8786"
    assert runners.resolve(None, at, plain) == runners.Execution(Runner.dask, at)
    from_env = Settings(dask_address=at)
    assert runners.resolve(None, None, from_env) == runners.Execution(Runner.dask, at)
    # An explicit local run ignores the setting, but not a contradicting parameter.
    assert runners.resolve("local", None, from_env).runner is Runner.local
    with pytest.raises(ParameterError, match="dask_address"):
        runners.resolve("local", at, plain)


def test_bad_runner_or_address_exits_2_before_any_run(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI puts its flags in the environment; set-and-delete records what to restore.
    monkeypatch.setenv("TAXI_ETL_DASK_ADDRESS", "unset")
    monkeypatch.delenv("TAXI_ETL_DASK_ADDRESS")
    assert main(["backfill", "yellow", RANGE, "--dask-address", "not an address"]) == 2
    assert "dask_address" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["backfill", "yellow", RANGE, "--runner", "spark"])
    assert exit_.value.code == 2
    assert not (workdir / "lake").exists() and not (workdir / "cache").exists()


@pytest.mark.prefect
def test_dask_backfill_writes_the_same_lake_as_local(workdir: Path, dask_mirror: Path) -> None:
    started = datetime.now(UTC)
    with mirror.serve(dask_mirror) as url:
        local = running.run_flow(
            flows.etl_backfill_flow,
            months=RANGE,
            colour=Colour.green,
            source_url=url,
            lake=str(workdir / "local"),
        )
        on_dask = running.run_flow(
            flows.etl_backfill_flow,
            months=RANGE,
            colour=Colour.green,
            source_url=url,
            lake=str(workdir / "dask"),
            runner="dask",
        )
    assert local.is_completed() and on_dask.is_completed(), (local, on_dask)
    # Same months, statuses and counts, in the same (chronological) order.
    strip = [{**r.model_dump(), "uri": None} for r in local.result()]
    assert [{**r.model_dump(), "uri": None} for r in on_dask.result()] == strip
    assert [r.status for r in on_dask.result()] == ["loaded"] * 4
    want = local_lake_digests(workdir / "local")
    assert len(want) == 4 and all(rows == ROWS for rows, _ in want.values())
    assert local_lake_digests(workdir / "dask") == want
    # The digest sees a single changed value, so the equality above means something.
    first = next((workdir / "dask").rglob("*.parquet"))
    table = pq.read_table(first)
    fares = table.column("fare_amount").to_pylist()
    fares[len(fares) // 2] = (fares[len(fares) // 2] or 0) + 0.01
    at = table.schema.get_field_index("fare_amount")
    changed = table.set_column(at, "fare_amount", pa.array(fares, table.schema.field(at).type))
    assert table_digest(changed) != want[str(first.parent.relative_to(workdir / "dask"))][1]
    # Workers staged and cleaned up in the shared cache, as the child flows do.
    assert not any((workdir / "cache" / "staging").iterdir())
    # Each month's quality table was published by the child flow and by the Dask task,
    # the latter from a task run of the Dask subflow.
    counts = asyncio.run(_quality_artifacts(on_dask.state_details.flow_run_id, started))
    expected = {f"quality-green-{y}-{m:02d}": (2, 1) for y, m in MONTHS}
    # (Other tests in the session publish other green months, and these before.)
    assert {k: v for k, v in counts.items() if k in expected} == expected


@pytest.mark.prefect
def test_dask_failures_are_reported_per_month_and_the_rest_finish(
    workdir: Path, dask_mirror: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAXI_ETL_DOWNLOAD_ATTEMPTS", "1")
    plan = mirror.FaultPlan({path_of("yellow", 2020, 12): ["503"]})
    with mirror.serve(dask_mirror, faults=plan) as url:
        state = running.run_flow(
            flows.etl_backfill_flow,
            months="2020-11..2021-03",
            colour=Colour.yellow,
            source_url=url,
            runner="dask",
        )
        assert state.is_failed()
        with pytest.raises(flows.LoadFailed, match="month=12") as err:
            state.result()
        statuses = [r.status for r in err.value.results]
        assert statuses == ["loaded", "failed", "loaded", "loaded", "not_published"]
        assert "SourceError" in (err.value.results[1].error or "")
        # Resumes like the local runner: only the failed and unpublished months again.
        before, heads = dict(plan.requests), dict(plan.head_requests)
        again = running.run_flow(
            flows.etl_backfill_flow,
            months="2020-11..2021-03",
            colour=Colour.yellow,
            source_url=url,
            dask_address=None,
            runner="dask",
        )
    assert again.is_completed(), again
    assert [r.status for r in again.result()] == [
        "skipped", "loaded", "skipped", "skipped", "not_published",
    ]  # fmt: skip
    # Downloaded again: only the failed month (the unpublished one answers its HEAD 404).
    assert {p: n - before.get(p, 0) for p, n in plan.requests.items() if n > before.get(p, 0)} == {
        path_of("yellow", 2020, 12): 1,
    }
    assert plan.head_requests[path_of("yellow", 2021, 3)] > heads[path_of("yellow", 2021, 3)]
    assert len(manifests(workdir / "lake")) == 4


@pytest.mark.prefect
def test_a_tlc_catch_up_on_dask_equals_the_local_one(workdir: Path, tlc_url: str) -> None:
    """The catch-up's triage runs in the parent; the months it leaves go to Dask."""
    started = time.time()
    runs = {}
    for runner in ("local", "dask"):
        state = running.run_flow(
            flows.etl_catchup_flow,
            colour="green",
            start="2024-10",
            end="2025-06",
            source_url=tlc_url,
            lake=str(workdir / runner),
            runner=runner,
        )
        assert state.is_completed(), state
        runs[runner] = [(r.partition.ym, r.status.value, r.rows) for r in state.result()]
    assert runs["dask"] == runs["local"]
    assert [s for _, s, _ in runs["dask"]] == ["loaded"] * 5 + ["not_published"]
    assert local_lake_digests(workdir / "dask") == local_lake_digests(workdir / "local")
    # The local cluster's workers report to this process's API (compat.dask_worker_env):
    # none started an embedded server of its own and left it behind when it stopped.
    assert _orphaned_prefect_servers(since=started) == []


def _orphaned_prefect_servers(since: float) -> list[str]:
    """Embedded Prefect API servers (Prefect 3 runs them as uvicorn subprocesses) started
    since `since` whose parent has gone: reparented to init, they would run forever."""
    orphans = []
    for proc in psutil.process_iter(["ppid", "cmdline", "create_time"]):
        info = proc.info
        cmdline = " ".join(info["cmdline"] or [])
        if (
            info["ppid"] == 1
            and (info["create_time"] or 0) >= since
            and "uvicorn" in cmdline
            and "prefect.server.api.server" in cmdline
        ):
            orphans.append(f"{proc.pid}: {cmdline[:200]}")
    return orphans


def _worker_downloading(port: int) -> psutil.Process | None:
    """The Dask worker process (a child of this one) with a connection to the mirror."""
    for proc in psutil.Process().children(recursive=True):
        try:
            if any(c.raddr and c.raddr.port == port for c in proc.net_connections("tcp")):
                return proc
        except psutil.Error:
            continue
    return None


async def _quality_artifacts(parent_id: Any, since: datetime) -> dict[str, tuple[int, int]]:
    """Per quality artifact key: (versions since `since`, versions from `parent_id`'s
    Dask tasks)."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    on_dask = set(await _task_runs_under(parent_id))
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="quality-green-%"))
        )
    counts: dict[str, tuple[int, int]] = {}
    for a in artifacts:
        if a.created is not None and a.created < since:
            continue
        total, ours = counts.get(a.key or "", (0, 0))
        counts[a.key or ""] = (total + 1, ours + (a.task_run_id in on_dask))
    return counts


async def _task_runs_under(parent_id: Any) -> dict[Any, str]:
    """Task run ids -> names under the parent's Dask subflow."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
    )

    async with get_client() as client:
        subflows = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id])
            )
        )
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[f.id for f in subflows]))
        )
        return {r.id: r.name for r in runs}


async def _task_run_history(parent_id: Any) -> dict[str, list[str]]:
    """State names of every task run under the parent's Dask subflow, by task run name."""
    from prefect import get_client

    runs = await _task_runs_under(parent_id)
    async with get_client() as client:
        return {
            name: [s.name for s in await client.read_task_run_states(run_id)]
            for run_id, name in runs.items()
        }


@pytest.mark.prefect
def test_worker_killed_mid_month_is_retried_elsewhere_without_duplicates(
    workdir: Path, dask_mirror: Path
) -> None:
    slow = path_of("yellow", 2021, 1)
    # The first GET of January stalls: long enough to find and kill its worker.
    plan = mirror.FaultPlan({slow: ["slow:30"]})
    killed: list[int] = []
    killed_at: list[float] = []
    with mirror.serve(dask_mirror, faults=plan) as url:
        port = int(url.rsplit(":", 1)[1])

        def kill_when_stalled() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                if plan.requests[slow] >= 1:
                    proc = _worker_downloading(port)
                    if proc is not None and plan.remaining(slow) == []:
                        killed_at.append(time.time())
                        os.kill(proc.pid, signal.SIGKILL)
                        killed.append(proc.pid)
                        return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_when_stalled, daemon=True)
        killer.start()
        state = running.run_flow(
            flows.etl_backfill_flow,
            months=RANGE,
            colour=Colour.yellow,
            source_url=url,
            runner="dask",
        )
        killer.join(timeout=5)
    assert killed, "no worker was caught downloading January"
    assert state.is_completed(), state
    statuses = [r.status for r in state.result()]
    # January is loaded by the rerun. A month that finished on the killed worker before
    # the client fetched its result is rerun too, finds its partition current and
    # reports skipped; either way nothing is written after the kill but January.
    assert statuses[2] == "loaded" and set(statuses) <= {"loaded", "skipped"}, statuses
    # January was asked for twice: the killed attempt, and Dask's rerun of the task,
    # which Prefect shows as a rerun of the same task run.
    history = asyncio.run(_task_run_history(state.state_details.flow_run_id))
    assert history["load-yellow-2021-01"] == RERUN, history
    assert plan.requests[slow] == 2
    lake = workdir / "lake"
    for year, month in MONTHS:
        name = f"load-yellow-{year}-{month:02d}"
        part = lake / f"colour=yellow/year={year}/month={month:02d}"
        assert sorted(p.name for p in part.iterdir()) == [MANIFEST_FILE, "data.parquet"]
        assert pq.read_metadata(part / "data.parquet").num_rows == ROWS
        if (year, month) == (2021, 1):
            continue
        assert history[name] in (
            ["Pending", "Running", "Completed"],
            ["Pending", "Running", "Completed", *RECOMPUTED],
        ), history
        if len(history[name]) > 3:  # rerun after the kill: it must not have rewritten
            assert (part / "data.parquet").stat().st_mtime < killed_at[0], name
    # Workers delete each csv.gz when its month is done.
    assert not list((workdir / "cache").rglob("*.csv.gz"))
