"""The compose stack of docker-compose.yml, brought up by the container tests.

Each test module that needs a running stack names a compose project, with its own
network, volumes and free ports on 127.0.0.1, so a module that restarts the server or
kills a flow run cannot disturb another, and a developer's stack can keep running. The
browser test shares the end-to-end module's project, which it cannot disturb: a stack
less per line (conftest.py).
The images are tagged (`taxi-etl:local`, ...), not per project, so they are built once
per session and shared; a stack costs only its `compose up` (about 20 s) and deploy.py.

Also here: what several modules do with a stack: start a deployment run as a user
types it, wait for its final state, and read partitions from the emulator's bucket.
Service logs are printed when a module using the stack has a failing test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from compose_support import Report, report_for, require_docker
from lines import LINE

from taxi_etl.devtools.net import free_port

REPO = Path(__file__).resolve().parents[2]
#: The stack of the Prefect line these tests run on (the one installed here): Prefect 2's
#: docker-compose.yml with its agent, or Prefect 3's override with a worker.
COMPOSE_FILES = LINE.compose_files
IMAGE = LINE.image
IMAGES = (IMAGE, "taxi-etl-postgres:local", "taxi-etl-gcs:local")
LOCAL_BASE = "local/python:3.11-bookworm"
MIRROR_ROWS = 30_000
#: The label naming a flow-run container's run: prefect-docker 0.7 turns Prefect's
#: `prefect.io/` labels around into Docker's reverse-DNS style.
RUN_LABEL = LINE.run_label
#: Where the UI shows a flow run (Prefect 3's UI moved runs under /runs).
UI_RUN_PATH = LINE.ui_run_path
#: The service that starts flow-run containers, the only one with the Docker socket.
LAUNCHER = LINE.launcher
SERVICES = {"postgres", "server", LAUNCHER, "gcs", "mirror"}
RUN_TIMEOUT = 300.0
BUCKET = "taxi-lake"
#: Label of every helper container a test starts on a stack's network (a webhook
#: receiver, ...): `Stack.down` removes them by it.
HELPER_LABEL = "io.taxi-etl.test-stack"
#: deploy.py's summary line per deployment: `registered <flow>/<name> (<id>)`.
REGISTERED = re.compile(r"registered (\S+/\S+) \(([0-9a-f-]{36})\)")
#: Every deployment deploy.py registers, by full name.
#: The offline mirror's stand-in for the TLC's host, as the flow-run containers see it.
TLC_URL = "http://mirror:8000/tlc/trip-data"
ALL_DEPLOYMENTS = {
    "etl_catchup_flow/yellow-catchup",
    "etl_catchup_flow/green-catchup",
    "etl_catchup_flow/fhv-catchup",
    "etl_catchup_flow/fhvhv-catchup",
    "etl_parent_flow/yellow-monthly",
    "etl_parent_flow/green-monthly",
    "etl_parent_flow/fhv-monthly",
    "etl_parent_flow/custom",
    "etl_backfill_flow/backfill",
}


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


def image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def run(
    cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path = REPO, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command; a non-zero exit is an AssertionError with the output's tail."""
    result = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise AssertionError(
            f"`{' '.join(cmd)}` exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def await_(coro_fn: Callable[..., Any], *args: Any) -> Any:
    """Run a coroutine to completion from sync code, also where this thread already
    runs an event loop (Playwright's sync API does): then in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_fn(*args))
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro_fn(*args)).result()


def base_env() -> dict[str, str]:
    """The caller's environment minus TAXI_ETL_* settings, plus the local base image
    where the machine has no registry (scripts/docker-setup.sh builds it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXI_ETL_")}
    base = os.environ.get("TAXI_ETL_BASE_IMAGE") or (LOCAL_BASE if image_exists(LOCAL_BASE) else "")
    if base:
        env["TAXI_ETL_BASE_IMAGE"] = base
        env["POSTGRES_BASE_IMAGE"] = base
    return env


def project_name(base: str) -> str:
    """A module's compose project on this line: the Prefect 3 run gets its own, so the
    two lines' suites never share a project, a network or a volume, also if run at once."""
    return f"{base}{LINE.project_suffix}"


def compose_base(project: str) -> list[str]:
    """`docker compose` with this line's files, for compose project `project`."""
    cmd = ["docker", "compose", "-p", project]
    for name in COMPOSE_FILES:
        cmd += ["-f", str(REPO / name)]
    return cmd


_built: dict[str, Any] = {}


def ensure_images(report: Report) -> dict[str, str]:
    """Build the three images once per session (cached layers make a rebuild seconds);
    returns the environment the build used. A failed build fails every later caller."""
    require_docker()
    if "error" in _built:
        raise AssertionError(f"the image build failed earlier in this session:\n{_built['error']}")
    if "env" in _built:
        return dict(_built["env"])
    env = base_env()
    ca = _build_ca()
    target = REPO / "docker" / "build-ca" / "ca-certificates.crt"
    if ca is not None and (not target.exists() or target.read_bytes() != ca.read_bytes()):
        shutil.copyfile(ca, target)
    t0 = time.monotonic()
    try:
        run(
            [*compose_base("taxi-etl-build"), "--profile", "offline", "build"],
            env=env,
            timeout=1200,
        )
    except AssertionError as exc:
        _built["error"] = str(exc)
        raise
    report["build (s)"] = round(time.monotonic() - t0, 1)
    report["base image"] = env.get("TAXI_ETL_BASE_IMAGE", "(Dockerfile default)")
    for image in IMAGES:
        size = run(["docker", "image", "inspect", image, "--format", "{{.Size}}"]).stdout
        report[f"image {image} (MB)"] = round(int(size) / 1e6)
    _built["env"] = env
    return dict(env)


@dataclass
class Stack:
    """One running compose project: its name (= network name), ports and environment."""

    project: str
    env: dict[str, str]
    prefect_port: int
    gcs_port: int
    report: Report
    profiles: tuple[str, ...] = ("offline",)
    is_down: bool = False
    is_up: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def network(self) -> str:
        return self.project

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}"

    @property
    def gcs_url(self) -> str:
        return f"http://127.0.0.1:{self.gcs_port}"

    def measure(self, key: str, value: Any) -> None:
        """Record a measurement for the session report, under this stack's name."""
        self.report[f"{self.project}: {key}"] = value

    @property
    def compose_cmd(self) -> list[str]:
        """`docker compose` for this project, with its profiles."""
        cmd = compose_base(self.project)
        for profile in self.profiles:
            cmd += ["--profile", profile]
        return cmd

    def compose(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return run(
            [*self.compose_cmd, *args],
            env=self.env,
            timeout=timeout,
        )

    def host_env(self, **extra: str) -> dict[str, str]:
        """Environment for deploy.py and the prefect CLI on the host."""
        return {**self.env, "PREFECT_API_URL": self.api_url, **extra}

    def prefect(self, *args: str, cwd: Path = REPO) -> str:
        exe = str(Path(sys.executable).with_name("prefect"))
        return run([exe, *args], env=self.host_env(), cwd=cwd, timeout=300).stdout

    def deploy(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """`python deploy.py` from the repository root, against this stack, offline."""
        return run(
            [sys.executable, "deploy.py", *args],
            env=self.host_env(
                TAXI_ETL_DEPLOY_DTC_URL="http://mirror:8000",
                TAXI_ETL_DEPLOY_TLC_URL=TLC_URL,
                **extra,
            ),
            timeout=300,
        )

    def container_id(self, service: str) -> str:
        return self.compose("ps", "-q", service).stdout.strip()

    def container_ids(self, service: str) -> list[str]:
        """Every container of a scaled service (`--scale agent=2`, Dask workers)."""
        return self.compose("ps", "-q", service).stdout.split()

    def logs(self, *services: str) -> str:
        result = subprocess.run(
            [*self.compose_cmd, "logs", "--no-color", *services],
            env=self.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        return result.stdout + result.stderr

    @property
    def log_file(self) -> Path:
        return REPO / "artifacts" / "docker-logs" / f"{self.project}.log"  # one per line

    def save_logs(self) -> str:
        """Every service's log, also written to artifacts/docker-logs/ (git-ignored)
        for CI: pytest shows teardown output only for a failed test."""
        logs = self.logs()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.write_text(logs)
        return logs

    def down(self) -> None:
        """`compose down -v`, then what it leaves: flow-run and helper containers, and
        the network. The logs of a stack that was up are saved first."""
        if self.is_up:
            self.save_logs()
            self.is_up = False
        subprocess.run(
            [*self.compose_cmd, "down", "-v", "--remove-orphans", "--timeout", "10"],
            env=self.env, capture_output=True, timeout=300,
        )  # fmt: skip
        leftover = []
        for label in (f"label={RUN_LABEL}", f"label={HELPER_LABEL}={self.project}"):
            leftover += subprocess.run(
                ["docker", "ps", "-aq", "--filter", label, "--filter", f"network={self.network}"],
                capture_output=True, text=True, timeout=60,
            ).stdout.split()  # fmt: skip
        if leftover:
            subprocess.run(["docker", "rm", "-f", *leftover], capture_output=True, timeout=120)
        subprocess.run(["docker", "network", "rm", self.network], capture_output=True, timeout=60)
        self.is_down = True


@contextmanager
def running_stack(
    request: pytest.FixtureRequest,
    project: str,
    *,
    mirror_extra: str = "",
    profiles: tuple[str, ...] = ("offline",),
    scale: dict[str, int] | None = None,
) -> Iterator[Stack]:
    """Bring up compose project `project` (offline profile), yield it, take it down.

    `mirror_extra` adds mirror months (TAXI_ETL_MIRROR_EXTRA_MONTHS); `profiles` and
    `scale` are compose's (e.g. ("offline", "dask") and {"agent": 2}). Service logs are
    saved to artifacts/docker-logs/<project>.log when the stack goes down, and printed
    if a test of the requesting scope failed or the start failed.
    """
    project = project_name(project)
    report = report_for(request.config)
    env = ensure_images(report)
    stack = Stack(
        project=project,
        env=env,
        # Never the usual 4200/9023 first: two stacks choosing at the same moment (the
        # two lines' container tests, run side by side) both found 4200 free before
        # either bound it.
        prefect_port=free_port(),
        gcs_port=free_port(),
        report=report,
        profiles=profiles,
    )
    env.update(
        COMPOSE_PROJECT_NAME=project,
        TAXI_ETL_NETWORK=project,
        TAXI_ETL_IMAGE=IMAGE,
        PREFECT_PORT=str(stack.prefect_port),
        GCS_PORT=str(stack.gcs_port),
        DOCKER_GID=str(os.stat("/var/run/docker.sock").st_gid),
        TAXI_ETL_MIRROR_ROWS=str(MIRROR_ROWS),
        TAXI_ETL_MIRROR_EXTRA_MONTHS=mirror_extra,
        PREFECT_HOME=str(Path(os.environ.get("PREFECT_HOME", "/tmp")) / f"{project}-cli"),
    )
    stack.down()  # leftovers of an interrupted earlier run
    failed_before = request.session.testsfailed
    try:
        t0 = time.monotonic()
        stack.is_up = True  # also when `up` fails: its logs say why
        scaled = [f"--scale={service}={n}" for service, n in (scale or {}).items()]
        stack.compose("up", "--detach", "--wait", "--wait-timeout", "300", "--no-build", *scaled)
        stack.measure("compose up to healthy (s)", round(time.monotonic() - t0, 1))
        yield stack
    except BaseException:
        print(f"\n===== docker compose logs ({project}) =====\n{stack.save_logs()[-30000:]}")
        raise
    finally:
        t0 = time.monotonic()
        stack.down()  # saves the logs of a stack that is still up
        if request.session.testsfailed > failed_before:
            logs = stack.log_file.read_text() if stack.log_file.exists() else ""
            print(f"\n===== docker compose logs ({project}, all in {stack.log_file}) =====\n"
                  f"{logs[-30000:]}")  # fmt: skip
        stack.measure("compose down (s)", round(time.monotonic() - t0, 1))


def deploy_all(stack: Stack, *args: str, **extra: str) -> dict[str, str]:
    """Run deploy.py; its deployment ids by full name (`flow/deployment`)."""
    t0 = time.monotonic()
    out = stack.deploy(*args, **extra).stdout
    stack.measure("deploy.py (s)", round(time.monotonic() - t0, 1))
    ids = dict(REGISTERED.findall(out))
    assert set(ids) == ALL_DEPLOYMENTS, out
    return ids


# --- Prefect API, in-process -----------------------------------------------------------


def client(api_url: str) -> Any:
    from prefect.client.orchestration import PrefectClient

    return PrefectClient(api_url)


async def _read_run(api_url: str, run_id: str) -> Any:
    async with client(api_url) as c:
        return await c.read_flow_run(uuid.UUID(run_id))


def read_run(api_url: str, run_id: str) -> Any:
    return await_(_read_run, api_url, run_id)


def wait_for_final_state(api_url: str, run_id: str, timeout: float = RUN_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        flow_run = read_run(api_url, run_id)
        if flow_run.state is not None and flow_run.state.is_final():
            return flow_run
        if time.monotonic() > deadline:
            raise AssertionError(f"flow run {run_id} still {flow_run.state} after {timeout:.0f}s")
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


async def _children(api_url: str, parent_id: str) -> list[Any]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    async with client(api_url) as c:
        return list(
            await c.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[uuid.UUID(parent_id)])
                )
            )
        )


def child_runs(api_url: str, parent_id: str) -> list[Any]:
    """The subflow runs (one per month) of a parent or backfill run."""
    result: list[Any] = await_(_children, api_url, parent_id)
    return result


# --- GCS emulator, from the host through its published port ------------------------------


def bucket_client(stack: Stack) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        project="taxi-etl-e2e",
        client_options={"api_endpoint": stack.gcs_url},
    )


def object_names(stack: Stack, prefix: str = "") -> set[str]:
    return {b.name for b in bucket_client(stack).list_blobs(BUCKET, prefix=prefix)}


def read_partition(stack: Stack, key: str, tmp: Path) -> tuple[dict[str, Any], int, set[str]]:
    """(manifest, parquet row count, object names) of a partition in the bucket."""
    import pyarrow.parquet as pq

    c = bucket_client(stack)
    bucket = c.bucket(BUCKET)
    names = {b.name for b in c.list_blobs(BUCKET, prefix=key + "/")}
    manifest = json.loads(bucket.blob(f"{key}/_manifest.json").download_as_bytes())
    local = tmp / f"{key.replace('/', '_')}.parquet"
    bucket.blob(f"{key}/data.parquet").download_to_filename(str(local))
    return manifest, pq.read_metadata(local).num_rows, names
