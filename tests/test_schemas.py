from __future__ import annotations

import pyarrow as pa
import pytest

from taxi_etl.devtools import sample, tlc_sample
from taxi_etl.schemas import FLAG_COLUMN, SchemaError, for_colour


@pytest.mark.parametrize(
    ("colour", "header_key"),
    [("yellow", "yellow"), ("green", "green"), ("fhv", "fhv"), ("fhv", "fhv_2019")],
)
def test_every_known_header_maps_onto_the_canonical_columns(colour: str, header_key: str) -> None:
    schema = for_colour(colour)
    hmap = schema.resolve(sample.HEADERS[header_key])
    canonical = {c.name for c in schema.columns}
    assert set(hmap.source_to_canonical.values()) <= canonical
    required = {c.name for c in schema.columns if c.required}
    assert required <= set(hmap.source_to_canonical.values())


def test_fhv_spellings_land_on_the_same_names() -> None:
    fhv = for_colour("fhv")
    mirror = fhv.resolve(sample.HEADERS["fhv"]).source_to_canonical
    original = fhv.resolve(sample.HEADERS["fhv_2019"]).source_to_canonical
    assert mirror["dropOff_datetime"] == original["dropoff_datetime"] == "dropoff_datetime"
    assert mirror["PUlocationID"] == original["PULocationID"] == "PULocationID"
    assert [c.name for c in fhv.resolve(sample.HEADERS["fhv_2019"]).absent] == [
        "Affiliated_base_number"
    ]


def test_case_and_later_columns() -> None:
    yellow = for_colour("yellow")
    header = [h.upper() for h in sample.HEADERS["yellow"]] + ["Airport_fee", "cbd_congestion_fee"]
    hmap = yellow.resolve(header)
    assert hmap.source_to_canonical["Airport_fee"] == "airport_fee"
    # Only what 2009-2010 had instead of location ids is missing from a 2021 header.
    assert [c.name for c in hmap.absent] == [
        "pickup_longitude",
        "pickup_latitude",
        "dropoff_longitude",
        "dropoff_latitude",
    ]


@pytest.mark.parametrize(
    ("dataset", "year", "month"),
    [(d, y, m) for d in tlc_sample.DATASETS for y, m in tlc_sample.representative_months(d)],
)
def test_every_tlc_era_maps_onto_its_dataset(dataset: str, year: int, month: int) -> None:
    """Every column of every era is either canonical, or known to be dropped, or (the
    one column no era mapping knows, request_source from 2026-06) listed as unknown."""
    names = tlc_sample.source_schema(dataset, year, month).names
    cmap = for_colour(dataset).resolve(names)
    assert set(cmap.source_to_canonical) | set(cmap.not_loaded) == set(names)
    assert cmap.unknown == (["request_source"] if (year, month) >= (2026, 6) else [])
    assert set(cmap.ignored) <= {"__index_level_0__"}


def test_ids_are_nullable_int64_and_flag_is_last() -> None:
    for colour in ("yellow", "green", "fhv", "fhvhv"):
        schema = for_colour(colour).arrow
        for name in ("PULocationID", "DOLocationID"):
            assert schema.field(name).type == pa.int64()
            assert schema.field(name).nullable
        assert schema.names[-1] == FLAG_COLUMN
    assert for_colour("green").arrow.field("trip_type").type == pa.int64()


def test_an_unknown_column_is_listed_and_a_missing_required_one_refuses_the_file() -> None:
    header = [*sample.HEADERS["yellow"], "surge_fee"]
    assert for_colour("yellow").resolve(header).unknown == ["surge_fee"]
    header.remove("fare_amount")
    with pytest.raises(SchemaError) as err:
        for_colour("yellow").resolve(header)
    text = str(err.value)
    assert "unexpected columns ['surge_fee']" in text
    assert "missing columns ['fare_amount']" in text


def test_green_header_is_not_a_yellow_header() -> None:
    with pytest.raises(SchemaError, match="lpep_pickup_datetime"):
        for_colour("yellow").resolve(sample.HEADERS["green"])


def test_duplicate_column_is_an_error() -> None:
    header = [*sample.HEADERS["fhv"], "PULOCATIONID"]
    with pytest.raises(SchemaError, match="given twice"):
        for_colour("fhv").resolve(header)


def test_the_schema_page_is_rendered_from_the_schemas() -> None:
    from pathlib import Path

    from taxi_etl.devtools import schema_docs

    page = Path(__file__).resolve().parents[1] / "docs" / "schemas.md"
    assert page.read_text() == schema_docs.render(), (
        "docs/schemas.md is stale: python -m taxi_etl.devtools.schema_docs > docs/schemas.md"
    )
