"""The synthetic TLC parquet months must drift like the real files (shared/tlc/README.md §2)."""

from __future__ import annotations

import base64
import csv
import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from taxi_etl.devtools import tlc_sample as tlc

pytestmark = pytest.mark.one_line

ROWS = 3000
GROUP = 1000

# Written out by hand from the README, not taken from tlc_eras, so a slip there fails.
_T = {"i64": pa.int64(), "i32": pa.int32(), "f64": pa.float64(), "str": pa.string()}
_T |= {"lstr": pa.large_string(), "null": pa.null(), "us": pa.timestamp("us")}
Y2009 = (
    "vendor_name:str Trip_Pickup_DateTime:str Trip_Dropoff_DateTime:str Passenger_Count:i64 "
    "Trip_Distance:f64 Start_Lon:f64 Start_Lat:f64 Rate_Code:f64 store_and_forward:f64 "
    "End_Lon:f64 End_Lat:f64 Payment_Type:str Fare_Amt:f64 surcharge:f64 mta_tax:f64 "
    "Tip_Amt:f64 Tolls_Amt:f64 Total_Amt:f64"
)
Y2010 = (
    "vendor_id:str pickup_datetime:str dropoff_datetime:str passenger_count:i64 "
    "trip_distance:f64 pickup_longitude:f64 pickup_latitude:f64 rate_code:str "
    "store_and_fwd_flag:f64 dropoff_longitude:f64 dropoff_latitude:f64 payment_type:str "
    "fare_amount:f64 surcharge:f64 mta_tax:f64 tip_amount:f64 tolls_amount:f64 total_amount:f64"
)
Y2011 = (
    "VendorID:i64 tpep_pickup_datetime:us tpep_dropoff_datetime:us passenger_count:i64 "
    "trip_distance:f64 RatecodeID:i64 store_and_fwd_flag:str PULocationID:i64 DOLocationID:i64 "
    "payment_type:i64 fare_amount:f64 extra:f64 mta_tax:f64 tip_amount:f64 tolls_amount:f64 "
    "improvement_surcharge:f64 total_amount:f64 congestion_surcharge:f64 airport_fee:f64"
)
GREEN = (
    "VendorID:i64 lpep_pickup_datetime:us lpep_dropoff_datetime:us store_and_fwd_flag:str "
    "RatecodeID:f64 PULocationID:i64 DOLocationID:i64 passenger_count:f64 trip_distance:f64 "
    "fare_amount:f64 extra:f64 mta_tax:f64 tip_amount:f64 tolls_amount:f64 ehail_fee:f64 "
    "improvement_surcharge:f64 total_amount:f64 payment_type:f64 trip_type:f64 "
    "congestion_surcharge:f64"
)
FHV = (
    "dispatching_base_num:str pickup_datetime:us dropOff_datetime:us PUlocationID:f64 "
    "DOlocationID:f64 SR_Flag:f64 Affiliated_base_number:str"
)
FHVHV = (
    "hvfhs_license_num:str dispatching_base_num:str originating_base_num:str "
    "request_datetime:us on_scene_datetime:us pickup_datetime:us dropoff_datetime:us "
    "PULocationID:i64 DOLocationID:i64 trip_miles:f64 trip_time:i64 base_passenger_fare:f64 "
    "tolls:f64 bcf:f64 sales_tax:f64 congestion_surcharge:f64 airport_fee:f64 tips:f64 "
    "driver_pay:f64 shared_request_flag:str shared_match_flag:str access_a_ride_flag:str "
    "wav_request_flag:str wav_match_flag:str"
)
REWRITE_2023 = {"VendorID": "i32", "PULocationID": "i32", "DOLocationID": "i32"}


def edit(base: str, add: str = "", **types: str) -> str:
    """`base` with some columns' types changed, `add` appended; a type of "" drops a column."""
    cols = dict(c.split(":") for c in base.split()) | types
    return " ".join(f"{c}:{t}" for c, t in cols.items() if t) + (" " + add if add else "")


def lstr(base: str) -> str:
    return base.replace(":str", ":lstr")


Y2023 = edit(lstr(Y2011), passenger_count="i64", RatecodeID="i64", **REWRITE_2023)
Y2023 = Y2023.replace("airport_fee", "Airport_fee")
PC_DOUBLE = {"passenger_count": "f64", "RatecodeID": "f64"}
EXPECTED = {
    ("yellow", 2009, 1): Y2009,
    ("yellow", 2009, 12): Y2009,
    ("yellow", 2010, 1): Y2010,
    ("yellow", 2010, 2): edit(Y2010, "__index_level_0__:i64", rate_code="i64"),
    ("yellow", 2010, 3): edit(Y2010, "__index_level_0__:i64", rate_code="i64"),
    ("yellow", 2010, 4): Y2010,
    ("yellow", 2011, 1): Y2011,
    ("yellow", 2011, 2): edit(Y2011, congestion_surcharge="null", airport_fee="null"),
    ("yellow", 2011, 3): edit(Y2011, airport_fee="null"),
    ("yellow", 2014, 8): edit(
        Y2011, improvement_surcharge="null", congestion_surcharge="null", airport_fee="null"
    ),
    ("yellow", 2018, 1): Y2011,
    ("yellow", 2018, 6): edit(Y2011, airport_fee="null"),
    ("yellow", 2018, 7): edit(Y2011, **PC_DOUBLE, congestion_surcharge="null", airport_fee="null"),
    ("yellow", 2019, 4): edit(Y2011, **PC_DOUBLE, airport_fee="null"),
    ("yellow", 2020, 8): edit(Y2011, **PC_DOUBLE),
    ("yellow", 2020, 10): edit(Y2011, **PC_DOUBLE, airport_fee="null"),
    ("yellow", 2023, 1): edit(Y2011, **PC_DOUBLE),
    ("yellow", 2023, 2): Y2023,
    ("yellow", 2024, 1): Y2023,
    ("yellow", 2024, 12): Y2023,
    ("yellow", 2025, 1): Y2023 + " cbd_congestion_fee:f64",
    ("yellow", 2026, 6): Y2023 + " cbd_congestion_fee:f64 request_source:lstr",
    ("green", 2014, 1): GREEN,
    ("green", 2019, 8): GREEN,
    ("green", 2019, 9): edit(GREEN, ehail_fee="null"),
    ("green", 2023, 1): edit(GREEN, ehail_fee="null"),
    ("green", 2023, 2): edit(
        lstr(GREEN), **REWRITE_2023, RatecodeID="i64", passenger_count="i64",
        payment_type="i64", trip_type="i64",
    ),
    ("fhv", 2015, 1): FHV,
    ("fhv", 2019, 2): FHV,
    ("fhv", 2019, 3): edit(FHV, SR_Flag="null"),
    ("fhv", 2019, 5): edit(FHV, SR_Flag="null", PUlocationID="i64", DOlocationID="i64"),
    ("fhv", 2019, 6): edit(FHV, SR_Flag="null", PUlocationID="i64", DOlocationID="i64"),
    ("fhv", 2019, 7): edit(FHV, SR_Flag="null"),
    ("fhv", 2020, 7): edit(FHV, SR_Flag="null", DOlocationID="i64"),
    ("fhv", 2020, 8): edit(FHV, SR_Flag="null"),
    ("fhv", 2023, 2): edit(lstr(FHV), SR_Flag="i64", PUlocationID="i64", DOlocationID="i64"),
    ("fhvhv", 2019, 2): edit(FHVHV, airport_fee="null", wav_match_flag="null"),
    ("fhvhv", 2019, 3): edit(FHVHV, airport_fee="null", wav_match_flag="null"),
    ("fhvhv", 2019, 4): edit(FHVHV, airport_fee="null"),
    ("fhvhv", 2019, 6): edit(FHVHV, airport_fee="null"),
    ("fhvhv", 2019, 7): FHVHV,
    ("fhvhv", 2020, 4): edit(FHVHV, airport_fee="null"),
    ("fhvhv", 2020, 5): FHVHV,
    ("fhvhv", 2020, 10): edit(FHVHV, airport_fee="null"),
    ("fhvhv", 2023, 2): edit(lstr(FHVHV), PULocationID="i32", DOLocationID="i32"),
    ("fhvhv", 2025, 1): edit(lstr(FHVHV), "cbd_congestion_fee:f64", PULocationID="i32",
                             DOLocationID="i32"),
}
EXPECTED[("green", 2025, 1)] = EXPECTED[("green", 2023, 2)] + " cbd_congestion_fee:f64"
EXPECTED[("green", 2026, 6)] = EXPECTED[("green", 2025, 1)] + " request_source:lstr"
# Months whose embedded ARROW:schema says timestamp[ns]: every real green month in
# shared/real-tlc (2021-01, 2022-01, 2023-01, 2024-03), README §2.5's yellow 2024-01..10 and
# fhvhv 2024-01, and the months between; from 2024-11 µs.
NS_MONTHS = [("yellow", 2022, 1), ("yellow", 2023, 6), ("yellow", 2024, 1), ("yellow", 2024, 10),
             ("fhvhv", 2024, 1), ("green", 2021, 1), ("green", 2024, 3), ("fhv", 2015, 1)]
US_MONTHS = [("yellow", 2024, 11), ("yellow", 2025, 1), ("fhvhv", 2025, 1)]

ALL_MONTHS = [(ds, y, m) for ds in tlc.DATASETS for y, m in tlc.representative_months(ds)]


def schema_of(spec: str) -> pa.Schema:
    return pa.schema([(c, _T[t]) for c, t in (col.split(":") for col in spec.split())])


def embedded_schema(path: Path) -> pa.Schema:
    raw = pq.read_metadata(path).metadata[b"ARROW:schema"]
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(raw)))


def pickups(table: pa.Table) -> pa.Array:
    """The pickup column as timestamp[s]: the 2009-2010 text parsed, the others cast."""
    name = next(c for c in table.column_names if "pickup_datetime" in c.lower())
    col = table[name]
    if pa.types.is_string(col.type):
        return pc.strptime(col, format="%Y-%m-%d %H:%M:%S", unit="s")
    return col.cast(pa.timestamp("s"))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int, int], tuple]:
    """Every representative month and every hand-checked month, written once."""
    root = tmp_path_factory.mktemp("tlc")
    out = {}
    for key in sorted(set(ALL_MONTHS) | set(EXPECTED) | set(NS_MONTHS) | set(US_MONTHS)):
        path = root / tlc.file_name(*key)
        out[key] = (path, tlc.generate_month(path, *key, ROWS, seed=7, row_group_rows=GROUP))
    return out


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=lambda k: "{}-{}-{:02}".format(*k))
def test_source_schema_matches_the_readme(key: tuple[str, int, int]) -> None:
    assert tlc.source_schema(*key).equals(schema_of(EXPECTED[key])), tlc.source_schema(*key)


@pytest.mark.parametrize("key", ALL_MONTHS, ids=lambda k: "{}-{}-{:02}".format(*k))
def test_file_has_the_month_schema_rows_and_truth(key: tuple[str, int, int], written) -> None:
    path, truth = written[key]
    expected = tlc.source_schema(*key)
    pf = pq.ParquetFile(path)
    assert pq.read_schema(path).equals(expected)
    assert pf.schema_arrow.equals(expected)
    assert next(pf.iter_batches(batch_size=500)).schema.equals(expected)
    assert embedded_schema(path).equals(tlc.source_schema(*key, embedded=True))
    assert pf.metadata.num_rows == truth.rows == ROWS
    assert pf.metadata.num_row_groups == truth.row_groups == ROWS // GROUP
    assert [pf.metadata.row_group(i).num_rows for i in range(3)] == [GROUP] * 3
    how = tlc.writer(*key)
    codecs = {pf.metadata.row_group(0).column(i).compression for i in range(len(expected))}
    assert codecs == {how.compression.upper()} and pf.metadata.format_version == how.format_version
    assert (b"pandas" in pf.metadata.metadata) == (how.pandas is not None)
    assert (truth.dataset, truth.year, truth.month, truth.era) == (*key, tlc.era(*key))
    assert truth.writer == how.name

    table = pq.read_table(path)
    assert truth.nulls == {c: table[c].null_count for c in table.column_names}
    for name, total in truth.sums.items():
        col = table[name]
        assert pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or (
            pa.types.is_null(col.type)
        ), name
        got = pc.sum(col.cast(pa.float64())).as_py() or 0
        assert got == pytest.approx(total, rel=1e-12, abs=1e-9), name
        if isinstance(total, int):
            assert got == total, name  # whole numbers (ids, counts, whole-number doubles)
    for name, cents in truth.cents.items():
        col = table[name].cast(pa.float64())
        assert int(pc.sum(pc.round(pc.multiply(col, 100.0))).as_py() or 0) == cents, name
    numeric = {c for c in table.column_names if table[c].type in (pa.int64(), pa.int32())}
    numeric |= {c for c in table.column_names if table[c].type == pa.float64()}
    assert {c for c in truth.sums if table[c].type != pa.null()} == numeric
    for name, counts in truth.value_counts.items():
        got = {d["values"]: d["counts"] for d in pc.value_counts(table[name]).to_pylist()}
        assert counts == {k: v for k, v in got.items() if k is not None}, name

    p = pickups(table)
    start, end = datetime(*key[1:], 1), datetime(key[1] + key[2] // 12, key[2] % 12 + 1, 1)
    outside = pc.sum(pc.or_(pc.less(p, start), pc.greater_equal(p, end))).as_py()
    assert outside == truth.outside_month == tlc.outside_month_count(ROWS) == 1
    json.loads(truth.to_json())


def test_every_era_and_quirk_month_is_representative() -> None:
    for dataset in tlc.DATASETS:
        months = tlc.representative_months(dataset)
        assert months == sorted(set(months)) and months[0] == tlc.FIRST_MONTH[dataset]
        first = tlc.FIRST_MONTH[dataset]
        eras = {tlc.era(dataset, y, m) for y in range(first[0], 2027) for m in range(1, 13)
                if (y, m) >= first}
        assert {tlc.era(dataset, *m) for m in months} == eras
    quirks = {"yellow": [(2010, 2), (2014, 8), (2018, 7), (2020, 10), (2024, 1), (2024, 11)]}
    quirks |= {"green": [(2019, 9), (2023, 2)], "fhv": [(2019, 2), (2019, 3), (2019, 5)]}
    quirks |= {"fhvhv": [(2019, 2), (2019, 4), (2020, 4), (2023, 2), (2025, 1)]}
    for dataset, months in quirks.items():
        assert set(months) <= set(tlc.representative_months(dataset)), dataset


def test_era_names() -> None:
    assert [tlc.era("yellow", y, m) for y, m in [(2009, 12), (2010, 1), (2011, 1), (2023, 1)]] == [
        "yellow-2009", "yellow-2010", "yellow-2011", "yellow-2011"
    ]
    assert [tlc.era("yellow", y, m) for y, m in [(2023, 2), (2025, 1), (2026, 5), (2026, 6)]] == [
        "yellow-2023-02", "yellow-2025", "yellow-2025", "yellow-2026-06"
    ]
    assert tlc.era("fhvhv", 2030, 1) == "fhvhv-2025" and tlc.era("fhv", 2019, 2) == "fhv-2015"
    assert tlc.file_name("yellow", 2024, 1) == "yellow_tripdata_2024-01.parquet"


@pytest.mark.parametrize("key", NS_MONTHS + US_MONTHS, ids=lambda k: "{}-{}-{:02}".format(*k))
def test_timestamp_metadata_and_what_pyarrow_returns(key: tuple[str, int, int], written) -> None:
    path, truth = written[key]
    ns = key in NS_MONTHS
    unit = "ns" if ns else "us"
    assert truth.timestamp_unit == unit
    name = next(c for c in tlc.source_schema(*key).names if c.endswith("pickup_datetime"))
    assert embedded_schema(path).field(name).type == pa.timestamp(unit)
    stamps = [f for f in embedded_schema(path) if pa.types.is_timestamp(f.type)]
    assert {f.type for f in stamps} == {pa.timestamp(unit)}
    column = pq.ParquetFile(path).schema.column(tlc.source_schema(*key).get_field_index(name))
    assert "timeUnit=microseconds" in str(column.logical_type)
    # pyarrow ignores the embedded unit: every reader API gives microseconds.
    assert pq.read_table(path)[name].type == pa.timestamp("us")
    assert next(pq.ParquetFile(path).iter_batches())[name].type == pa.timestamp("us")
    assert pq.read_table(path).to_pandas()[name].dtype == np.dtype("datetime64[us]")


def test_fhv_2019_02_has_a_dropoff_in_3019(written) -> None:
    path, truth = written[("fhv", 2019, 2)]
    row = tlc.far_future_row("fhv", 2019, 2, ROWS)
    assert row is not None
    # An ns month, but the dropoff could not have been datetime64[ns]: it embeds µs.
    assert truth.timestamp_unit == "ns"
    assert embedded_schema(path).field("pickup_datetime").type == pa.timestamp("ns")
    assert embedded_schema(path).field("dropOff_datetime").type == pa.timestamp("us")
    pandas = json.loads(pq.read_metadata(path).metadata[b"pandas"])
    assert [c["numpy_type"] for c in pandas["columns"][1:3]] == ["datetime64[ns]", "object"]
    table = pq.read_table(path)
    assert table["dropOff_datetime"][row].as_py().year == 3019
    assert table["pickup_datetime"][row].as_py().strftime("%Y-%m") == "2019-02"
    assert pc.sum(pc.greater(pc.year(table["dropOff_datetime"]), 2262)).as_py() == 1
    assert truth.ns_out_of_range == {"pickup_datetime": 0, "dropOff_datetime": 1}
    assert table.to_pandas()["dropOff_datetime"].max().year == 3019  # datetime64[us] copes
    with pytest.raises(pa.ArrowInvalid, match="out of bounds"):
        table["dropOff_datetime"].cast(pa.timestamp("ns"))
    with pytest.raises(pa.ArrowInvalid, match="out of bounds"):
        table.to_pandas(coerce_temporal_nanoseconds=True)
    others = [k for k in written if k != ("fhv", 2019, 2)]
    assert all(sum(written[k][1].ns_out_of_range.values()) == 0 for k in others)
    assert tlc.far_future_row("fhv", 2019, 3, ROWS) is None


def test_legacy_codes_are_text_with_a_known_number_unmappable(written) -> None:
    for key, vendor, payment in [(("yellow", 2009, 1), "vendor_name", "Payment_Type"),
                                 (("yellow", 2010, 1), "vendor_id", "payment_type")]:
        path, truth = written[key]
        table = pq.read_table(path, columns=[vendor, payment])
        assert set(truth.value_counts[vendor]) == {"CMT", "VTS", "DDS", "XYZ"}
        assert truth.unmapped == {vendor: 3, payment: 3}  # rows 500, 1500, 2500 (+1)
        assert pc.sum(pc.equal(table[vendor], "XYZ")).as_py() == 3
        assert pc.sum(pc.equal(table[payment], "???")).as_py() == 3
    spellings = set(written[("yellow", 2009, 1)][1].value_counts["Payment_Type"])
    assert spellings == {"CASH", "Cash", "CREDIT", "Credit", "No Charge", "Dispute", "???"}
    spellings = set(written[("yellow", 2010, 1)][1].value_counts["payment_type"])
    assert {"CAS", "CRE", "Cas", "cre", "NOC", "DIS", "UNK", "???"} <= spellings
    assert set(written[("yellow", 2010, 1)][1].value_counts["rate_code"]) <= set("123456")
    text = pq.read_table(written[("yellow", 2009, 1)][0])["Trip_Pickup_DateTime"][1].as_py()
    assert datetime.strptime(text, "%Y-%m-%d %H:%M:%S").year == 2009
    coords = pq.read_table(written[("yellow", 2010, 1)][0])["pickup_longitude"]
    assert coords.null_count > 0 and pc.sum(pc.equal(coords, 0.0)).as_py() > 0


def test_code_values_by_era(written) -> None:
    def values(key: tuple[str, int, int], column: str) -> set[object]:
        return set(pq.read_table(written[key][0], columns=[column])[column].to_pylist())

    assert values(("yellow", 2025, 1), "VendorID") >= {1, 2, 6, 7, None}
    assert 0 in values(("yellow", 2025, 1), "payment_type")
    assert 99 in values(("yellow", 2025, 1), "RatecodeID")
    assert values(("yellow", 2024, 1), "VendorID") == {1, 2, None}
    assert 0 not in values(("yellow", 2024, 1), "payment_type")
    doubles = values(("yellow", 2018, 7), "passenger_count") - {None}
    assert doubles and all(float(v).is_integer() for v in doubles)
    assert values(("fhvhv", 2019, 4), "hvfhs_license_num") >= {"HV0003", "HV0005"}
    assert values(("yellow", 2026, 6), "request_source") - {None}
    # fhv location ids are mostly null, as in the real files.
    assert written[("fhv", 2019, 5)][1].nulls["PUlocationID"] > ROWS // 2


def test_output_is_deterministic(tmp_path: Path) -> None:
    args = ("fhvhv", 2024, 1, 5000)
    a, b, c = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    assert tlc.generate_month(a, *args, seed=3) == tlc.generate_month(b, *args, seed=3)
    assert a.read_bytes() == b.read_bytes()
    tlc.generate_month(c, *args, seed=4)
    assert a.read_bytes() != c.read_bytes()
    # The row-group size changes only the layout, not the values (blocks are seeded).
    tlc.generate_month(c, *args, seed=3, row_group_rows=1500)
    assert pq.ParquetFile(c).metadata.num_row_groups == 4
    assert pq.read_table(c).equals(pq.read_table(a))


def test_a_month_is_one_row_group_as_the_tlc_wrote_it(tmp_path: Path, monkeypatch) -> None:
    """Up to 2023-01 the whole month is one row group (the real green months and yellow
    2023-01's 3 M rows are); from 2023-02 groups of 1 Mi rows (yellow and fhvhv 2024-01)."""
    monkeypatch.setattr(tlc, "BLOCK_ROWS", 700)  # blocks are gathered into the one group
    path = tmp_path / "g.parquet"
    truth = tlc.generate_month(path, "green", 2022, 1, 2500)
    assert pq.ParquetFile(path).metadata.num_row_groups == truth.row_groups == 1
    assert pq.ParquetFile(path).metadata.row_group(0).num_rows == 2500
    assert [tlc.writer("fhvhv", *m).row_group_rows for m in [(2023, 1), (2023, 2), (2024, 1)]] == [
        0, tlc.ROW_GROUP_ROWS, tlc.ROW_GROUP_ROWS
    ]
    truth = tlc.generate_month(path, "fhvhv", 2024, 1, 2500)
    assert pq.ParquetFile(path).metadata.num_row_groups == truth.row_groups == 1
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_pandas_metadata_as_pandas_1_2_wrote_it(written) -> None:
    meta = json.loads(pq.read_metadata(written[("yellow", 2010, 2)][0]).metadata[b"pandas"])
    assert meta["index_columns"] == ["__index_level_0__"]  # the leaked index, as an index
    assert meta["columns"][-1] == {"name": None, "field_name": "__index_level_0__",
                                   "pandas_type": "int64", "numpy_type": "int64", "metadata": None}
    assert (meta["creator"], meta["pandas_version"]) == ({"library": "pyarrow", "version": "7.0.0"},
                                                         "1.2.4")
    meta = json.loads(pq.read_metadata(written[("green", 2019, 9)][0]).metadata[b"pandas"])
    assert meta["index_columns"] == [] and meta["columns"][14]["pandas_type"] == "empty"
    meta = json.loads(pq.read_metadata(written[("yellow", 2023, 1)][0]).metadata[b"pandas"])
    assert meta["creator"]["version"] == "8.0.0"
    assert b"pandas" not in pq.read_metadata(written[("yellow", 2023, 2)][0]).metadata


def test_blocks_and_row_groups_that_do_not_align(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tlc, "BLOCK_ROWS", 700)
    path = tmp_path / "y.parquet"
    truth = tlc.generate_month(path, "yellow", 2021, 3, 2500, row_group_rows=1000)
    sizes = [pq.ParquetFile(path).metadata.row_group(i).num_rows for i in range(3)]
    assert sizes == [1000, 1000, 500] and truth.row_groups == 3
    table = pq.read_table(path)
    assert truth.nulls == {c: table[c].null_count for c in table.column_names}
    assert truth.nulls["VendorID"] == 2500 * 3 // 100  # the tail without metadata
    assert pc.sum(table["total_amount"]).as_py() == pytest.approx(truth.sums["total_amount"])


def test_empty_month(tmp_path: Path) -> None:
    path = tmp_path / "g.parquet"
    truth = tlc.generate_month(path, "green", 2019, 9, 0)
    assert pq.read_table(path).num_rows == 0 and truth.rows == 0 and truth.row_groups == 0
    assert pq.read_schema(path).equals(tlc.source_schema("green", 2019, 9))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("purple", 2020, 1, 10), "dataset must be one of"),
        (("green", 2013, 8, 10), "green starts at 2014-01, got 2013-08"),
        (("fhvhv", 2019, 1, 10), "fhvhv starts at 2019-02"),
        (("yellow", 2008, 12, 10), "yellow starts at 2009-01"),
        (("yellow", 2020, 13, 10), "month must be 1..12, got 13"),
        (("yellow", 2020, 0, 10), "month must be 1..12, got 0"),
        (("fhv", 2020, 1, -1), "rows must be >= 0, got -1"),
    ],
)
def test_bad_arguments_raise(tmp_path: Path, args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tlc.generate_month(tmp_path / "x.parquet", *args)
    assert list(tmp_path.iterdir()) == []
    if args[3] >= 0:
        for call in (tlc.file_name, tlc.era, tlc.source_schema):
            with pytest.raises(ValueError, match=message):
                call(*args[:3])
    with pytest.raises(ValueError, match="row_group_rows must be >= 1"):
        tlc.generate_month(tmp_path / "x.parquet", "yellow", 2020, 1, 10, row_group_rows=0)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        tlc.generate_month(tmp_path / "x.parquet", "yellow", 2020, 1, 10, seed=-1)


def test_failure_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "fhvhv_tripdata_2024-01.parquet"
    path.write_bytes(b"the previous good file")
    real_block = tlc._Month.block

    def failing(self: tlc._Month, index: int, a: int, b: int) -> dict:
        if index == 2:  # two row groups are already written by then
            raise OSError("disk full")
        return real_block(self, index, a, b)

    monkeypatch.setattr(tlc._Month, "block", failing)
    monkeypatch.setattr(tlc, "BLOCK_ROWS", 500)
    with pytest.raises(OSError, match="disk full"):
        tlc.generate_month(path, "fhvhv", 2024, 1, 2000, row_group_rows=500)
    assert path.read_bytes() == b"the previous good file"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_zone_lookup_revisions_differ_only_in_264_and_265(tmp_path: Path) -> None:
    old = tlc.write_zone_lookup(tmp_path / "old" / "taxi_zone_lookup.csv", "dtc-2022")
    new = tlc.write_zone_lookup(tmp_path / "new" / "taxi_zone_lookup.csv", "tlc-2024")
    assert [r[0] for r in old] == [r[0] for r in new] == list(range(1, 266))
    assert [i for i, (a, b) in enumerate(zip(old, new, strict=True), 1) if a != b] == [264, 265]
    assert old[-2:] == [(264, "Unknown", "NV", "N/A"), (265, "Unknown", "NA", "N/A")]
    assert new[-2:] == [(264, "Unknown", "N/A", "N/A"), (265, "N/A", "Outside of NYC", "N/A")]
    assert (new[0], new[131][2:], new[137][2:]) == (
        (1, "EWR", "Newark Airport", "EWR"), ("JFK Airport", "Airports"),
        ("LaGuardia Airport", "Airports"),
    )
    boroughs = {r[1] for r in new[:263]}
    assert boroughs == {"EWR", "Queens", "Bronx", "Manhattan", "Staten Island", "Brooklyn"}
    assert {r[3] for r in new[:263]} == {"EWR", "Airports", "Yellow Zone", "Boro Zone"}
    assert len({r[2] for r in new}) == 265

    text = (tmp_path / "new" / "taxi_zone_lookup.csv").read_text()
    lines = text.splitlines()
    assert lines[0] == '"LocationID","Borough","Zone","service_zone"'
    assert lines[1] == '1,"EWR","Newark Airport","EWR"'
    assert lines[-1] == '265,"N/A","Outside of NYC","N/A"' and text.endswith("\n")
    assert any("," in r[2] for r in new) and any("/" in r[2] for r in new)
    with open(tmp_path / "new" / "taxi_zone_lookup.csv", newline="") as f:
        parsed = list(csv.reader(f))[1:]
    assert [(int(r[0]), *r[1:]) for r in parsed] == new
    with pytest.raises(ValueError, match="revision must be one of"):
        tlc.write_zone_lookup(tmp_path / "x.csv", "2019")


def test_truth_is_json(written) -> None:
    truth = written[("yellow", 2009, 1)][1]
    assert json.loads(truth.to_json()) == json.loads(json.dumps(asdict(truth)))
    assert isinstance(truth.cents["Fare_Amt"], int) and truth.sums["Passenger_Count"] >= 0
