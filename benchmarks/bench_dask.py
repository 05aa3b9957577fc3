"""Benchmark: a backfill on 2 Dask workers against 1, and against the in-process runner.

Six yellow months (500,000 rows each by default) are generated once by
:mod:`taxi_etl.devtools.sample` and served by the local HTTP mirror
(:func:`taxi_etl.devtools.mirror.serve`, loopback only, ``--mbps`` caps each download).
Each configuration then backfills all of them into a fresh lake with a fresh download
cache, in a fresh process:

* ``local-1``, ``local-2``: child flows in the flow's process (runner local), at
  concurrency 1 and 2;
* ``dask-1``, ``dask-2``: one task per month on a temporary local Dask cluster of 1 or 2
  single-threaded worker processes (runner dask, no address);
* ``floor``: the same months through ``pipeline.load_month``, one after the other, in one
  process without Prefect.

All flow processes share one ``PREFECT_HOME``, created and migrated by two uncounted
warm-up backfills of one month (one per runner); each flow process also runs an empty
flow before its backfill, so the embedded API's start in that process is not counted
either (bench_flows.py measures both). "backfill" is the flow call to its final state,
Dask cluster start and stop and the workers' own Prefect start included; "process" is
spawn to exit, imports included.

Peak RSS: every 0.1 s the RSS of the process and of all its descendants (the Dask
workers) is summed, and the largest sum is reported. It is sampled (a spike shorter
than 0.1 s can be missed) and shared library pages count once per process. The JSON
also has each run's largest single process and the main process's own ``ru_maxrss``.

Configurations alternate within a repetition (reversed on odd ones), medians are
reported, and the load average is recorded before, during and after: on a loaded 2-core
machine these numbers are noisy.

    python benchmarks/bench_dask.py               # 6 months of 500,000 rows, 3 repetitions
    python benchmarks/bench_dask.py --mbps 20     # each download capped at 20 MB/s
    python benchmarks/bench_dask.py --quick       # 5,000 rows, 1 repetition: a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

# bench_flows also puts this checkout's src/ first on sys.path.
from bench_flows import COLOUR, ROOT, YEAR, _timed

CONFIGS: dict[str, tuple[str, int]] = {  # name: (runner, concurrency or Dask workers)
    "local-1": ("local", 1),
    "local-2": ("local", 2),
    "dask-1": ("dask", 1),
    "dask-2": ("dask", 2),
}
FLOOR = "floor"
ORDER = [*CONFIGS, FLOOR]
LABELS = {
    "local-1": "local runner, concurrency 1",
    "local-2": "local runner, concurrency 2",
    "dask-1": "Dask, 1 worker",
    "dask-2": "Dask, 2 workers",
    FLOOR: "no Prefect (pipeline.load_month)",
}
RATIOS = [  # (slower, faster, label): how many times faster the second one is
    ("dask-1", "dask-2", "Dask 2 workers vs 1"),
    ("local-1", "local-2", "local concurrency 2 vs 1"),
    ("local-2", "dask-2", "Dask 2 workers vs local concurrency 2"),
]
SAMPLE_S = 0.1
LISTEN_EVERY = 10  # samples between looks at the tree's listening sockets
LOOPBACK = frozenset({"127.0.0.1", "::1"})
COMMAND_CHARS = 120
NOTED_WARNINGS = 8  # distinct warning lines kept per run
MB = 1024 * 1024


# --- inside the spawned process --------------------------------------------------------


def _generate(spec: dict[str, Any]) -> dict[str, Any]:
    from taxi_etl.devtools import sample

    months = range(1, spec["months"] + 1)
    wall, _ = _timed(
        sample.write_mirror,
        root=Path(spec["mirror"]),
        colour=COLOUR,
        year=YEAR,
        months=months,
        rows=spec["rows"],
        seed=7,
    )
    return {"run_s": wall}


def _backfill(spec: dict[str, Any]) -> dict[str, Any]:
    from taxi_etl.cli import running

    running.prefect_env()  # what `taxi-etl backfill` sets before importing prefect
    t0 = time.perf_counter()
    from prefect import flow

    from taxi_etl import flows

    import_s = time.perf_counter() - t0

    async def bench_warm_up() -> None:
        """Starts the embedded API in this process, before the timed backfill."""

    warm_s, _ = _timed(running.run_flow, which=flow(name="bench_warm_up")(bench_warm_up))
    wall, state = _timed(
        running.run_flow,
        which=flows.etl_backfill_flow,
        months=spec["range"],
        colour=COLOUR,
        concurrency=spec["concurrency"],
        lake=spec["lake"],
        source_url=spec["url"],
        runner=spec["runner"],
    )
    completed, results = running.outcome(state)
    return {
        "import_s": import_s,
        "warm_up_s": warm_s,
        "run_s": wall,
        "completed": completed,
        "statuses": [r.status for r in results],
        "rows": sum(r.rows or 0 for r in results),
        "errors": [r.error for r in results if r.error],
    }


def _floor(spec: dict[str, Any]) -> dict[str, Any]:
    """The same months through the plain function a Dask task runs, without Prefect."""
    from taxi_etl import pipeline
    from taxi_etl.params import Colour, Partition, parse_month_range
    from taxi_etl.settings import Settings

    cfg = Settings(source_url=spec["url"], lake=spec["lake"])  # cache: TAXI_ETL_CACHE
    parts = [Partition(Colour(COLOUR), y, m) for y, m in parse_month_range(spec["range"])]
    t0 = time.perf_counter()
    results = [pipeline.load_month(part, cfg) for part in parts]
    return {
        "run_s": time.perf_counter() - t0,
        "completed": True,  # load_month raises on failure
        "statuses": [r.status for r in results],
        "rows": sum(r.rows or 0 for r in results),
        "errors": [],
    }


WORKERS = {"generate": _generate, "backfill": _backfill, "floor": _floor}


def worker(spec: dict[str, Any]) -> None:
    out = WORKERS[spec["kind"]](spec)
    # Linux carries the spawning process's peak into this one; the launcher stays small.
    out["self_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(spec["result"]).write_text(json.dumps(out))


# --- in the benchmark's own process ----------------------------------------------------


class TreeWatch:
    """Samples the RSS of a process and all its descendants every SAMPLE_S seconds, on a
    thread, until the context exits; also notes where any of them listen."""

    def __init__(self, pid: int) -> None:
        import psutil  # type: ignore[import-untyped]  # a dependency of distributed

        self._psutil = psutil
        self.root = psutil.Process(pid)
        self.seen: dict[int, Any] = {pid: self.root}
        self.commands: dict[int, str] = {}  # descendants' command lines, shortened
        self.peak_tree = self.peak_root = self.peak_one = 0
        self.most_procs = self.samples = 0
        self.listening: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> TreeWatch:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:  # ends when __exit__ sets the event
            self._sample()
            if self._stop.wait(SAMPLE_S):
                return

    def _sample(self) -> None:
        psutil = self._psutil
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        look = self.samples % LISTEN_EVERY == 0
        self.samples += 1
        total = alive = 0
        for found in procs:
            proc = self.seen.setdefault(found.pid, found)
            try:
                if proc is not self.root and proc.pid not in self.commands:
                    self.commands[proc.pid] = " ".join(proc.cmdline())[:COMMAND_CHARS]
                rss = proc.memory_info().rss
                if look:
                    self.listening.update(
                        c.laddr.ip
                        for c in proc.net_connections(kind="inet")
                        if c.status == psutil.CONN_LISTEN
                    )
            except psutil.Error:
                continue
            total += rss
            alive += 1
            self.peak_one = max(self.peak_one, rss)
            if proc is self.root:
                self.peak_root = max(self.peak_root, rss)
        self.peak_tree = max(self.peak_tree, total)
        self.most_procs = max(self.most_procs, alive)

    def left_running(self) -> list[Any]:
        """Descendants still running after the root was reaped (the root itself is not)."""
        psutil = self._psutil
        out = []
        for proc in self.seen.values():
            try:
                running = proc is not self.root and proc.is_running()
                if running and proc.status() != psutil.STATUS_ZOMBIE:
                    out.append(proc)
            except psutil.Error:
                continue
        return out


def spawn(spec: dict[str, Any], work: Path, home: Path, timeout: float) -> dict[str, Any]:
    """Run one worker in a fresh process (own session, own cache under `work`), killed
    with all its descendants after `timeout` seconds; its result plus what was measured
    from outside."""
    work.mkdir(parents=True, exist_ok=True)
    spec = {**spec, "result": str(work / "result.json")}
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TAXI_ETL_", "DASK_"))
    }
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        TAXI_ETL_CACHE=str(work / "cache"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])),
    )
    log = work / "log.txt"
    load = os.getloadavg()
    with log.open("wb") as sink:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(spec)],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        code: int | None = None
        watch = TreeWatch(proc.pid)
        try:
            with watch:
                try:
                    code = proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    # Not reaped yet, so its process group is still ours to end.
                    os.killpg(proc.pid, signal.SIGKILL)
                wall = time.perf_counter() - t0
        finally:
            if proc.poll() is None:  # only on an error in the watch itself
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        stragglers = watch.left_running()
        for straggler in stragglers:  # a descendant of ours outliving the run
            straggler.kill()
    text = log.read_text(errors="replace")
    tail = text[-4000:]
    if code is None:
        raise TimeoutError(f"{spec['kind']} ran over {timeout:.0f} s; killed. Log tail:\n{tail}")
    if code != 0:
        raise RuntimeError(f"{spec['kind']} exited {code}. Log tail:\n{tail}")
    result: dict[str, Any] = json.loads(Path(spec["result"]).read_text())
    result.update(
        process_s=wall,
        tree_peak_rss_mb=watch.peak_tree / MB,
        root_peak_rss_mb=watch.peak_root / MB,
        largest_process_rss_mb=watch.peak_one / MB,
        most_processes=watch.most_procs,
        rss_samples=watch.samples,
        listening=sorted(watch.listening),
        descendants=sorted(set(watch.commands.values())),
        warnings=_warnings(text),
        stragglers_killed=len(stragglers),
        load_avg_before=load,
    )
    return result


def _warnings(log: str) -> dict[str, Any]:
    """Warning and error lines of a run's log (Prefect's format), without timestamps."""
    found = [
        line.split("| ", 1)[-1].strip()
        for line in log.splitlines()
        if "| WARNING" in line or "| ERROR" in line or "Warning: " in line
    ]
    return {"count": len(found), "distinct": sorted(set(found))[:NOTED_WARNINGS]}


def run_config(name: str, work: Path, home: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """One fresh backfill (or the floor) into its own lake; checks every month loaded."""
    from taxi_etl.lake import MANIFEST_FILE

    lake = work / "lake"
    spec = {**spec, "lake": str(lake)}
    if name == FLOOR:
        spec["kind"] = "floor"
    else:
        runner, concurrency = CONFIGS[name]
        spec.update(kind="backfill", runner=runner, concurrency=concurrency)
    result = spawn(spec, work, home, spec["timeout"])
    result["manifests"] = len(list(lake.rglob(MANIFEST_FILE)))
    months = spec["months"]
    if not (
        result["completed"]
        and result["statuses"] == ["loaded"] * months
        and result["manifests"] == months
    ):
        raise RuntimeError(f"{name}: not every month loaded: {json.dumps(result)}")
    shutil.rmtree(work)  # each run downloaded and wrote its own copy; keep the disk free
    return result


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    med = statistics.median
    out: dict[str, Any] = {}
    floor = med(r["run_s"] for r in runs[FLOOR])
    for name in ORDER:
        rs = runs[name]
        wall = [r["run_s"] for r in rs]
        out[name] = {
            "label": LABELS[name],
            "run_s": med(wall),
            "run_s_min_max": [min(wall), max(wall)],
            "process_s": med(r["process_s"] for r in rs),
            "vs_floor": med(wall) / floor,
            "tree_peak_rss_mb": med(r["tree_peak_rss_mb"] for r in rs),
            "largest_process_rss_mb": med(r["largest_process_rss_mb"] for r in rs),
            "self_maxrss_mb": med(r["self_maxrss_mb"] for r in rs),
            "most_processes": max(r["most_processes"] for r in rs),
            "log_warnings": sum(r["warnings"]["count"] for r in rs),
        }
        if name != FLOOR:
            out[name]["import_s"] = med(r["import_s"] for r in rs)
            out[name]["warm_up_s"] = med(r["warm_up_s"] for r in rs)
    return out


def ratios(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "comparison": label,
            "slower": slow,
            "faster": fast,
            "run_speedup": summary[slow]["run_s"] / summary[fast]["run_s"],
            "process_speedup": summary[slow]["process_s"] / summary[fast]["process_s"],
        }
        for slow, fast, label in RATIOS
    ]


def table(summary: dict[str, Any], speedups: list[dict[str, Any]]) -> str:
    lines = [
        "| configuration | backfill s | min-max s | process s | x floor "
        "| tree peak RSS MB | largest process MB | processes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ORDER:
        s = summary[name]
        lo, hi = s["run_s_min_max"]
        lines.append(
            f"| {s['label']} | {s['run_s']:.2f} | {lo:.2f}-{hi:.2f} | {s['process_s']:.2f} "
            f"| {s['vs_floor']:.2f}x | {s['tree_peak_rss_mb']:.0f} "
            f"| {s['largest_process_rss_mb']:.0f} | {s['most_processes']} |"
        )
    lines += ["", "| speed-up | backfill | process |", "|---|---|---|"]
    for i, r in enumerate(speedups):
        bold = "**" if i == 0 else ""
        lines.append(
            f"| {bold}{r['comparison']}{bold} | {bold}{r['run_speedup']:.2f}x{bold} "
            f"| {r['process_speedup']:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="rows per generated month [500,000]")
    parser.add_argument("--months", type=int, default=6, help="months in the backfill (1-12)")
    parser.add_argument("--reps", type=int, help="repetitions of every configuration [3]")
    parser.add_argument(
        "--mbps",
        type=float,
        help="cap each download at this many MB/s, as a link to the release host would "
        "(default: no cap, the local mirror serves at memory speed)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds before a run's process is killed"
    )
    parser.add_argument(
        "--json", "--out", dest="out", type=Path, default=ROOT / "bench-results" / "dask.json"
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: 5,000 rows, 1 rep")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    rows = args.rows or (5_000 if args.quick else 500_000)
    reps = args.reps or (1 if args.quick else 3)
    if not 1 <= args.months <= 12 or min(rows, reps, args.timeout, args.mbps or 1) <= 0:
        parser.error("--months is 1-12; --rows, --reps, --timeout and --mbps are positive")

    from taxi_etl.devtools import mirror

    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    month_range = f"{YEAR}-01..{YEAR}-{args.months:02d}"
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in ORDER}
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        root = Path(tmp)
        home = root / "prefect-home"
        spec: dict[str, Any] = {"months": args.months, "rows": rows, "timeout": args.timeout}
        print(f"generating {args.months} {COLOUR} months of {rows:,} rows", flush=True)
        generated = spawn(
            {**spec, "kind": "generate", "mirror": str(root / "mirror")},
            root / "generate",
            home,
            args.timeout,
        )
        rate = args.mbps * 1e6 if args.mbps else None
        with mirror.serve(root / "mirror", rate=rate) as url:
            spec.update(url=url, range=month_range)
            print(f"backfill {month_range} from {url}; warming PREFECT_HOME", flush=True)
            # Creates and migrates the database, and warms the file cache for both runners.
            one_month = {**spec, "months": 1, "range": f"{YEAR}-01"}
            warm = {
                name: run_config(name, root / f"warm-{name}", home, one_month)
                for name in ("local-1", "dask-1")
            }
            for rep in range(reps):
                for name in ORDER if rep % 2 == 0 else ORDER[::-1]:
                    r = run_config(name, root / f"{name}-{rep}", home, spec)
                    runs[name].append(r)
                    print(
                        f"rep {rep + 1}/{reps} {name}: backfill {r['run_s']:.2f} s, "
                        f"process {r['process_s']:.2f} s, tree peak {r['tree_peak_rss_mb']:.0f} "
                        f"MB, {r['manifests']} manifests, {r['warnings']['count']} warnings, "
                        f"load {r['load_avg_before'][0]:.2f}",
                        flush=True,
                    )
    load_after = os.getloadavg()
    summary = summarise(runs)
    speedups = ratios(summary)
    listening = sorted({a for rs in runs.values() for r in rs for a in r["listening"]})
    report = {
        "started": started,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_avg_before": load_before,
            "load_avg_after": load_after,
        },
        "params": {
            "colour": COLOUR,
            "range": month_range,
            "months": args.months,
            "rows_per_month": rows,
            "reps": reps,
            "download_cap_mb_s": args.mbps,
        },
        "summary": summary,
        "speedups": speedups,
        "listening_addresses": listening,
        "raw": {"generate": generated, "warm_up": warm, "runs": runs},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    cap = f"downloads capped at {args.mbps:g} MB/s each" if args.mbps else "no download cap"
    print(
        f"\n{table(summary, speedups)}\n\n"
        f"{args.months} {COLOUR} months of {rows:,} rows, medians of {reps} runs, {cap}; "
        f"import taxi_etl.flows {summary['local-1']['import_s']:.2f} s and embedded API "
        f"start {summary['local-1']['warm_up_s']:.2f} s per flow process (not in backfill); "
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}. JSON: {args.out}"
    )
    for name in ORDER:
        noted = sorted({w for r in runs[name] for w in r["warnings"]["distinct"]})
        if noted:
            print(f"{name}: {summary[name]['log_warnings']} warning lines in its logs, e.g.")
            print("".join(f"    {w}\n" for w in noted[:NOTED_WARNINGS]), end="")
    outside = [a for a in listening if a not in LOOPBACK]
    if outside:
        print(f"warning: the runs listened on non-loopback addresses: {', '.join(outside)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
