"""The deployable flows over many months: the course's parent flow, a backfill over a
range, and the catch-up a monthly schedule runs. Each builds a ``fanout.MonthsRun``
and hands it to the fan-out; no business logic lives here.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from taxi_etl.orchestration import fanout, orphans
from taxi_etl.orchestration.compat import prepare_result_storage, state_result
from taxi_etl.orchestration.month_tasks import load_zones
from taxi_etl.orchestration.notifications import notify_failure
from taxi_etl.params import (
    TLC_FIRST_MONTH,
    Colour,
    Concurrency,
    DaskAddress,
    Month,
    MonthRange,
    ParameterError,
    Runner,
    Source,
    Year,
    YearMonth,
    check_exists,
    parse_month_range,
    previous_month,
)
from taxi_etl.params import validate as validate_params
from taxi_etl.pipeline import MonthResult
from taxi_etl.settings import Settings


def resolve_months(months: list[int] | None, year: int | None) -> tuple[int, list[int]]:
    """Explicit months, or the month before the scheduled start when both are omitted."""
    if months is None and year is None:
        start = flow_run.scheduled_start_time
        y, m = previous_month(start)
        return y, [m]
    if year is None:
        raise ParameterError("year: required when months are given")
    if months is None:
        raise ParameterError("months: required when year is given")
    return year, months


async def _run(run: fanout.MonthsRun, summary: str, *, fail_unpublished: bool) -> list[MonthResult]:
    """The parent, backfill and catch-up flows' common body: reap what an earlier run
    that died left Running, run the months, then the summary and the failure report."""
    check_exists(run.cfg.source, run.colour, run.months)
    await orphans.reap()
    await prepare_result_storage()
    results = await fanout.run_months(run)
    return await fanout.finish(results, summary, fail_unpublished=fail_unpublished)


# The flows' Args blocks repeat each other on purpose: Prefect reads each flow's
# docstring for the UI's parameter descriptions.
@flow(
    name="etl_parent_flow",
    on_failure=[notify_failure],
    on_crashed=[notify_failure],  # type: ignore[list-item,unused-ignore]  # 2.x types: sync hooks
)
async def etl_parent_flow(
    months: list[Month] | None = None,
    year: Year | None = None,
    colour: Colour = Colour.yellow,
    force: bool = False,
    concurrency: Concurrency = 2,
    lake: str | None = None,
    source_url: str | None = None,
    runner: Runner | None = None,
    dask_address: DaskAddress | None = None,
    source: Source | None = None,
) -> list[MonthResult]:
    """Load several months of one colour, a bounded number at a time.

    Args:
        months: Months to load (1-12). Leave empty together with year on a schedule
            to load the month before the run's scheduled start.
        year: Year of the months.
        colour: yellow, green, fhv or fhvhv.
        force: Reload months even if the lake already holds this version of them.
        concurrency: How many months load at once (on Dask without an address: the
            local cluster's worker count).
        lake: Lake location (directory, gs://bucket[/prefix], gcs-block://name);
            defaults to TAXI_ETL_LAKE.
        source_url: Base URL of the source's files; defaults to TAXI_ETL_SOURCE_URL,
            else the source's own host.
        runner: local (child flows in this process) or dask (one task per month on a
            Dask cluster); defaults to TAXI_ETL_RUNNER, else dask when a Dask address
            is set, else local.
        dask_address: Scheduler of an existing Dask cluster (tcp://host:8786);
            defaults to TAXI_ETL_DASK_ADDRESS, else a temporary local cluster.
        source: dtc (the course's csv.gz mirror) or tlc (the TLC's parquet files);
            defaults to TAXI_ETL_SOURCE, else dtc.
    """
    year, months = resolve_months(months, year)
    params = validate_params(colour, year, months)
    run = fanout.MonthsRun(
        params.colour,
        [(params.year, m) for m in params.months],
        force=force,
        concurrency=concurrency,
        cfg=Settings.with_overrides(lake=lake, source_url=source_url, source=source),
        runner=runner,
        dask_address=dask_address,
    )
    return await _run(run, f"{params.colour.value}-{params.year}", fail_unpublished=True)


@flow(
    name="etl_backfill_flow",
    on_failure=[notify_failure],
    on_crashed=[notify_failure],  # type: ignore[list-item,unused-ignore]  # 2.x types: sync hooks
)
async def etl_backfill_flow(
    months: MonthRange,
    colour: Colour = Colour.yellow,
    force: bool = False,
    concurrency: Concurrency = 2,
    lake: str | None = None,
    source_url: str | None = None,
    runner: Runner | None = None,
    dask_address: DaskAddress | None = None,
    source: Source | None = None,
) -> list[MonthResult]:
    """Load a range of months that may span years; resumable.

    Months the lake holds in the version their host has now are skipped without a
    download or a run, so an interrupted backfill picks up where it stopped and a
    re-run reloads only what was republished. Months the source has not published are
    reported at the end; any other failure fails the run after the rest finished.

    Args:
        months: Inclusive range YYYY-MM..YYYY-MM, e.g. 2019-01..2021-07.
        colour: yellow, green, fhv or fhvhv.
        force: Reload months even if the lake already holds them.
        concurrency: How many months load at once (on Dask without an address: the
            local cluster's worker count).
        lake: Lake location (directory, gs://bucket[/prefix], gcs-block://name);
            defaults to TAXI_ETL_LAKE.
        source_url: Base URL of the source's files; defaults to TAXI_ETL_SOURCE_URL,
            else the source's own host.
        runner: local (child flows in this process) or dask (one task per month on a
            Dask cluster); defaults to TAXI_ETL_RUNNER, else dask when a Dask address
            is set, else local.
        dask_address: Scheduler of an existing Dask cluster (tcp://host:8786);
            defaults to TAXI_ETL_DASK_ADDRESS, else a temporary local cluster.
        source: dtc (the course's csv.gz mirror) or tlc (the TLC's parquet files);
            defaults to TAXI_ETL_SOURCE, else dtc.
    """
    colour = Colour(colour)
    run = fanout.MonthsRun(
        colour,
        parse_month_range(months),
        force=force,
        concurrency=concurrency,
        cfg=Settings.with_overrides(lake=lake, source_url=source_url, source=source),
        runner=runner,
        dask_address=dask_address,
        triage=True,
        progress_key=f"backfill-{colour.value}-progress",
    )
    return await _run(run, f"backfill-{colour.value}", fail_unpublished=False)


@flow(
    name="etl_catchup_flow",
    on_failure=[notify_failure],
    on_crashed=[notify_failure],  # type: ignore[list-item,unused-ignore]  # 2.x types: sync hooks
)
async def etl_catchup_flow(
    colour: Colour = Colour.yellow,
    start: YearMonth | None = None,
    end: YearMonth | None = None,
    source: Source = Source.tlc,
    force: bool = False,
    concurrency: Concurrency = 2,
    lake: str | None = None,
    source_url: str | None = None,
    runner: Runner | None = None,
    dask_address: DaskAddress | None = None,
) -> list[MonthResult]:
    """Bring the lake up to date with a source, as a monthly schedule does.

    Every month from `start` on that the lake does not hold, or whose file its host
    has republished, is loaded; unchanged months cost one HEAD request each. The run
    stops at the first month the host has not published yet, and its summary says
    which months were new, reloaded, unchanged and not yet published. Resumable.

    Args:
        colour: yellow, green, fhv or fhvhv.
        start: First month (YYYY-MM); defaults to the first the TLC published.
        end: Last month (YYYY-MM); defaults to the month before the run's scheduled
            start.
        source: tlc (the TLC's parquet files) or dtc (the course's csv.gz mirror).
        force: Reload every month, even those the lake holds in their current version.
        concurrency: How many months load at once (on Dask without an address: the
            local cluster's worker count).
        lake: Lake location (directory, gs://bucket[/prefix], gcs-block://name);
            defaults to TAXI_ETL_LAKE.
        source_url: Base URL of the source's files; defaults to TAXI_ETL_SOURCE_URL,
            else the source's own host.
        runner: local (child flows in this process) or dask (one task per month on a
            Dask cluster); defaults to TAXI_ETL_RUNNER, else dask when a Dask address
            is set, else local.
        dask_address: Scheduler of an existing Dask cluster (tcp://host:8786);
            defaults to TAXI_ETL_DASK_ADDRESS, else a temporary local cluster.
    """
    colour = Colour(colour)
    cfg = Settings.with_overrides(lake=lake, source_url=source_url, source=source)
    zones_task: Any = load_zones  # its state, awaited: the trips load even if zones fail
    zones = await zones_task(cfg, return_state=True)
    first = start or "{}-{:02d}".format(*TLC_FIRST_MONTH[colour])
    last = end or "{}-{:02d}".format(*previous_month(flow_run.scheduled_start_time))
    run = fanout.MonthsRun(
        colour,
        parse_month_range(f"{first}..{last}"),
        force=force,
        concurrency=concurrency,
        cfg=cfg,
        runner=runner,
        dask_address=dask_address,
        triage=True,
        stop_at_unpublished=True,
        progress_key=f"catchup-{colour.value}-progress",
    )
    results = await _run(run, f"catchup-{colour.value}", fail_unpublished=False)
    zones_outcome = await state_result(zones)
    if isinstance(zones_outcome, BaseException):  # the zone lookup's failure, now
        raise zones_outcome
    return results
