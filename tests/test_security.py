"""Security properties that need no Docker: pins, no keys in the repo, no secrets in logs."""

from __future__ import annotations

import logging
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from taxi_etl.cli import running

ROOT = Path(__file__).resolve().parents[1]
KEY_PATTERNS = [
    re.compile(rb"-----BEGIN (RSA |EC |OPENSSH |)PRIVATE KEY-----"),
    re.compile(rb'"private_key"\s*:\s*"-----BEGIN'),
    re.compile(rb"AKIA[0-9A-Z]{16}"),  # AWS access key id
    re.compile(rb"AIza[0-9A-Za-z_\-]{35}"),  # Google API key
    re.compile(rb"hooks\.slack\.com/services/T[0-9A-Z]+/"),
]


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [ROOT / name for name in out.stdout.decode().split("\0") if name]


def test_no_credentials_in_the_repository() -> None:
    files = tracked_files()
    assert len(files) > 20
    hits = [
        (f.relative_to(ROOT), p.pattern)
        for f in files
        if f.is_file()
        for p in KEY_PATTERNS
        if p.search(f.read_bytes())
    ]
    assert hits == []


def test_dependencies_are_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"]:
        assert re.search(r"(==|<)", req), f"{req} has no upper bound or pin"
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt line {line!r} is not an exact pin"
            pins[name.lower().replace("_", "-")] = version
    assert pins["prefect"].startswith("2.20.")
    assert pins["prefect-gcp"].startswith("0.5.")
    assert pins["prefect-docker"].startswith("0.5.")
    for req in project["dependencies"]:
        name = re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0].lower()
        assert name in pins, f"{name} is not pinned in constraints.txt"


def test_block_secrets_never_reach_the_logs(
    workdir: Path,
    mirror_url: str,
    gcs_bucket: str,
    throwaway_service_account: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    import json

    from prefect_gcp import GcpCredentials
    from prefect_gcp.cloud_storage import GcsBucket

    info = json.loads(throwaway_service_account.read_text())
    secret_line = info["private_key"].splitlines()[5]
    GcsBucket(bucket=gcs_bucket, gcp_credentials=GcpCredentials(service_account_info=info)).save(
        "secret-lake", overwrite=True
    )
    caplog.set_level(logging.DEBUG)
    state = running.run_parent(
        months=[1], year=2020, colour="green", source_url=mirror_url, lake="gcs-block://secret-lake"
    )
    assert state.is_completed(), state
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert "gcs-block://secret-lake" in logged or "published gs://" in logged
    assert secret_line not in logged
