"""The container path end to end, on a real Docker engine: the user's main way to run.

Builds the images, brings up docker-compose.yml with the offline mirror, registers the
deployments with ``python deploy.py``, starts a Custom run with a parameter override,
and checks that the agent ran it in its own container and that the partition landed
in the emulator's bucket; then that the monthly deployments are scheduled, that the
course's ``prefect deployment build/apply`` route runs in a container too, and that
``docker compose down -v`` leaves nothing behind. Service logs are printed on failure.

The stack gets its own compose project and network, so a developer's stack can keep
running; it publishes 4200/9023 on 127.0.0.1 when free, other free ports otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from compose_support import Report, report_for, require_docker

REPO = Path(__file__).resolve().parents[2]
PROJECT = "taxi-etl-e2e"
NETWORK = "taxi-etl-e2e"
IMAGE = "taxi-etl:local"
LOCAL_BASE = "local/python:3.11-bookworm"
MIRROR_ROWS = 30_000
SERVICES = {"postgres", "server", "agent", "gcs", "mirror"}
RUN_TIMEOUT = 300.0

# Quiet until pyproject.toml registers the `docker` marker (markers = ["docker: ..."]).
pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]

T = TypeVar("T")


def _port(preferred: int) -> int:
    """`preferred` if nothing listens there on 127.0.0.1, else a free port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _build_ca() -> Path | None:
    """The CA bundle that pip inside `docker build` needs on this machine, if any.

    TAXI_ETL_BUILD_CA names it (empty: none); else the one the host's own pip uses
    (PIP_CERT, SSL_CERT_FILE), else Debian's system bundle. On a normal machine that is
    just the public roots again, so passing it is harmless.
    """
    given = os.environ.get("TAXI_ETL_BUILD_CA")
    if given is not None:
        return Path(given) if given else None
    for candidate in (
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def _run(
    cmd: list[str], *, env: dict[str, str], cwd: Path = REPO, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise AssertionError(
            f"`{' '.join(cmd)}` exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def _await(coro_fn: Callable[..., Any], *args: Any) -> Any:
    return asyncio.run(coro_fn(*args))


@dataclass
class Stack:
    env: dict[str, str]
    prefect_port: int
    gcs_port: int
    report: Report
    is_down: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    @property
    def gcs_url(self) -> str:
        return f"http://127.0.0.1:{self.gcs_port}"

    def compose(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return _run(
            ["docker", "compose", "-p", PROJECT, "--profile", "offline", *args],
            env=self.env,
            timeout=timeout,
        )

    def host_env(self, **extra: str) -> dict[str, str]:
        """Environment for deploy.py and the prefect CLI on the host."""
        return {**self.env, "PREFECT_API_URL": self.api_url, **extra}

    def prefect(self, *args: str, cwd: Path = REPO) -> str:
        exe = str(Path(sys.executable).with_name("prefect"))
        return _run([exe, *args], env=self.host_env(), cwd=cwd, timeout=300).stdout

    def logs(self) -> str:
        result = subprocess.run(
            ["docker", "compose", "-p", PROJECT, "--profile", "offline", "logs", "--no-color"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return result.stdout + result.stderr

    def down(self) -> None:
        """`compose down -v`, then what it leaves: flow-run containers and the network."""
        subprocess.run(
            ["docker", "compose", "-p", PROJECT, "--profile", "offline", "down", "-v",
             "--remove-orphans", "--timeout", "10"],
            env=self.env, capture_output=True, timeout=300,
        )  # fmt: skip
        leftover = subprocess.run(
            ["docker", "ps", "-aq", "--filter", "label=prefect.io/flow-run-id",
             "--filter", f"network={NETWORK}"],
            capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        if leftover:
            subprocess.run(["docker", "rm", "-f", *leftover], capture_output=True)
        subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True)
        self.is_down = True


# --- Prefect API, in-process -----------------------------------------------------------


def _client(api_url: str) -> Any:
    from prefect.client.orchestration import PrefectClient

    return PrefectClient(api_url)


async def _read_run(api_url: str, run_id: str) -> Any:
    async with _client(api_url) as client:
        return await client.read_flow_run(uuid.UUID(run_id))


def wait_for_final_state(api_url: str, run_id: str, timeout: float = RUN_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        run = _await(_read_run, api_url, run_id)
        if run.state is not None and run.state.is_final():
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"flow run {run_id} still {run.state} after {timeout:.0f}s")
        time.sleep(0.5)


def start_run(stack: Stack, deployment: str, *params: str) -> tuple[str, float]:
    """`prefect deployment run` as a user types it; returns (flow run id, request time)."""
    args = ["deployment", "run", deployment]
    for p in params:
        args += ["--param", p]
    requested = time.monotonic()
    out = stack.prefect(*args)
    match = re.search(r"UUID: ([0-9a-f-]{36})", out)
    assert match, out
    return match.group(1), requested


# --- GCS emulator, from the host through its published port ------------------------------


def bucket_client(stack: Stack) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        project="taxi-etl-e2e",
        client_options={"api_endpoint": stack.gcs_url},
    )


def read_partition(stack: Stack, key: str, tmp: Path) -> tuple[dict[str, Any], int, set[str]]:
    """(manifest, parquet row count, object names) of a partition in the bucket."""
    import pyarrow.parquet as pq

    client = bucket_client(stack)
    bucket = client.bucket("taxi-lake")
    names = {b.name for b in client.list_blobs("taxi-lake", prefix=key + "/")}
    manifest = json.loads(bucket.blob(f"{key}/_manifest.json").download_as_bytes())
    local = tmp / "data.parquet"
    bucket.blob(f"{key}/data.parquet").download_to_filename(str(local))
    return manifest, pq.read_metadata(local).num_rows, names


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _docker_is_usable() -> None:
    require_docker()


@pytest.fixture(scope="module")
def e2e_report(request: pytest.FixtureRequest) -> Report:
    return report_for(request.config)


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, e2e_report: Report) -> Iterator[Stack]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXI_ETL_")}
    base = os.environ.get("TAXI_ETL_BASE_IMAGE") or (
        LOCAL_BASE if _image_exists(LOCAL_BASE) else ""
    )
    if base:  # a machine without a registry: build on the local debootstrap image
        env["TAXI_ETL_BASE_IMAGE"] = base
        env["POSTGRES_BASE_IMAGE"] = base
    stack = Stack(env=env, prefect_port=_port(4200), gcs_port=_port(9023), report=e2e_report)
    env.update(
        COMPOSE_PROJECT_NAME=PROJECT,
        TAXI_ETL_NETWORK=NETWORK,
        TAXI_ETL_IMAGE=IMAGE,
        PREFECT_PORT=str(stack.prefect_port),
        GCS_PORT=str(stack.gcs_port),
        DOCKER_GID=str(os.stat("/var/run/docker.sock").st_gid),
        TAXI_ETL_MIRROR_ROWS=str(MIRROR_ROWS),
        PREFECT_HOME=str(Path(os.environ.get("PREFECT_HOME", "/tmp")) / "e2e-cli"),
    )
    ca = _build_ca()
    target = REPO / "docker" / "build-ca" / "ca-certificates.crt"
    if ca is not None and (not target.exists() or target.read_bytes() != ca.read_bytes()):
        shutil.copyfile(ca, target)

    stack.down()  # leftovers of an interrupted earlier run
    failed_before = request.session.testsfailed
    try:
        t0 = time.monotonic()
        stack.compose("build", timeout=1200)
        e2e_report["build (s)"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        stack.compose("up", "--detach", "--wait", "--wait-timeout", "300", "--no-build")
        e2e_report["compose up to healthy (s)"] = round(time.monotonic() - t0, 1)
        e2e_report["base image"] = base or "(Dockerfile default)"
        for image in (IMAGE, "taxi-etl-postgres:local", "taxi-etl-gcs:local"):
            size = _run(
                ["docker", "image", "inspect", image, "--format", "{{.Size}}"], env=env
            ).stdout
            e2e_report[f"image {image} (MB)"] = round(int(size) / 1e6)
        yield stack
    except BaseException:
        print(stack.logs()[-30000:])
        raise
    finally:
        if request.session.testsfailed > failed_before:
            print(f"\n===== docker compose logs ({PROJECT}) =====\n{stack.logs()[-30000:]}")
        stack.down()


@pytest.fixture(scope="module")
def deployed(stack: Stack) -> dict[str, str]:
    """deploy.py's deployment ids, as printed by the first run."""
    t0 = time.monotonic()
    out = _run(
        [sys.executable, "deploy.py"],
        env=stack.host_env(TAXI_ETL_DEPLOY_SOURCE_URL="http://mirror:8000"),
        timeout=300,
    ).stdout
    stack.report["deploy.py (s)"] = round(time.monotonic() - t0, 1)
    ids = dict(re.findall(r"registered etl_parent_flow/(\S+) \(([0-9a-f-]{36})\)", out))
    assert set(ids) == {"yellow-monthly", "green-monthly", "fhv-monthly", "backfill"}, out
    return ids


@dataclass(frozen=True)
class FinishedRun:
    run: Any
    request_to_completed: float


@pytest.fixture(scope="module")
def green_run(stack: Stack, deployed: dict[str, str]) -> FinishedRun:
    """A Custom run of `backfill` with colour, year and months overridden."""
    run_id, requested = start_run(
        stack, "etl_parent_flow/backfill", "colour=green", "year=2020", "months=[2]"
    )
    run = wait_for_final_state(stack.api_url, run_id)
    elapsed = time.monotonic() - requested
    stack.report["run request to Completed (s)"] = round(elapsed, 1)
    if run.start_time and run.end_time:
        stack.report["run created to Completed, server clock (s)"] = round(
            (run.end_time - run.created).total_seconds(), 1
        )
        stack.report["flow run start to end, server clock (s)"] = round(
            (run.end_time - run.start_time).total_seconds(), 1
        )
    return FinishedRun(run, elapsed)


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
        inspect = json.loads(_run(["docker", "inspect", r["ID"]], env=stack.env).stdout)[0]
        user = inspect["Config"]["User"]
        assert user not in ("", "0", "root", "0:0"), (r["Service"], user)
        mounts = {m["Destination"] for m in inspect["Mounts"]}
        assert ("/var/run/docker.sock" in mounts) == (r["Service"] == "agent"), r["Service"]
        assert inspect["HostConfig"].get("Init") is True or r["Service"] == "postgres"


def test_deploy_is_idempotent_and_blocks_hold_no_secret(
    stack: Stack, deployed: dict[str, str]
) -> None:
    out = _run(
        [sys.executable, "deploy.py"],
        env=stack.host_env(TAXI_ETL_DEPLOY_SOURCE_URL="http://mirror:8000"),
    ).stdout
    again = dict(re.findall(r"registered etl_parent_flow/(\S+) \(([0-9a-f-]{36})\)", out))
    assert again == deployed

    async def read() -> tuple[list[Any], Any, Any, Any]:
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

        async with _client(stack.api_url) as client:
            deployments = await client.read_deployments(
                deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=["taxi-etl"]))
            )
            infra = await client.read_block_document_by_name(
                "taxi-etl", "docker-container", include_secrets=True
            )
            creds = await client.read_block_document_by_name(
                "taxi-gcp", "gcp-credentials", include_secrets=True
            )
            bucket = await client.read_block_document_by_name(
                "taxi-lake", "gcs-bucket", include_secrets=True
            )
            return deployments, infra, creds, bucket

    deployments, infra, creds, bucket = _await(read)
    assert sorted(d.name for d in deployments) == sorted(deployed)
    for d in deployments:
        assert d.path == "/opt/prefect/flows"
        assert d.entrypoint == "src/taxi_etl/flows.py:etl_parent_flow"
        assert d.work_queue_name == "default"
        assert d.storage_document_id is None  # nothing uploaded: the code is in the image
        assert d.infrastructure_document_id == infra.id
    data = infra.data
    assert data["image"] == IMAGE
    assert data["image_pull_policy"] in ("IF_NOT_PRESENT", "NEVER")
    assert data["networks"] == [NETWORK]
    assert data["env"]["PREFECT_API_URL"] == "http://server:4200/api"
    assert data["env"]["PREFECT_RUNNER_POLL_FREQUENCY"] == "1"
    assert data["env"]["STORAGE_EMULATOR_HOST"] == "http://gcs:9023"
    assert creds.data["service_account_info"] is None
    assert bucket.data["bucket"] == "taxi-lake"
    blob = json.dumps([data, creds.data, bucket.data])
    assert "PRIVATE KEY" not in blob and "private_key" not in blob


def test_custom_run_executes_in_a_container_started_by_the_agent(
    stack: Stack, green_run: FinishedRun
) -> None:
    run = green_run.run
    assert run.state.is_completed(), run.state
    assert run.parameters == {"colour": "green", "year": 2020, "months": [2]}
    assert green_run.request_to_completed < 120
    # infrastructure_pid is "<docker api url>:<container id>", set by DockerContainer.
    container_id = run.infrastructure_pid.rsplit(":", 1)[1]
    events = subprocess.run(
        ["docker", "events", "--since", run.created.isoformat(), "--until",
         datetime.now(UTC).isoformat(), "--filter", "type=container",
         "--filter", f"label=prefect.io/flow-run-id={run.id}", "--format", "{{json .}}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.splitlines()  # fmt: skip
    started = [json.loads(e) for e in events if json.loads(e)["Action"] == "start"]
    assert [e["Actor"]["ID"] for e in started] == [container_id], events
    attributes = started[0]["Actor"]["Attributes"]
    assert attributes["image"] == IMAGE
    assert attributes["name"] == run.name
    # Not mistaken for a compose service: the image's compose labels are blanked.
    assert attributes.get("com.docker.compose.service", "") == ""
    assert attributes["io.taxi-etl.role"] == "flow-run"
    agent_log = stack.compose("logs", "--no-color", "agent").stdout
    assert f"Submitting flow run '{run.id}'" in agent_log


def test_partition_and_manifest_are_in_the_emulator_bucket(
    stack: Stack, green_run: FinishedRun, tmp_path: Path
) -> None:
    key = "colour=green/year=2020/month=02"
    manifest, rows, names = read_partition(stack, key, tmp_path)
    assert names == {f"{key}/data.parquet", f"{key}/_manifest.json"}
    assert manifest["partition"] == key
    assert manifest["rows"] == rows == MIRROR_ROWS // 3  # the mirror writes 1/3 for green
    assert manifest["source_url"] == "http://mirror:8000/green/green_tripdata_2020-02.csv.gz"

    async def parent_of(child_id: str) -> Any:
        async with _client(stack.api_url) as client:
            child = await client.read_flow_run(uuid.UUID(child_id))
            task_run = await client.read_task_run(child.parent_task_run_id)
            return task_run.flow_run_id

    # The manifest names the month's child flow run, a subflow of the run we started.
    assert _await(parent_of, manifest["flow_run_id"]) == green_run.run.id


def test_monthly_deployments_show_cron_schedules_and_upcoming_runs(
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
        async with _client(stack.api_url) as client:
            d = await client.read_deployment(uuid.UUID(deployed[name]))
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[d.id]),
                    state=FlowRunFilterState(
                        name=None, type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    ),
                )
            )
            return d, runs

    now = datetime.now(UTC)
    first = datetime(now.year, now.month, 1, 5, tzinfo=UTC)
    if first <= now:
        first = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, 5, tzinfo=UTC)
    for colour in ("yellow", "green", "fhv"):
        name = f"{colour}-monthly"
        deadline = time.monotonic() + 90  # the scheduler service may need one loop
        while True:
            d, runs = _await(read, name)
            if runs or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in d.schedules] == [
            ("0 5 1 * *", "UTC", True)
        ]
        assert d.parameters == {"colour": colour}  # no months/year: previous month
        starts = sorted(r.expected_start_time for r in runs)
        assert starts, f"{name} has no upcoming scheduled run"
        assert starts[0] == first, (name, starts[:3])
        assert all(s.day == 1 and s.hour == 5 and s.minute == 0 for s in starts)
    backfill, runs = _await(read, "backfill")
    assert backfill.schedules == [] and runs == []
    shown = stack.prefect("deployment", "inspect", "etl_parent_flow/yellow-monthly")
    assert "0 5 1 * *" in shown


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
    run = wait_for_final_state(stack.api_url, run_id)
    assert run.state.is_completed(), run.state
    assert run.parameters == {"colour": "yellow", "months": [1], "year": 2021}
    manifest, rows, _ = read_partition(stack, "colour=yellow/year=2021/month=01", tmp_path)
    assert manifest["rows"] == rows == MIRROR_ROWS


def test_compose_down_leaves_nothing_behind(stack: Stack) -> None:
    stack.down()
    ps = _run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"],
        env=stack.env,
    ).stdout.split()
    flow_runs = _run(
        ["docker", "ps", "-aq", "--filter", "label=prefect.io/flow-run-id", "--filter",
         f"network={NETWORK}"],
        env=stack.env,
    ).stdout.split()  # fmt: skip
    networks = _run(
        ["docker", "network", "ls", "-q", "--filter", f"name=^{NETWORK}$"], env=stack.env
    ).stdout.split()
    volumes = _run(
        ["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"],
        env=stack.env,
    ).stdout.split()
    assert (ps, flow_runs, networks, volumes) == ([], [], [], [])
