"""deploy.py and the course's CLI route against a real Prefect server, without Docker.

A Prefect server is started on 127.0.0.1 for the module. This checks what is written
(blocks, deployments, schedules) everywhere, also where no Docker engine exists; the
end-to-end test (test_compose_e2e.py) checks that it then runs in containers.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taxi_etl import deployments
from taxi_etl.compat import ACCEPTED_DEPRECATIONS, silence_prefect2_deprecations

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
REGISTERED = re.compile(r"registered (\S+/\S+) \(([0-9a-f-]{36})\)")
ALL = [
    "etl_parent_flow/yellow-monthly",
    "etl_parent_flow/green-monthly",
    "etl_parent_flow/fhv-monthly",
    "etl_parent_flow/custom",
    "etl_backfill_flow/backfill",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXI_ETL_")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prefect server of our own on 127.0.0.1, on SQLite in a temporary home."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    env = _env(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: uvicorn runs as a child
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((home / "server.log").read_text()[-4000:])
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def deploy(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "deploy.py", *args],
        cwd=REPO,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


async def _read(api_url: str, coro: str, *args: Any, **kwargs: Any) -> Any:
    from prefect.client.orchestration import PrefectClient

    async with PrefectClient(api_url) as client:
        return await getattr(client, coro)(*args, **kwargs)


def read(api_url: str, coro: str, *args: Any, **kwargs: Any) -> Any:
    return asyncio.run(_read(api_url, coro, *args, **kwargs))


def test_parameter_sets_are_the_deployments_of_the_issues() -> None:
    sets = {p.name: p for p in deployments.DEPLOYMENTS}
    assert [p.full_name for p in deployments.DEPLOYMENTS] == ALL
    for colour in ("yellow", "green", "fhv"):
        monthly = sets[f"{colour}-monthly"]
        assert monthly.cron == "0 5 1 * *"
        assert monthly.parameters == {"colour": colour}  # the previous month, at run time
        assert monthly.entrypoint == deployments.ENTRYPOINT
    # custom: the course's months-of-one-year form; backfill: a month range across years.
    assert sets["custom"].cron is None
    assert sets["custom"].entrypoint == "src/taxi_etl/flows.py:etl_parent_flow"
    assert set(sets["custom"].parameters) == {"colour", "year", "months"}
    assert sets["backfill"].cron is None
    assert sets["backfill"].entrypoint == "src/taxi_etl/flows.py:etl_backfill_flow"
    assert sets["backfill"].parameters == {"colour": "yellow", "months": "2019-01..2021-07"}
    with pytest.raises(ValueError, match="unknown deployment"):
        deployments.select(["nope"])


def test_each_parameter_set_fits_its_flow_signature() -> None:
    """A default that the flow's parameter schema rejects would fail every Custom run."""
    import inspect

    from taxi_etl import flows, params

    for p in deployments.DEPLOYMENTS:
        flow = getattr(flows, p.flow)
        assert flow.name == p.flow
        assert set(p.parameters) <= set(inspect.signature(flow.fn).parameters), p.name
    backfill = {p.name: p for p in deployments.DEPLOYMENTS}["backfill"]
    assert params.parse_month_range(backfill.parameters["months"])[0] == (2019, 1)


def test_settings_for_the_emulator_and_for_real_gcs() -> None:
    emulator = deployments.DeploySettings()
    env = emulator.container_env()
    assert env["PREFECT_API_URL"] == "http://server:4200/api"
    assert env["TAXI_ETL_LAKE"] == "gs://taxi-lake"
    assert env["STORAGE_EMULATOR_HOST"] == "http://gcs:9023"
    real = deployments.DeploySettings(
        storage_emulator_host="", bucket="my-bucket", credentials_file="/run/secrets/sa.json"
    )
    env = real.container_env()
    assert env["TAXI_ETL_LAKE"] == "gcs-block://taxi-lake"
    assert "STORAGE_EMULATOR_HOST" not in env
    assert env["GOOGLE_APPLICATION_CREDENTIALS"] == "/run/secrets/sa.json"
    assert all(isinstance(v, str) for v in env.values())


def test_compat_silences_exactly_the_accepted_deprecations() -> None:
    from prefect.infrastructure.container import DockerContainer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_prefect2_deprecations()
        DockerContainer(image="taxi-etl:local")
        warnings.warn("something else is deprecated", DeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something else is deprecated"]
    assert all(why for _pattern, why in ACCEPTED_DEPRECATIONS)


def test_dry_run_needs_no_server_and_honours_only() -> None:
    result = deploy("--dry-run", "--only", "backfill", "--api-url", "http://127.0.0.1:9/api")
    assert result.returncode == 0, result.stderr
    assert "deployment etl_backfill_flow/backfill: no schedule" in result.stdout
    assert "code: src/taxi_etl/flows.py:etl_backfill_flow under /opt/prefect/flows" in (
        result.stdout
    )
    assert "yellow-monthly" not in result.stdout
    assert "env PREFECT_API_URL=http://server:4200/api" in result.stdout
    assert "failure notifications: off" in result.stdout
    assert "TAXI_ETL_NOTIFY_BLOCK" not in result.stdout
    assert result.stdout.rstrip().endswith("dry run: nothing written")


def test_dry_run_masks_the_notify_url() -> None:
    secret = "T0KEN-9d2b71"
    url = f"https://hooks.example.invalid/services/{secret}?key={secret}"
    result = deploy(
        "--dry-run", "--api-url", "http://127.0.0.1:9/api", TAXI_ETL_DEPLOY_NOTIFY_URL=url
    )
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    assert "block webhook/taxi-etl-alerts: url https://hooks.example.invalid/****" in (
        result.stdout
    )
    assert "env TAXI_ETL_NOTIFY_BLOCK=webhook/taxi-etl-alerts" in result.stdout
    # A notification block made elsewhere (the UI) is only named, never saved.
    other = deploy(
        "--dry-run",
        "--api-url",
        "http://127.0.0.1:9/api",
        TAXI_ETL_DEPLOY_NOTIFY_BLOCK="slack-webhook/ops",
    )
    assert "env TAXI_ETL_NOTIFY_BLOCK=slack-webhook/ops" in other.stdout
    assert other.returncode == 0, other.stderr
    assert "block slack-webhook/ops" not in other.stdout
    mixed = deploy(
        "--dry-run",
        TAXI_ETL_DEPLOY_NOTIFY_URL=url,
        TAXI_ETL_DEPLOY_NOTIFY_BLOCK="slack-webhook/ops",
    )
    assert mixed.returncode != 0
    assert secret not in mixed.stdout + mixed.stderr


def test_unreachable_api_is_a_clear_error() -> None:
    result = deploy("--api-url", f"http://127.0.0.1:{_free_port()}/api")
    assert result.returncode == 1
    assert "no Prefect API at" in result.stderr
    assert "docker compose up" in result.stderr


def test_deploy_is_idempotent_and_writes_no_secret(api_url: str) -> None:
    first = deploy(PREFECT_API_URL=api_url, TAXI_ETL_DEPLOY_SOURCE_URL="http://mirror:8000")
    assert first.returncode == 0, first.stderr
    assert "Warning" not in first.stderr  # the accepted deprecations stay silent
    ids = dict(REGISTERED.findall(first.stdout))
    assert list(ids) == ALL
    second = deploy(PREFECT_API_URL=api_url, TAXI_ETL_DEPLOY_SOURCE_URL="http://mirror:8000")
    assert dict(REGISTERED.findall(second.stdout)) == ids

    sets = {p.full_name: p for p in deployments.DEPLOYMENTS}
    for name, deployment_id in ids.items():
        d = read(api_url, "read_deployment", deployment_id)
        assert d.name == name.split("/")[1]
        assert (d.path, d.entrypoint) == (deployments.FLOW_PATH, sets[name].entrypoint)
        assert d.parameters == sets[name].parameters
        assert d.enforce_parameter_schema is True
        assert len(d.schedules) == (1 if name.endswith("-monthly") else 0)
    backfill = read(api_url, "read_deployment", ids["etl_backfill_flow/backfill"])
    assert backfill.parameter_openapi_schema["required"] == ["months"]
    infra = read(api_url, "read_block_document_by_name", "taxi-etl", "docker-container")
    assert infra.data["env"]["TAXI_ETL_SOURCE_URL"] == "http://mirror:8000"
    assert infra.data["image_pull_policy"] == "IF_NOT_PRESENT"
    assert infra.data["labels"]["io.taxi-etl.role"] == "flow-run"


def test_credentials_block_points_at_a_file_that_only_the_containers_have(
    api_url: str,
) -> None:
    # For real GCS: the key is mounted into the flow containers; the deploying machine
    # does not have it, and the block stores the path, never the key.
    result = deploy(
        "--only",
        "backfill",
        PREFECT_API_URL=api_url,
        TAXI_ETL_DEPLOY_STORAGE_EMULATOR_HOST="",
        TAXI_ETL_DEPLOY_CREDENTIALS_FILE="/run/secrets/gcp-sa.json",
        TAXI_ETL_DEPLOY_GCP_PROJECT="my-project",
        TAXI_ETL_DEPLOY_VOLUMES='["/srv/keys/sa.json:/run/secrets/gcp-sa.json:ro"]',
    )
    assert result.returncode == 0, result.stderr
    creds = read(
        api_url,
        "read_block_document_by_name",
        "taxi-gcp",
        "gcp-credentials",
        include_secrets=True,
    )
    assert creds.data == {
        "service_account_file": "/run/secrets/gcp-sa.json",
        "service_account_info": None,
        "project": "my-project",
    }
    bucket = read(api_url, "read_block_document_by_name", "taxi-lake", "gcs-bucket")
    assert bucket.data["bucket"] == "taxi-lake"
    infra = read(api_url, "read_block_document_by_name", "taxi-etl", "docker-container")
    assert infra.data["env"]["TAXI_ETL_LAKE"] == "gcs-block://taxi-lake"
    assert "STORAGE_EMULATOR_HOST" not in infra.data["env"]
    assert infra.data["volumes"] == ["/srv/keys/sa.json:/run/secrets/gcp-sa.json:ro"]
    # Back to the emulator defaults for the other tests of this module.
    assert deploy("--only", "backfill", PREFECT_API_URL=api_url).returncode == 0


def test_course_cli_route_build_edit_apply(api_url: str, tmp_path: Path) -> None:
    assert deploy("--only", "backfill", PREFECT_API_URL=api_url).returncode == 0  # the block
    src = tmp_path / "src" / "taxi_etl"
    src.mkdir(parents=True)
    (src / "flows.py").write_bytes((REPO / "src" / "taxi_etl" / "flows.py").read_bytes())
    env = _env(PREFECT_API_URL=api_url, PREFECT_HOME=str(tmp_path / "home"))
    build = subprocess.run(
        [PREFECT, "deployment", "build", "src/taxi_etl/flows.py:etl_parent_flow",
         "-n", "course", "-ib", "docker-container/taxi-etl", "-q", "default",
         "-o", "course.yaml"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    spec = tmp_path / "course.yaml"
    text = spec.read_text()
    assert "parameters: {}" in text
    edited = 'parameters: {"colour": "yellow", "months": [1, 2, 3], "year": 2021}'
    spec.write_text(text.replace("parameters: {}", edited))
    applied = subprocess.run(
        [PREFECT, "deployment", "apply", "course.yaml"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stdout + applied.stderr
    d = read(api_url, "read_deployment_by_name", "etl_parent_flow/course")
    assert d.parameters == {"colour": "yellow", "months": [1, 2, 3], "year": 2021}
    # The same code location as deploy.py's, so the image serves both routes.
    assert (d.path, d.entrypoint) == (deployments.FLOW_PATH, deployments.ENTRYPOINT)
    infra = read(api_url, "read_block_document_by_name", "taxi-etl", "docker-container")
    assert d.infrastructure_document_id == infra.id


def test_notify_url_is_saved_in_a_webhook_block_and_never_printed(api_url: str) -> None:
    secret = "T0KEN-41ac0e"
    url = f"http://alerts.example.invalid:8080/hooks/{secret}"
    result = deploy("--only", "custom", PREFECT_API_URL=api_url, TAXI_ETL_DEPLOY_NOTIFY_URL=url)
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    shown = read(
        api_url,
        "read_block_document_by_name",
        "taxi-etl-alerts",
        "webhook",
        include_secrets=False,
    )
    assert secret not in str(shown.data)  # what the UI gets: the API masks it
    block = read(
        api_url,
        "read_block_document_by_name",
        "taxi-etl-alerts",
        "webhook",
        include_secrets=True,
    )
    assert block.data["url"] == url
    infra = read(api_url, "read_block_document_by_name", "taxi-etl", "docker-container")
    assert infra.data["env"]["TAXI_ETL_NOTIFY_BLOCK"] == "webhook/taxi-etl-alerts"
    assert secret not in str(infra.data)
    # The server-side policy for Crashed runs, through a block that keeps the URL secret.
    crashed = read(
        api_url,
        "read_block_document_by_name",
        "taxi-etl-crashed",
        "custom-webhook",
        include_secrets=False,
    )
    assert secret not in str(crashed.data)
    crashed_full = read(
        api_url,
        "read_block_document_by_name",
        "taxi-etl-crashed",
        "custom-webhook",
        include_secrets=True,
    )
    assert crashed_full.data["secrets"] == {"url": url}
    assert crashed_full.data["url"] == "{{url}}"

    def policies() -> list[Any]:
        from prefect.client.schemas.filters import FlowRunNotificationPolicyFilter

        return [
            p
            for p in read(
                api_url,
                "read_flow_run_notification_policies",
                FlowRunNotificationPolicyFilter(is_active=None),
            )
            if p.block_document_id == crashed.id
        ]

    # Twice: still one policy (deploy.py converges).
    assert (
        deploy(
            "--only", "custom", PREFECT_API_URL=api_url, TAXI_ETL_DEPLOY_NOTIFY_URL=url
        ).returncode
        == 0
    )
    [policy] = policies()
    assert (policy.is_active, policy.state_names, policy.tags) == (True, ["Crashed"], ["taxi-etl"])
    assert "{flow_run_parameters}" in policy.message_template
    # Without the setting the runs get no notify block and the policy is switched off.
    assert deploy("--only", "custom", PREFECT_API_URL=api_url).returncode == 0
    infra = read(api_url, "read_block_document_by_name", "taxi-etl", "docker-container")
    assert "TAXI_ETL_NOTIFY_BLOCK" not in infra.data["env"]
    [policy] = policies()
    assert policy.is_active is False


@pytest.mark.parametrize(
    ("deployment", "overrides"),
    [
        ("etl_parent_flow/custom", {"months": [13]}),
        ("etl_parent_flow/custom", {"colour": "../etc"}),
        ("etl_parent_flow/custom", {"year": 1999}),
        ("etl_parent_flow/custom", {"months": "one"}),
        ("etl_backfill_flow/backfill", {"months": "2021-13..2021-02"}),
    ],
)
def test_bad_overrides_are_refused_before_any_run(
    api_url: str, deployment: str, overrides: dict[str, Any]
) -> None:
    """A Custom run with a bad parameter never becomes a flow run, so nothing is written."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    applied = deploy("--only", deployment.split("/")[1], PREFECT_API_URL=api_url)
    assert applied.returncode == 0, applied.stderr
    d = read(api_url, "read_deployment_by_name", deployment)
    before = read(
        api_url,
        "read_flow_runs",
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[d.id])),
    )
    parameters = {**d.parameters, **overrides}
    with pytest.raises(Exception, match=r"months|colour|year|[Vv]alidation"):
        read(api_url, "create_flow_run_from_deployment", d.id, parameters=parameters)
    after = read(
        api_url,
        "read_flow_runs",
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[d.id])),
    )
    assert len(after) == len(before)
