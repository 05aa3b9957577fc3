"""The forms of the TLC's original csv files: lines copied from the real files'
heads (../shared/real-tlc/tlc-csv; the conformance suite loads those files whole),
with one fault each where a test needs a failure."""

from __future__ import annotations

import calendar
import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taxi_etl.schemas import SchemaError
from taxi_etl.transform import convert, extra_path
from taxi_etl.transform.csvform import read_header

pytestmark = pytest.mark.one_line

# yellow 2009-01: LF after the header, a blank CRLF line, then CRLF rows.
Y2009_HEADER = (
    b"vendor_name,Trip_Pickup_DateTime,Trip_Dropoff_DateTime,Passenger_Count,Trip_Distance,"
    b"Start_Lon,Start_Lat,Rate_Code,store_and_forward,End_Lon,End_Lat,Payment_Type,Fare_Amt,"
    b"surcharge,mta_tax,Tip_Amt,Tolls_Amt,Total_Amt\n\r\n"
)
Y2009_ROWS = [
    b"VTS,2009-01-04 02:52:00,2009-01-04 03:02:00,1,2.6299999999999999,-73.991956999999999,"
    b"40.721567,,,-73.993803,40.695922000000003,CASH,8.9000000000000004,0.5,,0,0,"
    b"9.4000000000000004\r\n",
    b"DDS,2009-01-03 15:43:00,2009-01-03 15:57:00,5,10.35,-73.961726000000001,40.761245,,,"
    b"-73.862826999999996,40.768008000000002,Credit,28.899999999999999,0.5,,5,0,"
    b"34.399999999999999\r\n",
    b"CMT,2009-01-01 20:52:58,2009-01-01 21:14:00,1,5,-73.974266999999998,40.790954999999997,"
    b",0,-73.996557999999993,40.731848999999997,No Charge,8.0,0,,0,0,8\r\n",
]
# yellow 2016-07: rows end in two empty fields the header does not name.
Y2016_HEADER = (
    b"VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,trip_distance,"
    b"RatecodeID,store_and_fwd_flag,PULocationID,DOLocationID,payment_type,fare_amount,extra,"
    b"mta_tax,tip_amount,tolls_amount,improvement_surcharge,total_amount\r\n"
)
Y2016_ROW = (
    b"1,2016-07-10 06:56:05,2016-07-10 06:59:53,1,.50,1,N,263,236,1,4.5,1,0.5,2.7,0,0.3,9,,\r\n"
)
# fhv 2018-07: a quoted header with two base columns.
F2018 = (
    b'"Pickup_DateTime","DropOff_datetime","PUlocationID","DOlocationID","SR_Flag",'
    b'"Dispatching_base_number","Dispatching_base_num"\r\n'
    b'"2018-07-08 01:06:03","2018-07-08 01:11:44","71","71","1","B02764",""\r\n'
    b'"2018-07-03 23:08:31","2018-07-03 23:13:23","16","171","","B02764",""\r\n'
)


def write(path: Path, body: bytes, *, gz: bool = True) -> Path:
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(body)
    else:
        path.write_bytes(body)
    return path


@pytest.mark.parametrize("gz", [True, False])
def test_yellow_2009_text_codes_blank_line_and_plain_or_gzip(tmp_path: Path, gz: bool) -> None:
    src = write(
        tmp_path / "yellow_tripdata_2009-01.csv", Y2009_HEADER + b"".join(Y2009_ROWS), gz=gz
    )
    dst = tmp_path / "out.parquet"
    stats = convert(src, dst, "yellow")
    t = pq.read_table(dst)
    assert t["VendorID"].to_pylist() == [2, None, 1]  # DDS has no number
    assert t["payment_type"].to_pylist() == [2, 1, 3]  # CASH, Credit, No Charge
    assert t["store_and_fwd_flag"].to_pylist() == [None, None, "N"]  # 2009 writes 0/1
    assert t["trip_distance"].to_pylist() == [2.63, 10.35, 5.0]
    assert t["pickup_longitude"][0].as_py() == -73.991957
    assert stats.unmapped == {"VendorID": {"DDS": 1}}
    # The vendor DDS is not lost: kept as written, on its row.
    extra = pa.ipc.open_file(str(extra_path(dst))).read_all()
    assert extra.column_names == ["vendor_name"]
    assert extra["vendor_name"].to_pylist() == [None, "DDS", None]
    assert stats.extra == {"vendor_name": 1}


def test_a_bad_value_names_the_line_of_the_file_blank_lines_counted(tmp_path: Path) -> None:
    rows = list(Y2009_ROWS)
    rows[2] = rows[2].replace(b",8.0,", b",8x,")
    src = write(tmp_path / "yellow_tripdata_2009-01.csv.gz", Y2009_HEADER + b"".join(rows))
    with pytest.raises(SchemaError, match=r"line 5: column fare_amount: not a number '8x'"):
        convert(src, tmp_path / "out.parquet", "yellow")
    assert not (tmp_path / "out.parquet").exists()


def test_nine_digit_fractions_are_truncated_to_the_microsecond_and_kept(tmp_path: Path) -> None:
    """A file written from R; a year-3019 dropoff with a fraction too."""
    body = (
        b"dispatching_base_num,pickup_datetime,dropoff_datetime,PULocationID,DOLocationID,SR_Flag\n"
        b"B00001,2019-02-01 00:30:10.123456789,2019-02-01 00:40:00.000000000,1,2,\n"
        b"B00001,2019-02-01 00:31:00.5,3019-02-02 00:00:00.000000001,1,2,1\n"
    )
    src = write(tmp_path / "fhv_tripdata_2019-02.csv.gz", body)
    dst = tmp_path / "out.parquet"
    stats = convert(src, dst, "fhv")
    t = pq.read_table(dst)
    assert [str(v) for v in t["pickup_datetime"].to_pylist()] == [
        "2019-02-01 00:30:10.123456",
        "2019-02-01 00:31:00.500000",
    ]
    in_3019 = calendar.timegm((3019, 2, 2, 0, 0, 0)) * 1_000_000  # beyond datetime64[ns]
    assert t["dropoff_datetime"][1].value == in_3019
    assert stats.sub_microsecond == 2 and stats.far_timestamps == 1
    extra = pa.ipc.open_file(str(extra_path(dst))).read_all()
    assert extra["pickup_datetime"].to_pylist() == ["2019-02-01 00:30:10.123456789", None]
    assert extra["dropoff_datetime"].to_pylist() == [None, "3019-02-02 00:00:00.000000001"]


def test_trailing_empty_fields_are_read_and_must_stay_empty(tmp_path: Path) -> None:
    header = read_header(write(tmp_path / "h.csv", Y2016_HEADER + Y2016_ROW, gz=False))
    assert header.padding == ["_field_18", "_field_19"]
    rows = [Y2016_ROW, Y2016_ROW.replace(b",,\r", b"\r"), Y2016_ROW.replace(b",,\r", b",,,\r")]
    src = write(tmp_path / "yellow_tripdata_2016-07.csv.gz", Y2016_HEADER + b"".join(rows))
    stats = convert(src, tmp_path / "out.parquet", "yellow")
    assert stats.rows == 3  # rows of other widths, by empty fields only, fit
    assert stats.columns_not_loaded == []
    bad = write(
        tmp_path / "yellow_tripdata_2016-08.csv.gz",
        Y2016_HEADER + Y2016_ROW + Y2016_ROW.replace(b",,\r", b",,x\r"),
    )
    with pytest.raises(SchemaError, match=r"line 3: a value 'x' past the header's 17 columns"):
        convert(bad, tmp_path / "bad.parquet", "yellow")


def test_quoted_header_and_the_base_that_prevails(tmp_path: Path) -> None:
    src = write(tmp_path / "fhv_tripdata_2018-07.csv.gz", F2018)
    dst = tmp_path / "out.parquet"
    stats = convert(src, dst, "fhv")
    t = pq.read_table(dst)
    assert t["dispatching_base_num"].to_pylist() == ["B02764", "B02764"]
    assert t["SR_Flag"].to_pylist() == [1, None]
    assert t["PULocationID"].to_pylist() == [71, 16]
    assert stats.columns_unknown == ["Dispatching_base_num"]
    assert not extra_path(dst).exists()  # it is empty: nothing to keep


def test_na_is_a_payment_type_not_a_missing_value(tmp_path: Path) -> None:
    """2010 writes ``NA `` for an unknown payment type; Arrow would read NA as null."""
    header = (
        b"vendor_id,pickup_datetime,dropoff_datetime,passenger_count,trip_distance,"
        b"pickup_longitude,pickup_latitude,rate_code,store_and_fwd_flag,dropoff_longitude,"
        b"dropoff_latitude,payment_type,fare_amount,surcharge,mta_tax,tip_amount,tolls_amount,"
        b"total_amount\n\r\n"
    )
    row = (
        b"VTS,2010-04-01 00:00:00,2010-04-01 00:05:00,1,1.0,-73.9,40.7,1,,-73.9,40.7,%s,"
        b"5,0,0.5,0,0,5.5\r\n"
    )
    src = write(tmp_path / "yellow_tripdata_2010-04.csv.gz", header + row % b"NA " + row % b"No ")
    dst = tmp_path / "out.parquet"
    convert(src, dst, "yellow")
    assert pq.read_table(dst)["payment_type"].to_pylist() == [5, 3]
