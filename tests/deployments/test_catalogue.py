"""The parameter sets: the deployments the issues ask for, each fitting its flow."""

from __future__ import annotations

import pytest
from deploy_support import ALL

from taxi_etl import deployments


def test_parameter_sets_are_the_deployments_of_the_issues() -> None:
    sets = {p.name: p for p in deployments.DEPLOYMENTS}
    assert [p.full_name for p in deployments.DEPLOYMENTS] == ALL
    for colour in ("yellow", "green", "fhv"):
        monthly = sets[f"{colour}-monthly"]
        assert monthly.cron == "0 5 1 * *"
        assert monthly.parameters == {"colour": colour}  # the previous month, at run time
        assert monthly.entrypoint == deployments.ENTRYPOINT
    # custom: the course's months-of-one-year form; backfill: a month range across years.
    assert sets["custom"].cron is None
    assert sets["custom"].entrypoint == "src/taxi_etl/flows.py:etl_parent_flow"
    assert set(sets["custom"].parameters) == {"colour", "year", "months"}
    assert sets["backfill"].cron is None
    assert sets["backfill"].entrypoint == "src/taxi_etl/flows.py:etl_backfill_flow"
    assert sets["backfill"].parameters == {"colour": "yellow", "months": "2019-01..2021-07"}
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
