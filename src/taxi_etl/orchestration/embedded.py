"""The embedded default's Prefect: a project-local home, and a first start paid once.

On every start, Prefect's ephemeral API runs the database migrations and imports every
installed Prefect collection (prefect-gcp, prefect-dask, prefect-docker) to find out
whether block types need registering: about 1 s per command on this project's machine,
for an answer that only changes when those packages or the database change. After a
full start, :func:`record_full_start` notes the database's migration revision and the
package versions in the Prefect home; while they still match, :func:`configure` turns
both steps off. A new Prefect or collection version, a deleted or reset database, or a
custom database or API URL means a full start again.

No Prefect import here: everything must be set before Prefect reads its settings.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator, MutableMapping
from contextlib import closing, contextmanager
from importlib.metadata import entry_points, version
from pathlib import Path
from typing import Any

#: What a full start does and a warm one skips (Prefect's own setting names).
SKIPPED_ON_WARM_START = (
    "PREFECT_API_DATABASE_MIGRATE_ON_START",
    "PREFECT_API_BLOCKS_REGISTER_ON_START",
    "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION",
)
MARKER = "taxi_etl-full-start.json"
#: Held by the command starting Prefect on the home's database (:func:`first_start`).
START_LOCK = ".taxi_etl-start.lock"

#: Prefect 3's embedded server writes every task-run event and every 20 events in their
#: own SQLite transactions. Creating a child flow's task run reads then writes, so a
#: commit landing in between fails it as "database is locked", and the client retries
#: after a fixed 2 s: on 2 cores that stalled about every other four-task child
#: (PrefectHQ/prefect#18934). Batched, the services write every 2 s (task runs) and
#: 5 s (events) and the stall is rare; both flush their batch when the server stops,
#: so nothing is lost. (Unknown to 2.x, which sets task-run states through the API.)
EMBEDDED_SERVER = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "1000",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "2",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "1000",
}


def configure(env: MutableMapping[str, str] | None = None) -> bool:
    """Embedded-mode defaults; True if this start can skip migrations and registration."""
    env = os.environ if env is None else env
    env.setdefault("PREFECT_HOME", str(Path(".prefect").resolve()))
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "taxi_etl")
    # taxi_etl's own loggers also log outside flow runs (convert, the demo mirror).
    env.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    # Prefect 3 runs the embedded API as a subprocess server and waits 20 s for it by
    # default; a cold start on a busy 2-core machine takes longer. (Unknown to 2.x.)
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    db = _embedded_database(env)
    if db is not None:
        for name, value in EMBEDDED_SERVER.items():
            env.setdefault(name, value)
    if db is None or not _full_start(env):
        return False  # another API, or the user chose these settings
    state = _state(db)
    if state["revision"] and _read_marker(db) == state:
        env.update(dict.fromkeys(SKIPPED_ON_WARM_START, "false"))
        return True
    if not state["revision"]:
        # A new or reset database: Prefect's memo of its last block registration lives
        # in the home, not in the database, and would skip registering the block types
        # into the new one (2.x and 3.x alike).
        memo = Path(env.get("PREFECT_MEMO_STORE_PATH") or db.parent / "memo_store.toml")
        memo.unlink(missing_ok=True)
    return False


@contextmanager
def first_start(env: MutableMapping[str, str] | None = None) -> Iterator[None]:
    """Held while a command starts Prefect on the embedded database, so one migrates a
    new home and the others wait for it: two first commands at once both migrated it,
    and one of three trials died with "no such table: flow_run_alert_policy"."""
    env = os.environ if env is None else env
    db = _embedded_database(env)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with (db.parent / START_LOCK).open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes, or the process ends
        yield


def record_full_start(env: MutableMapping[str, str] | None = None) -> None:
    """After a flow ran on a full start: the database is migrated and has its blocks."""
    env = os.environ if env is None else env
    db = _embedded_database(env)
    if db is None or not _full_start(env):
        return
    state = _state(db)
    if not state["revision"]:
        return
    # Two commands may finish at once: each writes its own temp file. A marker that
    # cannot be written only costs the next command a full start, never this one's result.
    tmp = db.parent / f".{MARKER}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        tmp.replace(db.parent / MARKER)
    except OSError:
        tmp.unlink(missing_ok=True)


def _full_start(env: MutableMapping[str, str]) -> bool:
    """Prefect starts in full: neither a warm start nor the user turned a step off."""
    return not any(name in env for name in SKIPPED_ON_WARM_START)


def _embedded_database(env: MutableMapping[str, str]) -> Path | None:
    """The ephemeral API's SQLite file, unless a server or another database is used,
    by environment or by a Prefect profile (then no warm start: we cannot vouch for it)."""
    chosen = ("PREFECT_API_URL", "PREFECT_API_DATABASE_CONNECTION_URL")
    if any(env.get(name) for name in chosen):
        return None
    home = Path(env["PREFECT_HOME"])
    profiles = Path(env.get("PREFECT_PROFILES_PATH") or home / "profiles.toml")
    try:
        text = profiles.read_text()
    except OSError:
        text = ""
    if any(name in text for name in chosen):
        return None
    return home / "prefect.db"


def _state(db: Path) -> dict[str, Any]:
    return {"revision": _revision(db), "versions": _versions()}


def _versions() -> dict[str, str]:
    """Prefect's and every installed collection's version (what registration depends on)."""
    found = {"prefect": version("prefect")}
    for ep in entry_points(group="prefect.collections"):
        if ep.dist is not None:
            found[ep.dist.name] = ep.dist.version
    return found


def _revision(db: Path) -> str | None:
    """The database's migration revision, if it exists and has its block types."""
    if not db.is_file():
        return None
    try:
        with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5)) as con:
            row = con.execute("SELECT version_num FROM alembic_version").fetchone()
            (types,) = con.execute("SELECT count(*) FROM block_type").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row and types else None


def _read_marker(db: Path) -> Any:
    try:
        return json.loads((db.parent / MARKER).read_text())
    except (OSError, ValueError):
        return None
