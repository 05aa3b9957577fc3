"""What deploy.py writes to a real server: blocks, deployments, notifications; the course's
CLI route against the same blocks; runs with bad parameters refused by the server.

On the installed Prefect line: Prefect 2's DockerContainer block and notification
policy, or Prefect 3's work pool and automation (the server is the same line's).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from deploy_support import ALL, REGISTERED, REPO, deploy, read
from prefect_server import PREFECT, clean_env

from taxi_etl import deployments
from taxi_etl.orchestration.compat import PREFECT_2


def container_defaults(api_url: str) -> dict[str, Any]:
    """What every flow-run container gets (image, env, labels, ...): the DockerContainer
    block's data, or the defaults of the work pool's job variables."""
    if PREFECT_2:
        block = read(api_url, "read_block_document_by_name", "taxi-etl", "docker-container")
        data: dict[str, Any] = block.data
        return data
    pool = read(api_url, "read_work_pool", "taxi-etl-docker")
    assert pool.type == "docker"
    variables = pool.base_job_template["variables"]["properties"]
    return {name: spec.get("default") for name, spec in variables.items()}


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
        assert d.entrypoint == sets[name].entrypoint
        if PREFECT_2:
            assert d.path == deployments.FLOW_PATH
        else:  # the worker's container starts in the image's code: nothing to pull
            assert (d.work_pool_name, d.pull_steps) == ("taxi-etl-docker", None)
            assert d.job_variables == {"image": "taxi-etl:prefect3"}
        assert d.parameters == sets[name].parameters
        assert d.enforce_parameter_schema is True
        assert len(d.schedules) == (1 if name.endswith("-catchup") else 0)
    backfill = read(api_url, "read_deployment", ids["etl_backfill_flow/backfill"])
    assert backfill.parameter_openapi_schema["required"] == ["months"]
    defaults = container_defaults(api_url)
    assert defaults["env"]["TAXI_ETL_DTC_URL"] == "http://mirror:8000"
    assert defaults["image_pull_policy"] == ("IF_NOT_PRESENT" if PREFECT_2 else "Never")
    assert defaults["labels"]["io.taxi-etl.role"] == "flow-run"


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
    defaults = container_defaults(api_url)
    assert defaults["env"]["TAXI_ETL_LAKE"] == "gcs-block://taxi-lake"
    assert "STORAGE_EMULATOR_HOST" not in defaults["env"]
    assert defaults["volumes"] == ["/srv/keys/sa.json:/run/secrets/gcp-sa.json:ro"]
    # Back to the emulator defaults for the other tests of this module.
    assert deploy("--only", "backfill", PREFECT_API_URL=api_url).returncode == 0


@pytest.mark.skipif(not PREFECT_2, reason="Prefect 3 has no `prefect deployment build/apply`")
def test_course_cli_route_build_edit_apply(api_url: str, tmp_path: Path) -> None:
    assert deploy("--only", "backfill", PREFECT_API_URL=api_url).returncode == 0  # the block
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
    assert container_defaults(api_url)["env"]["TAXI_ETL_NOTIFY_BLOCK"] == (
        "webhook/taxi-etl-alerts"
    )
    assert secret not in str(container_defaults(api_url))
    # The server-side route for Crashed runs, through a block that keeps the URL secret.
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

    # Twice: still one policy or automation (deploy.py converges).
    again = deploy("--only", "custom", PREFECT_API_URL=api_url, TAXI_ETL_DEPLOY_NOTIFY_URL=url)
    assert again.returncode == 0, again.stderr
    assert crash_route(api_url, crashed.id) is True
    # Without the setting the runs get no notify block and the route is switched off.
    assert deploy("--only", "custom", PREFECT_API_URL=api_url).returncode == 0
    assert "TAXI_ETL_NOTIFY_BLOCK" not in container_defaults(api_url)["env"]
    assert crash_route(api_url, crashed.id) is False


def crash_route(api_url: str, block_id: Any) -> bool:
    """Whether the one route for Crashed runs through `block_id` is on: Prefect 2's
    notification policy, or Prefect 3's automation (asserted to be the only one)."""
    if PREFECT_2:
        from prefect.client.schemas.filters import FlowRunNotificationPolicyFilter

        policies = read(
            api_url,
            "read_flow_run_notification_policies",
            FlowRunNotificationPolicyFilter(is_active=None),  # the default: inactive only
        )
        [policy] = [p for p in policies if p.block_document_id == block_id]
        assert (policy.state_names, policy.tags) == (["Crashed"], ["taxi-etl"])
        assert "{flow_run_parameters}" in policy.message_template
        active: bool = policy.is_active
        return active
    from taxi_etl.deployments.worker import AUTOMATION

    [automation] = read(api_url, "read_automations_by_name", AUTOMATION)
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
