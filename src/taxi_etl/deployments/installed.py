"""The Prefect line this environment deploys to, chosen once: the one place outside
``compat`` that asks which line is installed."""

from __future__ import annotations

from taxi_etl.deployments import agent, worker
from taxi_etl.deployments.line import Line
from taxi_etl.orchestration.compat import PREFECT_2

LINE: Line = agent.LINE if PREFECT_2 else worker.LINE
