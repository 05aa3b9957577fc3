"""The subcommands: run, backfill, convert and demo. Each returns its exit status."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from taxi_etl.cli import running
from taxi_etl.cli.output import console, lake_summary, out, results_table
from taxi_etl.params import (
    Colour,
    ParameterError,
    check_concurrency,
    explain,
    parse_month_range,
    parse_months,
    validate,
)
from taxi_etl.pipeline import MonthResult, MonthStatus


def load_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The loading options as flow parameters, so the run's page shows them; the cache
    is this machine's business, a setting. A bad value fails here, before any run."""
    from pydantic import ValidationError

    from taxi_etl.settings import Settings

    given = {
        name: getattr(args, name, None)
        for name in ("lake", "source_url", "runner", "dask_address", "cache")
    }
    try:
        Settings.with_overrides(**given)
    except ValidationError as exc:
        raise ParameterError(explain(exc)) from None
    if given.pop("cache"):
        os.environ.update(Settings.of(cache=args.cache).env())
    return {"force": args.force, "concurrency": check_concurrency(args.concurrency), **given}


def cmd_run(args: argparse.Namespace) -> int:
    run = validate(args.colour, args.year, parse_months(args.months))
    parameters = load_parameters(args)
    t0 = time.perf_counter()
    state = running.run_parent(
        months=run.months, year=run.year, colour=run.colour, **parameters
    )
    ok, results = running.finished(state)
    title = f"{run.colour} {run.year} in {time.perf_counter() - t0:.1f}s"
    out.print(results_table(title, results))
    return 0 if ok else 1


def cmd_backfill(args: argparse.Namespace) -> int:
    colour = validate(args.colour, 2019, [1]).colour
    pairs = parse_month_range(args.range)
    parameters = load_parameters(args)
    t0 = time.perf_counter()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn())
    with Progress(
        *columns, MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        job = bar.add_task(f"backfill {colour} {args.range}", total=len(pairs))

        def tick(result: MonthResult) -> None:
            bar.update(job, advance=1, description=f"{result.partition}: {result.status}")

        with running.month_listener(tick):
            state = running.run_backfill(months=args.range, colour=colour, **parameters)
    ok, results = running.finished(state)
    title = f"backfill {colour} {args.range} in {time.perf_counter() - t0:.1f}s"
    out.print(results_table(title, results))
    unpublished = [r.partition.ym for r in results if r.status is MonthStatus.not_published]
    if unpublished:
        out.print(f"not published (yet): {', '.join(unpublished)}")
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
    outside = stats.outside_month if stats.outside_month is not None else "n/a"
    out.print(
        f"{args.dst}: {stats.rows:,} rows, {stats.bytes:,} bytes, {outside} pickups "
        f"outside the month, {time.perf_counter() - t0:.2f}s"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from taxi_etl.devtools import demo, mirror
    from taxi_etl.settings import Settings

    base = Path(args.dir)
    lake = str(args.lake or base / "lake")
    os.environ.update(Settings.of(cache=base / "cache").env())
    ok = True
    with tempfile.TemporaryDirectory(prefix="taxi-etl-mirror-") as tmp:
        with console.status("generating sample months"):
            demo.write_months(Path(tmp), demo.DEMO_SETS, args.rows)
        with mirror.serve(Path(tmp)) as url:
            console.print(f"serving sample months at {url}")
            for month_set in demo.DEMO_SETS:
                state = running.run_parent(
                    months=list(month_set.months),
                    year=month_set.year,
                    colour=month_set.colour,
                    lake=lake,
                    source_url=url,
                )
                good, results = running.finished(state)
                ok &= good
                title = f"{month_set.colour} {month_set.year}"
                out.print(results_table(title, results))
    out.print(lake_summary(lake))
    return 0 if ok else 1
