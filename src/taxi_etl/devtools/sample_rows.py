"""The values of sample months: realistic shapes (hour of day, zone popularity, fares
by distance), the real files' text formats, and the ground truth the tests rely on.

Any chunk of a month can be produced on its own (each has its own seeded generator), so
months are generated in bounded memory, and the same arguments give the same rows.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from taxi_etl.devtools.tlc_eras import HV_BASES, HV_LICENSES

#: The mirror's colours; a new one goes last (a colour's index seeds its months).
COLOURS: tuple[str, ...] = ("yellow", "green", "fhv", "fhvhv")

_MISSING_METADATA_PERCENT = 3
_OUTSIDE_MONTH_EVERY = 2000  # 0.05 %
_MAX_CENTS = 200_000  # money/distances are clipped below 2000.00 to keep lookup tables small
_MAX_INT = 1000

_IntArray = npt.NDArray[np.int64]
_BoolArray = npt.NDArray[np.bool_]

# Relative trip volume per hour of day (NYC yellow-cab shape: quiet at 5am, peak at 6pm).
_HOURLY = np.array(
    [
        *[3.0, 2.2, 1.6, 1.1, 0.9, 1.0, 1.8, 3.0, 3.8, 4.0, 4.1, 4.3],
        *[4.6, 4.7, 4.9, 5.0, 5.1, 5.6, 6.0, 5.7, 5.0, 4.8, 4.4, 3.7],
    ]
)
_DAY_CDF_X = np.concatenate([[0.0], np.cumsum(_HOURLY) / _HOURLY.sum()])
_DAY_CDF_Y = np.linspace(0.0, 1.0, 25)


def missing_metadata_count(rows: int, colour: str = "yellow") -> int:
    """Number of trailing rows without vendor/payment metadata (0 for fhv and fhvhv)."""
    check_colour(colour)
    return 0 if colour in ("fhv", "fhvhv") else rows * _MISSING_METADATA_PERCENT // 100


def outside_month_count(rows: int) -> int:
    """Exact number of rows whose pickup lies outside the file's month (about 0.05 %)."""
    return 0 if rows < 2 else max(1, rows // _OUTSIDE_MONTH_EVERY)


def check_colour(colour: str) -> None:
    if colour not in COLOURS:
        raise ValueError(f"colour must be one of {COLOURS}, got {colour!r}")


@lru_cache(maxsize=1)
def _decimal_table() -> pa.Array:
    """Text for every value in hundredths: index ``c`` gives the shortest form (``0.5``,
    ``11.8``, ``8``) and index ``_MAX_CENTS + c`` the fixed form (``.20``, ``2.10``);
    both give ``0`` for zero.  A lookup is far faster than formatting floats per row."""
    short_frac = [""] + [f".{f // 10}" if f % 10 == 0 else f".{f:02}" for f in range(1, 100)]
    fixed_frac = [f".{f:02}" for f in range(100)]
    units = _MAX_CENTS // 100
    short = [f"{i}{s}" for i in range(units) for s in short_frac]
    fixed = [(str(i) if i else "") + s for i in range(units) for s in fixed_frac]
    fixed[0] = "0"
    return pa.array(short + fixed, pa.string())


@lru_cache(maxsize=2)
def _int_table(as_float: bool) -> pa.Array:
    suffix = ".0" if as_float else ""
    return pa.array([f"{i}{suffix}" for i in range(_MAX_INT)], pa.string())


@lru_cache(maxsize=1)
def _zone_cdf() -> npt.NDArray[np.float64]:
    """Skewed popularity of the 265 taxi zones (a few Manhattan zones dominate), fixed
    across seeds so that every month has the same geography."""
    rng = np.random.default_rng(265)
    weights = 1.0 / np.arange(1, 264) ** 1.05
    weights = weights[rng.permutation(263)]
    weights = np.concatenate([weights, [weights.max() * 0.3, weights.max() * 0.1]])  # 264/265
    cdf: npt.NDArray[np.float64] = np.cumsum(weights) / weights.sum()
    return cdf


@lru_cache(maxsize=1)
def _fhv_bases() -> tuple[pa.Array, npt.NDArray[np.float64]]:
    rng = np.random.default_rng(13)
    numbers = np.unique(np.concatenate([[13, 14, 1, 2], rng.integers(1, 3500, 400)]))
    names = pa.array([f"B{n:05}" for n in numbers], pa.string())
    weights = 1.0 / np.arange(1, len(numbers) + 1) ** 1.2
    weights = weights[rng.permutation(len(numbers))]
    return names, np.cumsum(weights) / weights.sum()


def _epoch(year: int, month: int) -> int:
    return calendar.timegm(datetime(year, month, 1).timetuple())


class MonthRows:
    """Everything needed to produce any chunk of one month independently."""

    def __init__(
        self, colour: str, year: int, month: int, rows: int, seed: int, ints_as_floats: bool
    ) -> None:
        self.colour = colour
        self.year = year
        self.month = month
        self.rows = rows
        self.seed = seed
        self.start = _epoch(year, month)
        self.end = _epoch(year + month // 12, month % 12 + 1)
        self.n_tail = missing_metadata_count(rows, colour)
        self.ints = _int_table(ints_as_floats)
        self.decimals = _decimal_table()
        n_out = outside_month_count(rows)
        self.outside_rows: _IntArray = np.arange(n_out, dtype=np.int64) * rows // max(n_out, 1)

    # -- shared pieces ---------------------------------------------------------------
    def chunk(self, a: int, b: int) -> list[pa.Array]:
        colour_no = COLOURS.index(self.colour)
        ss = np.random.SeedSequence([self.seed, colour_no, self.year, self.month, a])
        rng = np.random.default_rng(ss)
        if self.colour == "yellow":
            return self._taxi(rng, a, b, green=False)
        if self.colour == "green":
            return self._taxi(rng, a, b, green=True)
        if self.colour == "fhvhv":
            return self._fhvhv(rng, a, b)
        return self._fhv(rng, a, b)

    def _pickups(self, rng: np.random.Generator, a: int, b: int, tail: _BoolArray) -> _IntArray:
        """Sorted pickups over the month for the main rows and again for the tail (the
        tail is a separately appended extract in the real files), with a daily rhythm."""
        idx = np.arange(a, b, dtype=np.int64)
        main_rows = self.rows - self.n_tail
        pos = np.where(tail, idx - main_rows, idx)
        length = np.where(tail, max(self.n_tail, 1), max(main_rows, 1))
        u = (pos + rng.random(b - a)) / length
        secs = u * (self.end - self.start)
        day = np.floor(secs / 86400.0)
        in_day = np.interp(secs / 86400.0 - day, _DAY_CDF_X, _DAY_CDF_Y)
        pickup = self.start + (day * 86400.0 + in_day * 86400.0).astype(np.int64)
        pickup = np.minimum(pickup, self.end - 1)
        pickup[tail] -= pickup[tail] % 60  # the tail's clock has minute resolution

        sel = self.outside_rows[(self.outside_rows >= a) & (self.outside_rows < b)]
        if len(sel):
            k = np.searchsorted(self.outside_rows, sel)
            before = self.start - rng.integers(3600, 20 * 86400, len(sel))
            if self.year >= 2010:  # real files also carry a few pickups from years ago
                long_ago = _epoch(2008, 12) + 30 * 86400 + rng.integers(0, 2 * 86400, len(sel))
                before = np.where(k % 20 == 10, long_ago, before)
            after = self.end + rng.integers(0, 3 * 86400, len(sel))
            pickup[sel - a] = np.where(k % 2 == 0, before, after)
        return pickup

    def _durations(self, rng: np.random.Generator, n: int, median: float) -> _IntArray:
        d = rng.lognormal(np.log(median), 0.7, n)
        return np.clip(d, 1, 4 * 3600).astype(np.int64)

    def _zones(self, rng: np.random.Generator, n: int) -> _IntArray:
        return np.searchsorted(_zone_cdf(), rng.random(n)).astype(np.int64) + 1

    def _int(self, values: _IntArray, null: _BoolArray | None = None) -> pa.Array:
        return self.ints.take(pa.array(values, mask=null))

    def _dec(self, hundredths: _IntArray, fixed: _BoolArray | None = None) -> pa.Array:
        idx = np.clip(hundredths, 0, _MAX_CENTS - 1)
        if fixed is not None:
            idx = idx + fixed * _MAX_CENTS
        return self.decimals.take(pa.array(idx))

    @staticmethod
    def _ts(seconds: _IntArray) -> pa.Array:
        return pa.array(seconds, pa.int64()).cast(pa.timestamp("s"))

    @staticmethod
    def _pick(rng: np.random.Generator, values: list[int], p: list[float], n: int) -> _IntArray:
        cdf = np.cumsum(p) / np.sum(p)
        i = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(values) - 1)
        return np.asarray(values, dtype=np.int64)[i]

    # -- colours ---------------------------------------------------------------------
    def _taxi(self, rng: np.random.Generator, a: int, b: int, *, green: bool) -> list[pa.Array]:
        n = b - a
        tail = np.arange(a, b) >= self.rows - self.n_tail
        pickup = self._pickups(rng, a, b, tail)
        duration = self._durations(rng, n, 660.0 if green else 600.0)
        duration[tail] = np.maximum(duration[tail] - duration[tail] % 60, 60)
        dropoff = pickup + duration

        mph = rng.lognormal(np.log(12.0 if green else 11.0), 0.35, n)
        distance = np.rint(mph * duration / 36.0).astype(np.int64)  # hundredths of a mile
        distance[rng.random(n) < 0.012] = 0
        distance = np.clip(distance, 0, 9999)

        vendor = self._pick(rng, [1, 2], [0.2, 0.8] if green else [0.3, 0.7], n)
        passengers = self._pick(rng, [0, 1, 2, 3, 4, 5, 6], [2, 72, 14, 4, 2, 4, 2], n)
        flag = (rng.random(n) < 0.01).astype(np.int64)
        pu = self._zones(rng, n)
        do = self._zones(rng, n)
        if green:
            trip_type = self._pick(rng, [1, 2], [0.96, 0.04], n)
            ratecode = self._pick(rng, [1, 2, 3, 4, 5, 6, 99], [950, 8, 2, 3, 36, 0.5, 0.5], n)
            ratecode[trip_type == 2] = 5
            payment = self._pick(rng, [1, 2, 3, 4, 5], [50, 47, 2, 0.8, 0.2], n)
        else:
            ratecode = self._pick(rng, [1, 2, 3, 4, 5, 6, 99], [965, 20, 3, 2, 9, 0.5, 0.5], n)
            payment = self._pick(rng, [1, 2, 3, 4, 5], [70, 28, 1.2, 0.7, 0.1], n)

        metered = 250 + 250 * distance / 100.0 + 30 * duration / 60.0
        fare: _IntArray = np.rint(metered / 50.0).astype(np.int64) * 50  # meter ticks of 50c
        fare[ratecode == 2] = 5200
        fare = np.clip(fare, 0, 99_950)
        extra = self._pick(rng, [0, 50, 100, 250, 300, 350], [35, 30, 10, 15, 7, 3], n)
        mta: _IntArray = np.where(rng.random(n) < 0.97, 50, 0).astype(np.int64)
        tipped = (payment == 1) & (rng.random(n) < 0.85)
        tip: _IntArray = np.rint(fare * rng.uniform(0.1, 0.3, n) * tipped).astype(np.int64)
        tolls = self._pick(rng, [0, 612, 1175], [95, 4, 1], n)
        improvement = np.full(n, 30, dtype=np.int64)
        if green:
            congestion = self._pick(rng, [0, 275, 250], [85, 5, 10], n)
        else:
            congestion = self._pick(rng, [250, 0], [90, 10], n)
        total = fare + extra + mta + tip + tolls + improvement + congestion

        ints = self._int
        null = tail
        dist_fixed = ~tail  # metered rows print distances as ".20"; the tail as "0.2"
        if green:
            return [
                ints(vendor, null),
                self._ts(pickup),
                self._ts(dropoff),
                pa.array(np.array(["N", "Y"])[flag], pa.string(), mask=null),
                ints(ratecode, null),
                ints(pu),
                ints(do),
                ints(passengers, null),
                self._dec(distance, dist_fixed),
                self._dec(fare),
                self._dec(extra),
                self._dec(mta),
                self._dec(tip),
                self._dec(tolls),
                pa.nulls(n, pa.string()),
                self._dec(improvement),
                self._dec(total),
                ints(payment, null),
                ints(trip_type, null),
                self._dec(congestion),
            ]
        return [
            ints(vendor, null),
            self._ts(pickup),
            self._ts(dropoff),
            ints(passengers, null),
            self._dec(distance, dist_fixed),
            ints(ratecode, null),
            pa.array(np.array(["N", "Y"])[flag], pa.string(), mask=null),
            ints(pu),
            ints(do),
            ints(payment, null),
            self._dec(fare),
            self._dec(extra),
            self._dec(mta),
            self._dec(tip),
            self._dec(tolls),
            self._dec(improvement),
            self._dec(total),
            self._dec(congestion),
        ]

    def _fhv(self, rng: np.random.Generator, a: int, b: int) -> list[pa.Array]:
        n = b - a
        pickup = self._pickups(rng, a, b, np.zeros(n, dtype=bool))
        on_the_minute = rng.random(n) < 0.3  # many bases report whole minutes
        pickup[on_the_minute] -= pickup[on_the_minute] % 60
        dropoff = pickup + self._durations(rng, n, 900.0)

        names, cdf = _fhv_bases()
        base = np.searchsorted(cdf, rng.random(n)).astype(np.int64)
        other = np.searchsorted(cdf, rng.random(n)).astype(np.int64)
        r = rng.random(n)
        affiliated = np.where(r < 0.8, base, other)
        return [
            names.take(pa.array(base)),
            self._ts(pickup),
            self._ts(dropoff),
            self._int(self._zones(rng, n), rng.random(n) < 0.25),
            self._int(self._zones(rng, n), rng.random(n) < 0.15),
            self._int(np.ones(n, dtype=np.int64), rng.random(n) >= 0.08),
            names.take(pa.array(affiliated, mask=r >= 0.95)),
        ]

    def _fhvhv(self, rng: np.random.Generator, a: int, b: int) -> list[pa.Array]:
        """The mirror's 7 columns of the high-volume services: Uber about 72 %, Lyft 26 %,
        Via until 2021-11 and Juno until 2019; SR_Flag ``1`` for a shared-ride request
        (about 10 % until shared rides stopped in 2020-03, rare after), else empty."""
        n, ym = b - a, (self.year, self.month)
        pickup = self._pickups(rng, a, b, np.zeros(n, dtype=bool))
        dropoff = pickup + self._durations(rng, n, 900.0)
        juno, via = 1.5 * (ym < (2020, 1)), 2.0 * (ym < (2021, 12))
        lic = self._pick(rng, [0, 1, 2, 3], [juno, 72, via, 26], n)
        base = np.select([lic == 1, lic == 3, lic == 2], [rng.integers(0, 12, n), 12, 13], 14)
        shared = rng.random(n) < (0.1 if ym < (2020, 4) else 0.01)
        return [
            pa.array(HV_LICENSES).take(pa.array(lic)),
            pa.array(HV_BASES).take(pa.array(base)),
            self._ts(pickup),
            self._ts(dropoff),
            self._int(self._zones(rng, n)),
            self._int(self._zones(rng, n)),
            self._int(np.ones(n, dtype=np.int64), ~shared),
        ]
