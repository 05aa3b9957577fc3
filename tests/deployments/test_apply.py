"""What deploy.py writes to a real server: blocks, deployments, notifications; the course's
CLI route against the same blocks; runs with bad parameters refused by the server.

On the installed Prefect line: Prefect 2's DockerContainer block and notification
policy, or Prefect 3's work pool and automation (the server is the same line's).

deploy.py takes seconds per run, so it runs a few times per module, not per case: the
fixtures below run it and read back what it wrote right after each run, and the cases
assert on that. ``plain`` is the compose stack's deploy, twice; ``configured`` a deploy
with a notify URL and real GCS settings, twice (it converges), then once without them.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from deploy_support import ALL, REGISTERED, REPO, deploy, read
from lines import LINE
from prefect_server import PREFECT, clean_env

from taxi_etl import deployments

SOURCE_URL = "http://mirror:8000"
#: The secret part of the notify URL.
SECRET = "T0KEN-41ac0e"
NOTIFY_URL = f"http://alerts.example.invalid:8080/hooks/{SECRET}"
#: For real GCS: the key is mounted into the flow containers; the deploying machine does
#: not have it, and the block stores the path, never the key.
REAL_GCS = {
    "TAXI_ETL_DEPLOY_STORAGE_EMULATOR_HOST": "",
    "TAXI_ETL_DEPLOY_CREDENTIALS_FILE": "/run/secrets/gcp-sa.json",
    "TAXI_ETL_DEPLOY_GCP_PROJECT": "my-project",
    "TAXI_ETL_DEPLOY_VOLUMES": '["/srv/keys/sa.json:/run/secrets/gcp-sa.json:ro"]',
}


def container_defaults(api_url: str) -> dict[str, Any]:
    """What every flow-run container gets (image, env, labels, ...): the agent's
    DockerContainer block's data, or the defaults of the worker's work pool's job
    variables."""
    if LINE.launcher == "agent":
        block = read(api_url, "read_block_document_by_name", "taxi-etl", "docker-container")
        data: dict[str, Any] = block.data
        return data
    pool = read(api_url, "read_work_pool", "taxi-etl-docker")
    assert pool.type == "docker"
    variables = pool.base_job_template["variables"]["properties"]
    return {name: spec.get("default") for name, spec in variables.items()}


def _block(api_url: str, name: str, block_type: str, include_secrets: bool) -> Any:
    return read(
        api_url,
        "read_block_document_by_name",
        name,
        block_type,
        include_secrets=include_secrets,
    )


@dataclass(frozen=True)
class Plain:
    """deploy.py as the compose stack runs it, twice, and what it wrote."""

    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    #: Every deployment registered by the first run, read after the second, by id.
    deployments: dict[str, Any]
    defaults: dict[str, Any]


@pytest.fixture(scope="module")
def plain(api_url: str) -> Plain:
    env = {"PREFECT_API_URL": api_url, "TAXI_ETL_DEPLOY_SOURCE_URL": SOURCE_URL}
    first = deploy(**env)
    assert first.returncode == 0, first.stderr
    second = deploy(**env)
    ids = dict(REGISTERED.findall(first.stdout))
    written = {i: read(api_url, "read_deployment", i) for i in ids.values()}
    return Plain(first, second, written, container_defaults(api_url))


@dataclass(frozen=True)
class Configured:
    """deploy.py with a notify URL and real GCS, then again, then without either."""

    result: subprocess.CompletedProcess[str]
    #: After the first run with the settings.
    creds: Any
    bucket: Any
    defaults: dict[str, Any]
    alerts_shown: Any
    alerts: Any
    crashed_shown: Any
    crashed: Any
    #: After the second run with the settings.
    again: subprocess.CompletedProcess[str]
    route_again: Any
    #: After a run without them.
    without: subprocess.CompletedProcess[str]
    defaults_without: dict[str, Any]
    route_without: Any


@pytest.fixture(scope="module")
def configured(api_url: str) -> Configured:
    only = ("--only", "backfill", "--only", "custom")
    env = {"PREFECT_API_URL": api_url, "TAXI_ETL_DEPLOY_NOTIFY_URL": NOTIFY_URL, **REAL_GCS}
    result = deploy(*only, **env)
    assert result.returncode == 0, result.stderr
    creds = _block(api_url, "taxi-gcp", "gcp-credentials", include_secrets=True)
    bucket = _block(api_url, "taxi-lake", "gcs-bucket", include_secrets=True)
    defaults = container_defaults(api_url)
    alerts_shown = _block(api_url, "taxi-etl-alerts", "webhook", include_secrets=False)
    alerts = _block(api_url, "taxi-etl-alerts", "webhook", include_secrets=True)
    crashed_shown = _block(api_url, "taxi-etl-crashed", "custom-webhook", include_secrets=False)
    crashed = _block(api_url, "taxi-etl-crashed", "custom-webhook", include_secrets=True)
    again = deploy(*only, **env)
    route_again = read_crash_route(api_url)
    # Back to the emulator defaults, without a notify URL, for the other tests of this module.
    without = deploy(*only, PREFECT_API_URL=api_url)
    return Configured(
        result,
        creds,
        bucket,
        defaults,
        alerts_shown,
        alerts,
        crashed_shown,
        crashed,
        again,
        route_again,
        without,
        container_defaults(api_url),
        read_crash_route(api_url),
    )


def test_deploy_is_idempotent_and_writes_no_secret(plain: Plain) -> None:
    first, second = plain.first, plain.second  # the first exited 0 (the fixture asserts it)
    assert "Warning" not in first.stderr  # the accepted deprecations stay silent
    ids = dict(REGISTERED.findall(first.stdout))
    assert list(ids) == ALL
    assert dict(REGISTERED.findall(second.stdout)) == ids

    sets = {p.full_name: p for p in deployments.DEPLOYMENTS}
    for name, deployment_id in ids.items():
        d = plain.deployments[deployment_id]
        assert d.name == name.split("/")[1]
        assert d.entrypoint == sets[name].entrypoint
        if LINE.launcher == "agent":
            assert d.path == deployments.FLOW_PATH
        else:  # the worker's container starts in the image's code: nothing to pull
            assert (d.work_pool_name, d.pull_steps) == ("taxi-etl-docker", None)
            assert d.job_variables == {"image": LINE.image}
        assert d.parameters == sets[name].parameters
        assert d.enforce_parameter_schema is True
        assert len(d.schedules) == (1 if name.endswith("-catchup") else 0)
    backfill = plain.deployments[ids["etl_backfill_flow/backfill"]]
    assert backfill.parameter_openapi_schema["required"] == ["months"]
    defaults = plain.defaults
    assert defaults["env"]["TAXI_ETL_DTC_URL"] == SOURCE_URL
    assert defaults["image_pull_policy"] == LINE.image_pull_policy
    assert defaults["labels"]["io.taxi-etl.role"] == "flow-run"


def test_credentials_block_points_at_a_file_that_only_the_containers_have(
    configured: Configured,
) -> None:
    assert configured.creds.data == {
        "service_account_file": "/run/secrets/gcp-sa.json",
        "service_account_info": None,
        "project": "my-project",
    }
    assert configured.bucket.data["bucket"] == "taxi-lake"
    defaults = configured.defaults
    assert defaults["env"]["TAXI_ETL_LAKE"] == "gcs-block://taxi-lake"
    assert "STORAGE_EMULATOR_HOST" not in defaults["env"]
    assert defaults["volumes"] == ["/srv/keys/sa.json:/run/secrets/gcp-sa.json:ro"]
    # Back to the emulator defaults for the other tests of this module.
    assert configured.without.returncode == 0, configured.without.stderr


@pytest.mark.prefect2_only(reason="Prefect 3 has no `prefect deployment build/apply`")
def test_course_cli_route_build_edit_apply(api_url: str, plain: Plain, tmp_path: Path) -> None:
    # `plain` saved the DockerContainer block the course's route names.
    src = tmp_path / "src" / "taxi_etl"
    src.mkdir(parents=True)
    (src / "flows.py").write_bytes((REPO / "src" / "taxi_etl" / "flows.py").read_bytes())
    env = clean_env(PREFECT_API_URL=api_url, PREFECT_HOME=str(tmp_path / "home"))
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


def test_notify_url_is_saved_in_a_webhook_block_and_never_printed(
    configured: Configured,
) -> None:
    result = configured.result
    assert SECRET not in result.stdout + result.stderr
    assert SECRET not in str(configured.alerts_shown.data)  # what the UI gets: the API masks it
    assert configured.alerts.data["url"] == NOTIFY_URL
    assert configured.defaults["env"]["TAXI_ETL_NOTIFY_BLOCK"] == "webhook/taxi-etl-alerts"
    assert SECRET not in str(configured.defaults)
    # The server-side route for Crashed runs, through a block that keeps the URL secret.
    crashed = configured.crashed_shown
    assert SECRET not in str(crashed.data)
    assert configured.crashed.data["secrets"] == {"url": NOTIFY_URL}
    assert configured.crashed.data["url"] == "{{url}}"

    # Twice: still one policy or automation (deploy.py converges).
    assert configured.again.returncode == 0, configured.again.stderr
    assert crash_route(configured.route_again, crashed.id) is True
    # Without the setting the runs get no notify block and the route is switched off.
    assert configured.without.returncode == 0, configured.without.stderr
    assert "TAXI_ETL_NOTIFY_BLOCK" not in configured.defaults_without["env"]
    assert crash_route(configured.route_without, crashed.id) is False


def read_crash_route(api_url: str) -> list[Any]:
    """The routes for Crashed runs on the server: Prefect 2's notification policies, or
    Prefect 3's automations of deploy.py's name."""
    if LINE.crash_route == "notification policy":
        from prefect.client.schemas.filters import FlowRunNotificationPolicyFilter

        policies: list[Any] = read(
            api_url,
            "read_flow_run_notification_policies",
            FlowRunNotificationPolicyFilter(is_active=None),  # the default: inactive only
        )
        return policies
    from taxi_etl.deployments.worker import AUTOMATION

    automations: list[Any] = read(api_url, "read_automations_by_name", AUTOMATION)
    return automations


def crash_route(routes: list[Any], block_id: Any) -> bool:
    """Whether the one route for Crashed runs through `block_id` is on, of `routes` as
    read_crash_route read them: Prefect 2's notification policy, or Prefect 3's
    automation (asserted to be the only one)."""
    if LINE.crash_route == "notification policy":
        [policy] = [p for p in routes if p.block_document_id == block_id]
        assert (policy.state_names, policy.tags) == (["Crashed"], ["taxi-etl"])
        assert "{flow_run_parameters}" in policy.message_template
        active: bool = policy.is_active
        return active
    [automation] = routes
    trigger = automation.trigger
    assert trigger.expect == {"prefect.flow-run.Crashed"}
    assert trigger.match_related.root == {
        "prefect.resource.role": "tag",
        "prefect.resource.id": "prefect.tag.taxi-etl",
    }
    [action] = automation.actions
    assert (action.type, action.block_document_id) == ("send-notification", block_id)
    assert "{{ flow_run.parameters }}" in action.body
    enabled: bool = automation.enabled
    return enabled


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
    api_url: str, plain: Plain, deployment: str, overrides: dict[str, Any]
) -> None:
    """A Custom run with a bad parameter never becomes a flow run, so nothing is written."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    d = read(api_url, "read_deployment_by_name", deployment)  # registered by `plain`
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
