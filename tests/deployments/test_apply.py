"""What deploy.py writes to a real server: blocks, deployments, notifications; the course's
CLI route against the same blocks; runs with bad parameters refused by the server."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from deploy_support import ALL, REGISTERED, REPO, deploy, read
from prefect_server import PREFECT, clean_env

from taxi_etl import deployments


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
        assert len(d.schedules) == (1 if name.endswith("-catchup") else 0)
    backfill = read(api_url, "read_deployment", ids["etl_backfill_flow/backfill"])
    assert backfill.parameter_openapi_schema["required"] == ["months"]
    infra = read(api_url, "read_block_document_by_name", "taxi-etl", "docker-container")
    assert infra.data["env"]["TAXI_ETL_DTC_URL"] == "http://mirror:8000"
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
