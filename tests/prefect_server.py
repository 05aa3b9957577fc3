"""A Prefect server of the tests' own on 127.0.0.1, on SQLite in a temporary home."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from taxi_etl.devtools.net import free_port, wait_healthy

PREFECT = str(Path(sys.executable).with_name("prefect"))


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any taxi_etl or Prefect setting, plus `extra`.

    Prefect's too: the test process's embedded mode sets some in os.environ (a warm
    start turns off migrations and block registration), which would make a fresh
    server skip both."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAXI_ETL_", "PREFECT_"))}
    return {**env, **extra}


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """Start `prefect server start`; yield its API URL; stop it and its children."""
    # A generous SQLite busy timeout: a loaded 2-core CI machine sees "database is
    # locked" 500s on the default.
    env = clean_env(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_API_DATABASE_TIMEOUT="60",
    )
    port = free_port()
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: uvicorn runs as a child
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        try:
            wait_healthy(f"{url}/health", 120, gave_up=lambda: proc.poll() is not None)
        except TimeoutError:
            raise RuntimeError((home / "server.log").read_text()[-4000:]) from None
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
