"""The ``taxi-etl`` command. Exit status: 0 success, 2 bad parameters, 1 failure.

Prefect is imported only by the commands that run flows, so ``convert`` starts fast
and small. Flows run on Prefect's embedded (ephemeral) API unless PREFECT_API_URL
points at a server; its state lives in ``./.prefect`` unless PREFECT_HOME says else.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from taxi_etl import embedded
from taxi_etl.compat import silence_prefect2_deprecations
from taxi_etl.params import (
    Colour,
    ParameterError,
    Runner,
    check_concurrency,
    explain,
    parse_month_range,
    parse_months,
    validate,
)

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def prefect_env() -> None:
    """Defaults for the embedded mode; must run before prefect is imported."""
    embedded.configure()
    silence_prefect2_deprecations()


def _apply_overrides(args: argparse.Namespace) -> None:
    for flag, env in (
        ("lake", "TAXI_ETL_LAKE"),
        ("source_url", "TAXI_ETL_SOURCE_URL"),
        ("cache", "TAXI_ETL_CACHE"),
        ("runner", "TAXI_ETL_RUNNER"),
        ("dask_address", "TAXI_ETL_DASK_ADDRESS"),
    ):
        value = getattr(args, flag, None)
        if value:
            os.environ[env] = str(value)
    from pydantic import ValidationError

    from taxi_etl.settings import Settings

    try:
        Settings()  # a bad flag or TAXI_ETL_* value fails here, before any run starts
    except ValidationError as exc:
        raise ParameterError(explain(exc)) from None


def _results_table(title: str, results: Sequence[Any]) -> Table:
    table = Table(title=title)
    for name in ("month", "status", "rows", "outside month", "detail"):
        right = name in ("rows", "outside month")
        # Fold rather than truncate: a path or an error is no use cut short.
        table.add_column(name, justify="right" if right else "left", overflow="fold")
    for r in results:
        year, month = (p.split("=")[1] for p in r.partition.split("/")[1:3])
        table.add_row(
            f"{year}-{month}",
            r.status,
            f"{r.rows:,}" if r.rows is not None else "",
            f"{r.outside_month:,}" if r.outside_month is not None else "",
            r.error or r.uri or "",
        )
    return table


def _run_parent(
    colour: Colour, year: int, months: list[int], *, force: bool, concurrency: int
) -> tuple[bool, list[Any]]:
    """Run the parent flow; return (ok, per-month results)."""
    prefect_env()
    from taxi_etl import flows

    state = flows.run_parent(
        months=months, year=year, colour=colour, force=force, concurrency=concurrency
    )
    embedded.record_full_start()
    return flows.outcome(state)


def cmd_run(args: argparse.Namespace) -> int:
    run = validate(args.colour, args.year, parse_months(args.months))
    check_concurrency(args.concurrency)
    _apply_overrides(args)
    t0 = time.perf_counter()
    ok, results = _run_parent(
        run.colour, run.year, run.months, force=args.force, concurrency=args.concurrency
    )
    out.print(
        _results_table(f"{run.colour} {run.year} in {time.perf_counter() - t0:.1f}s", results)
    )
    return 0 if ok else 1


def cmd_convert(args: argparse.Namespace) -> int:
    from taxi_etl import transform

    colour = Colour(args.colour)
    if not args.src.is_file():
        raise ParameterError(f"src: {args.src} is not a file")
    t0 = time.perf_counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        job = bar.add_task(f"converting {args.src.name}", total=None)

        def tick(rows: int) -> None:
            bar.update(job, description=f"converting {args.src.name}: {rows:,} rows")

        stats = transform.convert(
            args.src, args.dst, colour, year=args.year, month=args.month, progress=tick
        )
    out.print(
        f"{args.dst}: {stats.rows:,} rows, {stats.bytes:,} bytes, "
        f"{stats.outside_month if stats.outside_month is not None else 'n/a'} pickups "
        f"outside the month, {time.perf_counter() - t0:.2f}s"
    )
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    colour = validate(args.colour, 2019, [1]).colour
    pairs = parse_month_range(args.range)
    check_concurrency(args.concurrency)
    _apply_overrides(args)
    prefect_env()
    from taxi_etl import flows

    t0 = time.perf_counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        job = bar.add_task(f"backfill {colour} {args.range}", total=len(pairs))

        def tick(result: Any) -> None:
            bar.update(job, advance=1, description=f"{result.partition}: {result.status}")

        flows.progress_listeners.append(tick)
        try:
            state = flows.run_flow(
                flows.etl_backfill_flow,
                months=args.range,
                colour=colour,
                force=args.force,
                concurrency=args.concurrency,
            )
        finally:
            flows.progress_listeners.remove(tick)
    embedded.record_full_start()
    ok, results = flows.outcome(state)
    out.print(
        _results_table(
            f"backfill {colour} {args.range} in {time.perf_counter() - t0:.1f}s", results
        )
    )
    unpublished = [r.partition for r in results if r.status == "not_published"]
    if unpublished:
        out.print(f"not published (yet): {', '.join(unpublished)}")
    return 0 if ok else 1


DEMO_MONTHS: list[tuple[Colour, int, list[int]]] = [
    (Colour.yellow, 2021, [1, 2, 3]),
    (Colour.green, 2020, [1, 2]),
    (Colour.fhv, 2019, [1, 2]),
]


def _demo_mirror(root: Path, rows: int) -> None:
    """Sample months covering the header and number-format variants of the real files."""
    from taxi_etl import sample

    for colour, year, months in DEMO_MONTHS:
        for i, month in enumerate(months):
            path = root / colour.value / f"{colour.value}_tripdata_{year}-{month:02d}.csv.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            # fhv January in the original 6-column header; a later yellow month with
            # integer codes written as floats, as the 2021-06 release does.
            header = "fhv_2019" if colour is Colour.fhv and i == 0 else None
            sample.generate_month(
                path,
                colour.value,
                year,
                month,
                rows if colour is not Colour.green else rows // 3,
                seed=month,
                header=header,
                ints_as_floats=colour is Colour.yellow and i == 2,
            )


def cmd_demo(args: argparse.Namespace) -> int:
    from taxi_etl import mirror

    base = Path(args.dir)
    os.environ["TAXI_ETL_LAKE"] = str(args.lake or base / "lake")
    os.environ["TAXI_ETL_CACHE"] = str(base / "cache")
    ok = True
    with tempfile.TemporaryDirectory(prefix="taxi-etl-mirror-") as tmp:
        with console.status("generating sample months"):
            _demo_mirror(Path(tmp), args.rows)
        with mirror.serve(Path(tmp)) as url:
            os.environ["TAXI_ETL_SOURCE_URL"] = url
            console.print(f"serving sample months at {url}")
            for colour, year, months in DEMO_MONTHS:
                good, results = _run_parent(colour, year, months, force=False, concurrency=2)
                ok &= good
                out.print(_results_table(f"{colour} {year}", results))
    out.print(lake_summary(os.environ["TAXI_ETL_LAKE"]))
    return 0 if ok else 1


def lake_summary(lake_path: str) -> Table:
    """Read each colour back as one dataset: one schema, and its total rows."""
    import pyarrow.dataset as ds

    table = Table(title=f"lake {lake_path}")
    for name in ("colour", "partitions", "rows", "columns", "one schema"):
        table.add_column(name)
    for colour in Colour:
        root = Path(lake_path) / f"colour={colour.value}"
        if not root.is_dir():
            continue
        dataset = ds.dataset(root, format="parquet", partitioning="hive")
        schemas = {f.physical_schema.remove_metadata() for f in dataset.get_fragments()}
        table.add_row(
            colour.value,
            str(len(dataset.files)),
            f"{dataset.count_rows():,}",
            str(len(dataset.schema)),
            "yes" if len(schemas) == 1 else "NO",
        )
    return table


def _load_options(parser: argparse.ArgumentParser) -> None:
    """The options every loading command shares; each one maps onto a setting."""
    parser.add_argument("--lake", help="directory, gs://BUCKET[/PREFIX] or gcs-block://NAME")
    parser.add_argument("--source-url", help="base URL of the csv.gz releases")
    parser.add_argument("--cache", help="download cache directory")
    parser.add_argument("--force", action="store_true", help="reload months already loaded")
    parser.add_argument("--concurrency", type=int, default=2, help="months loaded at once")
    parser.add_argument(
        "--runner",
        choices=[r.value for r in Runner],
        help="local: child flows here; dask: a task per month on Dask [local, or dask "
        "when a Dask address is set]",
    )
    parser.add_argument(
        "--dask-address", help="scheduler of an existing Dask cluster, e.g. tcp://HOST:8786"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxi-etl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    colours = [c.value for c in Colour]

    run = sub.add_parser("run", help="load months of one colour into the lake")
    run.add_argument("--colour", "--color", required=True, choices=colours)
    run.add_argument("--year", required=True, type=int)
    run.add_argument(
        "--months", required=True, nargs="+", help="month numbers: 1 2 3, 1,2,3 or 1-3"
    )
    _load_options(run)
    run.set_defaults(func=cmd_run)

    back = sub.add_parser("backfill", help="load a month range, resumably, across years")
    back.add_argument("colour", choices=colours)
    back.add_argument("range", help="YYYY-MM..YYYY-MM, inclusive, e.g. 2019-01..2021-07")
    _load_options(back)
    back.set_defaults(func=cmd_backfill)

    conv = sub.add_parser("convert", help="transform one local csv.gz into parquet")
    conv.add_argument("--colour", "--color", required=True, choices=colours)
    conv.add_argument("--year", type=int, help="partition year (default: from the file name)")
    conv.add_argument("--month", type=int, help="partition month (default: from the file name)")
    conv.add_argument("src", type=Path)
    conv.add_argument("dst", type=Path)
    conv.set_defaults(func=cmd_convert)

    demo = sub.add_parser("demo", help="offline: sample months over a local mirror into a lake")
    demo.add_argument("--dir", default="data/demo", help="where the demo keeps lake and cache")
    demo.add_argument("--lake", help="lake for the demo (default: DIR/lake)")
    demo.add_argument("--rows", type=int, default=100_000, help="rows per sample month")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ParameterError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]")
        return 130
    except Exception as exc:
        console.print(f"[red]failed:[/red] {type(exc).__name__}: {exc}")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
