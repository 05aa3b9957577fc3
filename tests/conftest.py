"""Shared fixtures: an isolated Prefect home, a local TLC mirror, and a GCS emulator.

Everything listens on 127.0.0.1 only. Prefect runs on its embedded (ephemeral) API
with a fresh SQLite home per test session, set before prefect is first imported.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_HOME = tempfile.mkdtemp(prefix="taxi-etl-prefect-")
os.environ["PREFECT_HOME"] = _HOME
# Unset means the embedded API (Prefect 3's events client takes an empty URL for a
# server, fails, and drops every event).
os.environ.pop("PREFECT_API_URL", None)
# Prefect 3 starts the embedded API as a subprocess and gives up after 20 s, which a
# loaded 2-core machine exceeds; Prefect 2 ignores the setting (in-process API).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "taxi_etl")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
# google-auth must never reach out or pick up real credentials in tests.
os.environ["NO_GCE_CHECK"] = "true"
os.environ["GCE_METADATA_HOST"] = "127.0.0.1:9"
os.environ["GCE_METADATA_IP"] = "127.0.0.1:9"
os.environ["CLOUDSDK_CONFIG"] = tempfile.mkdtemp(prefix="taxi-etl-gcloud-")
os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
# Settings must come from each test, not from the shell; the exceptions say what the
# run is given to test with and how it treats its absence (a Docker engine, the real
# TLC files of tests/conformance).
_OF_THE_RUN = {"TAXI_ETL_REQUIRE_DOCKER", "TAXI_ETL_REAL_TLC", "TAXI_ETL_REQUIRE_REAL_TLC"}
for key in [k for k in os.environ if k.startswith("TAXI_ETL_")]:
    if key not in _OF_THE_RUN:
        del os.environ[key]

from samples import MIRROR_SETS, TLC_ROWS  # noqa: E402

from taxi_etl.devtools import demo, mirror, tlc_mirror  # noqa: E402
from taxi_etl.devtools.net import free_port  # noqa: E402


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean cwd with the lake and cache under it, as the embedded default has."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TAXI_ETL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TAXI_ETL_LAKE", str(tmp_path / "lake"))
    return tmp_path




@pytest.fixture(scope="session")
def mirror_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's sample months at test size, with the header and number-format
    variants: fhv January in the original 6-column header, yellow March with ``1.0``."""
    root = tmp_path_factory.mktemp("mirror")
    demo.write_months(root, MIRROR_SETS, rows=0)
    return root


@pytest.fixture
def mirror_url(mirror_root: Path) -> Iterator[str]:
    with mirror.serve(mirror_root) as url:
        yield url


@pytest.fixture(scope="session")
def tlc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TLC's own parquet months of every era (demo.TLC_SETS) and both zone files,
    in the hosts' layouts; served, a month that is not there answers 403."""
    root = tmp_path_factory.mktemp("tlc-mirror")
    tlc_mirror.write_tlc_months(root, demo.TLC_SETS, rows=TLC_ROWS)
    tlc_mirror.write_zone_files(root)
    return root


@pytest.fixture
def tlc_url(tlc_root: Path) -> Iterator[str]:
    """The stand-in for https://d37ci6vzurychx.cloudfront.net/trip-data."""
    with mirror.serve(tlc_root, missing=tlc_mirror.MISSING) as url:
        yield tlc_mirror.tlc_base_url(url)


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """gcp-storage-emulator in this process, on 127.0.0.1; yields its URL."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def gcs_bucket(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket on the emulator; STORAGE_EMULATOR_HOST points the code at it."""
    import uuid

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    client = storage.Client(credentials=AnonymousCredentials(), project="test")
    name = f"lake-{uuid.uuid4().hex[:12]}"
    client.create_bucket(name)
    yield name


@pytest.fixture(scope="session")
def throwaway_service_account(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service-account file with a fresh key that no Google service knows.

    prefect-gcp's GcpCredentials reads a key when the block is built; against the
    emulator the key is never used (anonymous client), and its token URI is loopback.
    """
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path_factory.mktemp("sa") / "throwaway.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "test",
                "private_key_id": "0",
                "private_key": pem,
                "client_email": "throwaway@test.iam.gserviceaccount.com",
                "client_id": "0",
                "token_uri": "http://127.0.0.1:9/token",
            }
        )
    )
    return path


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop Prefect 3's embedded API server while pytest's streams are still open: its
    own atexit hook logs "Stopping temporary server" into a closed stream otherwise."""
    if "prefect.server.api.server" not in sys.modules:
        return
    servers = getattr(sys.modules["prefect.server.api.server"], "SubprocessASGIServer", None)
    for instance in list(getattr(servers, "_instances", {}).values()):
        instance.stop()
