"""The deployable flows, where deploy.py and the course's ``prefect deployment build
src/taxi_etl/flows.py:etl_parent_flow`` find them; they live in ``orchestration``."""

from __future__ import annotations

from taxi_etl.orchestration.fanout import LoadFailed
from taxi_etl.orchestration.month_flow import etl_web_to_gcs
from taxi_etl.orchestration.parent_flows import (
    etl_backfill_flow,
    etl_catchup_flow,
    etl_parent_flow,
)

__all__ = [
    "LoadFailed",
    "etl_backfill_flow",
    "etl_catchup_flow",
    "etl_parent_flow",
    "etl_web_to_gcs",
]
