"""What the deploying side is told, and the flow runs' settings made from it."""

from __future__ import annotations

import pytest

from taxi_etl import deployments


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


def test_the_flow_runs_settings_are_named_by_the_settings_module_alone() -> None:
    """Every TAXI_ETL_* variable of a flow-run container comes from Settings.env()."""
    settings = deployments.DeploySettings(
        dtc_url="http://mirror:8000",
        tlc_url="http://mirror:8000/tlc/trip-data",
        upload_timeout=900,
        dask_address="tcp://dask-scheduler:8786",
        notify_url="https://hooks.example.invalid/x",
    )
    env = settings.container_env()
    ours = {k: v for k, v in env.items() if k.startswith("TAXI_ETL_")}
    assert ours == settings.run_settings().env()
    assert ours == {
        "TAXI_ETL_LAKE": "gs://taxi-lake",
        "TAXI_ETL_DTC_URL": "http://mirror:8000",
        "TAXI_ETL_TLC_URL": "http://mirror:8000/tlc/trip-data",
        "TAXI_ETL_CACHE": "/tmp/taxi-etl/cache",
        "TAXI_ETL_UPLOAD_TIMEOUT": "900.0",
        "TAXI_ETL_DASK_ADDRESS": "tcp://dask-scheduler:8786",
        "TAXI_ETL_NOTIFY_BLOCK": "webhook/taxi-etl-alerts",
    }


def test_the_older_source_url_setting_still_points_the_course_mirror(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TAXI_ETL_DEPLOY_SOURCE_URL", "http://mirror:8000")
    env = deployments.DeploySettings().container_env()
    assert env["TAXI_ETL_DTC_URL"] == "http://mirror:8000"
    assert "TAXI_ETL_TLC_URL" not in env  # the TLC's own host
