"""The original-csv generator writes each era's form, and its truth is what the file holds.

The truth is computed from the generator's integers; here the file is parsed back (text
only, no transform) and every count, sum and timestamp is checked against it.  The forms
themselves are checked against the real heads in test_real_footers.py.
"""

from __future__ import annotations

import calendar
import csv
import gzip
import io
import json
import re
import time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from urllib.request import urlopen

import pytest

from taxi_etl.devtools import tlc_csv, tlc_csv_forms
from taxi_etl.devtools.mirror import serve
from taxi_etl.devtools.tlc_csv_values import CsvMonth

pytestmark = pytest.mark.one_line

ROWS = 700
UNITS = {"cents": 100, "micro": 10**6}
# The first month of every form, and the variants.
CASES = [(d, *m, "tlc") for d, forms in tlc_csv_forms.FORMS.items() for m, _ in forms]
CASES += [("fhvhv", 2021, 6, "course"), ("green", 2020, 10, "course"),
          ("yellow", 2019, 1, "r"), ("fhv", 2019, 2, "r"), ("green", 2014, 1, "r")]


def case_id(case: tuple[str, int, int, str]) -> str:
    return "{}-{}-{:02}-{}".format(*case)


def parse(path: Path, dataset: str, year: int, month: int, variant: str) -> dict:
    """What the file says, read as text: header bytes, what follows it, rows of fields."""
    raw = path.read_bytes()
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    shape = tlc_csv.form(dataset, year, month, variant)
    head, _, rest = data.partition(b"\n")
    after = b""
    while rest.startswith((b"\n", b"\r\n")):
        cut = rest.index(b"\n") + 1
        after, rest = after + rest[:cut], rest[cut:]
    lines = rest.split(b"\n")
    assert lines[-1] == b""
    rows = list(csv.reader(io.StringIO(rest.decode("ascii"), newline="")))
    return {"shape": shape, "head": head, "after": after, "lines": lines[:-1], "rows": rows}


def stamp(text: str) -> tuple[int, int]:
    whole, _, frac = text.partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%d %H:%M:%S")), int(frac or 0)


def measured(parsed: dict, truth: tlc_csv.CsvTruth) -> dict:
    """The truth's quantities, measured on the parsed text."""
    cols = truth.columns
    out: dict = {"nulls": {}, "scaled": {}, "ints": {}, "spellings": {}, "stamps": {}}
    for i, name in enumerate(cols):
        if name is None:
            continue
        values = [row[i] for row in parsed["rows"]]
        out["nulls"][name] = sum(v == "" for v in values)
        present = [v for v in values if v != ""]
        if name in truth.scaled:
            unit = truth.scaled[name][0]
            if unit == "fine":  # the float32 value exactly, in 2**-20 degree
                exact = [Fraction(float(v)) * (1 << 20) for v in present]
                assert all(f.denominator == 1 for f in exact), name
                out["scaled"][name] = (unit, int(sum(exact)))
            else:
                exact = [Decimal(v) * UNITS[unit] for v in present]  # 17 digits: nearly whole
                assert all(abs(d - round(d)) < Decimal("1e-6") for d in exact), name
                out["scaled"][name] = (unit, sum(round(d) for d in exact))
        elif name in truth.timestamps:
            out["stamps"][name] = [stamp(v) for v in present]
        elif name in truth.spellings:
            out["spellings"][name] = {s: present.count(s) for s in set(present)}
        elif name in truth.sums:
            out["ints"][name] = [int(v) for v in present]
    return out


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("csv")
    out = {}
    for case in CASES:
        dataset, year, month, variant = case
        path = root / f"{variant}-{tlc_csv.file_name(dataset, year, month)}"
        truth = tlc_csv.generate_month(path, dataset, year, month, ROWS, seed=3, variant=variant)
        out[case] = (path, truth)
    return out


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_file_is_in_its_form_and_holds_the_truth(case: tuple, written: dict) -> None:
    path, truth = written[case]
    dataset, year, month, variant = case
    parsed = parse(path, *case)
    shape, r = parsed["shape"], variant == "r"
    assert (truth.dataset, truth.year, truth.month, truth.form, truth.variant) == (
        dataset, year, month, shape.name, variant)
    assert truth.columns == tlc_csv.canonical(dataset, shape) and truth.rows == ROWS
    if r:
        assert parsed["head"] == b",".join(n.strip().encode() for n in shape.names)
        assert parsed["after"] == b""
    else:
        assert parsed["head"] + b"\n" == shape.header + shape.header_eol
        assert parsed["after"] == shape.after_header
    eol = b"\n" if r else shape.eol
    assert all(line.endswith(b"\r") == (eol == b"\r\n") for line in parsed["lines"])
    width = len(shape.names) + (0 if r else shape.extras)
    assert {len(row) for row in parsed["rows"]} == {width} and len(parsed["rows"]) == ROWS
    quoted = shape.quoted and not r
    assert all(line.startswith(b'"') == quoted for line in parsed["lines"])

    got = measured(parsed, truth)
    assert got["nulls"] == truth.nulls
    assert got["scaled"] == truth.scaled
    for name, (unit, total) in truth.scaled.items():
        scale = 1 << 20 if unit == "fine" else UNITS[unit]
        assert truth.sums[name] == pytest.approx(total / scale, rel=1e-15)
    for name, values in got["ints"].items():
        assert sum(values) == truth.sums[name], name
        if name in truth.value_counts:
            counts = {str(v): values.count(v) for v in set(values)}
            assert counts == truth.value_counts[name], name
    assert got["spellings"] == truth.spellings
    for name, spelled in truth.spellings.items():
        loaded: dict[str, int] = {}
        for text, k in spelled.items():
            value = tlc_csv_forms.MEANING.get(name, {}).get(text, text)
            if value is not None:
                loaded[str(value)] = loaded.get(str(value), 0) + k
        assert loaded == truth.value_counts[name], name
    for name, stamps in got["stamps"].items():
        t = truth.timestamps[name]
        assert (sum(s for s, _ in stamps), sum(ns for _, ns in stamps)) == (t["sum_s"], t["sum_ns"])
        assert sum(ns > 0 for _, ns in stamps) == t["sub_second"]
        assert sum(abs(s) > (1 << 63) // 10**9 for s, _ in stamps) == t["beyond_ns"]
        texts = [row[truth.columns.index(name)] for row in parsed["rows"]]
        assert (min(filter(None, texts)), max(texts)) == (t["min"], t["max"])
    pickup = next(c for c in truth.columns if c and c.endswith("pickup_datetime"))
    start, end = calendar.timegm((year, month, 1, 0, 0, 0)), calendar.timegm(
        (year + month // 12, month % 12 + 1, 1, 0, 0, 0))
    outside = sum(not start <= s < end for s, _ in got["stamps"][pickup])
    assert outside == truth.outside_month == 1
    json.loads(truth.to_json())


def test_legacy_codes_are_text_in_each_vendors_spelling(written: dict) -> None:
    t2009 = written[("yellow", 2009, 1, "tlc")][1]
    assert set(t2009.spellings["VendorID"]) == {"CMT", "VTS", "DDS"}
    assert t2009.unmapped == {"VendorID": {"DDS": t2009.spellings["VendorID"]["DDS"]}}
    assert {"Cash", "CASH", "Credit", "CREDIT"} <= set(t2009.spellings["payment_type"])
    assert t2009.nulls["RatecodeID"] == ROWS and t2009.nulls["mta_tax"] == ROWS
    t2010 = written[("yellow", 2010, 1, "tlc")][1]
    assert {"CAS", "Cas", "CRE", "Cre"} <= set(t2010.spellings["payment_type"])
    assert set(t2010.spellings["store_and_fwd_flag"]) == {"0"}  # CMT only; the rest empty
    assert t2010.value_counts["store_and_fwd_flag"] == {"N": t2010.spellings[
        "store_and_fwd_flag"]["0"]}
    t2011 = written[("yellow", 2010, 9, "tlc")][1]
    assert set(t2011.spellings["payment_type"]) <= {"CRD", "CSH", "NOC", "DIS", "UNK"}
    assert set(t2011.spellings["VendorID"]) == {"CMT", "VTS"} and not t2011.unmapped


def test_quirks_are_counted(written: dict) -> None:
    assert written[("green", 2016, 7, "tlc")][1].quirks["refunds"] == 2  # rows 200 and 600
    assert written[("fhv", 2017, 1, "tlc")][1].quirks["lowercase_base"] == 7
    green = written[("green", 2014, 1, "tlc")][1]
    assert green.nulls["trip_type"] == ROWS  # 2014-01's Trip_type is empty throughout
    assert green.nulls["ehail_fee"] == ROWS and "Ehail_fee" not in green.nulls
    y2019 = written[("yellow", 2019, 1, "tlc")][1]
    assert y2019.nulls["congestion_surcharge"] == ROWS  # the charge starts in 2019-02
    assert y2019.quirks["tail"] == y2019.nulls["VendorID"] == ROWS * 3 // 100


def test_the_tail_without_metadata_comes_last_on_whole_minutes(written: dict) -> None:
    path, truth = written[("green", 2020, 10, "course")]  # the real month's tail: 44.7 %
    n = int(ROWS * 0.45)
    assert truth.quirks["tail"] == n == truth.nulls["VendorID"] == truth.nulls["payment_type"]
    assert truth.nulls["congestion_surcharge"] == n and truth.nulls["PULocationID"] == 0
    rows = parse(path, "green", 2020, 10, "course")["rows"]
    assert all(r[0] == "" and r[1].endswith(":00") for r in rows[-n:])
    assert all(r[0] != "" for r in rows[:-n])
    assert [r[1] for r in rows[-n:]] == sorted(r[1] for r in rows[-n:])  # sorted again


def test_r_variant_has_nine_digit_fractions_and_a_year_3019_dropoff(written: dict) -> None:
    path, truth = written[("fhv", 2019, 2, "r")]
    text = path.read_text()
    assert "\r" not in text
    stamps = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?", text)
    assert stamps and all(re.fullmatch(r".{19}\.\d{9}", s) for s in stamps)
    far = [s for s in stamps if s.startswith("3019-")]
    assert len(far) == 1 and truth.quirks["year_3019"] == 1
    assert truth.timestamps["dropoff_datetime"]["max"] == far[0]
    assert truth.timestamps["dropoff_datetime"]["beyond_ns"] == 1
    assert truth.timestamps["pickup_datetime"]["beyond_ns"] == 0
    assert truth.timestamps["pickup_datetime"]["sub_second"] > ROWS * 0.99


def test_the_course_fhvhv_2021_form(written: dict) -> None:
    path, truth = written[("fhvhv", 2021, 6, "course")]
    assert truth.form == "fhvhv-course-2021" and "\r" not in path.read_text()
    assert set(truth.spellings["shared_request_flag"]) <= {"N", "Y"}
    assert "hvfhs_license_num" not in truth.columns
    assert tlc_csv.form("fhvhv", 2021, 6).name == "fhvhv-2019"  # the TLC's own file
    assert tlc_csv.form("green", 2020, 10, "course") == tlc_csv.form("green", 2020, 10)


def test_number_text() -> None:
    g17, f32 = tlc_csv._g17_scaled, tlc_csv._f32
    assert [g17(263, 100), g17(9, 100), g17(1210, 100), g17(90, 100), g17(0, 100)] == [
        "2.6299999999999999", "8.9999999999999997E-2", "12.1", "0.90000000000000002", "0"]
    assert [g17(40721567, 10**6), g17(-10317, 10**6), g17(940, 10**6)] == [
        "40.721567", "-0.010317", "9.3999999999999997E-4"]
    coords = (-73.993896484375, 40.750110626220703, -73.9019927978515625)
    fine = [round(x * (1 << 20)) for x in coords]
    assert [f32(v) for v in fine] == ["-73.993896484375", "40.750110626220703",
                                      "-73.901992797851563"]


def test_output_is_deterministic_and_gzip_holds_the_same_text(tmp_path: Path, monkeypatch) -> None:
    args = ("green", 2015, 3, 900)
    a, b, z = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "z.csv"
    assert tlc_csv.generate_month(a, *args, seed=2) == tlc_csv.generate_month(b, *args, seed=2)
    assert a.read_bytes() == b.read_bytes()
    assert tlc_csv.generate_month(z, *args, seed=2, gzip=True) == tlc_csv.generate_month(a, *args,
                                                                                          seed=2)
    assert z.read_bytes()[:2] == b"\x1f\x8b" and gzip.decompress(z.read_bytes()) == a.read_bytes()
    tlc_csv.generate_month(b, *args, seed=4)
    assert a.read_bytes() != b.read_bytes()
    monkeypatch.setattr(tlc_csv, "CHUNK_ROWS", 250)  # chunks that do not divide the rows
    truth = tlc_csv.generate_month(b, *args, seed=2)
    parsed = parse(b, "green", 2015, 3, "tlc")
    assert len(parsed["rows"]) == 900 and measured(parsed, truth)["scaled"] == truth.scaled


def test_write_months_lays_the_months_flat_for_a_mirror(tmp_path: Path) -> None:
    months = [("yellow", 2012, 1), ("fhv", 2018, 7), ("fhvhv", 2020, 1)]
    truths = tlc_csv.write_months(tmp_path, months, 50, gzip=True)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["fhv_tripdata_2018-07.csv", "fhvhv_tripdata_2020-01.csv",
                     "yellow_tripdata_2012-01.csv"]
    assert [t.rows for t in truths.values()] == [50, 50, 50]
    with serve(tmp_path) as url, urlopen(f"{url}/yellow_tripdata_2012-01.csv", timeout=10) as resp:
        body = resp.read()
    assert body == (tmp_path / "yellow_tripdata_2012-01.csv").read_bytes()
    assert gzip.decompress(body).startswith(b"vendor_id,pickup_datetime,")


def test_an_empty_month_is_its_header(tmp_path: Path) -> None:
    truth = tlc_csv.generate_month(tmp_path / "g.csv", "green", 2014, 5, 0)
    assert (tmp_path / "g.csv").read_bytes() == tlc_csv.form("green", 2014, 5).header + b"\n\n\r\n"
    assert truth.rows == 0 and set(truth.nulls.values()) == {0} and truth.timestamps == {}


def test_every_month_has_a_form() -> None:
    for dataset, first in tlc_csv_forms.FIRST.items():
        last, seen = tlc_csv_forms.LAST[dataset], set()
        for year in range(first[0], last[0] + 1):
            for month in range(1, 13):
                if first <= (year, month) <= last:
                    seen.add(tlc_csv.form(dataset, year, month).name)
        assert seen == {f.name for _, f in tlc_csv_forms.FORMS[dataset]}


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("purple", 2015, 1, 10), {}, "dataset must be one of"),
        (("green", 2013, 7, 10), {}, r"green csv runs 2013-08..2021-12, got 2013-07"),
        (("fhv", 2021, 1, 10), {}, r"fhv csv runs 2015-01..2020-12"),
        (("yellow", 2015, 13, 10), {}, "month must be 1..12"),
        (("yellow", 2015, 1, -1), {}, "rows and seed must be >= 0"),
        (("yellow", 2015, 1, 10), {"variant": "spark"}, "variant must be one of"),
        (("fhv", 2016, 1, 10), {"variant": "r"}, "needs a dropoff column"),
    ],
)
def test_bad_arguments_write_nothing(
    tmp_path: Path, args: tuple, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        tlc_csv.generate_month(tmp_path / "x.csv", *args, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "yellow_tripdata_2013-01.csv"
    path.write_bytes(b"the previous good file")
    real = CsvMonth.chunk

    def failing(self: CsvMonth, index: int, a: int, b: int) -> dict:
        if index == 1:
            raise OSError("disk full")
        return real(self, index, a, b)

    monkeypatch.setattr(CsvMonth, "chunk", failing)
    monkeypatch.setattr(tlc_csv, "CHUNK_ROWS", 100)
    with pytest.raises(OSError, match="disk full"):
        tlc_csv.generate_month(path, "yellow", 2013, 1, 300)
    assert path.read_bytes() == b"the previous good file"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
