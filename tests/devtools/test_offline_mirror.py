"""The compose mirror's month sets (taxi_etl.devtools.offline_mirror), without Docker.

The container tests rely on them: green 2019-12 for the backfill across a year boundary,
and TAXI_ETL_MIRROR_EXTRA_MONTHS for the big month the fault tests interrupt.
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import pytest

from taxi_etl.devtools import demo, offline_mirror
from taxi_etl.devtools.demo import MonthSet
from taxi_etl.params import Colour


def test_defaults_cover_a_year_boundary_for_green() -> None:
    served = {(s.colour, s.year, m) for s in demo.MIRROR_SETS for m in s.months}
    assert {(Colour.green, 2019, 12), (Colour.green, 2020, 1), (Colour.green, 2020, 2)} <= served


def test_a_set_may_give_its_own_row_count() -> None:
    assert MonthSet.parse("yellow:2019:3:1000000") == MonthSet(Colour.yellow, 2019, (3,), 1_000_000)
    assert MonthSet.parse("green:2020:1-2") == MonthSet(Colour.green, 2020, (1, 2))
    assert str(MonthSet.parse("yellow:2019:3:1000000")) == "yellow:2019:3:1000000"
    for bad in ("yellow:2019:3:0", "yellow:2019:3:x", "yellow:2019:3:1:2", "purple:2019:3"):
        with pytest.raises(argparse.ArgumentTypeError, match="colour:year:months"):
            MonthSet.parse(bad)


def test_extra_months_from_the_environment(tmp_path: Path) -> None:
    sets = offline_mirror.extra_sets(" yellow:2019:3:300  fhv:2019:5 ")
    assert sets == [MonthSet(Colour.yellow, 2019, (3,), 300), MonthSet(Colour.fhv, 2019, (5,))]
    assert offline_mirror.extra_sets("") == []
    with pytest.raises(SystemExit, match="TAXI_ETL_MIRROR_EXTRA_MONTHS"):
        offline_mirror.extra_sets("yellow:2019")
    written = demo.write_months(tmp_path, sets, rows=90)
    assert [p.name for p in written] == [
        "yellow_tripdata_2019-03.csv.gz",
        "fhv_tripdata_2019-05.csv.gz",
    ]
    with gzip.open(written[0], "rt") as fh:
        assert sum(1 for _ in fh) == 300 + 1  # its own rows, plus the header
    with gzip.open(written[1], "rt") as fh:
        assert sum(1 for _ in fh) == 90 + 1  # the mirror's --rows
