"""The compose stack each container test module runs against, brought up once per module.

A module names its compose project in ``PROJECT``; ``STACK`` (running_stack's options:
extra mirror months, profiles, scale) and ``DEPLOY_ENV`` (deploy.py settings) are
optional. Docker is required before anything starts: without an engine the module is
skipped, or fails when TAXI_ETL_REQUIRE_DOCKER=1 (CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from compose_stack import Stack, deploy_all, running_stack
from compose_support import require_docker


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    require_docker()
    options: dict[str, Any] = getattr(request.module, "STACK", {})
    with running_stack(request, request.module.PROJECT, **options) as s:
        yield s


@pytest.fixture(scope="module")
def deployed(request: pytest.FixtureRequest, stack: Stack) -> dict[str, str]:
    """deploy.py's deployment ids by `flow/name`, as printed by the first run."""
    return deploy_all(stack, **getattr(request.module, "DEPLOY_ENV", {}))
