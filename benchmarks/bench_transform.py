"""Benchmark: the project's transform against the course's pandas transform and ``zcat``.

Each measurement is one fresh process, timed from spawn to exit, with its own peak RSS
from ``wait4`` (imports included), because that is what a user pays per month:

* ``project``: ``python -m taxi_etl convert`` (the CLI, as users run it);
* ``course``:  ``python -m taxi_etl.devtools.reference`` (``pd.read_csv`` -> ``pd.to_datetime``
  -> ``to_parquet(compression="gzip")``, the DataTalksClub course code);
* ``zcat``:    ``gzip -dc SRC > /dev/null``, the single-stream decompression floor.

The tools alternate within each repetition (and the order rotates between repetitions),
so a burst of load elsewhere on the machine hits all of them alike; medians are reported
with the spread. Months are generated once by :mod:`taxi_etl.devtools.sample` into a cache
directory and reused. Results go to stdout as a table and to a JSON file.

    python benchmarks/bench_transform.py                  # every month, 3 repetitions
    python benchmarks/bench_transform.py --quick          # 1.37 M-row yellow month only
    python benchmarks/bench_transform.py --files yellow green --reps 5 --tools project zcat
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # measure this checkout, installed or not

YELLOW_ROWS = 1_369_765  # yellow 2021-01


@dataclass(frozen=True)
class MonthSpec:
    colour: str
    year: int
    month: int
    rows: int
    ints_as_floats: bool = False
    header: str | None = None
    seed: int = 1

    @property
    def file_name(self) -> str:
        return f"{self.colour}_tripdata_{self.year}-{self.month:02}.csv.gz"


FILES: dict[str, MonthSpec] = {
    "yellow": MonthSpec("yellow", 2021, 1, YELLOW_ROWS),
    # Five times the month above; streaming should keep its peak RSS flat.
    "yellow-5x": MonthSpec("yellow", 2019, 3, 5 * YELLOW_ROWS),
    # The 2021-06 release writes integer codes as `1.0`.
    "yellow-floats": MonthSpec("yellow", 2021, 6, YELLOW_ROWS, ints_as_floats=True),
    "green": MonthSpec("green", 2020, 1, 447_770),
    "fhv": MonthSpec("fhv", 2019, 1, 3_000_000),
}
TOOLS = ("zcat", "project", "course")


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    out_bytes: int | None


def ensure_month(cache: Path, name: str, spec: MonthSpec) -> Path:
    """The month's csv.gz in the cache, generated only if missing or made differently."""
    from taxi_etl.devtools import sample

    path = cache / name / spec.file_name
    meta = path.with_suffix(".json")
    want = asdict(spec)
    if path.exists() and meta.exists() and json.loads(meta.read_text()) == want:
        return path
    print(f"generating {name}: {spec.rows:,} {spec.colour} rows -> {path}", flush=True)
    t0 = time.perf_counter()
    sample.generate_month(
        path,
        spec.colour,
        spec.year,
        spec.month,
        spec.rows,
        seed=spec.seed,
        header=spec.header,
        ints_as_floats=spec.ints_as_floats,
    )
    meta.write_text(json.dumps(want))
    print(f"  {path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s", flush=True)
    return path


def command(tool: str, spec: MonthSpec, src: Path, dst: Path) -> list[str]:
    py = [sys.executable]
    if tool == "project":
        return [*py, "-m", "taxi_etl", "convert", "--colour", spec.colour, str(src), str(dst)]
    if tool == "course":
        reference = "taxi_etl.devtools.reference"
        return [*py, "-m", reference, "--colour", spec.colour, str(src), str(dst)]
    if tool == "zcat":
        return ["gzip", "-dc", str(src)]
    raise ValueError(tool)


# Spawns the tool from a small interpreter and reports its wall time and rusage. The
# benchmark itself cannot spawn it directly: Linux carries the parent's peak RSS into a
# forked child's ru_maxrss across exec, so every tool would report at least the size of
# this (pyarrow-importing) process. The launcher is ~9 MB, below any Python tool.
_LAUNCHER = """
import json, os, sys, time
t0 = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as fh:
    json.dump({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "maxrss": ru.ru_maxrss}, fh)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measure(argv: list[str], dst: Path | None, env: dict[str, str]) -> Run:
    """Run one process to completion; its wall time and its own peak RSS (from wait4)."""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        result, err = Path(tmp) / "result.json", Path(tmp) / "stderr"
        with err.open("wb") as err_fh:
            code = subprocess.call(
                [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(result), *argv],
                stdout=subprocess.DEVNULL,
                stderr=err_fh,
                env=env,
            )
        if code != 0:
            msg = err.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{argv} exited {code}:\n{msg}")
        usage = json.loads(result.read_text())
    # ru_maxrss is KiB on Linux, bytes on macOS.
    rss = usage["maxrss"] / (1 << 20 if sys.platform == "darwin" else 1 << 10)
    out = dst.stat().st_size if dst is not None and dst.exists() else None
    return Run(usage["wall"], usage["cpu"], rss, out)


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)


def bench_file(
    name: str, spec: MonthSpec, src: Path, tools: list[str], reps: dict[str, int]
) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONWARNINGS", "ignore")  # pandas' DtypeWarning on the course side
    runs: dict[str, list[Run]] = {t: [] for t in tools}
    rows: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-transform-") as tmp:
        for rep in range(max(reps.values())):
            order = tools[rep % len(tools) :] + tools[: rep % len(tools)]
            for tool in order:
                if len(runs[tool]) >= reps[tool]:
                    continue
                dst = Path(tmp) / f"{tool}.parquet" if tool != "zcat" else None
                if dst is not None:
                    dst.unlink(missing_ok=True)
                run = measure(command(tool, spec, src, dst or Path(os.devnull)), dst, env)
                runs[tool].append(run)
                if dst is not None:
                    rows[tool] = parquet_rows(dst)
                print(
                    f"  {name:14} {tool:8} rep {len(runs[tool])}: {run.wall_s:7.2f}s "
                    f"{run.peak_rss_mb:7.0f} MB",
                    flush=True,
                )
    for tool, n in rows.items():
        if n != spec.rows:
            raise RuntimeError(f"{name}: {tool} wrote {n:,} rows, expected {spec.rows:,}")
    med: dict[str, dict[str, float | None]] = {}
    for tool, rs in runs.items():
        walls = [r.wall_s for r in rs]
        med[tool] = {
            "wall_s": statistics.median(walls),
            "wall_min_s": min(walls),
            "wall_max_s": max(walls),
            "cpu_s": statistics.median(r.cpu_s for r in rs),
            "peak_rss_mb": statistics.median(r.peak_rss_mb for r in rs),
            "out_bytes": rs[-1].out_bytes,
        }
    ratios: dict[str, float] = {}
    wall = {t: m["wall_s"] for t, m in med.items()}
    if "project" in wall and "course" in wall:
        ratios["course_over_project"] = _div(wall["course"], wall["project"])
    if "project" in wall and "zcat" in wall:
        ratios["project_over_zcat"] = _div(wall["project"], wall["zcat"])
    if "project" in med and "course" in med:
        ratios["cpu_course_over_project"] = _div(med["course"]["cpu_s"], med["project"]["cpu_s"])
        ratios["size_project_over_course"] = _div(
            med["project"]["out_bytes"], med["course"]["out_bytes"]
        )
    return {
        "spec": asdict(spec),
        "src_bytes": src.stat().st_size,
        "median": med,
        "ratios": ratios,
        "runs": {t: [asdict(r) for r in rs] for t, rs in runs.items()},
    }


def _div(a: float | None, b: float | None) -> float:
    return float("nan") if a is None or not b else a / b


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None or value != value else format(value, spec) + unit


def _get(med: dict[str, Any], tool: str, key: str, scale: float = 1.0) -> float | None:
    v = med.get(tool, {}).get(key)
    return None if v is None else float(v) / scale


def table(results: dict[str, dict[str, Any]]) -> str:
    head = (
        "| month | rows | csv.gz MB | zcat s | project s | course s | course/project "
        "| project/zcat | project RSS MB | course RSS MB | project MB | course MB |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in results.items():
        med, ratios = r["median"], r["ratios"]
        cells = [
            name,
            f"{r['spec']['rows']:,}",
            f"{r['src_bytes'] / 1e6:.1f}",
            _fmt(_get(med, "zcat", "wall_s"), ".2f"),
            _fmt(_get(med, "project", "wall_s"), ".2f"),
            _fmt(_get(med, "course", "wall_s"), ".2f"),
            _fmt(ratios.get("course_over_project"), ".1f", "x"),
            _fmt(ratios.get("project_over_zcat"), ".2f", "x"),
            _fmt(_get(med, "project", "peak_rss_mb"), ".0f"),
            _fmt(_get(med, "course", "peak_rss_mb"), ".0f"),
            _fmt(_get(med, "project", "out_bytes", 1e6), ".1f"),
            _fmt(_get(med, "course", "out_bytes", 1e6), ".1f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    # CPU time barely moves when other work shares the machine; wall time does.
    lines += [
        "",
        "| month | zcat CPU s | project CPU s | course CPU s | course/project CPU |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        med = r["median"]
        cpu = {t: _get(med, t, "cpu_s") for t in TOOLS}
        ratio = _div(cpu["course"], cpu["project"])
        lines.append(
            f"| {name} | {_fmt(cpu['zcat'], '.2f')} | {_fmt(cpu['project'], '.2f')} "
            f"| {_fmt(cpu['course'], '.2f')} | {_fmt(ratio, '.1f', 'x')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", choices=list(FILES), default=list(FILES))
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--reps", type=int, default=3, help="repetitions per tool and month")
    parser.add_argument(
        "--course-reps", type=int, help="repetitions of the slow course transform (default --reps)"
    )
    parser.add_argument("--quick", action="store_true", help="the yellow month only, 3/1 reps")
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "transform.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.course_reps = ["yellow"], 1
    reps = {t: args.reps for t in args.tools}
    if "course" in reps and args.course_reps is not None:
        reps["course"] = args.course_reps

    import pandas
    import pyarrow

    paths = {name: ensure_month(args.cache, name, FILES[name]) for name in args.files}
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results = {
        name: bench_file(name, FILES[name], paths[name], list(args.tools), reps)
        for name in args.files
    }
    report = {
        "started": started,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "pyarrow": pyarrow.__version__,
            "pandas": pandas.__version__,
            "load_avg_before": load_before,
            "load_avg_after": os.getloadavg(),
        },
        "reps": reps,
        "files": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print()
    print(table(results))
    print(
        f"\nmedians of {reps} runs; whole-process wall time and peak RSS. "
        f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}. "
        f"JSON: {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
