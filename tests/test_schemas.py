from __future__ import annotations

import pyarrow as pa
import pytest

from taxi_etl.devtools import sample, tlc_sample
from taxi_etl.schemas import FLAG_COLUMN, SchemaError, for_colour

pytestmark = pytest.mark.one_line


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
    # Only what the original csv files had instead of location ids, and 2026's
    # request_source, are missing from a 2021 header.
    assert [c.name for c in hmap.absent] == [
        "pickup_longitude",
        "pickup_latitude",
        "dropoff_longitude",
        "dropoff_latitude",
        "request_source",
    ]


@pytest.mark.parametrize(
    ("dataset", "year", "month"),
    [(d, y, m) for d in tlc_sample.DATASETS for y, m in tlc_sample.representative_months(d)],
)
def test_every_tlc_era_maps_onto_its_dataset(dataset: str, year: int, month: int) -> None:
    """Every column of every era is either canonical or known to be dropped; 2026's
    request_source is canonical now, not unknown."""
    names = tlc_sample.source_schema(dataset, year, month).names
    cmap = for_colour(dataset).resolve(names)
    assert set(cmap.source_to_canonical) | set(cmap.not_loaded) == set(names)
    assert cmap.unknown == []
    if (year, month) >= (2026, 6) and dataset in ("yellow", "green"):
        assert cmap.source_to_canonical["request_source"] == "request_source"
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


# Headers of the TLC's original csv files and of the course mirror, as the real files
# in ../shared/real-tlc write them (the conformance suite loads those files whole).
FHV_2015 = ["Dispatching_base_num", "Pickup_date", "locationID"]
FHV_2018 = [
    '"Pickup_DateTime"', '"DropOff_datetime"', '"PUlocationID"', '"DOlocationID"',
    '"SR_Flag"', '"Dispatching_base_number"', '"Dispatching_base_num"',
]  # fmt: skip
FHVHV_COURSE_2021 = [
    "dispatching_base_num", "pickup_datetime", "dropoff_datetime", "PULocationID",
    "DOLocationID", "SR_Flag", "Affiliated_base_number",
]  # fmt: skip
_GREEN_2014 = (
    "VendorID,lpep_pickup_datetime,Lpep_dropoff_datetime,Store_and_fwd_flag,RateCodeID,"
    "Pickup_longitude,Pickup_latitude,Dropoff_longitude,Dropoff_latitude,Passenger_count,"
    "Trip_distance,Fare_amount,Extra,MTA_tax,Tip_amount,Tolls_amount,Ehail_fee,Total_amount,"
    "Payment_type,Trip_type "
)
GREEN_2014 = _GREEN_2014.split(",")
_YELLOW_2014 = (
    "vendor_id, pickup_datetime, dropoff_datetime, passenger_count, trip_distance, "
    "pickup_longitude, pickup_latitude, rate_code, store_and_fwd_flag, dropoff_longitude, "
    "dropoff_latitude, payment_type, fare_amount, surcharge, mta_tax, tip_amount, "
    "tolls_amount, total_amount"
)
YELLOW_2014 = _YELLOW_2014.split(",")


def test_fhv_2015_has_the_pickup_zone_only() -> None:
    cmap = for_colour("fhv").resolve(FHV_2015)
    assert cmap.source_to_canonical == {
        "Dispatching_base_num": "dispatching_base_num",
        "Pickup_date": "pickup_datetime",
        "locationID": "PULocationID",
    }
    assert {c.name for c in cmap.absent} == {
        "dropoff_datetime", "DOLocationID", "SR_Flag", "Affiliated_base_number"
    }  # fmt: skip


def test_fhv_2018_quoted_header_and_its_two_base_columns() -> None:
    """The base is in Dispatching_base_number; the other column of the canonical name
    has no home, so it is kept beside the partition, not taken for the base."""
    cmap = for_colour("fhv").resolve(FHV_2018)
    assert cmap.source_to_canonical['"Dispatching_base_number"'] == "dispatching_base_num"
    assert cmap.source_to_canonical['"Pickup_DateTime"'] == "pickup_datetime"
    assert cmap.unknown == ['"Dispatching_base_num"']


def test_the_course_mirrors_second_fhvhv_form_never_guesses_the_company() -> None:
    cmap = for_colour("fhvhv").resolve(FHVHV_COURSE_2021)
    assert cmap.source_to_canonical["SR_Flag"] == "shared_request_flag"
    assert cmap.source_to_canonical["Affiliated_base_number"] == "Affiliated_base_number"
    assert "hvfhs_license_num" in {c.name for c in cmap.absent}
    assert cmap.unknown == []


def test_original_csv_headers_match_trimmed_and_in_any_case() -> None:
    green = for_colour("green").resolve(GREEN_2014)
    assert green.unknown == []
    assert green.source_to_canonical["Trip_type "] == "trip_type"
    assert green.source_to_canonical["Pickup_longitude"] == "pickup_longitude"
    assert {"PULocationID", "DOLocationID"} <= {c.name for c in green.absent}
    yellow = for_colour("yellow").resolve(YELLOW_2014)
    assert yellow.unknown == []
    assert yellow.source_to_canonical[" surcharge"] == "extra"
    assert yellow.source_to_canonical[" pickup_longitude"] == "pickup_longitude"


def test_new_columns_are_added_at_the_end_with_a_new_version() -> None:
    """Readers by position still find the old columns; a new version makes older
    partitions be widened or reloaded."""
    yellow, green, fhvhv = (for_colour(c) for c in ("yellow", "green", "fhvhv"))
    assert yellow.arrow.names[-2:] == ["request_source", FLAG_COLUMN]
    assert green.arrow.names[-6:-1] == [
        "pickup_longitude", "pickup_latitude", "dropoff_longitude", "dropoff_latitude",
        "request_source",
    ]  # fmt: skip
    assert fhvhv.arrow.names[-2] == "Affiliated_base_number"
    assert (yellow.version, green.version, for_colour("fhv").version, fhvhv.version) == (
        3, 3, 2, 3
    )  # fmt: skip
