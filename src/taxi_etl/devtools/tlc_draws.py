"""Building blocks of the TLC sample values: columns as integers, and fast seeded draws.

Values stay integers until the writer turns them into the month's Arrow types
(:mod:`taxi_etl.devtools.tlc_sample`), so that the ground truth can be summed exactly:
money and distances in hundredths, lat/lon in 2**-20 degree, times in epoch microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

FINE = 1 << 20  # lat/lon unit: 2**-20 degree
#: Integer units of :class:`Col` and what one of them is worth.
SCALE = {"int": 1, "cents": 100, "fine": FINE}
_LUT = 1 << 16  # categorical draws go through a table of this many entries
# Relative trip volume per hour of day (quiet at 5am, peak at 6pm), as in taxi_etl.sample.
_HOURLY = [3, 2.2, 1.6, 1.1, 0.9, 1, 1.8, 3, 3.8, 4, 4.1, 4.3, 4.6, 4.7, 4.9, 5, 5.1, 5.6, 6]
#: Cumulative share of a day's trips at each hour boundary (0 .. 24).
DAY_X = np.concatenate([[0.0], np.cumsum([*_HOURLY, 5.7, 5, 4.8, 4.4, 3.7])])
DAY_X /= DAY_X[-1]


@dataclass
class Col:
    """A column as integers: plain ints, hundredths ("cents"), 2**-20 degrees ("fine"),
    epoch microseconds ("us") or indices into `labels` ("label"); `counted` code columns
    go into Truth.value_counts."""

    v: I64
    unit: str = "int"
    null: Mask | None = None
    labels: tuple[str, ...] = ()
    counted: bool = False


def lab(labels: tuple[str, ...], i: I64, null: Mask | None = None, counted: bool = False) -> Col:
    """A text column: indices into `labels`."""
    return Col(i, "label", null, labels, counted)


def us(seconds: I64, null: Mask | None = None) -> Col:
    """A timestamp column from epoch seconds."""
    return Col(seconds * 1_000_000, "us", null)


def cents(**columns: I64) -> dict[str, Col]:
    """Columns in hundredths, by name."""
    return {name: Col(v.astype(np.int64), "cents") for name, v in columns.items()}


@lru_cache(maxsize=64)
def _lut(values: tuple[int, ...], weights: tuple[float, ...]) -> I64:
    """Categorical distribution as a lookup table: one integer draw per value, far faster
    than searchsorted on uniforms; weights are rounded to 1/65536."""
    cdf = np.cumsum(weights) / np.sum(weights)
    i = np.searchsorted(cdf, (np.arange(_LUT) + 0.5) / _LUT, side="right")
    return np.asarray(values, dtype=np.int64)[np.minimum(i, len(values) - 1)]


def pick(rng: np.random.Generator, values: Sequence[int], weights: Sequence[float], n: int) -> I64:
    """`n` draws of `values` in proportion to `weights`."""
    return _lut(tuple(values), tuple(float(w) for w in weights))[rng.integers(0, _LUT, n)]


@lru_cache(maxsize=1)
def zone_weights() -> tuple[float, ...]:
    """Skewed popularity of the 265 zones (a few dominate), fixed across seeds, as sample.py."""
    rng = np.random.default_rng(265)
    weights = (1.0 / np.arange(1, 264) ** 1.05)[rng.permutation(263)]
    return (*weights.tolist(), weights.max() * 0.3, weights.max() * 0.1)


@lru_cache(maxsize=1)
def fhv_bases() -> tuple[tuple[str, ...], tuple[float, ...]]:
    """About 400 fhv base numbers and their skewed popularity, fixed across seeds."""
    rng = np.random.default_rng(13)
    numbers = np.unique(np.concatenate([[13, 14, 1, 2], rng.integers(1, 3500, 400)]))
    weights = (1.0 / np.arange(1, len(numbers) + 1) ** 1.2)[rng.permutation(len(numbers))]
    return tuple(f"B{n:05}" for n in numbers), tuple(weights.tolist())


def durations(rng: np.random.Generator, n: int, median: float) -> I64:
    """Trip durations in seconds: log-normal around `median`, 1 s .. 4 h."""
    return np.clip(rng.lognormal(np.log(median), 0.7, n), 1, 4 * 3600).astype(np.int64)


def yes(rng: np.random.Generator, p: float, n: int) -> I64:
    """1 with probability `p`, else 0."""
    return (rng.random(n) < p).astype(np.int64)
