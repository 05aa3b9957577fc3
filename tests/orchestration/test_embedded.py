"""The embedded default's Prefect home: the slow part of the first start is paid once."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from taxi_etl.devtools import mirror
from taxi_etl.orchestration import embedded


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in embedded.SKIPPED_ON_WARM_START}
    env["PREFECT_HOME"] = str(home)
    return env


def _command(workdir: Path, mirror_url: str, month: str) -> list[str]:
    """`taxi-etl run` of green 2020 `month`, its lake and cache in `workdir`."""
    args = ["run", "--colour", "green", "--year", "2020", "--months", month]
    args += ["--source-url", mirror_url, "--lake", str(workdir / "lake")]
    args += ["--cache", str(workdir / "cache")]
    return [sys.executable, "-m", "taxi_etl", *args]


def _run(home: Path, workdir: Path, mirror_url: str, month: str) -> str:
    proc = subprocess.run(
        _command(workdir, mirror_url, month),
        capture_output=True,
        text=True,
        cwd=workdir,
        env=_env(home),
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


class AtOnce(NamedTuple):
    home: Path
    ended: list[tuple[int, str]]  # each command's (exit code, output)


@pytest.fixture(scope="module")
def three_at_once(tmp_path_factory: pytest.TempPathFactory, mirror_root: Path) -> AtOnce:
    """A new PREFECT_HOME after three first commands on it at once, and how each ended;
    the later tests of the module read the home back and run on it warm."""
    home = tmp_path_factory.mktemp("embedded") / "prefect-home"
    procs = []
    with mirror.serve(mirror_root) as url:
        for n in range(3):
            work = home.parent / f"w{n}"
            work.mkdir()
            procs.append(
                subprocess.Popen(
                    _command(work, url, "1"),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    cwd=work,
                    env=_env(home),
                )
            )
        outs = [p.communicate(timeout=600)[0] for p in procs]
    return AtOnce(home, [(p.returncode, out) for p, out in zip(procs, outs, strict=True)])


def test_first_commands_on_a_new_home_at_once_all_succeed(three_at_once: AtOnce) -> None:
    """Two first commands on a new PREFECT_HOME at once both migrated its database, and
    one of three trials died with "no such table: flow_run_alert_policy". The first to
    start migrates it (embedded.first_start); the others wait, then run."""
    ended = three_at_once.ended
    assert [code for code, _ in ended] == [0, 0, 0], [out[-2000:] for _, out in ended]
    assert all("loaded" in out for _, out in ended)


def _warm(home: Path) -> bool:
    """What a new command on this home would decide, in a process of its own."""
    code = "from taxi_etl.orchestration import embedded; print(embedded.configure())"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(home), check=True
    )
    return {"True": True, "False": False}[proc.stdout.strip()]


def test_first_start_is_paid_once_per_home(tmp_path: Path, mirror_url: str) -> None:
    home = tmp_path / "prefect-home"
    marker = home / embedded.MARKER
    assert not _warm(home)

    assert "loaded" in _run(home, tmp_path, mirror_url, "1")  # a full start
    saved = json.loads(marker.read_text())
    assert saved["revision"]
    assert saved["versions"]["prefect"] == version("prefect")
    assert {"prefect-gcp", "prefect-docker", "prefect-dask"} <= set(saved["versions"])
    assert _warm(home)

    # A warm start still runs flows, against the database the full start migrated.
    assert "loaded" in _run(home, tmp_path, mirror_url, "2")
    assert json.loads(marker.read_text()) == saved

    # A deleted database means a full start again, which records itself again.
    for db in home.glob("prefect.db*"):
        db.unlink()
    assert not _warm(home)
    assert _run(home, tmp_path, mirror_url, "1-2").count("skipped") == 2
    assert _warm(home)

    # Another Prefect or collection version: a full start (migrations, block types).
    marker.write_text(json.dumps({**saved, "versions": {**saved["versions"], "prefect": "0"}}))
    assert not _warm(home)


_RECORDED = """
import asyncio, collections, json
from taxi_etl.orchestration import embedded
embedded.configure()
from prefect.client.orchestration import get_client

async def main():
    async with get_client() as client:
        flows = await client.read_flow_runs(limit=200)
        tasks, offset = [], 0
        while batch := await client.read_task_runs(limit=200, offset=offset):
            tasks += batch
            offset += len(batch)
    states = collections.defaultdict(list)
    for t in tasks:
        states[str(t.flow_run_id)].append(t.state_type.value)
    # A subflow's parent: the flow run of the task run that stands for it.
    run_of_task = {str(t.id): str(t.flow_run_id) for t in tasks}
    print(json.dumps({
        "flows": [[f.name, f.state_type.value, len(states[str(f.id)])] for f in flows],
        "task_states": sorted({t.state_type.value for t in tasks}),
        "runs": {str(f.id): {
            "name": f.name,
            "state": f.state_type.value,
            "parent": run_of_task.get(str(f.parent_task_run_id)),
            "task_states": sorted(states[str(f.id)]),
        } for f in flows},
    }))

asyncio.run(main())
"""


def _recorded(home: Path) -> dict[str, Any]:
    """The home's runs as a new process reads them (_RECORDED)."""
    proc = subprocess.run(
        [sys.executable, "-c", _RECORDED],
        capture_output=True,
        text=True,
        env=_env(home),
        check=True,
        timeout=300,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_embedded_server_keeps_every_run_record(three_at_once: AtOnce) -> None:
    """Prefect 3's embedded server batches its task-run and event writes
    (embedded.EMBEDDED_SERVER); what the commands ran is all recorded when they exit:
    here three commands, at once, on a new home."""
    recorded = _recorded(three_at_once.home)
    children = [run for run in recorded["flows"] if run[0] == "green-2020-01"]
    assert len(children) == 3, recorded
    # Each child ran its four tasks (extract, transform, write, checks), all recorded.
    assert all(state == "COMPLETED" and tasks >= 4 for _, state, tasks in children), recorded
    assert recorded["task_states"] == ["COMPLETED"], recorded


#: A run, then the command's exit, which stops the embedded server (atexit).
_RUN_THEN_EXIT = """
import sys
from taxi_etl.cli import running
state = running.run_parent(
    months=[1, 2], year=2020, colour="green", source_url=sys.argv[1], lake=sys.argv[2]
)
print(state.state_details.flow_run_id)
print(state.is_completed())
"""

#: A core kept busy, as CI's other suites keep it (bounded: the test kills it).
_BURN = "import time\nend = time.monotonic() + 300\nwhile time.monotonic() < end: pass"


@pytest.mark.prefect3_only(reason="Prefect 2 has no task-run recorder service to batch")
def test_a_batch_pending_when_the_command_exits_is_recorded(
    tmp_path: Path, mirror_url: str, three_at_once: AtOnce
) -> None:
    """The server stops at the command's exit, and a slow stop on a loaded machine cut
    the recorder's last batch short (CI: a month's history ['Pending', 'Running'],
    'Error flushing 19 events'): Prefect kills it 5 s after its SIGTERM. With a flush
    interval longer than the run, the whole batch is pending when the command exits,
    with both cores busy; the exit lets the server write it (compat.server._drain),
    and a new process finds every task run of the command there and Completed."""
    home = three_at_once.home  # warm: only this command's records are at stake
    env = {**_env(home), "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "8"}
    burners = [subprocess.Popen([sys.executable, "-c", _BURN]) for _ in range(2)]
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _RUN_THEN_EXIT, mirror_url, str(tmp_path / "lake")],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
        )
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    *_, parent, completed = proc.stdout.strip().splitlines()
    assert completed == "True", proc.stderr[-3000:]
    runs = _recorded(home)["runs"]
    # This command's runs, each there and final: a record the stop lost from the batch
    # is missing altogether, which a look at the states alone would not see.
    assert runs[parent]["state"] == "COMPLETED", runs.get(parent)
    children = {r["name"]: r for r in runs.values() if r["parent"] == parent}
    assert sorted(children) == ["green-2020-01", "green-2020-02"], runs
    assert set(runs[parent]["task_states"]) == {"COMPLETED"}, runs[parent]  # the subflows'
    for child in children.values():
        # extract, transform, write, checks: each recorded, each Completed.
        assert child["state"] == "COMPLETED", child
        assert len(child["task_states"]) >= 4, child
        assert set(child["task_states"]) == {"COMPLETED"}, child


@pytest.mark.prefect3_only(reason="Prefect 2 has no task-run recorder service to batch")
def test_the_batching_names_are_prefect_3_settings() -> None:
    """A misspelt Prefect setting is ignored silently: check Prefect 3 reads ours."""
    code = (
        "from taxi_etl.orchestration import embedded; embedded.configure(); "
        "from prefect.settings import get_current_settings as g; s = g().server.services; "
        "print(s.task_run_recorder.batch_size, s.task_run_recorder.flush_interval, "
        "s.event_persister.batch_size)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_SERVER_SERVICES")}
    env["PREFECT_HOME"] = "/nonexistent/home"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.stdout.split() == ["1000", "2.0", "1000"], proc.stderr[-2000:]


def _fake_home(home: Path) -> None:
    """A home whose database looks migrated and registered, with a matching marker."""
    home.mkdir()
    db = home / "prefect.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE alembic_version (version_num TEXT)")
        con.execute("INSERT INTO alembic_version VALUES ('abc123')")
        con.execute("CREATE TABLE block_type (id TEXT)")
        con.execute("INSERT INTO block_type VALUES ('x')")
    con.close()
    (home / embedded.MARKER).write_text(json.dumps(embedded._state(db)))


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("PREFECT_API_URL", "http://127.0.0.1:4200/api"),  # a server, not the embedded API
        ("PREFECT_API_DATABASE_CONNECTION_URL", "postgresql+asyncpg://db/prefect"),
        ("PREFECT_API_DATABASE_MIGRATE_ON_START", "true"),  # the user's choice wins
    ],
)
def test_warm_start_only_for_the_embedded_database(
    tmp_path: Path, setting: str, value: str
) -> None:
    _fake_home(tmp_path / "home")
    base = {"PREFECT_HOME": str(tmp_path / "home")}
    env = dict(base)
    assert embedded.configure(env)
    assert all(env[name] == "false" for name in embedded.SKIPPED_ON_WARM_START)

    env = {**base, setting: value}
    assert not embedded.configure(env)
    assert env[setting] == value
    assert not any(env.get(n) == "false" for n in embedded.SKIPPED_ON_WARM_START)


def test_no_warm_start_when_a_profile_chooses_the_api(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _fake_home(home)
    (home / "profiles.toml").write_text(
        'active = "local"\n[profiles.local]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n'
    )
    assert not embedded.configure({"PREFECT_HOME": str(home)})


def test_no_warm_start_without_block_types(tmp_path: Path) -> None:
    """A reset database keeps its revision but loses its block types."""
    _fake_home(tmp_path / "home")
    with sqlite3.connect(tmp_path / "home" / "prefect.db") as con:
        con.execute("DELETE FROM block_type")
    con.close()
    assert not embedded.configure({"PREFECT_HOME": str(tmp_path / "home")})


def test_a_marker_that_cannot_be_written_only_costs_the_next_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _fake_home(home)
    (home / embedded.MARKER).unlink()
    (home / embedded.MARKER).mkdir()  # replace() onto it fails
    embedded.record_full_start({"PREFECT_HOME": str(home)})  # does not raise
    assert sorted(p.name for p in home.iterdir()) == sorted([embedded.MARKER, "prefect.db"])
    assert not embedded.configure({"PREFECT_HOME": str(home)})
