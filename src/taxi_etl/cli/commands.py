"""The subcommands: run, backfill, convert and demo. Each returns its exit status."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from taxi_etl.cli import running
from taxi_etl.cli.output import console, convert_report, lake_summary, out, results_table
from taxi_etl.params import (
    TLC_FIRST_MONTH,
    Colour,
    LakeSpec,
    ParameterError,
    Source,
    check_concurrency,
    check_exists,
    explain,
    parse_month_range,
    parse_months,
    previous_month,
    validate,
)
from taxi_etl.pipeline import MonthResult, MonthStatus


def source_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The source and lake options as flow parameters, so the run's page shows them;
    the cache is this machine's business, a setting. A bad value fails here."""
    from pydantic import ValidationError

    from taxi_etl.settings import Settings

    given = {
        name: getattr(args, name, None)
        for name in ("lake", "source_url", "source", "runner", "dask_address", "cache")
    }
    for name, value in given.items():
        if isinstance(value, str) and not value.strip():  # not the default: refused
            raise ParameterError(f"{name}: {value!r} is empty")
    try:
        cfg = Settings.with_overrides(**given)
    except ValidationError as exc:
        raise ParameterError(explain(exc)) from None
    _check_writable(cfg.lake)
    if given.pop("cache"):
        os.environ.update(Settings.of(cache=args.cache).env())
    return given


def _check_writable(lake: str) -> None:
    """A local lake this process cannot write is refused now, not after a download
    and a transform (GCS permissions are known only by trying)."""
    where = LakeSpec.parse(lake)
    if where.kind != "path":
        return
    folder = Path(where.where).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ParameterError(f"lake: {lake!r} is not writable ({folder} is not a directory)")
    if not os.access(folder, os.W_OK | os.X_OK):  # a read-only mount, for root too
        raise ParameterError(f"lake: {lake!r} is not writable ({folder})")


def load_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """Every loading option as a flow parameter."""
    concurrency = check_concurrency(args.concurrency)
    return {"force": args.force, "concurrency": concurrency, **source_parameters(args)}


def _source(parameters: dict[str, Any]) -> Source:
    from taxi_etl.settings import Settings

    return Source(parameters.get("source") or Settings().source)


def cmd_run(args: argparse.Namespace) -> int:
    run = validate(args.colour, args.year, parse_months(args.months))
    parameters = load_parameters(args)
    check_exists(_source(parameters), run.colour, [(run.year, m) for m in run.months])
    t0 = time.perf_counter()
    state = running.run(
        "etl_parent_flow", months=run.months, year=run.year, colour=run.colour, **parameters
    )
    ok, results = running.finished(state)
    title = f"{run.colour} {run.year} in {time.perf_counter() - t0:.1f}s"
    out.print(results_table(title, results))
    return 0 if ok else 1


def _with_progress(title: str, total: int, run: Callable[[], Any]) -> tuple[bool, list[Any]]:
    """Run a flow with a progress bar that moves as each month ends."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn())
    with Progress(*columns, MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        job = bar.add_task(title, total=total)

        def tick(result: MonthResult) -> None:
            bar.update(job, advance=1, description=f"{result.partition}: {result.status}")

        with running.month_listener(tick):
            state = run()
    return running.finished(state)


def _report(title: str, ok: bool, results: list[MonthResult]) -> int:
    out.print(results_table(title, results))
    unpublished = [r.partition.ym for r in results if r.status is MonthStatus.not_published]
    if unpublished:
        out.print(f"not published (yet): {', '.join(unpublished)}")
    return 0 if ok else 1


def cmd_backfill(args: argparse.Namespace) -> int:
    colour = validate(args.colour, 2019, [1]).colour
    pairs = parse_month_range(args.range)
    parameters = load_parameters(args)
    check_exists(_source(parameters), colour, pairs)
    t0 = time.perf_counter()
    ok, results = _with_progress(
        f"backfill {colour} {args.range}",
        len(pairs),
        lambda: running.run("etl_backfill_flow", months=args.range, colour=colour, **parameters),
    )
    return _report(
        f"backfill {colour} {args.range} in {time.perf_counter() - t0:.1f}s", ok, results
    )


def cmd_catchup(args: argparse.Namespace) -> int:
    colour = validate(args.colour, 2019, [1]).colour
    parameters = load_parameters(args)
    parameters["source"] = parameters["source"] or Source.tlc
    start = args.start or "{}-{:02d}".format(*TLC_FIRST_MONTH[colour])
    end = args.end or "{}-{:02d}".format(*previous_month(datetime.now(UTC)))
    pairs = parse_month_range(f"{start}..{end}")
    check_exists(parameters["source"], colour, pairs)
    t0 = time.perf_counter()
    ok, results = _with_progress(
        f"catch-up {colour} from {start}",
        len(pairs),
        lambda: running.run("etl_catchup_flow", colour=colour, start=start, end=end, **parameters),
    )
    return _report(
        f"catch-up {colour} {start}..{end} in {time.perf_counter() - t0:.1f}s", ok, results
    )


def cmd_convert(args: argparse.Namespace) -> int:
    """The transform and the checks a run applies, on a local file. Written beside the
    destination first and moved into place only if no *fail* check failed, so a month
    `run` would refuse leaves no file here either."""
    from taxi_etl import quality, transform

    colour = Colour(args.colour)
    if not args.src.is_file():
        raise ParameterError(f"src: {args.src} is not a file")
    dst: Path = args.dst
    extra = transform.extra_path(dst)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.convert")
    tmp_extra = tmp.with_suffix(".extra")
    t0 = time.perf_counter()
    try:
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
                args.src, tmp, colour, year=args.year, month=args.month, progress=tick,
                extra=tmp_extra,
            )  # fmt: skip
        checks = quality.run_checks(stats, tmp)
        for line in convert_report(stats, checks, extra):
            out.print(line)
        failed = quality.failures(checks)
        if failed:
            out.print(f"failed: {args.src.name}: not written: " + quality.describe(failed))
            return 1
        os.replace(tmp, dst)
        if tmp_extra.exists():
            os.replace(tmp_extra, extra)
        else:
            extra.unlink(missing_ok=True)  # an earlier conversion's, not this one's
    finally:
        tmp.unlink(missing_ok=True)
        tmp_extra.unlink(missing_ok=True)
    outside = stats.outside_month if stats.outside_month is not None else "n/a"
    out.print(
        f"{dst}: {stats.rows:,} rows, {stats.bytes:,} bytes, {outside} pickups "
        f"outside the month, {time.perf_counter() - t0:.2f}s"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Every partition against its manifest; exit 1 if any is bad or anything is
    orphaned (with --repair: after repairing)."""
    from taxi_etl import pipeline, verify
    from taxi_etl.settings import Settings

    if args.lake is not None and not args.lake.strip():
        raise ParameterError(f"lake: {args.lake!r} is empty")
    try:
        cfg = Settings.with_overrides(lake=args.lake)
    except ValidationError as exc:
        raise ParameterError(explain(exc)) from None
    lake = pipeline.lake_of(cfg)
    colours = [Colour(args.colour)] if args.colour else list(Colour)
    with console.status(f"verifying {lake.uri}"):
        report = verify.verify(lake, colours, deep=args.deep, cache=cfg.cache)
    for key, found in report.bad.items():
        out.print(f"bad: {key}: {'; '.join(found)}")
    for key in report.unfinished:
        out.print(f"unfinished publish: {key} (its pending manifest vouches for the data)")
    for orphan in report.orphans:
        out.print(f"orphan: {orphan}")
    older = f", {len(report.older)} of an older schema" if report.older else ""
    out.print(
        f"{lake.uri}: {report.partitions} partitions, {len(report.bad)} bad, "
        f"{len(report.orphans)} orphans{older}"
    )
    if args.repair and not report.ok:
        verify.repair(lake, report, cfg.cache)
        out.print("repaired: damaged partitions moved aside (the next run loads them again), "
                  "orphans removed")
    return 0 if report.ok else 1


def cmd_zones(args: argparse.Namespace) -> int:
    """The zone lookup into the lake, without Prefect: a small file, one step."""
    from taxi_etl import pipeline, zones
    from taxi_etl.settings import Settings

    parameters = source_parameters(args)
    cfg = Settings.with_overrides(
        lake=parameters["lake"], source_url=parameters["source_url"], source=parameters["source"]
    )
    manifest, new = zones.load_zones(pipeline.lake_of(cfg), cfg)
    state = "new revision" if new else "already in the lake"
    out.print(
        f"zones revision {manifest.revision}: {manifest.rows} zones from {manifest.source_url} "
        f"({state})"
    )
    return 0


def _demo_course(lake: str, url: str) -> bool:
    """The course's flows on its mirror's months, as the course runs them."""
    from taxi_etl.devtools import demo

    ok = True
    for month_set in demo.DEMO_SETS:
        state = running.run(
            "etl_parent_flow",
            months=list(month_set.months),
            year=month_set.year,
            colour=month_set.colour,
            lake=lake,
            source_url=url,
        )
        good, results = running.finished(state)
        ok &= good
        out.print(results_table(f"{month_set.colour} {month_set.year} (course mirror)", results))
    return ok


def _demo_tlc(lake: str, url: str) -> bool:
    """The TLC's own files: a month of every kind, then a catch-up to the newest."""
    from taxi_etl.devtools import demo

    ok = True
    for tlc_set in demo.DEMO_TLC_SETS:
        parameters = {"colour": tlc_set.dataset, "year": tlc_set.year, "source": "tlc"}
        state = running.run(
            "etl_parent_flow", months=list(tlc_set.months), lake=lake, source_url=url, **parameters
        )
        good, results = running.finished(state)
        ok &= good
        out.print(results_table(f"{tlc_set.dataset} {tlc_set.year} (TLC)", results))
    dataset, first, _ = demo.CATCH_UP
    start = "{}-{:02d}".format(*first)
    state = running.run(
        "etl_catchup_flow", colour=dataset, start=start, source="tlc", lake=lake, source_url=url
    )
    good, results = running.finished(state)
    out.print(results_table(f"catch-up {dataset} from {start} (TLC)", results))
    return ok and good


def cmd_demo(args: argparse.Namespace) -> int:
    from taxi_etl.devtools import demo, mirror, tlc_mirror
    from taxi_etl.settings import Settings

    base = Path(args.dir)
    lake = str(args.lake or base / "lake")
    os.environ.update(Settings.of(cache=base / "cache").env())
    with tempfile.TemporaryDirectory(prefix="taxi-etl-mirror-") as tmp:
        with console.status("generating sample months"):
            demo.write_months(Path(tmp), demo.DEMO_SETS, args.rows)
            tlc_sets = [*demo.DEMO_TLC_SETS, *tlc_mirror.sets_of(demo.catch_up_months())]
            tlc_mirror.write_tlc_months(Path(tmp), tlc_sets, max(1, args.rows // 10))
            tlc_mirror.write_zone_files(Path(tmp))
        with mirror.serve(Path(tmp), missing=tlc_mirror.MISSING) as url:
            console.print(f"serving sample months at {url}")
            ok = _demo_course(lake, url)
            ok &= _demo_tlc(lake, tlc_mirror.tlc_base_url(url))
    out.print(lake_summary(lake))
    return 0 if ok else 1
