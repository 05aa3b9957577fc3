"""What the container tests share: the Docker check, and the report of measurements.

Container tests skip where Docker is
unusable, and fail instead where TAXI_ETL_REQUIRE_DOCKER=1 (CI, via .ci/run), so a
broken engine can never pass as "skipped". scripts/docker-setup.sh makes a machine ready.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def prefect_line() -> str:
    """The installed Prefect line, naming this run's artifacts (both lines run in CI)."""
    from lines import LINE

    return LINE.name


REQUIRE_DOCKER = os.environ.get("TAXI_ETL_REQUIRE_DOCKER") == "1"


@functools.cache
def docker_problem() -> str | None:
    """Why Docker cannot be used here, or None when `docker` and `docker compose` work."""
    for cmd in (["docker", "info"], ["docker", "compose", "version"]):
        try:
            subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
        except FileNotFoundError:
            return "the docker CLI is not installed"
        except subprocess.TimeoutExpired:
            return f"`{' '.join(cmd)}` did not answer within 60 s"
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:]
            return f"`{' '.join(cmd)}` failed: {' '.join(tail)}"
    return None


def require_docker() -> None:
    """Skip, or fail under TAXI_ETL_REQUIRE_DOCKER=1, unless Docker and Compose v2 work."""
    problem = docker_problem()
    if problem is None:
        return
    message = f"Docker is not usable: {problem}; run scripts/docker-setup.sh"
    if REQUIRE_DOCKER:
        pytest.fail(f"{message} (TAXI_ETL_REQUIRE_DOCKER=1)", pytrace=False)
    pytest.skip(message)


class Report:
    """Measurements of the container tests: printed at the end of the session and
    written to artifacts/docker-e2e-<line>.json."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        self.values[key] = value

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.values:
            return
        terminalreporter.section("taxi_etl containers")
        for key, value in self.values.items():
            terminalreporter.write_line(f"{key}: {value}")
        out = REPO / "artifacts" / f"docker-e2e-{prefect_line()}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(self.values, indent=2) + "\n")
        terminalreporter.write_line(f"(written to {out.relative_to(REPO)})")


def report_for(config: pytest.Config) -> Report:
    """The session's Report, registered as a plugin on first use."""
    name = "taxi-etl-docker-report"
    plugin = config.pluginmanager.get_plugin(name)
    if plugin is None:
        plugin = Report()
        config.pluginmanager.register(plugin, name)
    assert isinstance(plugin, Report)
    return plugin
