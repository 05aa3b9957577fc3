"""Running deploy.py as a user does, and reading what it wrote, for tests/deployments."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from prefect_server import clean_env

REPO = Path(__file__).resolve().parents[1]
REGISTERED = re.compile(r"registered (\S+/\S+) \(([0-9a-f-]{36})\)")
ALL = [
    "etl_catchup_flow/yellow-catchup",
    "etl_catchup_flow/green-catchup",
    "etl_catchup_flow/fhv-catchup",
    "etl_catchup_flow/fhvhv-catchup",
    "etl_parent_flow/yellow-monthly",
    "etl_parent_flow/green-monthly",
    "etl_parent_flow/fhv-monthly",
    "etl_parent_flow/custom",
    "etl_backfill_flow/backfill",
]


def deploy(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "deploy.py", *args],
        cwd=REPO,
        env=clean_env(PREFECT_HOME=os.environ["PREFECT_HOME"], **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


async def _read(api_url: str, coro: str, *args: Any, **kwargs: Any) -> Any:
    from prefect.client.orchestration import PrefectClient

    async with PrefectClient(api_url) as client:
        return await getattr(client, coro)(*args, **kwargs)


def read(api_url: str, coro: str, *args: Any, **kwargs: Any) -> Any:
    """One call of Prefect's client against `api_url`."""
    return asyncio.run(_read(api_url, coro, *args, **kwargs))
