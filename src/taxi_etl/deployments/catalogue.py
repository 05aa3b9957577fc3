"""Every deployment's parameter set, in one place: the flow it runs, the parameters it
fixes, its schedule. The same catalogue serves the plan and the registration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MONTHLY_CRON = "0 5 1 * *"
CRON_TIMEZONE = "UTC"
#: Where the image holds the repository's pyproject.toml and src/ (see Dockerfile).
FLOW_PATH = "/opt/prefect/flows"
#: The flows' module, relative to FLOW_PATH: the same path `prefect deployment build`
#: writes when run from the repository root, so both routes give the container the same
#: code location.
FLOWS_FILE = "src/taxi_etl/flows.py"
#: The parent flow: the course's `etl_parent_flow(months, year, colour)`.
FLOW_NAME = "etl_parent_flow"
#: The resumable month-range flow behind the `backfill` deployment.
BACKFILL_FLOW_NAME = "etl_backfill_flow"
ENTRYPOINT = f"{FLOWS_FILE}:{FLOW_NAME}"
#: Tag of every deployment here; the crash notification only reports runs that carry it.
TAG = "taxi-etl"


@dataclass(frozen=True)
class ParameterSet:
    """One deployment: a name, the flow it runs, the parameters it fixes, its schedule."""

    name: str
    parameters: dict[str, Any]
    cron: str | None
    description: str
    #: A flow of src/taxi_etl/flows.py, by function name (= its Prefect flow name).
    flow: str = FLOW_NAME

    @property
    def entrypoint(self) -> str:
        return f"{FLOWS_FILE}:{self.flow}"

    @property
    def full_name(self) -> str:
        """``flow/deployment``, as `prefect deployment run` and the UI name it."""
        return f"{self.flow}/{self.name}"

    @property
    def tags(self) -> list[str]:
        return [TAG, "scheduled" if self.cron else "manual"]


#: Every deployment. The monthly ones give no months or year: the flow then loads the
#: month before the run's scheduled start, so the 1 May run loads April. ``custom`` and
#: ``backfill`` have no schedule; their parameters are only the defaults of a Custom
#: run: ``custom`` is the course's months-of-one-year form, ``backfill`` a month range
#: across years that skips what is loaded and so resumes where it stopped.
DEPLOYMENTS: tuple[ParameterSet, ...] = (
    ParameterSet(
        "yellow-monthly",
        {"colour": "yellow"},
        MONTHLY_CRON,
        "Previous month of yellow taxi trips, on the 1st at 05:00 UTC.",
    ),
    ParameterSet(
        "green-monthly",
        {"colour": "green"},
        MONTHLY_CRON,
        "Previous month of green taxi trips, on the 1st at 05:00 UTC.",
    ),
    ParameterSet(
        "fhv-monthly",
        {"colour": "fhv"},
        MONTHLY_CRON,
        "Previous month of for-hire vehicle trips, on the 1st at 05:00 UTC.",
    ),
    ParameterSet(
        "custom",
        {"colour": "yellow", "year": 2021, "months": [1, 2, 3]},
        None,
        "Any months of one colour and year: set colour, year and months in a Custom run.",
    ),
    ParameterSet(
        "backfill",
        {"colour": "yellow", "months": "2019-01..2021-07"},
        None,
        "A range of months across years (YYYY-MM..YYYY-MM): loaded months are skipped, "
        "so a re-run resumes; unpublished months are reported at the end.",
        flow=BACKFILL_FLOW_NAME,
    ),
)


def select(names: Sequence[str] | None) -> list[ParameterSet]:
    """The parameter sets named (all when none), in declaration order."""
    known = {p.name: p for p in DEPLOYMENTS}
    unknown = sorted(set(names or ()) - known.keys())
    if unknown:
        raise ValueError(f"unknown deployment(s) {unknown}; choose from {sorted(known)}")
    return [p for p in DEPLOYMENTS if not names or p.name in names]
