"""The container path end to end, on a real Docker engine: the user's main way to run.

Builds the images, brings up docker-compose.yml with the offline mirror, registers the
deployments with ``python deploy.py``, starts a Custom run of ``custom`` with a
parameter override, and checks that the agent (Prefect 2) or the worker (Prefect 3) ran
it in its own container and that the partition landed in the emulator's bucket; then a
``backfill`` run across a year boundary that skips the month already loaded; that the
catch-up deployments are scheduled, that the course's ``prefect deployment
build/apply`` route runs in a container too (Prefect 2, where it exists), and that
``docker compose down -v`` leaves nothing behind. Service logs are printed on failure.
The line is the installed Prefect's (compose_stack.py).

The stack is its own compose project and network (compose_stack.py), so a developer's
stack can keep running; it publishes free ports on 127.0.0.1, never the usual 4200/9023.
test_browser.py runs first on the same stack (conftest.py), with an fhv month: the
green and yellow months here are this module's alone.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from compose_stack import (
    IMAGE,
    LAUNCHER,
    MIRROR_ROWS,
    REPO,
    RUN_LABEL,
    SERVICES,
    TLC_URL,
    Stack,
    await_,
    child_runs,
    client,
    deploy_all,
    object_names,
    read_partition,
    run,
    start_run,
    wait_for_final_state,
)
from lines import LINE

from taxi_etl.deployments.settings import FLOW_RUN_LABELS
from taxi_etl.params import parse_month_range

PROJECT = "taxi-etl-e2e"

# Quiet until pyproject.toml registers the `docker` marker (markers = ["docker: ..."]).
pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]


# --- fixtures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinishedRun:
    run: Any
    request_to_completed: float


@pytest.fixture(scope="module")
def green_run(stack: Stack, deployed: dict[str, str]) -> FinishedRun:
    """A Custom run of `custom` with colour, year and months overridden."""
    run_id, requested = start_run(
        stack, "etl_parent_flow/custom", "colour=green", "year=2020", "months=[2]"
    )
    flow_run = wait_for_final_state(stack.api_url, run_id)
    elapsed = time.monotonic() - requested
    stack.measure("run request to Completed (s)", round(elapsed, 1))
    if flow_run.start_time and flow_run.end_time:
        stack.measure(
            "run created to Completed, server clock (s)",
            round((flow_run.end_time - flow_run.created).total_seconds(), 1),
        )
        stack.measure(
            "flow run start to end, server clock (s)",
            round((flow_run.end_time - flow_run.start_time).total_seconds(), 1),
        )
    return FinishedRun(flow_run, elapsed)


@pytest.fixture(scope="module")
def backfill_run(stack: Stack, green_run: FinishedRun) -> FinishedRun:
    """A Custom run of `backfill` across a year boundary, after green 2020-02 is loaded."""
    run_id, requested = start_run(
        stack, "etl_backfill_flow/backfill", "colour=green", "months=2019-12..2020-02"
    )
    flow_run = wait_for_final_state(stack.api_url, run_id)
    elapsed = time.monotonic() - requested
    stack.measure("backfill of 3 months (1 loaded) request to Completed (s)", round(elapsed, 1))
    return FinishedRun(flow_run, elapsed)


# --- tests ---------------------------------------------------------------------------------


def test_stack_is_healthy_non_root_and_published_on_loopback_only(stack: Stack) -> None:
    ps = stack.compose("ps", "--format", "json").stdout
    rows = [json.loads(line) for line in ps.splitlines() if line.strip()]
    state = {r["Service"]: (r["State"], r["Health"]) for r in rows}
    assert state == {s: ("running", "healthy") for s in SERVICES}
    for r in rows:
        for publisher in r.get("Publishers") or []:
            if publisher.get("PublishedPort"):
                assert publisher["URL"] == "127.0.0.1", (r["Service"], publisher)
        inspect = json.loads(run(["docker", "inspect", r["ID"]], env=stack.env).stdout)[0]
        user = inspect["Config"]["User"]
        assert user not in ("", "0", "root", "0:0"), (r["Service"], user)
        mounts = {m["Destination"] for m in inspect["Mounts"]}
        assert ("/var/run/docker.sock" in mounts) == (r["Service"] == LAUNCHER), r["Service"]
        assert inspect["HostConfig"].get("Init") is True or r["Service"] == "postgres"


def test_deploy_is_idempotent_and_blocks_hold_no_secret(
    stack: Stack, deployed: dict[str, str]
) -> None:
    again = deploy_all(stack)
    assert again == deployed

    async def read() -> tuple[list[Any], Any, Any, Any]:
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

        async with client(stack.api_url) as c:
            deployments = await c.read_deployments(
                deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=["taxi-etl"]))
            )
            if LINE.launcher == "agent":
                infra = await c.read_block_document_by_name(
                    "taxi-etl", "docker-container", include_secrets=True
                )
            else:
                infra = await c.read_work_pool("taxi-etl-docker")
            creds = await c.read_block_document_by_name(
                "taxi-gcp", "gcp-credentials", include_secrets=True
            )
            bucket = await c.read_block_document_by_name(
                "taxi-lake", "gcs-bucket", include_secrets=True
            )
            return deployments, infra, creds, bucket

    deployments, infra, creds, bucket = await_(read)
    assert sorted(d.name for d in deployments) == sorted(n.split("/")[1] for n in deployed)
    flows_by_name = {key.split("/")[1]: key.split("/")[0] for key in deployed}
    for d in deployments:
        flow = flows_by_name[d.name]
        assert str(d.id) == deployed[f"{flow}/{d.name}"]
        assert d.entrypoint == f"src/taxi_etl/flows.py:{flow}"
        assert d.storage_document_id is None  # nothing uploaded: the code is in the image
        assert d.enforce_parameter_schema
        if LINE.launcher == "agent":
            assert d.path == "/opt/prefect/flows"
            assert d.work_queue_name == "default"
            assert d.infrastructure_document_id == infra.id
        else:
            # Nothing pulled either: the worker's container starts in the image's code.
            assert not d.pull_steps, d.pull_steps
            assert d.work_pool_name == "taxi-etl-docker"
            assert d.job_variables == {"image": IMAGE}
    if LINE.launcher == "agent":
        data = infra.data
    else:
        assert infra.type == "docker"
        variables = infra.base_job_template["variables"]["properties"]
        data = {name: spec.get("default") for name, spec in variables.items()}
        assert data["labels"] == FLOW_RUN_LABELS
        assert "PYTHONWARNINGS" not in data["env"]
    # A local image: not pulled (the agent's block may say IF_NOT_PRESENT; the pool: Never).
    assert data["image_pull_policy"] in LINE.stack_image_pull_policies
    assert data["image"] == IMAGE
    assert data["networks"] == [stack.network]
    assert data["env"]["PREFECT_API_URL"] == "http://server:4200/api"
    assert data["env"]["PREFECT_RUNNER_POLL_FREQUENCY"] == "1"
    assert data["env"]["STORAGE_EMULATOR_HOST"] == "http://gcs:9023"
    assert creds.data["service_account_info"] is None
    assert bucket.data["bucket"] == "taxi-lake"
    blob = json.dumps([data, creds.data, bucket.data])
    assert "PRIVATE KEY" not in blob and "private_key" not in blob


def test_custom_run_executes_in_a_container_started_by_the_agent_or_worker(
    stack: Stack, green_run: FinishedRun
) -> None:
    flow_run = green_run.run
    assert flow_run.state.is_completed(), flow_run.state
    assert flow_run.parameters == {"colour": "green", "year": 2020, "months": [2], "source": "dtc"}
    assert green_run.request_to_completed < 120
    # infrastructure_pid is "<docker api url>:<container id>", set by DockerContainer or
    # by the Docker worker.
    container_id = flow_run.infrastructure_pid.rsplit(":", 1)[1]
    events = subprocess.run(
        ["docker", "events", "--since", flow_run.created.isoformat(), "--until",
         datetime.now(UTC).isoformat(), "--filter", "type=container",
         "--filter", f"label={RUN_LABEL}={flow_run.id}", "--format", "{{json .}}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.splitlines()  # fmt: skip
    started = [json.loads(e) for e in events if json.loads(e)["Action"] == "start"]
    assert [e["Actor"]["ID"] for e in started] == [container_id], events
    attributes = started[0]["Actor"]["Attributes"]
    assert attributes["image"] == IMAGE
    assert attributes["name"] == flow_run.name
    # Not mistaken for a compose service: the image's compose labels are blanked.
    assert attributes.get("com.docker.compose.service", "") == ""
    assert attributes["io.taxi-etl.role"] == "flow-run"
    log = stack.compose("logs", "--no-color", LAUNCHER).stdout
    assert f"{LINE.submitting} '{flow_run.id}'" in log


def test_partition_and_manifest_are_in_the_emulator_bucket(
    stack: Stack, green_run: FinishedRun, tmp_path: Path
) -> None:
    key = "colour=green/year=2020/month=02"
    manifest, rows, names = read_partition(stack, key, tmp_path)
    assert names == {f"{key}/data.parquet", f"{key}/_manifest.json"}
    assert manifest["partition"] == key
    assert manifest["rows"] == rows == MIRROR_ROWS // 3  # the mirror writes 1/3 for green
    assert manifest["source_url"] == "http://mirror:8000/green/green_tripdata_2020-02.csv.gz"

    # The manifest names the month's child flow run, a subflow of the run we started.
    assert _parent_of(stack, manifest["flow_run_id"]) == green_run.run.id


def _parent_of(stack: Stack, child_id: str) -> Any:
    async def read() -> Any:
        async with client(stack.api_url) as c:
            child = await c.read_flow_run(uuid.UUID(child_id))
            task_run = await c.read_task_run(child.parent_task_run_id)
            return task_run.flow_run_id

    return await_(read)


def test_backfill_across_a_year_boundary_skips_the_loaded_month(
    stack: Stack, green_run: FinishedRun, backfill_run: FinishedRun, tmp_path: Path
) -> None:
    flow_run = backfill_run.run
    assert flow_run.state.is_completed(), flow_run.state
    assert flow_run.parameters == {
        "colour": "green",
        "months": "2019-12..2020-02",
        "source": "dtc",
    }
    # One child run per month not yet loaded: 2020-02 came from the custom run above and
    # is skipped without a download, so nothing is loaded twice.
    children = child_runs(stack.api_url, str(flow_run.id))
    assert sorted(c.name for c in children) == ["green-2019-12", "green-2020-01"]
    assert all(c.state.is_completed() for c in children), [c.state for c in children]
    loaded_by = {}
    for year, month in ((2019, 12), (2020, 1), (2020, 2)):
        key = f"colour=green/year={year}/month={month:02d}"
        manifest, rows, names = read_partition(stack, key, tmp_path)
        assert names == {f"{key}/data.parquet", f"{key}/_manifest.json"}
        assert manifest["rows"] == rows == MIRROR_ROWS // 3
        assert manifest["source_url"] == (
            f"http://mirror:8000/green/green_tripdata_{year}-{month:02d}.csv.gz"
        )
        loaded_by[year, month] = _parent_of(stack, manifest["flow_run_id"])
    assert loaded_by == {
        (2019, 12): flow_run.id,
        (2020, 1): flow_run.id,
        (2020, 2): green_run.run.id,
    }


def test_catch_up_deployments_show_cron_schedules_and_upcoming_runs(
    stack: Stack, deployed: dict[str, str]
) -> None:
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    async def read(name: str) -> tuple[Any, list[Any]]:
        async with client(stack.api_url) as c:
            d = await c.read_deployment(uuid.UUID(deployed[name]))
            runs = await c.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[d.id]),
                    state=FlowRunFilterState(
                        name=None, type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    ),
                )
            )
            return d, runs

    now = datetime.now(UTC)
    first = datetime(now.year, now.month, 25, 5, tzinfo=UTC)
    if first <= now:
        first = datetime(now.year + now.month // 12, now.month % 12 + 1, 25, 5, tzinfo=UTC)
    starts_of = {"yellow": "2009-01", "green": "2014-01", "fhv": "2015-01", "fhvhv": "2019-02"}
    for colour, start in starts_of.items():
        name = f"etl_catchup_flow/{colour}-catchup"
        deadline = time.monotonic() + 90  # the scheduler service may need one loop
        while True:
            d, runs = await_(read, name)
            if runs or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in d.schedules] == [
            ("0 5 25 * *", "UTC", True)
        ]
        assert d.parameters == {"colour": colour, "source": "tlc", "start": start}
        starts = sorted(r.expected_start_time for r in runs)
        assert starts, f"{name} has no upcoming scheduled run"
        assert starts[0] == first, (name, starts[:3])
        assert all(s.day == 25 and s.hour == 5 and s.minute == 0 for s in starts)
    manual = ["etl_parent_flow/custom", "etl_backfill_flow/backfill"]
    for name in [*manual, *(f"etl_parent_flow/{c}-monthly" for c in ("yellow", "green", "fhv"))]:
        d, runs = await_(read, name)
        assert d.schedules == [] and runs == [], name  # the course's sets: on demand
    shown = stack.prefect("deployment", "inspect", "etl_catchup_flow/yellow-catchup")
    assert "0 5 25 * *" in shown


def test_a_scheduled_style_tlc_catch_up_fills_the_bucket(
    stack: Stack, deployed: dict[str, str], tmp_path: Path
) -> None:
    """green-catchup as its schedule starts it (no months: up to last month), from
    2024-10: every month the TLC's stand-in has, into the bucket, stopping at the first
    it answers 403 for (2025-03); the zone lookup too."""
    run_id, requested = start_run(stack, "etl_catchup_flow/green-catchup", "start=2024-10")
    flow_run = wait_for_final_state(stack.api_url, run_id, timeout=600)
    stack.measure(
        "TLC catch-up green 2024-10..2025-02 request to Completed (s)",
        round(time.monotonic() - requested, 1),
    )
    assert flow_run.state.is_completed(), flow_run.state
    for year, month in parse_month_range("2024-10..2025-02"):
        key = f"colour=green/year={year}/month={month:02d}"
        manifest, rows, names = read_partition(stack, key, tmp_path)
        assert names == {f"{key}/data.parquet", f"{key}/_manifest.json"}
        assert manifest["source"] == "tlc" and manifest["source_etag"]
        assert rows == manifest["rows"] == 2_000  # the offline mirror's TLC months
        assert manifest["source_url"] == (f"{TLC_URL}/green_tripdata_{year}-{month:02d}.parquet")
    assert object_names(stack, "colour=green/year=2025/month=03/") == set()
    zones = object_names(stack, "zones/")
    assert len(zones) == 2 and all("/revision=" in n for n in zones), zones

    async def summary() -> str:
        async with client(stack.api_url) as c:
            artifacts = await c.read_latest_artifacts(limit=200)
        return next(str(a.data) for a in artifacts if a.key == "summary-catchup-green")

    text = await_(summary)
    assert "5 new" in text and "1 not yet published" in text, text


@pytest.mark.prefect2_only(
    reason="Prefect 3 has no `prefect deployment build/apply` (README, migration)"
)
def test_course_cli_route_build_edit_apply_runs_in_a_container(
    stack: Stack, deployed: dict[str, str], tmp_path: Path
) -> None:
    # The course notes: build from the repository root, edit `parameters:` in the yaml,
    # apply, run. A copy of src/ keeps .prefectignore and the yaml out of the checkout.
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    stack.prefect(
        "deployment", "build", "src/taxi_etl/flows.py:etl_parent_flow", "-n", "cli-route",
        "-ib", "docker-container/taxi-etl", "-q", "default", "-o", "cli-route.yaml",
        cwd=tmp_path,
    )  # fmt: skip
    spec = tmp_path / "cli-route.yaml"
    text = spec.read_text()
    assert "parameters: {}" in text, text
    edited = 'parameters: {"colour": "yellow", "months": [1], "year": 2021}'
    spec.write_text(text.replace("parameters: {}", edited))
    stack.prefect("deployment", "apply", "cli-route.yaml", cwd=tmp_path)
    run_id, _ = start_run(stack, "etl_parent_flow/cli-route")
    flow_run = wait_for_final_state(stack.api_url, run_id)
    assert flow_run.state.is_completed(), flow_run.state
    assert flow_run.parameters == {"colour": "yellow", "months": [1], "year": 2021}
    manifest, rows, _ = read_partition(stack, "colour=yellow/year=2021/month=01", tmp_path)
    assert manifest["rows"] == rows == MIRROR_ROWS


def test_compose_down_leaves_nothing_behind(stack: Stack) -> None:
    stack.down()
    ours = f"label=com.docker.compose.project={stack.project}"
    ps = run(
        ["docker", "ps", "-aq", "--filter", ours],
        env=stack.env,
    ).stdout.split()
    flow_runs = run(
        ["docker", "ps", "-aq", "--filter", f"label={RUN_LABEL}", "--filter",
         f"network={stack.network}"],
        env=stack.env,
    ).stdout.split()  # fmt: skip
    networks = run(
        ["docker", "network", "ls", "-q", "--filter", f"name=^{stack.network}$"], env=stack.env
    ).stdout.split()
    volumes = run(
        ["docker", "volume", "ls", "-q", "--filter", ours],
        env=stack.env,
    ).stdout.split()
    assert (ps, flow_runs, networks, volumes) == ([], [], [], [])
