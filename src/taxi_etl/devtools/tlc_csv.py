"""Synthetic months of the TLC's original csv files (before the 2022 parquet rewrite).

An ingester of the whole history meets every form these files took, so a month is written
in its real one (:mod:`~taxi_etl.devtools.tlc_csv_forms`, read off real heads byte for
byte): the header and its line end (LF in some eras, CRLF in others), blank lines after
it, two extra empty fields per row in some eras, quoting (fhv 2017-07..2018), 2014's
``, `` separators, ``Trip_type `` with its space, and the numbers as each era printed them:

* yellow 2009-2014: doubles to 17 significant digits, in ``E`` notation once the fixed
  form needs more than 17 decimals (``2.6299999999999999``, ``40.721567``,
  ``8.9999999999999997E-2``), as every such number in the real heads;
* coordinates of green 2013-08 and yellow 2015 to 2016-06: a float32's exact value to 17
  digits (``-73.993896484375``); a tie at the 18th digit goes away from zero, as 71 % of
  the real ties do (the writer's rule is unknown; both texts load as the same double);
* later money shortest (``12``, ``0.5``, ``-0.5``), distances to two places without a
  leading zero (``.88``, ``1.20``).  No real original file writes a code as ``1.0`` (the
  course mirror's 2021-06 release does: :mod:`taxi_etl.devtools.sample`).

Yellow and green months from 2019 end in a tail of rows without codes (45 % of green from
2020-10, as the real one), and the values carry each era's codes per vendor
(:mod:`~taxi_etl.devtools.tlc_csv_values`).

Variants: ``course``, the course mirror's copy (its fhvhv 2021 has the fhv columns and LF
line ends; other months are the TLC's); ``r``, a month re-written by R: LF, no blank line
or extra fields, every timestamp with a nine-digit fraction, one dropoff in 3019.
:class:`CsvTruth` comes from the generator's integers, never from reading the file back.
Output is deterministic for given arguments (each chunk of :data:`CHUNK_ROWS` rows has its
own seeded generator; gzip writes no name or time), memory is bounded by a chunk (260 MB
peak RSS), and a row costs 20-30 µs up to 2016-06, whose 17-digit numbers are formatted
one by one, and 5 µs after.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from taxi_etl.devtools import tlc_csv_forms as F
from taxi_etl.devtools.pgzip import ParallelGzip
from taxi_etl.devtools.tlc_csv_forms import VARIANTS, Form, canonical, file_name, form
from taxi_etl.devtools.tlc_csv_values import CsvMonth, Stamp
from taxi_etl.devtools.tlc_draws import I64, Col
from taxi_etl.devtools.tlc_sample import _replacing

__all__ = ["CHUNK_ROWS", "VARIANTS", "CsvTruth", "Form", "canonical", "file_name", "form",
           "generate_month", "write_months"]

#: Rows per chunk, each with its own seeded generator (part of the output's identity).
CHUNK_ROWS = 1 << 16
_SCALE = {"cents": 100, "micro": 1_000_000, "fine": 1 << 20}
_COUNTED = {"VendorID", "RatecodeID", "payment_type", "trip_type", "SR_Flag", "passenger_count"}
_NS_LIMIT_S = (1 << 63) // 10**9  # |seconds since 1970| beyond this overflows datetime64[ns]


@dataclass(frozen=True)
class CsvTruth:
    """What :func:`generate_month` wrote, by canonical column (the TLC's 2011-on names).

    `columns`: the canonical column of each field of a data row (None: ignored or extra).
    `nulls`: empty fields (a loaded column also has a null per `unmapped` spelling).
    `sums`: per numeric column the sum of its values as loaded (an int for integers);
    `scaled`: the exact sums of decimals as (unit, integer): ``cents`` 0.01, ``micro``
    1e-6, ``fine`` 2**-20.  `value_counts`: code columns by loaded value (text codes
    mapped as :data:`~taxi_etl.devtools.tlc_csv_forms.MEANING` says); `spellings`: text
    codes as written; `unmapped`: spellings that load as nothing (DDS).  `timestamps`:
    per column min/max as written, sums of the whole seconds and of the nanosecond
    fractions, and how many have a fraction or lie beyond ``datetime64[ns]``.  `quirks`:
    rows per quirk (``outside_month``, ``tail``, ``refunds``, ``lowercase_base``,
    ``year_3019``).
    """

    dataset: str
    year: int
    month: int
    form: str
    variant: str
    rows: int
    columns: tuple[str | None, ...]
    nulls: dict[str, int]
    sums: dict[str, int | float]
    scaled: dict[str, tuple[str, int]]
    value_counts: dict[str, dict[str, int]]
    spellings: dict[str, dict[str, int]]
    unmapped: dict[str, dict[str, int]]
    timestamps: dict[str, dict[str, int | str]]
    outside_month: int
    quirks: dict[str, int]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def generate_month(
    path: Path, dataset: str, year: int, month: int, rows: int, *, seed: int = 0,
    variant: str = "tlc", gzip: bool = False,
) -> CsvTruth:
    """Write one month at `path` in its form (gzip-compressed with `gzip`) and return what
    was written.  Nothing appears under `path` unless the whole file was written."""
    shape = form(dataset, year, month, variant)
    if rows < 0 or seed < 0:
        raise ValueError(f"rows and seed must be >= 0, got {rows} and {seed}")
    names = canonical(dataset, shape)
    if variant == "r" and not any(c and "dropoff" in c for c in names):
        raise ValueError(f"the r variant needs a dropoff column, {shape.name} has none")
    gen = CsvMonth(dataset, (year, month), rows, seed, shape, variant)
    tally = _Tally(names, variant == "r")
    with _replacing(Path(path)) as tmp, open(tmp, "wb") as raw, ExitStack() as stack:
        out = stack.enter_context(ParallelGzip(raw, 6)) if gzip else raw
        out.write(_header(shape, variant))
        for a in range(0, rows, CHUNK_ROWS):
            b = min(a + CHUNK_ROWS, rows)
            out.write(_text(shape, names, gen.chunk(a // CHUNK_ROWS, a, b), tally, variant))
    quirks = dict(sorted(gen.quirks.items()))
    return tally.truth(dataset, (year, month), shape.name, variant, rows, quirks)


def write_months(
    root: Path, months: Iterable[tuple[str, int, int]], rows: int, *, seed: int = 0,
    variant: str = "tlc", gzip: bool = False,
) -> dict[Path, CsvTruth]:
    """Write months flat under `root` as ``{dataset}_tripdata_{YYYY}-{MM}.csv``, for a
    local HTTP mirror (``taxi_etl.devtools.mirror.serve(root)``), and return their truths."""
    out = {}
    for dataset, year, month in months:
        path = Path(root) / file_name(dataset, year, month)
        out[path] = generate_month(path, dataset, year, month, rows, seed=seed,
                                   variant=variant, gzip=gzip)
    return out


def _header(shape: Form, variant: str) -> bytes:
    if variant == "r":  # R reads the names stripped, writes them with LF and nothing after
        return ",".join(n.strip() for n in shape.names).encode() + b"\n"
    return shape.header + shape.header_eol + shape.after_header

def _text(shape: Form, names: tuple[str | None, ...], cols: dict[str, Col | Stamp],
          tally: _Tally, variant: str) -> bytes:
    """A chunk's rows as the form writes them, once the tally has counted them."""
    first = next(iter(cols.values()))
    n = len(first.s if isinstance(first, Stamp) else first.v)
    arrays = []
    for name in names:
        col = cols.get(name) if name else None
        if name is None or col is None:
            arrays.append(pa.nulls(n, pa.string()))
            continue
        tally.add(name, col)
        arrays.append(_strings(name, col, shape.legacy))
    if variant != "r":
        arrays += [pa.nulls(n, pa.string())] * shape.extras
    quoted = shape.quoted and variant != "r"
    if quoted:
        arrays = [a.fill_null("") for a in arrays]
    table = pa.table(arrays, names=[f"c{i}" for i in range(len(arrays))])
    options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid" if quoted
                                 else "none", eol="\n" if variant == "r" else shape.eol.decode())
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, options)
    return bytes(sink.getvalue().to_pybytes())


def _strings(name: str, col: Col | Stamp, legacy: bool) -> pa.Array:
    """One column's text."""
    if isinstance(col, Stamp):
        text = pa.array(col.s, pa.timestamp("s"), mask=col.null).cast(pa.string())
        if col.ns is not None:
            ns = pc.utf8_lpad(pa.array(col.ns).cast(pa.string()), 9, "0")
            text = pc.binary_join_element_wise(text, ns, ".")
        return text
    v, null = col.v, col.null
    if col.unit == "label":
        return pa.array(col.labels, pa.string()).take(pa.array(v, mask=null))
    if col.unit == "int":
        return pa.array(v, mask=null).cast(pa.string())
    if col.unit == "fine":
        return pa.array([_f32(x) for x in v.tolist()], pa.string(), mask=null)
    if col.unit == "micro" or legacy:
        scale = _SCALE[col.unit]
        return pa.array([_g17_scaled(x, scale) for x in v.tolist()], pa.string(), mask=null)
    a = np.abs(v)
    whole = pa.array(a // 100).cast(pa.string())
    if name == "trip_distance":  # ".50", "1.20", ".00"
        whole = pc.if_else(pa.array(a < 100), "", whole)
        frac = _fractions(True).take(pa.array(a % 100))
    else:  # "12", "0.5", "17.05", "-0.5"
        frac = _fractions(False).take(pa.array(a % 100))
    sign = pa.array(np.where(v < 0, "-", ""))
    text = pc.binary_join_element_wise(sign, whole, frac, "")
    return text if null is None else pc.if_else(pa.array(null), pa.scalar(None, pa.string()), text)


@lru_cache(maxsize=2)
def _fractions(fixed: bool) -> pa.Array:
    return pa.array([f".{r:02}" if fixed else f".{r:02}".rstrip("0") if r else ""
                     for r in range(100)], pa.string())


def _layout(sign: str, digits: str, e: int) -> str:
    """Significant `digits` times 10**`e` (the first digit's place) the way the TLC's
    writer printed them: fixed, unless that needs more than 17 decimals."""
    n = len(digits)
    if e < 0 and n - e - 1 > 17:
        return f"{sign}{digits[0]}{'.' + digits[1:] if n > 1 else ''}E{e}"
    if e < 0:
        return f"{sign}0.{'0' * (-e - 1)}{digits}"
    whole, frac = digits[: e + 1].ljust(e + 1, "0"), digits[e + 1 :]
    return f"{sign}{whole}{'.' + frac if frac else ''}"


@lru_cache(maxsize=1 << 16)
def _g17_scaled(value: int, scale: int) -> str:
    """The double nearest value/scale, to 17 significant digits."""
    x = value / scale
    if value == 0 or abs(x) >= 0.1:
        return f"{x:.17g}"  # %g has this layout from 0.1 up, and is fast
    mantissa, exp = f"{abs(x):.16e}".split("e")
    return _layout("-" if value < 0 else "", mantissa.replace(".", "").rstrip("0"), int(exp))


def _f32(fine: int) -> str:
    """A float32 (`fine` units of 2**-20) to 17 significant digits, ties away from zero."""
    if fine == 0:
        return "0"
    digits = str(abs(fine) * 5**20)  # the exact value times 10**20
    e = len(digits) - 21
    if len(digits) > 17:
        rounded = str(int(digits[:17]) + (digits[17] >= "5"))
        e, digits = e + len(rounded) - 17, rounded[:17]
    return _layout("-" if fine < 0 else "", digits.rstrip("0"), e)


@dataclass
class _Stamps:
    """A timestamp column's truth so far; `lo`/`hi` are (seconds, nanoseconds)."""

    sum_s: int = 0
    sum_ns: int = 0
    sub_second: int = 0
    beyond_ns: int = 0
    lo: tuple[int, int] | None = None
    hi: tuple[int, int] | None = None

    def add(self, s: I64, ns: I64) -> None:
        if len(s) == 0:
            return
        self.sum_s += int(s.sum())
        self.sum_ns += int(ns.sum())
        self.sub_second += int(np.count_nonzero(ns))
        self.beyond_ns += int(np.count_nonzero(np.abs(s) > _NS_LIMIT_S))
        i, j = (order := np.lexsort((ns, s)))[0], order[-1]
        lo, hi = (int(s[i]), int(ns[i])), (int(s[j]), int(ns[j]))
        self.lo, self.hi = min(self.lo or lo, lo), max(self.hi or hi, hi)

    def truth(self, fractions: bool) -> dict[str, int | str]:
        out: dict[str, int | str] = {"sum_s": self.sum_s, "sum_ns": self.sum_ns,
                                     "sub_second": self.sub_second, "beyond_ns": self.beyond_ns}
        for key, when in (("min", self.lo), ("max", self.hi)):
            if when is not None:
                text = str(pa.scalar(when[0], pa.timestamp("s")).cast(pa.string()))
                out[key] = f"{text}.{when[1]:09}" if fractions else text
        return out


class _Tally:
    """The truth so far, from the integer columns before they become text."""

    def __init__(self, names: tuple[str | None, ...], fractions: bool) -> None:
        self.names, self.fractions = names, fractions
        self.nulls: dict[str, int] = {n: 0 for n in names if n}
        self.sums: dict[str, tuple[str, int]] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.spellings: dict[str, dict[str, int]] = {}
        self.stamps: dict[str, _Stamps] = {}

    def add(self, name: str, col: Col | Stamp) -> None:
        mask = col.null
        if isinstance(col, Stamp):
            keep = slice(None) if mask is None else ~mask
            s, ns = col.s[keep], (col.ns if col.ns is not None else np.zeros_like(col.s))[keep]
            self.nulls[name] += len(col.s) - len(s)
            self.stamps.setdefault(name, _Stamps()).add(s, ns)
            return
        valid = col.v if mask is None else col.v[~mask]
        self.nulls[name] += len(col.v) - len(valid)
        if col.unit == "label":
            if col.counted:
                self._count(name, valid, col.labels)
            return
        unit, total = self.sums.get(name, (col.unit, 0))
        self.sums[name] = (unit, total + int(valid.sum()))
        if col.unit == "int" and name in _COUNTED:
            self._count(name, valid, ())

    def _count(self, name: str, valid: I64, labels: tuple[str, ...]) -> None:
        meaning = F.MEANING.get(name, {})
        values, n = np.unique(valid, return_counts=True)
        for value, k in zip(values.tolist(), n.tolist(), strict=True):
            loaded: int | str | None = value
            if labels:
                spelled = self.spellings.setdefault(name, {})
                spelled[labels[value]] = spelled.get(labels[value], 0) + k
                loaded = meaning.get(labels[value], labels[value])
            if loaded is not None:
                counts = self.counts.setdefault(name, {})
                counts[str(loaded)] = counts.get(str(loaded), 0) + k

    def truth(self, dataset: str, ym: tuple[int, int], form_name: str, variant: str, rows: int,
              quirks: dict[str, int]) -> CsvTruth:
        sums = {c: t if u == "int" else t / _SCALE[u] for c, (u, t) in self.sums.items()}
        scaled = {c: (u, t) for c, (u, t) in self.sums.items() if u != "int"}
        unmapped = {c: {s: k for s, k in v.items() if F.MEANING.get(c, {}).get(s, s) is None}
                    for c, v in self.spellings.items()}
        return CsvTruth(
            dataset, *ym, form_name, variant, rows, self.names, self.nulls, sums, scaled,
            {c: dict(sorted(v.items())) for c, v in self.counts.items()},
            {c: dict(sorted(v.items())) for c, v in self.spellings.items()},
            {c: v for c, v in unmapped.items() if v},
            {c: acc.truth(self.fractions) for c, acc in self.stamps.items()},
            quirks.get("outside_month", 0), quirks,
        )
