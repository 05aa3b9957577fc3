"""The TLC's original csv files end to end, through the command a user types: a host of
one's own serves them flat, as the TLC named them (``--source tlc-csv``), and ``run`` and
``backfill`` load every era's form onto one table per dataset, each value as the
generator's own ground truth says (the real files' forms: devtools/tlc_csv; the real
files themselves: tests/conformance)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from taxi_etl.cli import main
from taxi_etl.devtools import mirror, tlc_csv
from taxi_etl.devtools.tlc_csv import CsvTruth
from taxi_etl.lake import DATA_FILE, EXTRA_FILE, MANIFEST_FILE, Manifest, partition_key
from taxi_etl.params import Partition
from taxi_etl.schemas import for_colour

ROWS = 1_500
#: One month of each form worth telling apart (docs/sources.md has the table).
MONTHS = [
    ("yellow", 2009, 1),  # vendor_name, text codes in any case, DDS, a blank line
    ("yellow", 2009, 2),
    ("yellow", 2010, 4),  # CAS/Cre, "No " and "NA "
    ("yellow", 2014, 7),  # a space after each comma in the header
    ("yellow", 2016, 7),  # two empty fields past the header
    ("green", 2014, 1),  # coordinates, two blank lines, trailing fields
    ("green", 2016, 7),
    ("fhv", 2015, 1),  # Pickup_date, locationID
    ("fhv", 2018, 7),  # quoted; the base in Dispatching_base_number
    ("fhvhv", 2019, 7),
]
_UNIT = {"cents": 100, "micro": 1_000_000, "fine": 1 << 20}


@pytest.fixture(scope="module")
def csv_host(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[tuple, CsvTruth]]:
    """The months on disk as the TLC named them; every other one gzip, since the TLC's
    were plain and copies are often compressed (the name stays ``.csv``)."""
    root = tmp_path_factory.mktemp("tlc-csv-host")
    truths = {}
    for i, (dataset, year, month) in enumerate(MONTHS):
        path = root / tlc_csv.file_name(dataset, year, month)
        truth = tlc_csv.generate_month(path, dataset, year, month, ROWS, gzip=bool(i % 2))
        truths[dataset, year, month] = truth
    return root, truths


def _check(lake: Path, truth: CsvTruth) -> None:
    """The partition holds every value the generator wrote, as its truth counts them."""
    part = Partition(truth.dataset, truth.year, truth.month)
    folder = lake / partition_key(part)
    data = pq.read_table(folder / DATA_FILE)
    assert data.schema.equals(for_colour(truth.dataset).arrow, check_metadata=True)
    assert data.num_rows == truth.rows
    where = f"{truth.dataset} {truth.year}-{truth.month:02d}"
    for name, empty in truth.nulls.items():
        unmapped = sum(truth.unmapped.get(name, {}).values())
        assert data[name].null_count == empty + unmapped, (where, name)
    for name, (unit, total) in truth.scaled.items():
        scaled = pc.round(pc.multiply(data[name], float(_UNIT[unit])))
        assert (pc.sum(pc.cast(scaled, pa.int64())).as_py() or 0) == total, (where, name)
    for name, counts in truth.value_counts.items():
        got = {str(e["values"]): e["counts"] for e in pc.value_counts(data[name]).to_pylist()}
        assert {k: v for k, v in got.items() if k != "None"} == counts, (where, name)
    manifest = Manifest.model_validate_json((folder / MANIFEST_FILE).read_bytes())
    assert manifest.source.value == "tlc-csv" and manifest.rows == truth.rows
    assert manifest.stats["unmapped"] == truth.unmapped, where
    assert manifest.stats["outside_month"] == truth.outside_month, where
    if truth.unmapped:  # DDS is not lost: kept as written, beside the partition
        kept = pa.ipc.open_file(str(folder / EXTRA_FILE)).read_all()
        kept_count = sum(len(c) - c.null_count for c in kept.columns)
        assert kept_count == sum(n for v in truth.unmapped.values() for n in v.values())
    else:
        assert not (folder / EXTRA_FILE).exists(), where


def test_a_backfill_of_the_original_csv_files_loads_every_value(
    workdir: Path, csv_host: tuple[Path, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    root, truths = csv_host
    with mirror.serve(root) as url:
        args = ["backfill", "yellow", "2009-01..2009-02", "--source", "tlc-csv"]
        assert main([*args, "--source-url", url]) == 0
        for key in [("yellow", 2009, 1), ("yellow", 2009, 2)]:
            _check(workdir / "lake", truths[key])
        # A re-run asks the host and loads nothing: the host's version is recorded.
        capsys.readouterr()
        assert main([*args, "--source-url", url]) == 0
        assert capsys.readouterr().out.count("skipped") == 2


@pytest.mark.parametrize("key", MONTHS[2:], ids=lambda k: f"{k[0]}-{k[1]}-{k[2]:02d}")
def test_run_loads_each_eras_form(
    workdir: Path, csv_host: tuple[Path, dict], key: tuple[str, int, int]
) -> None:
    root, truths = csv_host
    dataset, year, month = key
    with mirror.serve(root) as url:
        args = ["run", "--source", "tlc-csv", "--source-url", url, "--colour", dataset]
        assert main([*args, "--year", str(year), "--months", str(month)]) == 0
    _check(workdir / "lake", truths[key])


def test_without_a_host_it_is_refused_before_anything_runs(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "--source", "tlc-csv", "--colour", "yellow", "--year", "2012", "--months", "1"]
    assert main(args) == 2
    assert "--source-url" in capsys.readouterr().err
    assert not (workdir / "lake").exists() and not (workdir / "cache").exists()
