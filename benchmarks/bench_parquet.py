"""Benchmark: the project's transform of the TLC's own parquet files against DuckDB's casts.

Each measurement is one fresh process, timed from spawn to exit, with its own peak RSS
from ``wait4`` (imports included), as in ``bench_transform.py`` (whose launcher this
reuses), because that is what a user pays per month:

* ``project``:   ``python -m taxi_etl convert --colour fhvhv SRC DST`` (the CLI);
* ``duckdb``:    ``python -c`` with the duckdb package, one ``COPY (SELECT <casts> FROM
  read_parquet(SRC)) TO DST (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL <the
  project's level for parquet input>)``;
  ``duckdb-1thread`` is the same with ``SET threads = 1`` (not in the default set).
  The casts are generated from the project's schema (``for_colour("fhvhv")`` resolved
  against the file's own column names): every canonical column cast to its kind's type
  (int BIGINT, float DOUBLE, str VARCHAR, ts TIMESTAMP), a column the file lacks as a
  typed NULL, plus ``pickup_outside_month`` from the month in the file name. The codec and
  level are the project writer's. DuckDB runs on its default threads (the machine's
  cores) unless ``--duckdb-threads`` says otherwise;
* ``read-only``: ``pq.ParquetFile(SRC).iter_batches()`` over every column and nothing
  else, the pyarrow decoding floor.

The tools alternate within each repetition (and the order rotates between repetitions),
so a burst of load elsewhere on the machine hits all of them alike; medians are reported
with the spread. Months are generated once by :mod:`taxi_etl.devtools.tlc_sample` (fhvhv
2024-01: ns metadata on microsecond timestamps, int32 location ids, large_string text)
into a cache directory and reused while their spec and the generator's sources are
unchanged. ``fhvhv-20m-1rg`` is a real-size month as the TLC publishes it, 20 M rows in
ONE row group, zstd (:mod:`tlc_onegroup` builds it from the generator's values); DuckDB
takes about 1.5 min and 10 GB on it, so it runs ``--large-reps`` times (default 1). Both
outputs of each month are read back with pyarrow and compared (rows, exact sums in
hundredths, out-of-month flags, schema, nulls per column), so the tools are shown to have
done the same work. Results go to stdout as a table per month and to a JSON file.

    python benchmarks/bench_parquet.py                    # 1 M, 4 M (3 reps), 20 M (1 rep)
    python benchmarks/bench_parquet.py --quick            # 1 M rows only, 2 repetitions
    python benchmarks/bench_parquet.py --files fhvhv-20m-1rg --large-reps 3 \
        --tools read-only project duckdb duckdb-1thread
    python benchmarks/bench_parquet.py --files fhvhv-4m --tools project duckdb --show-sql
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

# bench_transform also puts this checkout's src/ first on sys.path.
from bench_transform import ROOT, Run, measure

TARGET_FLATNESS = 1.2  # project peak RSS, 4 M-row month over the 1 M-row month
TARGET_RSS_MB = 300.0
LARGE_ROWS = 10_000_000  # months from this size run --large-reps times
CHECK_SUMS = ("base_passenger_fare", "trip_miles", "driver_pay")
#: What a cached month is made by (and tlc_onegroup.py for one-group months): a change to
#: any of them regenerates it.
GENERATOR_SOURCES = tuple(
    ROOT / "src" / "taxi_etl" / "devtools" / f"tlc_{m}.py"
    for m in ("sample", "months", "values", "draws", "eras")
)


@dataclass(frozen=True)
class MonthSpec:
    dataset: str
    year: int
    month: int
    rows: int
    seed: int = 1
    row_group_rows: int = 1 << 20  # pyarrow's default
    one_group: bool = False  # the whole month in one row group, as the TLC's files

    @property
    def file_name(self) -> str:
        return f"{self.dataset}_tripdata_{self.year}-{self.month:02}.parquet"


FILES: dict[str, MonthSpec] = {
    "fhvhv-1m": MonthSpec("fhvhv", 2024, 1, 1_000_000),
    # The "4 M-row fhvhv month": streaming should keep the peak RSS flat.
    "fhvhv-4m": MonthSpec("fhvhv", 2024, 1, 4_000_000),
    # Issue item 9: a real-size month, one row group (benchmarks/tlc_onegroup.py).
    "fhvhv-20m-1rg": MonthSpec(
        "fhvhv", 2024, 1, 20_000_000, row_group_rows=20_000_000, one_group=True
    ),
}
TOOLS = ("read-only", "project", "duckdb", "duckdb-1thread")
DEFAULT_TOOLS = ("read-only", "project", "duckdb")
BASELINE = "duckdb"
DUCKDB_THREADS = {"duckdb-1thread": "1"}  # else --duckdb-threads or DuckDB's default

#: DuckDB's type for each canonical kind (taxi_etl.schemas.Kind values).
DUCKDB_TYPES = {"int": "BIGINT", "float": "DOUBLE", "str": "VARCHAR", "ts": "TIMESTAMP"}

_DUCKDB = """
import sys
import duckdb
con = duckdb.connect()
if sys.argv[2] != "default":
    con.execute(f"SET threads = {int(sys.argv[2])}")
con.execute(sys.argv[1])
"""

_READ_ONLY = """
import sys
import pyarrow.parquet as pq
for _ in pq.ParquetFile(sys.argv[1]).iter_batches():
    pass
"""

_DUCKDB_SETTINGS = """
import json, sys
import duckdb
con = duckdb.connect()
if sys.argv[1] != "default":
    con.execute(f"SET threads = {int(sys.argv[1])}")
names = ("threads", "memory_limit", "preserve_insertion_order")
row = con.sql("SELECT " + ", ".join(f"current_setting('{n}')" for n in names)).fetchall()[0]
print(json.dumps(dict(zip(names, map(str, row)))))
"""


def generator_id(spec: MonthSpec) -> str:
    """A digest of the generator's sources, so a cached month made by older code is redone."""
    digest = hashlib.sha256()
    extra = (Path(__file__).with_name("tlc_onegroup.py"),) if spec.one_group else ()
    for path in (*GENERATOR_SOURCES, *extra):
        if path.exists():  # a module merged away changes the digest too
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_month(cache: Path, name: str, spec: MonthSpec) -> tuple[Path, dict[str, Any]]:
    """The month's parquet in the cache and the generator's truth about it, generated only
    if missing or made differently."""
    path = cache / name / spec.file_name
    meta = path.with_suffix(".json")
    want = {"spec": asdict(spec), "generator": generator_id(spec)}
    if path.exists() and meta.exists():
        saved = json.loads(meta.read_text())
        if {k: saved.get(k) for k in want} == want:
            return path, dict(saved["truth"])
    from taxi_etl.devtools import tlc_sample

    print(f"generating {name}: {spec.rows:,} {spec.dataset} rows -> {path}", flush=True)
    t0 = time.perf_counter()
    if spec.one_group:
        from tlc_onegroup import generate_one_group

        truth = generate_one_group(
            path, spec.dataset, spec.year, spec.month, spec.rows, seed=spec.seed
        )
    else:
        truth = tlc_sample.generate_month(
            path,
            spec.dataset,
            spec.year,
            spec.month,
            spec.rows,
            seed=spec.seed,
            row_group_rows=spec.row_group_rows,
        )
    meta.write_text(json.dumps({**want, "truth": asdict(truth)}))
    print(f"  {path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s", flush=True)
    return path, asdict(truth)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_sql(src: Path, dst: Path, colour: str) -> str:
    """The project's transform as DuckDB casts, generated from the project's schema."""
    import pyarrow.parquet as pq

    from taxi_etl.schemas import FLAG_COLUMN, for_colour
    from taxi_etl.transform import month_of
    from taxi_etl.transform.writer import COMPRESSION, PARQUET_ZSTD_LEVEL

    schema = for_colour(colour)
    source = schema.resolve(pq.read_schema(src).names).canonical_to_source
    select = []
    for col in schema.columns:
        raw = source.get(col.name)
        expr = "NULL" if raw is None else _ident(raw)
        select.append(f"CAST({expr} AS {DUCKDB_TYPES[col.kind.value]}) AS {_ident(col.name)}")
    ym = month_of(src)  # as the CLI: the partition month from the file name
    pickup = source.get(schema.pickup)
    if ym is None or pickup is None:
        select.append(f"CAST(NULL AS BOOLEAN) AS {_ident(FLAG_COLUMN)}")
    else:
        year, month = ym
        nxt = (year + 1, 1) if month == 12 else (year, month + 1)
        start, end = (f"{y:04}-{m:02}-01 00:00:00" for y, m in ((year, month), nxt))
        p = _ident(pickup)
        select.append(
            f"({p} < TIMESTAMP '{start}' OR {p} >= TIMESTAMP '{end}') AS {_ident(FLAG_COLUMN)}"
        )
    columns = ",\n    ".join(select)
    options = f"FORMAT parquet, COMPRESSION {COMPRESSION}"
    if COMPRESSION == "zstd":
        options += f", COMPRESSION_LEVEL {PARQUET_ZSTD_LEVEL}"
    return (
        f"COPY (\n  SELECT\n    {columns}\n  FROM read_parquet({_literal(str(src))})\n"
        f") TO {_literal(str(dst))} ({options})"
    )


def command(tool: str, spec: MonthSpec, src: Path, dst: Path, sql: str, threads: str) -> list[str]:
    py = [sys.executable]
    if tool == "project":
        return [*py, "-m", "taxi_etl", "convert", "--colour", spec.dataset, str(src), str(dst)]
    if tool.startswith("duckdb"):
        return [*py, "-c", _DUCKDB, sql, DUCKDB_THREADS.get(tool, threads)]
    if tool == "read-only":
        return [*py, "-c", _READ_ONLY, str(src)]
    raise ValueError(tool)


def summarise(path: Path) -> dict[str, Any]:
    """What an output holds, read back with pyarrow one batch at a time: rows, exact sums
    (in hundredths) and float sums of the money/distance columns, out-of-month flags, the
    pickup range, nulls per column, the Arrow schema."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from taxi_etl.schemas import FLAG_COLUMN

    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    nulls = dict.fromkeys(names, 0)
    cents = dict.fromkeys(CHECK_SUMS, 0)
    sums = dict.fromkeys(CHECK_SUMS, 0.0)
    outside = 0
    lo: Any = None
    hi: Any = None
    for batch in pf.iter_batches(batch_size=1 << 18):
        for name in names:
            nulls[name] += batch.column(name).null_count
        for name in CHECK_SUMS:
            arr = batch.column(name)
            hundredths = pc.cast(pc.round(pc.multiply(arr, 100.0)), pa.int64())
            cents[name] += int(pc.sum(hundredths).as_py() or 0)
            sums[name] += float(pc.sum(arr).as_py() or 0.0)
        outside += int(pc.sum(batch.column(FLAG_COLUMN)).as_py() or 0)
        b_lo, b_hi = (s.as_py() for s in pc.min_max(batch.column("pickup_datetime")).values())
        if b_lo is not None:
            lo = b_lo if lo is None else min(lo, b_lo)
            hi = b_hi if hi is None else max(hi, b_hi)
    return {
        "rows": pf.metadata.num_rows,
        "row_groups": pf.metadata.num_row_groups,
        "schema": [f"{f.name}: {f.type}" for f in pf.schema_arrow],
        "cents": cents,
        "sums": sums,
        "outside_month": outside,
        "pickup_min": str(lo),
        "pickup_max": str(hi),
        "nulls": nulls,
    }


def check_outputs(outputs: dict[str, Path], truth: dict[str, Any]) -> dict[str, Any]:
    """The project's and DuckDB's outputs side by side, and against the generator."""
    got = {tool: summarise(path) for tool, path in outputs.items()}
    items: dict[str, dict[str, Any]] = {}

    def compare(what: str, pick: Any, expected: Any = None) -> None:
        values = {tool: pick(s) for tool, s in got.items()}
        same = len({json.dumps(v, sort_keys=True) for v in values.values()}) == 1
        ok = same and (expected is None or all(v == expected for v in values.values()))
        items[what] = {"ok": ok, "values": values, "truth": expected}

    compare("rows", lambda s: s["rows"], truth["rows"])
    for name in CHECK_SUMS:
        compare(f"sum {name} (hundredths)", lambda s, n=name: s["cents"][n], truth["cents"][name])
    compare("pickup_outside_month true", lambda s: s["outside_month"], truth["outside_month"])
    compare("pickup min/max", lambda s: [s["pickup_min"], s["pickup_max"]])
    compare("schema (names: types)", lambda s: s["schema"])
    compare("nulls per column", lambda s: s["nulls"])
    return {"ok": all(i["ok"] for i in items.values()), "items": items, "outputs": got}


def check_lines(name: str, check: dict[str, Any]) -> list[str]:
    tools = " and ".join(check["outputs"])
    head = f"check {name} ({tools} outputs, read back with pyarrow): "
    lines = [head + ("OK" if check["ok"] else "DIFFERENT")]
    groups = ", ".join(f"{t} {o['row_groups']}" for t, o in check["outputs"].items())
    lines.append(f"  (not compared) row groups written: {groups}")
    for what, item in check["items"].items():
        values = item["values"]
        shown = next(iter(values.values()))
        if isinstance(shown, int):
            shown = f"{shown:,}"
        elif isinstance(shown, list | dict) and what != "pickup min/max":
            shown = f"{len(shown)} columns"
        if item["ok"]:
            truth = "" if item["truth"] is None else ", as generated"
            lines.append(f"  {what}: {shown}{truth} OK")
            continue
        lines.append(f"  {what}: DIFFERENT")
        if item["truth"] is not None:
            lines.append(f"    generated: {item['truth']}")
        for tool, value in values.items():
            if isinstance(value, dict):
                others = [v for t, v in values.items() if t != tool]
                value = {k: v for k, v in value.items() if any(o.get(k) != v for o in others)}
            elif isinstance(value, list):
                others = [v for t, v in values.items() if t != tool]
                value = [v for v in value if any(v not in o for o in others)] or value
            lines.append(f"    {tool}: {value}")
        ints = [v for v in values.values() if isinstance(v, int)]
        if len(ints) == 2 == len(values):
            (t0, v0), (t1, v1) = values.items()
            lines.append(f"    difference {t1} - {t0}: {v1 - v0:+,}")
    return lines


def bench_file(
    name: str,
    spec: MonthSpec,
    src: Path,
    truth: dict[str, Any],
    tools: list[str],
    reps: int,
    threads: str,
    show_sql: bool,
) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONWARNINGS", "ignore")
    runs: dict[str, list[Run]] = {t: [] for t in tools}
    outputs: dict[str, Path] = {}
    sequence: list[str] = []  # the order the runs happened in
    with tempfile.TemporaryDirectory(prefix="bench-parquet-") as tmp:
        dsts = {t: Path(tmp) / f"{t}.parquet" for t in tools if t != "read-only"}
        sqls = {t: duckdb_sql(src, dsts[t], spec.dataset) for t in tools if t.startswith("duckdb")}
        sql = duckdb_sql(src, dsts.get(BASELINE, Path(tmp) / "duckdb.parquet"), spec.dataset)
        if show_sql:
            print(f"\n-- {name}: the generated DuckDB statement\n{sql};\n", flush=True)
        for rep in range(reps):
            order = tools[rep % len(tools) :] + tools[: rep % len(tools)]
            for tool in order:
                dst = dsts.get(tool)
                if dst is not None:
                    dst.unlink(missing_ok=True)
                argv = command(
                    tool, spec, src, dst or Path(os.devnull), sqls.get(tool, sql), threads
                )
                run = measure(argv, dst, env)
                runs[tool].append(run)
                sequence.append(tool)
                if dst is not None:
                    outputs[tool] = dst
                print(
                    f"  {name:13} {tool:14} rep {len(runs[tool])}: {run.wall_s:7.2f}s "
                    f"{run.cpu_s:6.2f} CPU s {run.peak_rss_mb:7.0f} MB",
                    flush=True,
                )
        check = check_outputs(outputs, truth) if outputs else None
    med: dict[str, dict[str, float | None]] = {}
    for tool, rs in runs.items():
        walls, rss = [r.wall_s for r in rs], [r.peak_rss_mb for r in rs]
        med[tool] = {
            "wall_s": statistics.median(walls),
            "wall_min_s": min(walls),
            "wall_max_s": max(walls),
            "cpu_s": statistics.median(r.cpu_s for r in rs),
            "peak_rss_mb": statistics.median(rss),
            "peak_rss_min_mb": min(rss),
            "peak_rss_max_mb": max(rss),
            "out_bytes": rs[-1].out_bytes,
        }
    base = med.get(BASELINE)
    ratios = {
        f"{tool}_over_{BASELINE}": {
            "wall": _div(m["wall_s"], base["wall_s"]),
            "cpu": _div(m["cpu_s"], base["cpu_s"]),
            "peak_rss": _div(m["peak_rss_mb"], base["peak_rss_mb"]),
        }
        for tool, m in med.items()
        if base is not None and tool != BASELINE
    }
    import pyarrow.parquet as pq

    footer = pq.read_metadata(src)
    return {
        "spec": asdict(spec),
        "reps": reps,
        "src_bytes": src.stat().st_size,
        "src_row_groups": footer.num_row_groups,
        "src_codec": footer.row_group(0).column(0).compression.lower(),
        "truth": truth,
        "duckdb_sql": sql,
        "median": med,
        "ratios": ratios,
        "check": check,
        "runs": {t: [asdict(r) for r in rs] for t, rs in runs.items()},
        "sequence": sequence,
    }


def _div(a: float | None, b: float | None) -> float:
    return float("nan") if a is None or not b else a / b


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None or value != value else format(value, spec) + unit


def table(name: str, r: dict[str, Any]) -> str:
    spec, med = r["spec"], r["median"]
    lines = [
        f"### {name}: {spec['dataset']} {spec['year']}-{spec['month']:02}, {spec['rows']:,} rows, "
        f"{r['src_row_groups']} row group(s) of up to {spec['row_group_rows']:,} rows, "
        f"{r['src_bytes'] / 1e6:.1f} MB {r.get('src_codec', '?')} parquet, "
        f"medians of {r.get('reps', '?')}",
        "",
        f"| tool | wall s, median (min-max) | /{BASELINE} | CPU s | /{BASELINE} CPU "
        "| peak RSS MB, median (min-max) | output MB |",
        "|---|---|---|---|---|---|---|",
    ]
    base = med.get(BASELINE, {})
    for tool, m in med.items():
        out = m["out_bytes"]
        cells = [
            tool,
            f"{m['wall_s']:.2f} ({m['wall_min_s']:.2f}-{m['wall_max_s']:.2f})",
            _fmt(_div(m["wall_s"], base.get("wall_s")), ".2f"),
            f"{m['cpu_s']:.2f}",
            _fmt(_div(m["cpu_s"], base.get("cpu_s")), ".2f"),
            f"{m['peak_rss_mb']:.0f} ({m['peak_rss_min_mb']:.0f}-{m['peak_rss_max_mb']:.0f})",
            "-" if out is None else f"{out / 1e6:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def flatness(results: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Peak RSS of the 4 M-row month over the 1 M-row month, per tool."""
    if not {"fhvhv-1m", "fhvhv-4m"} <= results.keys():
        return None
    small, large = results["fhvhv-1m"]["median"], results["fhvhv-4m"]["median"]
    out: dict[str, Any] = {}
    for tool in small.keys() & large.keys():
        a, b = small[tool]["peak_rss_mb"], large[tool]["peak_rss_mb"]
        out[tool] = {"rss_1m_mb": a, "rss_4m_mb": b, "ratio": _div(b, a), "max_mb": max(a, b)}
    return out


def flatness_line(flat: dict[str, Any]) -> str:
    parts = []
    if "project" in flat:
        p = flat["project"]
        ratio_ok = "met" if p["ratio"] <= TARGET_FLATNESS else "NOT met"
        abs_ok = "met" if p["max_mb"] <= TARGET_RSS_MB else "NOT met"
        parts.append(
            f"RSS flatness: project peak RSS fhvhv-4m / fhvhv-1m = {p['rss_4m_mb']:.0f} / "
            f"{p['rss_1m_mb']:.0f} MB = {p['ratio']:.2f} (target <= {TARGET_FLATNESS}: "
            f"{ratio_ok}); largest {p['max_mb']:.0f} MB (target <= {TARGET_RSS_MB:.0f} MB: "
            f"{abs_ok})."
        )
    others = [
        f"{t} {f['rss_4m_mb']:.0f} / {f['rss_1m_mb']:.0f} MB = {f['ratio']:.2f}"
        for t, f in sorted(flat.items())
        if t != "project"
    ]
    if others:
        parts.append("Same ratio for " + ", ".join(others) + ".")
    return " ".join(parts)


def real_size(results: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Issue item 9 on the one-row-group month: project peak RSS <= TARGET_RSS_MB and
    project wall time below DuckDB's (each DuckDB variant measured)."""
    r = next((r for r in results.values() if r["spec"]["one_group"]), None)
    if r is None or "project" not in r["median"]:
        return None
    med = r["median"]
    p = med["project"]
    out: dict[str, Any] = {
        "rows": r["spec"]["rows"],
        "project_rss_mb": p["peak_rss_mb"],
        "rss_met": p["peak_rss_max_mb"] <= TARGET_RSS_MB,
        "project_wall_s": p["wall_s"],
        "vs": {},
    }
    for tool, m in med.items():
        if tool.startswith("duckdb"):
            out["vs"][tool] = {
                "wall_s": m["wall_s"],
                "wall_ratio": _div(p["wall_s"], m["wall_s"]),
                "rss_mb": m["peak_rss_mb"],
                "rss_ratio": _div(p["peak_rss_mb"], m["peak_rss_mb"]),
                "met": p["wall_max_s"] < m["wall_min_s"],
            }
    return out


def real_size_line(real: dict[str, Any]) -> str:
    worst = "met" if real["rss_met"] else "NOT met"
    parts = [
        f"Real size ({real['rows']:,} rows, one row group): project peak RSS "
        f"{real['project_rss_mb']:.0f} MB (target <= {TARGET_RSS_MB:.0f} MB on every run: "
        f"{worst}), wall {real['project_wall_s']:.2f}s"
    ]
    for tool, v in real["vs"].items():
        ok = "met" if v["met"] else "NOT met"
        parts.append(
            f"{v['wall_ratio']:.2f}x {tool}'s {v['wall_s']:.2f}s (slowest project run under "
            f"the fastest {tool} run: {ok}), RSS {v['rss_ratio']:.3f}x its {v['rss_mb']:.0f} MB"
        )
    return "; ".join(parts) + "."


def duckdb_settings(threads: str) -> dict[str, str]:
    """DuckDB's effective settings in a fresh connection, as the measured process gets them."""
    out = subprocess.run(
        [sys.executable, "-c", _DUCKDB_SETTINGS, threads], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"reading DuckDB's settings failed:\n{out.stderr[-2000:]}")
    return dict(json.loads(out.stdout))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", choices=list(FILES), default=list(FILES))
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(DEFAULT_TOOLS))
    parser.add_argument("--reps", type=int, default=3, help="repetitions per tool and month")
    parser.add_argument(
        "--large-reps",
        type=int,
        default=1,
        help=f"repetitions for months of {LARGE_ROWS:,} rows or more (default %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="fhvhv-1m only, 2 repetitions")
    parser.add_argument(
        "--row-group-rows",
        type=int,
        default=MonthSpec.row_group_rows,
        help="rows per row group of the generated months but the one-group ones "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--duckdb-threads", type=int, help="SET threads for DuckDB (default: DuckDB's own)"
    )
    parser.add_argument(
        "--show-sql", action="store_true", help="print the generated DuckDB statement"
    )
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "bench" / "tlc")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "parquet.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.reps = ["fhvhv-1m"], 2
    threads = "default" if args.duckdb_threads is None else str(args.duckdb_threads)
    specs = {
        n: s if s.one_group else dataclasses.replace(s, row_group_rows=args.row_group_rows)
        for n, s in FILES.items()
    }
    reps = {n: args.large_reps if s.rows >= LARGE_ROWS else args.reps for n, s in specs.items()}
    t_start = time.perf_counter()

    import pyarrow

    months = {name: ensure_month(args.cache, name, specs[name]) for name in args.files}
    settings = duckdb_settings(threads) if "duckdb" in args.tools else {}
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results = {
        name: bench_file(
            name, specs[name], *months[name], list(args.tools), reps[name], threads, args.show_sql
        )
        for name in args.files
    }
    load_after = os.getloadavg()
    total_s = time.perf_counter() - t_start
    flat = flatness(results)
    real = real_size(results)
    report: dict[str, Any] = {
        "started": started,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "pyarrow": pyarrow.__version__,
            "duckdb": metadata.version("duckdb"),
            "load_avg_before": load_before,
            "load_avg_after": load_after,
        },
        "duckdb": {"threads_requested": threads, "settings": settings},
        "reps": {name: reps[name] for name in args.files},
        "tools": list(args.tools),
        "total_s": total_s,
        "files": results,
        "rss_flatness": flat,
        "real_size": real,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print()
    for name, r in results.items():
        print(table(name, r))
        print()
        if r["check"] is not None:
            print("\n".join(check_lines(name, r["check"])))
            print()
    if flat is not None:
        print(flatness_line(flat))
    if real is not None:
        print(real_size_line(real))
    if settings:
        how = "its default" if threads == "default" else "--duckdb-threads"
        print(
            f"DuckDB {report['machine']['duckdb']}: threads {settings['threads']} ({how}; "
            f"{os.cpu_count()} cores), memory_limit {settings['memory_limit']}, "
            f"preserve_insertion_order {settings['preserve_insertion_order']}."
        )
    print(
        "medians of each month's runs; whole-process wall time and peak RSS (wait4), imports "
        f"included; ratios are tool/{BASELINE} (< 1 means faster or smaller than DuckDB). "
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
        f"{total_s / 60:.1f} min in all (generation included). JSON: {args.out}"
    )
    checks = [r["check"]["ok"] for r in results.values() if r["check"] is not None]
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
