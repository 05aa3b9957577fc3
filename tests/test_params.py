from __future__ import annotations

from datetime import datetime

import pytest

from taxi_etl.params import (
    Colour,
    ParameterError,
    Partition,
    parse_month_range,
    parse_months,
    previous_month,
    validate,
)


def test_valid_parameters_are_normalised() -> None:
    run = validate("green", 2020, [3, 1, 2])
    assert run.colour is Colour.green
    assert run.months == [1, 2, 3]
    assert validate("fhv", "2019", "4").months == [4]


@pytest.mark.parametrize(
    ("colour", "year", "months", "names"),
    [
        ("yellow", 2021, [13], "months.0"),
        ("yellow", 2021, [0], "months.0"),
        ("yellow", 2021, [], "months"),
        ("yellow", 2021, [1, 1], "months"),
        ("purple", 2021, [1], "colour"),
        ("../etc", 2021, [1], "colour"),
        ("yellow", 1999, [1], "year"),
        ("yellow", 2100, [1], "year"),
        ("yellow", "twenty", [1], "year"),
        ("yellow", 2021, ["x"], "months.0"),
    ],
)
def test_bad_parameters_name_the_parameter(
    colour: object, year: object, months: object, names: str
) -> None:
    with pytest.raises(ParameterError) as err:
        validate(colour, year, months)
    assert f"{names}:" in str(err.value)


def test_month_range_spans_years() -> None:
    pairs = parse_month_range("2019-11..2020-02")
    assert pairs == [(2019, 11), (2019, 12), (2020, 1), (2020, 2)]
    assert parse_month_range("2021-07") == [(2021, 7)]


@pytest.mark.parametrize(
    "text",
    ["2020-02..2019-01", "2020-13..2020-14", "20-01..2020-02", "1999-01..2000-01", "2020-01..x"],
)
def test_bad_month_ranges(text: str) -> None:
    with pytest.raises(ParameterError, match=r"months|year"):
        parse_month_range(text)


def test_cli_month_syntax() -> None:
    assert parse_months(["1", "2,3", "5-7"]) == [1, 2, 3, 5, 6, 7]
    with pytest.raises(ParameterError, match="months"):
        parse_months(["jan"])


def test_previous_month_wraps_the_year() -> None:
    assert previous_month(datetime(2024, 1, 1, 5)) == (2023, 12)
    assert previous_month(datetime(2024, 7, 1, 5)) == (2024, 6)


def test_a_partition_is_one_month_of_one_colour() -> None:
    part = Partition("green", 2020, 1)
    assert part.colour is Colour.green  # a name is taken as the enum
    assert (str(part), part.ym) == ("green 2020-01", "2020-01")
    assert part == Partition(Colour.green, 2020, 1)
    assert sorted([Partition("green", 2020, 2), part]) == [part, Partition("green", 2020, 2)]
    with pytest.raises(ValueError, match="purple"):
        Partition("purple", 2020, 1)
