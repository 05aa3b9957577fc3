"""Backfill across a year boundary: skips what is loaded, resumes after a failure or a
kill, and reports unpublished months instead of crashing on them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taxi_etl import flows, source
from taxi_etl.cli import running
from taxi_etl.devtools import mirror, sample
from taxi_etl.lake import MANIFEST_FILE
from taxi_etl.params import Colour

pytestmark = pytest.mark.prefect

ROWS = 8_000
PUBLISHED = [(2020, 11), (2020, 12), (2021, 1), (2021, 2)]


@pytest.fixture(scope="module")
def backfill_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("backfill-mirror")
    for year, month in PUBLISHED:
        sample.write_mirror(root, "yellow", year, [month], ROWS, seed=month)
    return root


def path_of(year: int, month: int) -> str:
    return f"/yellow/{source.file_name('yellow', year, month)}"


def loaded(lake: Path) -> list[str]:
    return sorted(str(p.parent.relative_to(lake)) for p in lake.rglob(MANIFEST_FILE))


def test_backfill_resumes_after_a_failure(
    workdir: Path, backfill_mirror: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAXI_ETL_DOWNLOAD_ATTEMPTS", "2")
    plan = mirror.FaultPlan({path_of(2020, 12): ["503", "503"]})
    with mirror.serve(backfill_mirror, faults=plan) as url:
        first = running.run_flow(
            flows.etl_backfill_flow, months="2020-11..2021-03", colour=Colour.yellow, source_url=url
        )
        assert first.is_failed()
        with pytest.raises(flows.LoadFailed, match="2020/month=12") as err:
            first.result()
        statuses = {r.partition.ym: r.status for r in err.value.results}
        assert statuses == {
            "2020-11": "loaded",
            "2020-12": "failed",
            "2021-01": "loaded",
            "2021-02": "loaded",
            "2021-03": "not_published",
        }
        before, heads = dict(plan.requests), dict(plan.head_requests)

        second = running.run_flow(
            flows.etl_backfill_flow, months="2020-11..2021-03", colour=Colour.yellow, source_url=url
        )
    assert second.is_completed(), second
    statuses = [r.status for r in second.result()]
    assert statuses == ["skipped", "loaded", "skipped", "skipped", "not_published"]
    # Only the failed month was downloaded again; the unpublished one was asked for
    # once (a HEAD, answered 404), the loaded ones only whether they changed.
    again = {p: plan.requests[p] - before.get(p, 0) for p in plan.requests}
    assert again == {
        path_of(2020, 11): 0,
        path_of(2020, 12): 1,
        path_of(2021, 1): 0,
        path_of(2021, 2): 0,
    }
    assert plan.requests[path_of(2021, 3)] == 0
    assert plan.head_requests[path_of(2021, 3)] - heads[path_of(2021, 3)] == 1
    assert loaded(workdir / "lake") == [
        f"colour=yellow/year={y}/month={m:02d}" for y, m in PUBLISHED
    ]


def test_cli_backfill_killed_midway_resumes(workdir: Path, backfill_mirror: Path) -> None:
    """Kill the backfill process while a month is downloading, then run it again."""
    plan = mirror.FaultPlan({path_of(2021, 1): ["slow:20"]})
    env = {
        **os.environ,
        "TAXI_ETL_LAKE": str(workdir / "lake"),
        "TAXI_ETL_CACHE": str(workdir / "cache"),
    }
    with mirror.serve(backfill_mirror, faults=plan) as url:
        cmd = [
            sys.executable,
            "-m",
            "taxi_etl",
            "backfill",
            "yellow",
            "2020-11..2021-02",
            "--source-url",
            url,
            "--concurrency",
            "1",
        ]
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + 120
        while plan.requests[path_of(2021, 1)] == 0 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        assert plan.requests[path_of(2021, 1)] == 1, "never reached January"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        done = loaded(workdir / "lake")
        assert done == ["colour=yellow/year=2020/month=11", "colour=yellow/year=2020/month=12"]
        assert not (workdir / "lake" / "colour=yellow" / "year=2021").exists()

        rerun = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=300, check=False
        )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert loaded(workdir / "lake") == [
        f"colour=yellow/year={y}/month={m:02d}" for y, m in PUBLISHED
    ]
    # Nothing loaded twice: the two finished months were neither fetched nor written again.
    assert plan.requests[path_of(2020, 11)] == 1
    assert plan.requests[path_of(2020, 12)] == 1
    assert rerun.stdout.count("skipped") == 2
