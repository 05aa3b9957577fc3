"""The generators against the real files in ``shared/real-tlc``: where they disagree, the
real file is right.

Parquet: each real green month's footer (row groups, codec per column, writer family,
format version, embedded ARROW:schema, pandas metadata, physical/logical types, names
and order) against :mod:`taxi_etl.devtools.tlc_sample`'s month.  Original csv: each real
head (``tlc-csv/``, ``course/``) against :mod:`taxi_etl.devtools.tlc_csv`'s month: header
bytes, line ends, blank lines, fields per row, quoting, BOM, the spellings of code columns
(the generator's must include the real ones) and the shapes of numbers.  The folder is
``$TAXI_ETL_REAL_TLC`` or ``../shared/real-tlc`` beside the repository; without it these
tests skip, unless ``TAXI_ETL_REQUIRE_REAL_TLC=1``.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import os
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taxi_etl.devtools import tlc_csv, tlc_sample
from taxi_etl.devtools.tlc_draws import Col

pytestmark = pytest.mark.one_line

REAL = Path(os.environ.get("TAXI_ETL_REAL_TLC")
            or Path(__file__).resolve().parents[2] / ".." / "shared" / "real-tlc")
PARQUET = sorted(REAL.glob("parquet/*.parquet")) or [REAL / "parquet" / "missing"]
HEADS = sorted(REAL.glob("tlc-csv/*.csv.gz")) + sorted(REAL.glob("course/*.csv.gz"))
HEADS = HEADS or [REAL / "tlc-csv" / "missing"]
LINES = 2000  # of a whole real month, compare this many rows (a head is ~100)
ROWS = 1500  # rows generated per month: enough for every spelling to appear
CODES = {"VendorID", "payment_type", "store_and_fwd_flag", "RatecodeID", "trip_type",
         "SR_Flag", "shared_request_flag", "hvfhs_license_num", "passenger_count"}
_NAME = re.compile(r"(yellow|green|fhvhv|fhv)_tripdata_(\d{4})-(\d\d)\.")


def real(path: Path) -> Path:
    if path.exists():
        return path
    if os.environ.get("TAXI_ETL_REQUIRE_REAL_TLC") == "1":
        pytest.fail(f"no real TLC files at {REAL} (TAXI_ETL_REQUIRE_REAL_TLC=1)")
    pytest.skip(f"no real TLC files at {REAL}")


def family(created_by: str) -> str:
    return created_by.split(" version ")[0]  # "parquet-cpp-arrow"


def embedded(metadata: pq.FileMetaData) -> pa.Schema:
    raw = base64.b64decode(metadata.metadata[b"ARROW:schema"])
    return pa.ipc.read_schema(pa.py_buffer(raw))


@pytest.mark.parametrize("path", PARQUET, ids=lambda p: p.stem)
def test_parquet_footer_is_the_real_ones(path: Path, tmp_path: Path) -> None:
    theirs = pq.ParquetFile(real(path))
    m = _NAME.match(path.name)
    assert m, path.name
    dataset, year, month = m[1], int(m[2]), int(m[3])
    ours_path = tmp_path / path.name
    truth = tlc_sample.generate_month(ours_path, dataset, year, month, 2000, seed=1)
    ours = pq.ParquetFile(ours_path)
    a, b = theirs.metadata, ours.metadata
    assert a.num_row_groups == b.num_row_groups == truth.row_groups == 1  # the whole month
    group = tlc_sample.writer(dataset, year, month).row_group_rows  # and at its real size:
    assert group == 0 or a.num_rows <= group
    assert family(a.created_by) == family(b.created_by) == "parquet-cpp-arrow"
    assert a.format_version == b.format_version
    assert theirs.schema_arrow.names == ours.schema_arrow.names  # names and order
    for i in range(a.num_columns):
        x, y = theirs.schema.column(i), ours.schema.column(i)
        assert (x.physical_type, str(x.logical_type), x.converted_type) == (
            y.physical_type, str(y.logical_type), y.converted_type), x.name
        assert a.row_group(0).column(i).compression == b.row_group(0).column(i).compression
    ea, eb = embedded(a), embedded(b)
    assert ea.remove_metadata().equals(eb.remove_metadata())  # incl. timestamp[ns]
    assert theirs.schema_arrow.equals(ours.schema_arrow)  # what pyarrow reads: µs
    assert set(a.metadata) == set(b.metadata)
    if b"pandas" in a.metadata:
        assert json.loads(a.metadata[b"pandas"]) == json.loads(b.metadata[b"pandas"])


def structure(data: bytes, limit: int) -> dict:
    """How a csv text is laid out: header, its end, blank lines after it, rows."""
    head, _, rest = data.partition(b"\n")
    after = b""
    while rest.startswith((b"\n", b"\r\n")):
        cut = rest.index(b"\n") + 1
        after, rest = after + rest[:cut], rest[cut:]
    lines = rest.split(b"\n")[:-1][:limit]  # heads are cut at a whole line
    rows = list(csv.reader(io.StringIO(b"\n".join(lines).decode("ascii"))))
    return {"bom": data.startswith(b"\xef\xbb\xbf"), "head": head, "after": after,
            "ends": {line.endswith(b"\r") for line in lines},
            "widths": {len(r) for r in rows}, "rows": rows,
            "quoted": {line.startswith(b'"') for line in lines}}


def number(text: str) -> str:
    """A number's shape: how its era printed it."""
    if text == "" or not re.fullmatch(r"-?[\d.]+(E-\d+)?", text):
        return "empty" if text == "" else "text"
    if "E" in text:
        return "exp"
    if "." not in text:
        return "int"
    if len(text.lstrip("-").replace(".", "").lstrip("0")) >= 15:
        return "17-digit"
    if text.lstrip("-").startswith("."):
        return "no-leading-zero"
    return "two-places" if re.fullmatch(r"-?\d*\.\d0", text) else "short"


def head(path: Path) -> tuple[str, int, int, str, bytes]:
    """A real head's dataset, month and variant, and its text (a whole month's start)."""
    with gzip.open(real(path)) as f:
        data = f.read(1 << 20)
    m = _NAME.match(path.name)
    assert m, path.name
    return m[1], int(m[2]), int(m[3]), "course" if path.parent.name == "course" else "tlc", data


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The generator's month for each real head's month, made once."""
    root, made = tmp_path_factory.mktemp("csv"), {}

    def make(dataset: str, year: int, month: int, variant: str) -> tuple:
        key = (dataset, year, month, variant)
        if key not in made:
            path = root / f"{variant}-{tlc_csv.file_name(dataset, year, month)}"
            truth = tlc_csv.generate_month(path, *key[:3], ROWS, seed=1, variant=variant)
            made[key] = (truth, structure(path.read_bytes(), ROWS))
        return made[key]

    return {"make": make}


@pytest.mark.parametrize("path", HEADS, ids=lambda p: f"{p.parent.name}/{p.name.split('.')[0]}")
def test_csv_head_is_in_the_generators_form(path: Path, generated: dict) -> None:
    dataset, year, month, variant, data = head(path)
    theirs = structure(data, LINES)
    truth, ours = generated["make"](dataset, year, month, variant)
    for key in ("bom", "head", "after", "ends", "widths", "quoted"):
        assert theirs[key] == ours[key], key  # header bytes exactly, and the layout
    assert theirs["head"].endswith(b"\r") == (tlc_csv.form(dataset, year, month, variant)
                                             .header_eol == b"\r\n")
    for i, name in enumerate(truth.columns):
        real_texts = {row[i] for row in theirs["rows"]}
        our_texts = {row[i] for row in ours["rows"]}
        label = f"{path.name}: {name}"
        if name in CODES:
            assert real_texts <= our_texts, label  # every real spelling, and more
        elif name in truth.scaled or name in truth.sums:
            real_shapes = {number(t) for t in real_texts}
            assert real_shapes <= {number(t) for t in our_texts}, (label, real_shapes)


def test_every_real_number_is_printed_as_the_generator_prints_it() -> None:
    """Every decimal in the real heads, re-printed from its value by the generator's own
    formatting, is the same text; float32 coordinates but for ties at the 18th digit
    (which load as the same double either way)."""
    same = tie = 0
    for path in [p for p in HEADS if p.parent.name == "tlc-csv"]:
        dataset, year, month, _, data = head(path)
        shape = tlc_csv.form(dataset, year, month)
        rows = structure(data, LINES)["rows"]
        for i, name in enumerate(tlc_csv.canonical(dataset, shape)):
            if not name or name in CODES or "datetime" in name or "Location" in name:
                continue
            texts = [t for row in rows if (t := row[i]) and re.fullmatch(r"[-\d.E]+", t)]
            if name.endswith("itude") and not shape.legacy:  # float32 values, exactly
                fine = [Decimal(float(t)) * (1 << 20) for t in texts]
                assert all(f == int(f) for f in fine), (path.name, name)
                ours = [tlc_csv._f32(int(f)) for f in fine]
                assert [float(t) for t in ours] == [float(t) for t in texts], (path.name, name)
                same += sum(a == b for a, b in zip(ours, texts, strict=True))
                tie += sum(a != b for a, b in zip(ours, texts, strict=True))
                continue
            unit, scale = ("micro", 10**6) if name.endswith("itude") else ("cents", 100)
            exact = np.array([int((Decimal(t) * scale).to_integral_value()) for t in texts],
                             dtype=np.int64)
            ours = tlc_csv._strings(name, Col(exact, unit), shape.legacy).to_pylist()
            assert ours == texts, (path.name, name)
    assert same > 6000 and tie / (same + tie) < 0.06  # ties: 351 of 6832 in the heads
