"""The compose stack each container test module runs against.

A module names its compose project in ``PROJECT``; ``STACK`` (running_stack's options:
extra mirror months, profiles, scale) and ``DEPLOY_ENV`` (deploy.py settings) are
optional. Modules that name the same project share its stack and its deployments: it
comes up for the first of them and goes down after the last (or after the module whose
test took it down), so they must ask for the same ``STACK`` and ``DEPLOY_ENV`` and must
not disturb each other's months. A module that restarts the server or kills a service has a project
of its own. Docker is required before anything starts: without an engine the module is
skipped, or fails when TAXI_ETL_REQUIRE_DOCKER=1 (CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from compose_stack import Stack, deploy_all, running_stack
from compose_support import require_docker


@dataclass
class _Held:
    """A project's running stack, while a module that names the project still runs."""

    exits: ExitStack
    stack: Stack
    options: dict[str, Any]
    deploy_env: dict[str, str]
    deployed: dict[str, str] | None = None


_HELD: dict[str, _Held] = {}


def _users(session: pytest.Session, project: str) -> list[ModuleType]:
    """The collected modules that name `project`, in the order they run."""
    modules: list[ModuleType] = []
    for item in session.items:
        module = getattr(item, "module", None)
        if getattr(module, "PROJECT", None) == project and module not in modules:
            modules.append(module)
    return modules


@pytest.fixture(scope="module")
def _held(request: pytest.FixtureRequest) -> Iterator[_Held]:
    require_docker()
    module = request.module
    project: str = module.PROJECT
    options: dict[str, Any] = getattr(module, "STACK", {})
    deploy_env: dict[str, str] = getattr(module, "DEPLOY_ENV", {})
    held = _HELD.get(project)
    if held is None:
        exits = ExitStack()
        stack = exits.enter_context(running_stack(request, project, **options))
        held = _HELD[project] = _Held(exits, stack, options, deploy_env)
    assert (held.options, held.deploy_env) == (options, deploy_env), (
        f"{module.__name__} shares compose project {project} but asks for another stack"
    )
    try:
        yield held
    finally:
        # Down after the last user, or now if a test took it down: is_up says so, not
        # is_down (running_stack takes a project down before it brings it up).
        users = _users(request.session, project)
        if not users or users[-1] is module or not held.stack.is_up:
            del _HELD[project]
            held.exits.close()


@pytest.fixture(scope="module")
def stack(_held: _Held) -> Stack:
    return _held.stack


@pytest.fixture(scope="module")
def deployed(_held: _Held) -> dict[str, str]:
    """deploy.py's deployment ids by `flow/name`, as printed by the first run."""
    if _held.deployed is None:
        _held.deployed = deploy_all(_held.stack, **_held.deploy_env)
    return _held.deployed
