"""The command's own behaviour: a clear error when there is no API."""

from __future__ import annotations

import pytest
from deploy_support import deploy

from taxi_etl.devtools.net import free_port

pytestmark = pytest.mark.slow  # deploy.py in a subprocess: 14 s


def test_unreachable_api_is_a_clear_error() -> None:
    result = deploy("--api-url", f"http://127.0.0.1:{free_port()}/api")
    assert result.returncode == 1
    assert "no Prefect API at" in result.stderr
    assert "docker compose up" in result.stderr
