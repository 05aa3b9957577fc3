"""deploy.py against a Prefect server of the tests' own, without Docker: what is written
(blocks, deployments, schedules) is checked everywhere, also where no Docker engine
exists; tests/docker/test_compose_e2e.py checks that it then runs in containers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect_server import prefect_server


@pytest.fixture(scope="session")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prefect_server(tmp_path_factory.mktemp("prefect-server")) as url:
        yield url
