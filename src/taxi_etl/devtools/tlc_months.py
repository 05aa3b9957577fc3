"""What one month of a TLC dataset looks like: its era, columns and types, embedded
timestamp units, how the TLC wrote it, and which of its rows carry the known quirks.

Derived from the tables in :mod:`taxi_etl.devtools.tlc_eras`; kept apart from the value
generation (:mod:`~taxi_etl.devtools.tlc_values`) and the writer
(:mod:`~taxi_etl.devtools.tlc_sample`, which re-exports the public names), because both
need it and neither should hold the other.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from taxi_etl.devtools import tlc_eras as E
from taxi_etl.devtools.tlc_eras import DATASETS, FIRST_MONTH, NS_METADATA, Month

#: Arrow type per type code of :mod:`~taxi_etl.devtools.tlc_eras` (``ts`` aside).
ARROW = {"i64": pa.int64(), "i32": pa.int32(), "f64": pa.float64(), "str": pa.string()}
ARROW |= {"lstr": pa.large_string(), "null": pa.null()}

_OUTSIDE_EVERY = 2000


def check(dataset: str, year: int, month: int) -> None:
    """Raise ValueError unless the dataset exists and has Parquet files in that month."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, got {month}")
    first = FIRST_MONTH[dataset]
    if (year, month) < first:
        raise ValueError(f"{dataset} starts at {first[0]}-{first[1]:02}, got {year}-{month:02}")


def era(dataset: str, year: int, month: int) -> str:
    """Stable name of a month's column-name era, e.g. ``yellow-2011``."""
    check(dataset, year, month)
    return [name for first, name, _ in E.ERAS[dataset] if first <= (year, month)][-1]


@dataclass(frozen=True)
class Writer:
    """How the TLC wrote a month (:data:`~taxi_etl.devtools.tlc_eras.WRITERS`)."""

    name: str
    format_version: str
    compression: str
    pandas: tuple[str, str] | None  # (pandas, pyarrow) versions in the pandas metadata
    row_group_rows: int  # 0: the whole month in one row group


def writer(dataset: str, year: int, month: int) -> Writer:
    """The writer of a month's real file."""
    check(dataset, year, month)
    return Writer(*[w for w in E.WRITERS if w[0] <= (year, month)][-1][1:])


def source_schema(dataset: str, year: int, month: int, *, embedded: bool = False) -> pa.Schema:
    """The real file's schema as pyarrow reads it or, with `embedded`, as its ARROW:schema
    says (``timestamp[ns]`` in ``NS_METADATA`` months, but for ``US_IN_NS_MONTH``)."""
    ns = embedded and ns_metadata(dataset, (year, month))
    us = E.US_IN_NS_MONTH.get((dataset, (year, month)), ())
    cols = columns(dataset, year, month)
    return pa.schema([
        (c, pa.timestamp("ns" if ns and c not in us else "us") if t == "ts" else ARROW[t])
        for c, t in cols
    ])


def representative_months(dataset: str) -> list[tuple[int, int]]:
    """Each era's first month (2023-02 starts the TLC's second writer too), every month where
    a column's type flips, the first month without ns metadata, 2024-01 (where README §2.5
    documents it) and 2019-02 (fhv's 3019 dropoff; the congestion surcharge's start), so
    that a test over them covers every quirk."""
    check(dataset, *FIRST_MONTH[dataset])
    months = {first for first, _, _ in E.ERAS[dataset]}
    for history in E.TYPES[dataset].values():
        months |= {(int(s[:4]), int(s[5:7])) for s in history.split()[1:]}
    first, (year, month) = NS_METADATA[dataset]
    months |= {first, (year + month // 12, month % 12 + 1), (2019, 2), (2024, 1)}
    return sorted(m for m in months if m >= FIRST_MONTH[dataset])


def _type_at(history: str, ym: Month) -> str:
    code, *steps = history.split()
    for step in steps:
        when, new = step.split(":")
        code = new if (int(when[:4]), int(when[5:7])) <= ym else code
    return code


@lru_cache(maxsize=512)
def columns(dataset: str, year: int, month: int) -> tuple[tuple[str, str], ...]:
    """(name, type code) of every column of a month, in file order."""
    check(dataset, year, month)
    names = [cols for first, _, cols in E.ERAS[dataset] if first <= (year, month)][-1].split()
    only = E.ONLY_IN.get(dataset, {})
    names = [c for c in names if c not in only or only[c][0] <= (year, month) <= only[c][1]]
    return tuple((c, _type_at(E.TYPES[dataset].get(c, "f64"), (year, month))) for c in names)


def ns_metadata(dataset: str, ym: Month) -> bool:
    """Whether the month's embedded ARROW:schema says ``timestamp[ns]``."""
    check(dataset, *ym)
    return NS_METADATA[dataset][0] <= ym <= NS_METADATA[dataset][1]


def epoch(year: int, month: int) -> int:
    """Seconds since 1970 at the start of a month; month 13 is January of the next year."""
    return calendar.timegm((year + (month - 1) // 12, (month - 1) % 12 + 1, 1, 0, 0, 0))


def outside_month_count(rows: int) -> int:
    """Rows whose pickup lies outside the file's month (about 0.05 %): row 0 in an earlier
    month, the others alternating between an earlier month and the next."""
    return 0 if rows < 2 else max(1, rows // _OUTSIDE_EVERY)


def outside_rows(rows: int) -> npt.NDArray[np.int64]:
    """The indices of the :func:`outside_month_count` rows, evenly spread."""
    n = outside_month_count(rows)
    return np.arange(n, dtype=np.int64) * rows // max(n, 1)


def far_future_row(dataset: str, year: int, month: int, rows: int) -> int | None:
    """The row whose dropoff is in the year 3019 (its pickup is in the month): only in fhv
    2019-02, like the real file."""
    if (dataset, year, month) != ("fhv", 2019, 2) or rows < 1:
        return None
    row = rows // 2
    return row + 1 if row in outside_rows(rows).tolist() else row  # those are 2000 apart
