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
# Rich fixes a console's width from COLUMNS when the console is made (cli/output, at
# import), and pytest-xdist's workers start with COLUMNS=80: a test that reads a whole
# table sets the width it needs itself.
os.environ.pop("COLUMNS", None)
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
from taxi_etl.orchestration.compat import PREFECT_2  # noqa: E402

# --- markers (registered in pyproject.toml) ----------------------------------------------
#
# prefect   runs Prefect: flows, the embedded API, a server, deploy.py. Given by a module's
#           pytestmark; a test using a fixture of PREFECT_FIXTURES gets it here.
# docker    needs a Docker engine and Compose v2; every test under tests/docker has it.
# slow      takes more than 2 s for another reason: a full-size month, a big generated
#           month, a CLI in a subprocess. Given by measurement: the seconds of a test's
#           setup, call and teardown in --durations=0 on the 2-core machine, under a CI
#           run's load (load average about 10). A module fixture's cost is its module's,
#           not its first test's: such a test is not marked.
# one_line  cannot differ between the Prefect lines: deselected on Prefect 3.
# prefect2_only(reason=...), prefect3_only(reason=...)
#           a feature one line lacks: skipped on the other line.
#
# `bash scripts/check --quick` runs -m "not slow and not prefect and not docker".

#: Fixtures that start a Prefect server (tests/deployments) or a compose stack with one.
PREFECT_FIXTURES = {"api_url", "stack", "deployed"}
#: Parameters that are real files (tests/conformance): a whole month is `slow`.
REAL_FILE_PARAMS = ("real_file", "whole_month_file")
#: Marks of single tests, in modules where other tests lack them (a module whose tests
#: all have a mark says so in its pytestmark): path under tests/ -> test name, with or
#: without its parameters -> marks; what a `slow` one measured. A name whose function is
#: not in its module fails the collection.
MARKS: dict[str, dict[str, tuple[str, ...]]] = {
    "cli/test_commands.py": {
        "test_run_loads_and_reruns_as_noop": ("prefect",),
        "test_run_exits_1_when_a_month_is_not_published": ("prefect",),
        "test_run_options_are_the_flow_runs_parameters": ("prefect",),
        "test_demo_runs_offline_and_reads_back": ("prefect", "slow"),  # in a subprocess
        "test_convert_needs_no_prefect": ("slow",),  # a subprocess: 3.1 s
    },
    "cli/test_main.py": {
        "test_unknown_colour_is_a_usage_error": ("slow",),  # a subprocess: 4.2 s
        "test_convert_missing_input_exits_2": ("slow",),  # a subprocess: 4.5 s
    },
    "conformance/test_real_files.py": {"test_run_loads_whole_month": ("prefect",)},
    "devtools/test_course_files.py": {  # the real green 2020-10, 95,120 rows
        "test_value_shapes_include_the_real_ones[green-2020-10]": ("slow",),  # 3.4 s
        "test_header_bytes_and_line_ends_are_the_real_files[green-2020-10]": ("slow",),  # 3.1 s
        "test_green_tail_is_the_real_share_with_the_real_empty_columns": ("slow",),  # 2.8 s
    },
    "devtools/test_offline_mirror.py": {
        "test_main_generates_and_serves_both_hosts_until_sigterm": ("slow",),  # 5.2 s
    },
    "devtools/test_sample.py": {
        "test_full_size_yellow_month_timing": ("slow",),  # 28 s
        "test_green_2020_10_pickups_outside_are_the_real_kinds": ("slow",),  # 6.0 s
        "test_several_chunks_stay_consistent": ("slow",),  # 4.9 s
    },
    "orchestration/test_embedded.py": {  # `taxi-etl run` in subprocesses
        "test_first_start_is_paid_once_per_home": ("prefect",),
        "test_the_embedded_server_keeps_every_run_record": ("prefect",),
        "test_first_commands_on_a_new_home_at_once_all_succeed": ("prefect", "slow"),
        "test_a_batch_pending_when_the_command_exits_is_recorded": ("prefect", "slow"),
    },
    "test_security.py": {"test_block_secrets_never_reach_the_logs": ("prefect",)},
    "test_tlc.py": {
        "test_every_era_of_a_dataset_reads_back_as_one_table": ("prefect",),
        "test_a_month_not_published_yet_is_one_request_and_writes_nothing": ("prefect",),
        "test_a_republished_month_is_reloaded_and_nothing_else_is_touched": ("prefect",),
        "test_catch_up_loads_up_to_the_first_unpublished_month_and_says_what_it_did": (
            "prefect",
        ),
        "test_a_month_from_the_other_source_is_kept_unless_forced": ("prefect",),
    },
    "test_tlc_csv.py": {
        "test_a_backfill_of_the_original_csv_files_loads_every_value": ("prefect",),
        "test_run_loads_each_eras_form": ("prefect",),
    },
    "transform/test_csvgz.py": {
        "test_convert_of_a_full_size_month_stays_under_250_mb": ("slow",),  # 24 s
    },
    "transform/test_parquet.py": {
        "test_memory_stays_bounded_on_a_large_fhvhv_month": ("slow",),  # 14 s
    },
}
_TESTS = Path(__file__).parent
_DOCKER_TESTS = _TESTS / "docker"


def _marks_of(item: pytest.Item) -> tuple[str, ...]:
    if not item.path.is_relative_to(_TESTS):
        return ()
    of_module = MARKS.get(item.path.relative_to(_TESTS).as_posix(), {})
    marks = of_module.get(item.name, ()) + of_module.get(getattr(item, "originalname", ""), ())
    params = getattr(getattr(item, "callspec", None), "params", {})
    if any(getattr(params.get(p), "whole_month", False) for p in REAL_FILE_PARAMS):
        marks += ("slow",)
    return marks


def _check_marks(items: list[pytest.Item]) -> None:
    """Every test MARKS names is a function of its module."""
    modules = {item.path: getattr(item, "module", None) for item in items}
    for path, module in modules.items():
        if module is None or not path.is_relative_to(_TESTS):
            continue
        names = MARKS.get(path.relative_to(_TESTS).as_posix(), {})
        missing = {n for n in names if not hasattr(module, n.split("[")[0])}
        if missing:
            raise pytest.UsageError(f"tests/conftest.py: MARKS names no test of {path}: {missing}")


@pytest.hookimpl(tryfirst=True)  # before -m selects on the markers given here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _check_marks(items)
    other_line = []
    for item in items:
        if PREFECT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.prefect)
        if item.path.is_relative_to(_DOCKER_TESTS):
            item.add_marker(pytest.mark.docker)
        for mark in _marks_of(item):
            item.add_marker(getattr(pytest.mark, mark))
        if not PREFECT_2 and item.get_closest_marker("one_line"):
            other_line.append(item)
        lacking = "prefect3_only" if PREFECT_2 else "prefect2_only"
        only = item.get_closest_marker(lacking)
        if only is not None:
            item.add_marker(pytest.mark.skip(reason=only.kwargs.get("reason", lacking)))
    if other_line:
        config.hook.pytest_deselected(items=other_line)
        items[:] = [item for item in items if item not in set(other_line)]


# --- no unmarked test starts Prefect's embedded API ----------------------------------------
#
# The embedded API starts once per session (Prefect 2: an app in this process; Prefect 3:
# a server subprocess), so this catches the first test that starts it; in a run of
# -m "not prefect" (the quick tier) that is any unmarked test that would start it.

_STARTED_BEFORE = pytest.StashKey[bool]()


def _embedded_api_started() -> bool:
    server = sys.modules.get("prefect.server.api.server")
    if server is None:
        return False
    if getattr(server, "APP_CACHE", None):  # Prefect 2
        return True
    instances = getattr(getattr(server, "SubprocessASGIServer", None), "_instances", {})
    return any(getattr(i, "running", False) for i in instances.values())  # Prefect 3


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    item.stash[_STARTED_BEFORE] = _embedded_api_started()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    result = yield
    started = not item.stash.get(_STARTED_BEFORE, True) and _embedded_api_started()
    if started and item.get_closest_marker("prefect") is None:
        pytest.fail(
            f"{item.nodeid} started Prefect's embedded API but is not marked `prefect` "
            "(a module's pytestmark, or a fixture of PREFECT_FIXTURES in tests/conftest.py)",
            pytrace=False,
        )
    return result


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
