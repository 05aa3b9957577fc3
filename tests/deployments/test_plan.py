"""The plan `--dry-run` prints: no server needed, and no secret shown."""

from __future__ import annotations

import pytest
from deploy_support import deploy

pytestmark = pytest.mark.slow  # deploy.py in a subprocess: 12-18 s each


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
