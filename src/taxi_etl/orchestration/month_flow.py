"""The course's child flow: one month, its steps run as the tasks of ``month_tasks``
so the chain (fetch, transform, quality, write) shows in the UI."""

from __future__ import annotations

import dataclasses

from prefect import flow, get_run_logger

from taxi_etl import pipeline
from taxi_etl.orchestration.month_tasks import STEPS, run_id
from taxi_etl.params import Colour, Month, Partition, Year
from taxi_etl.pipeline import MonthResult
from taxi_etl.settings import Settings


@flow(name="etl_web_to_gcs", flow_run_name="{colour}-{year}-{month:02d}")
async def etl_web_to_gcs(
    month: Month,
    year: Year,
    colour: Colour = Colour.yellow,
    force: bool = False,
    cfg: Settings | None = None,
) -> MonthResult:
    """Load one month of TLC trips into the lake, if its host has a version the lake
    does not hold.

    Args:
        month: Month to load, 1-12.
        year: Year to load.
        colour: yellow, green, fhv or fhvhv.
        force: Reload even if the lake already holds this version of the month.
        cfg: The run's settings (lake, source, its URL); defaults to TAXI_ETL_*.
    """
    steps = dataclasses.replace(STEPS, log=get_run_logger().info)
    part = Partition(colour, year, month)
    return await pipeline.run_month(
        part, cfg or Settings(), steps, force=force, flow_run_id=run_id()
    )
