"""Every deployment's parameter set, in one place: the flow it runs, the parameters it
fixes, its schedule. The same catalogue serves the plan and the registration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from taxi_etl.params import TLC_FIRST_MONTH, Colour, parse_month_range

#: The TLC publishes a month about seven weeks after it ends, on the 18th to 22nd: a
#: run on the 25th loads it within days (and, being a catch-up, anything missed).
CATCHUP_CRON = "0 5 25 * *"
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
#: The flow of the scheduled deployments: every published month not in the lake.
CATCHUP_FLOW_NAME = "etl_catchup_flow"
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


def _catchup(colour: str, first: str, what: str) -> ParameterSet:
    return ParameterSet(
        f"{colour}-catchup",
        {"colour": colour, "source": "tlc", "start": first},
        CATCHUP_CRON,
        f"{what} from the TLC's own files: every month since {first} that the lake does not "
        "hold, or that the TLC republished, up to the newest; on the 25th at 05:00 UTC.",
        flow=CATCHUP_FLOW_NAME,
    )


def _course(colour: str, what: str) -> ParameterSet:
    return ParameterSet(
        f"{colour}-monthly",
        {"colour": colour, "source": "dtc"},
        None,
        f"The course's parameter set: the previous month of {what} from the course's "
        "mirror (which stops in 2021); run it with months and year set.",
    )


#: Every deployment. The scheduled ones catch up with the TLC's own files, from the
#: first month the TLC published (``start`` can be changed per deployment, in the UI
#: or with TAXI_ETL_DEPLOY_CATCHUP_START). The course's parameter sets on its mirror
#: stay, unscheduled: ``*-monthly`` (no months or year: the month before the run),
#: ``custom`` (the course's months-of-one-year form) and ``backfill`` (a month range
#: across years that skips what is loaded and so resumes where it stopped).
DEPLOYMENTS: tuple[ParameterSet, ...] = (
    _catchup("yellow", "2009-01", "Yellow taxi trips"),
    _catchup("green", "2014-01", "Green taxi trips"),
    _catchup("fhv", "2015-01", "For-hire vehicle trips"),
    _catchup("fhvhv", "2019-02", "High-volume for-hire vehicle trips (Uber, Lyft, ...)"),
    _course("yellow", "yellow taxi trips"),
    _course("green", "green taxi trips"),
    _course("fhv", "for-hire vehicle trips"),
    ParameterSet(
        "custom",
        {"colour": "yellow", "year": 2021, "months": [1, 2, 3], "source": "dtc"},
        None,
        "Any months of one colour and year: set colour, year, months and source in a "
        "Custom run.",
    ),
    ParameterSet(
        "backfill",
        {"colour": "yellow", "months": "2019-01..2021-07", "source": "dtc"},
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


def starting(sets: Sequence[ParameterSet], start: str | None) -> list[ParameterSet]:
    """The sets, with every catch-up starting at `start` (YYYY-MM), but never before
    the TLC's first month of its dataset."""
    if not start:
        return list(sets)
    wanted = parse_month_range(start)[0]
    out = []
    for p in sets:
        if p.flow == CATCHUP_FLOW_NAME:
            y, m = max(wanted, TLC_FIRST_MONTH[Colour(p.parameters["colour"])])
            p = replace(p, parameters={**p.parameters, "start": f"{y}-{m:02d}"})
        out.append(p)
    return out
