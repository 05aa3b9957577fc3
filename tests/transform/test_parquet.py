"""The TLC's own parquet files, every era of every dataset, onto one schema per dataset.

The files come from devtools.tlc_sample, which reproduces each era's names, physical
types (null-typed empty columns, int32/int64/double ids, large_string, ns metadata),
text datetimes and codes, fhv 2019-02's year-3019 dropoff and 2026's unknown column,
with ground truth computed from its own arrays, never by reading the file back.
"""

from __future__ import annotations

import collections
import math
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from peak_rss import peak_rss_mb

from taxi_etl import transform
from taxi_etl.devtools import tlc_sample
from taxi_etl.schemas import SchemaError, for_colour
from taxi_etl.schemas.codes import PAYMENT, VENDOR

pytestmark = pytest.mark.one_line

ROWS = 3_000
MONTHS = [(d, y, m) for d in tlc_sample.DATASETS for y, m in tlc_sample.representative_months(d)]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int, int], object]:
    """Every representative month converted; (truth, stats) by (dataset, year, month)."""
    root = tmp_path_factory.mktemp("tlc")
    out = {}
    for dataset, year, month in MONTHS:
        src = root / "src" / tlc_sample.file_name(dataset, year, month)
        truth = tlc_sample.generate_month(
            src, dataset, year, month, ROWS, seed=month, row_group_rows=1_000
        )
        dst = root / "lake" / f"colour={dataset}" / f"year={year}" / f"month={month:02d}"
        stats = transform.convert(src, dst / "data.parquet", dataset, year=year, month=month)
        out[dataset, year, month] = (truth, stats, dst / "data.parquet")
    out["root"] = root / "lake"  # type: ignore[index]
    return out


def _name(dataset: str, source_name: str) -> str:
    """The canonical column a source column lands in."""
    schema = for_colour(dataset)
    for col in schema.columns:
        if source_name.lower() in {n.lower() for n in (col.name, *col.aliases)}:
            return col.name
    raise KeyError(source_name)


@pytest.mark.parametrize(("dataset", "year", "month"), MONTHS)
def test_every_era_lands_in_one_schema_with_the_sources_values(
    lake: dict, dataset: str, year: int, month: int
) -> None:
    truth, stats, path = lake[dataset, year, month]
    table = pq.read_table(path)
    assert table.schema.equals(for_colour(dataset).arrow, check_metadata=True)
    assert table.num_rows == stats.rows == truth.rows
    assert stats.outside_month == truth.outside_month
    for source_name, total in truth.sums.items():
        if source_name in stats.columns_not_loaded:
            continue
        column = table[_name(dataset, source_name)]
        if pa.types.is_string(column.type):  # a 0/1 flag: its 1s are the Ys
            got = pc.sum(pc.equal(column, "Y")).as_py() or 0
        else:
            got = pc.sum(column).as_py() or 0
        if source_name in truth.cents:  # money and distance: exact to the cent
            assert round(got * 100) == truth.cents[source_name], source_name
        else:
            assert math.isclose(got, total, rel_tol=1e-12, abs_tol=1e-9), source_name
    for source_name, nulls in truth.nulls.items():
        if source_name in stats.columns_not_loaded:
            continue
        canonical = _name(dataset, source_name)
        unmapped = sum(stats.unmapped.get(canonical, {}).values())
        assert table[canonical].null_count == nulls + unmapped, source_name


def test_text_codes_map_to_the_dictionary_and_the_rest_is_counted(lake: dict) -> None:
    for key in [k for k in lake if k != "root" and k[0] == "yellow" and k[1] < 2011]:
        truth, stats, path = lake[key]
        table = pq.read_table(path, columns=["VendorID", "payment_type"])
        vendor_text = truth.value_counts.get("vendor_name") or truth.value_counts["vendor_id"]
        payment_text = truth.value_counts.get("Payment_Type") or truth.value_counts["payment_type"]
        expected_vendors: dict[int, int] = {}
        unmapped_vendors = {}
        for text, n in vendor_text.items():
            code = VENDOR.get(text.strip().upper())
            if code is None:
                unmapped_vendors[text] = n
            else:
                expected_vendors[int(code)] = expected_vendors.get(int(code), 0) + n
        got = {
            e["values"]: e["counts"]
            for e in pc.value_counts(table["VendorID"]).to_pylist()
            if e["values"] is not None
        }
        assert got == expected_vendors, key
        assert stats.unmapped["VendorID"] == unmapped_vendors, key
        assert "XYZ" in unmapped_vendors and "DDS" in unmapped_vendors
        expected_payments: dict[int, int] = {}
        for text, n in payment_text.items():
            code = PAYMENT.get(text.strip().upper())
            if code is not None:
                expected_payments[int(code)] = expected_payments.get(int(code), 0) + n
        got = {
            e["values"]: e["counts"]
            for e in pc.value_counts(table["payment_type"]).to_pylist()
            if e["values"] is not None
        }
        assert got == expected_payments, key
        unmapped_payments = sum(truth.unmapped.get(n, 0) for n in ("Payment_Type", "payment_type"))
        assert stats.unmapped["payment_type"] == {"???": unmapped_payments}, key


def test_what_the_partition_leaves_out_is_listed(lake: dict) -> None:
    _, stats, _ = lake["yellow", 2010, 2]
    assert stats.columns_not_loaded == ["__index_level_0__"]
    assert stats.columns_unknown == []  # a leaked index is dropped by design
    _, stats, path = lake["yellow", 2026, 6]
    assert stats.columns_unknown == []  # request_source is canonical: it arrives
    requests = pq.read_table(path, columns=["request_source"])["request_source"]
    assert requests.null_count < len(requests)
    _, stats, path = lake["yellow", 2009, 1]
    table = pq.read_table(path, columns=["PULocationID", "pickup_longitude"])
    assert table["PULocationID"].null_count == table.num_rows  # coordinates instead
    assert table["pickup_longitude"].null_count < table.num_rows


def test_what_the_partition_cannot_hold_is_kept_beside_it(lake: dict) -> None:
    """2009's codes with no data-dictionary value are null in the partition, and kept as
    the TLC wrote them, row for row, in _data.extra.arrow."""
    _, stats, path = lake["yellow", 2009, 1]
    kept = pa.ipc.open_file(str(transform.extra_path(path))).read_all()
    data = pq.read_table(path, columns=["payment_type", "VendorID"])
    assert kept.num_rows == data.num_rows
    for raw, canonical in (("Payment_Type", "payment_type"), ("vendor_name", "VendorID")):
        unmapped = stats.unmapped.get(canonical, {})
        values = kept[raw] if raw in kept.column_names else pa.nulls(kept.num_rows)
        assert len(values) - values.null_count == sum(unmapped.values()), raw
        counted = {v: n for v, n in collections.Counter(values.to_pylist()).items() if v}
        assert counted == unmapped, raw
        # Where a value is kept, the partition holds null.
        where = pc.is_valid(values)
        assert pc.all(pc.is_null(pc.filter(data[canonical], where))).as_py() in (True, None)
    _, _, path = lake["yellow", 2024, 1]
    assert not transform.extra_path(path).exists()  # nothing to keep: no file


def test_a_dropoff_in_3019_is_kept_and_counted(lake: dict) -> None:
    truth, stats, path = lake["fhv", 2019, 2]
    assert stats.far_timestamps == sum(truth.ns_out_of_range.values()) == 1
    dropoffs = pq.read_table(path, columns=["dropoff_datetime"])["dropoff_datetime"]
    assert pc.max(dropoffs).as_py().year == 3019


def test_ns_metadata_months_read_as_microseconds(lake: dict) -> None:
    truth, _, path = lake["yellow", 2024, 1]
    assert truth.timestamp_unit == "ns"  # what the file's embedded schema claims
    assert pq.read_schema(path).field("tpep_pickup_datetime").type == pa.timestamp("us")


@pytest.mark.parametrize("dataset", tlc_sample.DATASETS)
def test_every_dataset_reads_back_as_one_table(lake: dict, dataset: str) -> None:
    root = lake["root"] / f"colour={dataset}"  # type: ignore[operator]
    months = [k for k in lake if k != "root" and k[0] == dataset]
    dataset_ = ds.dataset(root, format="parquet", partitioning="hive")
    assert len({f.physical_schema for f in dataset_.get_fragments()}) == 1
    assert dataset_.count_rows() == ROWS * len(months)
    # DuckDB over every month at once, without union_by_name: one schema, one table.
    rel = duckdb.connect().sql(
        f"SELECT count(*), count(DISTINCT (year, month)) FROM "
        f"read_parquet('{root}/*/*/data.parquet', hive_partitioning = true)"
    )
    assert rel.fetchall() == [(ROWS * len(months), len(months))]


def test_a_fractional_id_fails_the_file_naming_column_and_row(tmp_path: Path) -> None:
    src = tmp_path / tlc_sample.file_name("green", 2020, 1)
    tlc_sample.generate_month(src, "green", 2020, 1, 2_000, row_group_rows=1_000)
    table = pq.read_table(src)
    codes = table["passenger_count"].to_pylist()
    codes[1_500] = 1.5
    bad = table.set_column(
        table.schema.get_field_index("passenger_count"), "passenger_count", pa.array(codes)
    )
    pq.write_table(bad, src, row_group_size=1_000)
    dst = tmp_path / "out.parquet"
    with pytest.raises(SchemaError) as err:
        transform.convert(src, dst, "green", year=2020, month=1)
    assert "green_tripdata_2020-01.parquet" in str(err.value)
    assert "passenger_count" in str(err.value) and "row 1501" in str(err.value)
    assert list(tmp_path.iterdir()) == [src]  # nothing half-written


def test_a_truncated_download_is_corrupt(tmp_path: Path) -> None:
    src = tmp_path / tlc_sample.file_name("fhv", 2020, 1)
    tlc_sample.generate_month(src, "fhv", 2020, 1, 2_000)
    src.write_bytes(src.read_bytes()[:-100])
    with pytest.raises(transform.CorruptSource):
        transform.convert(src, tmp_path / "out.parquet", "fhv", year=2020, month=1)
    assert list(tmp_path.iterdir()) == [src]


def test_another_datasets_file_is_refused(tmp_path: Path) -> None:
    src = tmp_path / tlc_sample.file_name("green", 2020, 1)
    tlc_sample.generate_month(src, "green", 2020, 1, 100)
    with pytest.raises(SchemaError, match="not a yellow file"):
        transform.convert(src, tmp_path / "out.parquet", "yellow")


def test_memory_stays_bounded_on_a_large_fhvhv_month(tmp_path: Path) -> None:
    """A fhvhv month is about 20 M rows; the transform holds row groups, not months."""
    src = tmp_path / tlc_sample.file_name("fhvhv", 2024, 1)
    tlc_sample.generate_month(src, "fhvhv", 2024, 1, 1_500_000, row_group_rows=500_000)
    dst = tmp_path / "out.parquet"
    peak_mb = peak_rss_mb(
        [sys.executable, "-m", "taxi_etl", "convert", "--colour", "fhvhv", str(src), str(dst)]
    )
    assert pq.ParquetFile(dst).metadata.num_rows == 1_500_000
    assert peak_mb <= 300, f"peak RSS {peak_mb:.0f} MB"
