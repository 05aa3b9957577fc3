"""The parameter sets: the deployments the issues ask for, each fitting its flow."""

from __future__ import annotations

import pytest
from deploy_support import ALL

from taxi_etl import deployments


def test_parameter_sets_are_the_deployments_of_the_issues() -> None:
    sets = {p.name: p for p in deployments.DEPLOYMENTS}
    assert [p.full_name for p in deployments.DEPLOYMENTS] == ALL
    # The scheduled ones catch up with the TLC's files, each from its dataset's start.
    starts = {"yellow": "2009-01", "green": "2014-01", "fhv": "2015-01", "fhvhv": "2019-02"}
    for colour, start in starts.items():
        catchup = sets[f"{colour}-catchup"]
        assert catchup.cron == "0 5 25 * *"
        assert catchup.parameters == {"colour": colour, "source": "tlc", "start": start}
        assert catchup.entrypoint == "src/taxi_etl/flows.py:etl_catchup_flow"
    # The course's sets stay on its mirror, without a schedule.
    for colour in ("yellow", "green", "fhv"):
        monthly = sets[f"{colour}-monthly"]
        assert monthly.cron is None
        assert monthly.parameters == {"colour": colour, "source": "dtc"}
        assert monthly.entrypoint == deployments.ENTRYPOINT
    # custom: the course's months-of-one-year form; backfill: a month range across years.
    assert sets["custom"].cron is None
    assert sets["custom"].entrypoint == "src/taxi_etl/flows.py:etl_parent_flow"
    assert set(sets["custom"].parameters) == {"colour", "year", "months", "source"}
    assert sets["backfill"].cron is None
    assert sets["backfill"].entrypoint == "src/taxi_etl/flows.py:etl_backfill_flow"
    assert sets["backfill"].parameters == {
        "colour": "yellow",
        "months": "2019-01..2021-07",
        "source": "dtc",
    }
    with pytest.raises(ValueError, match="unknown deployment"):
        deployments.select(["nope"])


def test_each_parameter_set_fits_its_flow_signature() -> None:
    """A default that the flow's parameter schema rejects would fail every Custom run."""
    import inspect

    from taxi_etl import flows, params

    for p in deployments.DEPLOYMENTS:
        flow = getattr(flows, p.flow)
        assert flow.name == p.flow
        assert set(p.parameters) <= set(inspect.signature(flow.fn).parameters), p.name
    backfill = {p.name: p for p in deployments.DEPLOYMENTS}["backfill"]
    assert params.parse_month_range(backfill.parameters["months"])[0] == (2019, 1)


def test_one_start_for_every_catch_up_never_before_the_tlc_began() -> None:
    sets = {p.name: p for p in deployments.starting(deployments.DEPLOYMENTS, "2016-03")}
    assert sets["yellow-catchup"].parameters["start"] == "2016-03"
    assert sets["fhvhv-catchup"].parameters["start"] == "2019-02"  # fhvhv began later
    assert sets["custom"] == {p.name: p for p in deployments.DEPLOYMENTS}["custom"]
    assert deployments.starting(deployments.DEPLOYMENTS, None) == list(deployments.DEPLOYMENTS)
