"""The sample months the demo, the compose mirror and the tests serve, written once.

Each set names months of one colour and year; the months cover the header and
number-format variants of the real files: fhv 2019-01 in the original 6-column header,
and yellow 2021-03 with integer codes written as floats (``1.0``, as the 2021-06
release does). Generation is deterministic (the seed is the month), so a file that is
already there is the same file and is kept.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from taxi_etl import source
from taxi_etl.devtools import sample, tlc_sample
from taxi_etl.devtools.tlc_mirror import TlcSet, sets_of
from taxi_etl.params import Colour, ParameterError, parse_months


@dataclass(frozen=True)
class MonthSet:
    """Months of one colour and year, written ``colour:year:months[:rows]``
    (``green:2020:1-2``, ``yellow:2019:3:1000000``); without rows, the caller's."""

    colour: Colour
    year: int
    months: tuple[int, ...]
    rows: int | None = None

    @classmethod
    def parse(cls, text: str) -> MonthSet:
        try:
            colour, year, months, *rows = text.split(":")
            if len(rows) > 1 or (rows and int(rows[0]) < 1):
                raise ValueError("rows must be one positive number")
            return cls(
                Colour(colour),
                int(year),
                tuple(parse_months([months])),
                int(rows[0]) if rows else None,
            )
        except (ValueError, ParameterError) as exc:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected colour:year:months[:rows], e.g. green:2020:1-2 ({exc})"
            ) from None

    def __str__(self) -> str:
        text = f"{self.colour.value}:{self.year}:{','.join(map(str, self.months))}"
        return text if self.rows is None else f"{text}:{self.rows}"


#: What `taxi-etl demo` loads, and the months the tests' mirror serves.
DEMO_SETS = (
    MonthSet(Colour.yellow, 2021, (1, 2, 3)),
    MonthSet(Colour.green, 2020, (1, 2)),
    MonthSet(Colour.fhv, 2019, (1, 2)),
)
#: The compose mirror's: the demo's, and green 2019-12 for a backfill across a year.
MIRROR_SETS = (*DEMO_SETS, MonthSet(Colour.green, 2019, (12,)))

#: A run for a catch-up test: green 2024-10..2025-02, across the 2025 era, with no green
#: month after it, so 2025-03 (and any later green month) answers 403.
CATCH_UP = ("green", (2024, 10), (2025, 2))


def catch_up_months() -> list[tuple[str, int, int]]:
    """The months of :data:`CATCH_UP`."""
    dataset, first, last = CATCH_UP
    run = [(y, m) for y in range(first[0], last[0] + 1) for m in range(1, 13)]
    return [(dataset, y, m) for y, m in run if first <= (y, m) <= last]


def _tlc_months() -> list[tuple[str, int, int]]:
    dataset, _, last = CATCH_UP
    months = catch_up_months()
    for name in tlc_sample.DATASETS:
        reps = tlc_sample.representative_months(name)
        months += [(name, y, m) for y, m in reps if name != dataset or (y, m) <= last]
    return months


#: The TLC months the demo and the compose mirror serve: every representative month of
#: every dataset (each era's first, each type flip: ``tlc_sample.representative_months``)
#: but green's after the catch-up run (green 2026-06; yellow 2026-06 has the same new
#: column), and the :data:`CATCH_UP` run.
TLC_SETS: tuple[TlcSet, ...] = sets_of(_tlc_months())
#: What `taxi-etl demo` loads from the TLC's own files besides its catch-up of
#: :data:`CATCH_UP`: a month of each yellow name era (2009's text datetimes and codes,
#: 2010's leaked index, 2024's ns metadata, 2026's unknown column), fhv's dropoff in
#: 3019, and fhvhv before and after its 2025 column.
DEMO_TLC_SETS: tuple[TlcSet, ...] = sets_of(
    [
        ("yellow", 2009, 1),
        ("yellow", 2010, 2),
        ("yellow", 2024, 1),
        ("yellow", 2026, 6),
        ("fhv", 2019, 2),
        ("fhvhv", 2019, 2),
        ("fhvhv", 2025, 1),
    ]
)
#: Rows per TLC month unless its set says otherwise: all 65 months of TLC_SETS (5 MB) are
#: written in about 2 s (1 s of CPU) on 2 cores shared with other work.
TLC_ROWS = 2_000

#: Months written in another of the real files' variants.
_HEADERS = {(Colour.fhv, 2019, 1): "fhv_2019"}
_INTS_AS_FLOATS = {(Colour.yellow, 2021, 3)}


def rows_of(month_set: MonthSet, rows: int) -> int:
    """The set's own rows, else `rows`; green months are a third the size, as in the
    real data."""
    if month_set.rows is not None:
        return month_set.rows
    return rows // 3 if month_set.colour is Colour.green else rows


def write_months(root: Path, sets: Sequence[MonthSet], rows: int) -> list[Path]:
    """Write every month of `sets` that is not already under `root`, in the release
    layout (``source.release_path``); return the new files."""
    written = []
    for month_set in sets:
        for month in month_set.months:
            key = (month_set.colour, month_set.year, month)
            path = root / source.release_path(*key)
            if path.is_file():
                continue
            sample.generate_month(
                path,
                month_set.colour.value,
                month_set.year,
                month,
                rows_of(month_set, rows),
                seed=month,
                header=_HEADERS.get(key),
                ints_as_floats=key in _INTS_AS_FLOATS,
            )
            written.append(path)
    return written
