"""Every real TLC file loads exactly: through ``convert``, and whole months through
``run`` from a local TLC-like host into a lake.

Each partition is compared with an independent reading of its source
(conformance/reference.py): the row count, every column value by value as its
canonical type, nulls where the source has them, the out-of-month flag, the extra file
of what the partition cannot hold, and the stats' unmapped codes. One test per file; a
failure lists every bad column of that file, each with its first differing row.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from conformance import reference
from conformance.locate import RealFile
from conformance.reference import Reference, Uncovered, Unloadable

_Read: TypeAlias = Reference | Unloadable | Uncovered
_READS: dict[Path, _Read] = {}


def read_reference(real: RealFile) -> _Read:
    """The reference reading of a file, once per session (whole months are read by two
    tests)."""
    if real.path not in _READS:
        assert real.dataset is not None
        try:
            got: _Read = reference.read(real.path, real.dataset, real.year, real.month)
        except (Unloadable, Uncovered) as exc:
            got = exc
        _READS[real.path] = got
    return _READS[real.path]


def expect_readable(real: RealFile) -> Reference | Unloadable:
    ref = read_reference(real)
    if isinstance(ref, Uncovered):
        pytest.fail(f"{real.name}: the reference cannot read it: {ref}", pytrace=False)
    return ref


@dataclass
class Converted:
    """What ``convert`` made of one file, by the command and by the function."""

    dst: Path
    exit: int | str
    stats: Any = None
    error: BaseException | None = None

    @property
    def extra(self) -> Path:
        return self.dst.with_name("_" + self.dst.name.removesuffix(".parquet") + ".extra.arrow")


class Conversions:
    """Each file converted once per session, shared by the per-file and per-dataset
    tests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.done: dict[Path, Converted] = {}

    def __call__(self, real: RealFile) -> Converted:
        if real.path not in self.done:
            self.done[real.path] = self._convert(real)
        return self.done[real.path]

    def _convert(self, real: RealFile) -> Converted:
        assert real.dataset is not None
        stem = real.name.replace("/", "__")
        dst = self.root / "cli" / f"{stem}.parquet"
        dst.parent.mkdir(parents=True, exist_ok=True)
        exit_code: int | str
        try:
            from taxi_etl.cli import main

            exit_code = main(["convert", "--colour", real.dataset, str(real.path), str(dst)])
        except SystemExit as exc:
            exit_code = f"SystemExit({exc.code})"
        except Exception as exc:
            exit_code = f"raised {type(exc).__name__}: {exc}"
        done = Converted(dst, exit_code)
        direct = self.root / "function" / f"{stem}.parquet"
        direct.parent.mkdir(parents=True, exist_ok=True)
        try:
            from taxi_etl import transform

            done.stats = transform.convert(real.path, direct, real.dataset)
        except Exception as exc:
            done.error = exc
        return done


@pytest.fixture(scope="session")
def conversions(tmp_path_factory: pytest.TempPathFactory) -> Conversions:
    return Conversions(tmp_path_factory.mktemp("conformance"))


_EPOCH = datetime(1970, 1, 1)


def _show(value: Any, type_: pa.DataType) -> str:
    if pa.types.is_timestamp(type_) and isinstance(value, int):
        try:
            return f"{value} ({(_EPOCH + timedelta(microseconds=value)).isoformat(sep=' ')})"
        except OverflowError:
            return str(value)
    return repr(value)


def _plain(arr: pa.Array) -> list[Any]:
    if pa.types.is_timestamp(arr.type):
        arr = arr.cast(pa.int64())
    return list(arr.to_pylist())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b) and (a is None) == (b is None)


def _as_array(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def column_problem(label: str, want: pa.Array, got: pa.Array) -> str | None:
    """None when `got` holds `want`'s values (floats by ``==``, NaN equal to NaN), else
    where they first differ."""
    if got.type != want.type:
        try:
            got = got.cast(want.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return f"{label}: type {got.type}, want {want.type}; values not comparable"
    if len(got) == len(want) and got.equals(want):
        return None
    w, g = _plain(want), _plain(got)
    bad = [i for i in range(min(len(w), len(g))) if not _same(w[i], g[i])]
    if not bad and len(w) == len(g):
        return None  # NaN only, which Arrow's equals does not take as equal
    if not bad:
        return f"{label}: {len(g)} values, want {len(w)}"
    i = bad[0]
    return (
        f"{label}: {len(bad)} rows differ; first at row {i}: want {_show(w[i], want.type)}, "
        f"got {_show(g[i], want.type)}"
    )


def schema_problems(dataset: str, schema: pa.Schema) -> list[str]:
    """The output schema against the spec's: names, types and order."""
    want = [(f.name, f.type) for f in reference.arrow_schema(dataset)]
    got = [(f.name, f.type) for f in schema]
    if got == want:
        return []
    if sorted(got, key=str) == sorted(want, key=str):
        moved = {w[0] for w, g in zip(want, got, strict=True) if w != g}
        order = f"output {[n for n, _ in got]}, spec {[n for n, _ in want]}"
        if moved <= set(reference.NEW_COLUMNS[dataset]):
            return [
                "schema: differs from the spec only in the order of the new columns "
                f"{sorted(moved)} (reported, not adapted): {order}"
            ]
        return [f"schema: column order differs: {order}"]
    problems = []
    want_types, got_types = dict(want), dict(got)
    missing = [n for n, _ in want if n not in got_types]
    unexpected = [n for n, _ in got if n not in want_types]
    if missing:
        problems.append(f"schema: missing columns {missing}")
    if unexpected:
        problems.append(f"schema: unexpected columns {unexpected}")
    for name, type_ in want:
        if name in got_types and got_types[name] != type_:
            problems.append(f"schema: {name} is {got_types[name]}, want {type_}")
    if not problems:
        problems.append(f"schema: output {got}, spec {want}")
    return problems


def partition_problems(ref: Reference, path: Path) -> list[str]:
    """Everything in which the partition at `path` is not what the reference says."""
    if not path.is_file():
        return [f"no partition at {path}"]
    table = pq.read_table(path)
    problems = schema_problems(ref.dataset, table.schema)
    if table.num_rows != ref.rows:
        problems.append(f"rows: {table.num_rows}, want {ref.rows}")
    for name, want in ref.columns.items():
        if name not in table.column_names:
            continue  # reported by the schema check
        source = ref.sources.get(name)
        label = f"column {name}" + (f" (source {source})" if source else " (not in the source)")
        problem = column_problem(label, want, _as_array(table.column(name)))
        if problem:
            problems.append(problem)
    return problems


def extra_problems(ref: Reference, path: Path) -> list[str]:
    """The extra file: present exactly when the source held something the partition
    cannot, row-aligned, each such value under its source column's name.

    The spec does not say whether a column that holds nothing in this file (a code
    column with every code mapped) is written all null or left out: either is taken,
    as long as it is a source column's name."""
    if not ref.extra:
        if path.exists():
            names = ipc.open_file(path).schema.names
            return [f"extra file {path.name} written ({names}), but nothing needs keeping"]
        return []
    if not path.is_file():
        return [f"no extra file {path.name}; want columns {sorted(ref.extra)}"]
    table = ipc.open_file(path).read_all()
    problems = []
    if table.num_rows != ref.rows:
        problems.append(f"extra file: {table.num_rows} rows, want {ref.rows} (row-aligned)")
    holding = [name for name, want in ref.extra.items() if want.null_count < len(want)]
    absent = [name for name in holding if name not in table.column_names]
    if absent:
        problems.append(f"extra file: no column {absent}; it has {table.column_names}")
    for name in table.column_names:
        got = _as_array(table.column(name))
        want = ref.extra.get(name)
        if want is None:
            if name not in ref.header:
                problems.append(f"extra file: column {name} is not a source column")
                continue
            want = pa.nulls(ref.rows, pa.string())
        if got.type != want.type:
            problems.append(f"extra file: column {name} is {got.type}, want {want.type}")
        problem = column_problem(f"extra file: column {name}", want, got)
        if problem:
            problems.append(problem)
    return problems


def stats_problems(ref: Reference, stats: Any) -> list[str]:
    problems = []
    rows = getattr(stats, "rows", None)
    if rows != ref.rows:
        problems.append(f"stats.rows: {rows}, want {ref.rows}")
    unmapped = getattr(stats, "unmapped", None)
    plain = {k: dict(v) for k, v in unmapped.items()} if isinstance(unmapped, dict) else unmapped
    if plain != ref.unmapped:
        problems.append(f"stats.unmapped: {plain}, want {ref.unmapped}")
    return problems


def _fail(name: str, problems: list[str]) -> None:
    if problems:
        pytest.fail(f"{name}:\n  " + "\n  ".join(problems), pytrace=False)


def refusal_problems(expected: Unloadable, conv: Converted) -> list[str]:
    """A file the spec says cannot load exactly: both ways of converting refuse it,
    and the error names the column or line."""
    problems = []
    if conv.exit == 0:
        problems.append(f"`taxi-etl convert` exited 0, want a refusal: {expected}")
    if conv.error is None:
        problems.append(f"transform.convert returned, want a refusal: {expected}")
    else:
        needle = expected.column or (str(expected.line) if expected.line else None)
        if needle and needle not in str(conv.error):
            problems.append(f"the error does not name {needle!r}: {conv.error}")
    return problems


def test_convert_loads_exactly(real_file: RealFile, conversions: Conversions) -> None:
    """`taxi-etl convert` and transform.convert on one real file."""
    ref = expect_readable(real_file)
    conv = conversions(real_file)
    if isinstance(ref, Unloadable):
        _fail(real_file.name, refusal_problems(ref, conv))
        return
    problems = []
    if conv.exit != 0:
        problems.append(f"`taxi-etl convert` exit status {conv.exit}, want 0")
    if conv.error is not None:
        problems.append(f"transform.convert raised {type(conv.error).__name__}: {conv.error}")
    else:
        problems += stats_problems(ref, conv.stats)
    if conv.dst.is_file():
        problems += partition_problems(ref, conv.dst)
        problems += extra_problems(ref, conv.extra)
    _fail(real_file.name, problems)


def test_one_schema_per_dataset(
    dataset: str, real_files: list[RealFile], conversions: Conversions
) -> None:
    """Every file of a dataset converts to the same schema (names, types, order)."""
    schemas: dict[str, list[str]] = {}
    failed = []
    for real in real_files:
        if real.dataset != dataset:
            continue
        conv = conversions(real)
        if not conv.dst.is_file():
            failed.append(real.name)
            continue
        schema = pq.read_schema(conv.dst)
        key = ", ".join(f"{f.name}: {f.type}" for f in schema)
        schemas.setdefault(key, []).append(real.name)
    if not schemas:
        pytest.fail(f"{dataset}: no file converted ({len(failed)} failed)", pytrace=False)
    if len(schemas) > 1:
        listing = "\n".join(f"  {files}:\n    {key}" for key, files in schemas.items())
        pytest.fail(f"{dataset}: {len(schemas)} output schemas:\n{listing}", pytrace=False)


#: The source for each kind of whole-month file, and where its host keeps the month.
_LAYOUT = {
    "parquet": ("tlc", "{name}"),
    "csv.gz": ("dtc", "{dataset}/{name}"),
}


def test_run_loads_whole_month(whole_month_file: RealFile, workdir: Path) -> None:
    """`taxi-etl run` over a local host serving the month, into a fresh lake."""
    from taxi_etl.cli import main
    from taxi_etl.devtools import mirror

    real = whole_month_file
    assert real.dataset and real.year and real.month
    ref = expect_readable(real)
    source, layout = _LAYOUT["parquet" if real.is_parquet else "csv.gz"]
    host = workdir / "host"
    served = host / layout.format(dataset=real.dataset, name=real.path.name)
    served.parent.mkdir(parents=True)
    shutil.copyfile(real.path, served)  # a copy: the host serves nothing outside its root
    lake = workdir / "lake"
    with mirror.serve(host) as url:
        code = main(
            [
                "run",
                "--colour", real.dataset,
                "--year", str(real.year),
                "--months", str(real.month),
                "--source", source,
                "--source-url", url,
                "--lake", str(lake),
            ]
        )  # fmt: skip
    part = lake / f"colour={real.dataset}" / f"year={real.year}" / f"month={real.month:02d}"
    if isinstance(ref, Unloadable):
        problems = [] if code != 0 else [f"`taxi-etl run` exited 0, want a refusal: {ref}"]
        if (part / "data.parquet").exists():
            problems.append("a partition was published")
        _fail(real.name, problems)
        return
    problems = [] if code == 0 else [f"`taxi-etl run` exit status {code}, want 0"]
    problems += partition_problems(ref, part / "data.parquet")
    problems += extra_problems(ref, part / "_extra.arrow")
    manifest = part / "_manifest.json"
    if manifest.is_file():
        rows = json.loads(manifest.read_text()).get("rows")
        if rows != ref.rows:
            problems.append(f"manifest rows: {rows}, want {ref.rows}")
    else:
        problems.append("no _manifest.json")
    _fail(real.name, problems)
