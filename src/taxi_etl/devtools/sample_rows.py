"""The values of sample months: realistic shapes (hour of day, zone popularity, fares
by distance) and the real files' text formats, in the :class:`Form` that sample.py (the
ground truth the tests rely on) gives a month.

Any chunk of a month can be produced on its own (each has its own seeded generator), so
months are generated in bounded memory, and the same arguments give the same rows.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from taxi_etl.devtools.tlc_draws import durations, fhv_bases, zone_weights
from taxi_etl.devtools.tlc_eras import HV_BASES, HV_LICENSES

#: The mirror's colours; a new one goes last (a colour's index seeds its months).
COLOURS: tuple[str, ...] = ("yellow", "green", "fhv", "fhvhv")

_MAX_CENTS = 200_000  # money/distances are clipped below 2000.00 to keep lookup tables small
_MAX_INT = 1000

_IntArray = npt.NDArray[np.int64]
_BoolArray = npt.NDArray[np.bool_]

# Relative trip volume per hour of day (NYC yellow-cab shape: quiet at 5am, peak at 6pm).
_HOURLY = np.array([3.0, 2.2, 1.6, 1.1, 0.9, 1.0, 1.8, 3.0, 3.8, 4.0, 4.1, 4.3,
                    4.6, 4.7, 4.9, 5.0, 5.1, 5.6, 6.0, 5.7, 5.0, 4.8, 4.4, 3.7])  # fmt: skip
_DAY_CDF_X = np.concatenate([[0.0], np.cumsum(_HOURLY) / _HOURLY.sum()])
_DAY_CDF_Y = np.linspace(0.0, 1.0, 25)


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
    """Skewed popularity of the 265 taxi zones, fixed across seeds (same geography)."""
    cdf: npt.NDArray[np.float64] = np.cumsum(zone_weights()) / np.sum(zone_weights())
    return cdf


@lru_cache(maxsize=1)
def _fhv_bases() -> tuple[pa.Array, npt.NDArray[np.float64]]:
    names, weights = fhv_bases()
    return pa.array(names, pa.string()), np.cumsum(weights) / np.sum(weights)


def _epoch(year: int, month: int) -> int:
    return calendar.timegm(datetime(year, month, 1).timetuple())


@dataclass(frozen=True)
class Form:
    """How a month is written, as sample.py decides it (the tests' ground truth): the
    header's names, codes as ``1.0`` or ``1``, the tail's and the outside rows' counts,
    and whether it is in the real green 2020-10 form."""

    names: tuple[str, ...]
    ints_as_floats: bool = False
    n_tail: int = 0
    n_outside: int = 0
    real_green: bool = False


class MonthRows:
    """Everything needed to produce any chunk of one month independently."""

    def __init__(self, colour: str, year: int, month: int, rows: int, seed: int, form: Form):
        self.colour, self.year, self.month, self.rows, self.seed = colour, year, month, rows, seed
        self.names, self.n_tail, self.real = form.names, form.n_tail, form.real_green
        self.start = _epoch(year, month)
        self.end = _epoch(year + month // 12, month % 12 + 1)
        self.ints = _int_table(form.ints_as_floats)
        self.decimals = _decimal_table()
        n_out, span = form.n_outside, rows - self.n_tail if self.real else rows  # real: not in tail
        self.outside_rows: _IntArray = np.arange(n_out, dtype=np.int64) * span // max(n_out, 1)

    # -- shared pieces ---------------------------------------------------------------
    def chunk(self, a: int, b: int) -> list[pa.Array]:
        colour_no = COLOURS.index(self.colour)
        ss = np.random.SeedSequence([self.seed, colour_no, self.year, self.month, a])
        rng = np.random.default_rng(ss)
        if self.colour in ("yellow", "green"):
            columns = self._taxi(rng, a, b, green=self.colour == "green")
            return [columns[name] for name in self.names]
        if self.colour == "fhvhv":
            return self._fhvhv(rng, a, b)
        return self._fhv(rng, a, b)[: len(self.names)]

    def _pickups(
        self, rng: np.random.Generator, a: int, b: int, tail: _BoolArray, minute: _BoolArray
    ) -> _IntArray:
        """Sorted pickups over the month for the main rows and again for the tail (the
        tail is a separately appended extract in the real files), with a daily rhythm;
        `minute` rows are on the whole minute."""
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
        pickup[minute] -= pickup[minute] % 60

        sel = self.outside_rows[(self.outside_rows >= a) & (self.outside_rows < b)]
        if not len(sel):
            return pickup
        k = np.searchsorted(self.outside_rows, sel)
        long_ago = _epoch(2008, 12) + 30 * 86400  # real files carry a few from 2008-12-31
        if self.real:  # as green 2020-10's 9: 2 minutes early, 2 from 2008, 5 the next day
            early = self.start - rng.integers(60, 600, len(sel))
            ago = long_ago + rng.integers(0, 2 * 86400, len(sel))
            late = self.end + rng.integers(0, 6 * 3600, len(sel))
            pickup[sel - a] = np.select([k % 9 < 2, k % 9 < 4], [early, ago], late)
            return pickup
        before = self.start - rng.integers(3600, 20 * 86400, len(sel))
        if self.year >= 2010:
            ago = long_ago + rng.integers(0, 2 * 86400, len(sel))
            before = np.where(k % 20 == 10, ago, before)
        after = self.end + rng.integers(0, 3 * 86400, len(sel))
        pickup[sel - a] = np.where(k % 2 == 0, before, after)
        return pickup

    def _zones(self, rng: np.random.Generator, n: int) -> _IntArray:
        return np.searchsorted(_zone_cdf(), rng.random(n)).astype(np.int64) + 1

    def _int(self, values: _IntArray, null: _BoolArray | None = None) -> pa.Array:
        return self.ints.take(pa.array(values, mask=null))

    def _dec(
        self, hundredths: _IntArray, fixed: _BoolArray | None = None, null: _BoolArray | None = None
    ) -> pa.Array:
        """Amounts as text, negative ones with ``-``, `fixed` rows with two decimals."""
        idx = np.clip(np.abs(hundredths), 0, _MAX_CENTS - 1)
        if fixed is not None:
            idx = idx + fixed * _MAX_CENTS
        text = self.decimals.take(pa.array(idx, mask=null))
        negative = hundredths < 0
        if negative.any():
            sign = pc.binary_join_element_wise("-", text, "")
            text = pc.if_else(pa.array(negative), sign, text)
        return text

    @staticmethod
    def _ts(seconds: _IntArray) -> pa.Array:
        return pa.array(seconds, pa.int64()).cast(pa.timestamp("s"))

    @staticmethod
    def _pick(rng: np.random.Generator, values: list[int], p: Sequence[float], n: int) -> _IntArray:
        cdf = np.cumsum(p) / np.sum(p)
        i = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(values) - 1)
        return np.asarray(values, dtype=np.int64)[i]

    # -- colours ---------------------------------------------------------------------
    def _taxi(
        self, rng: np.random.Generator, a: int, b: int, *, green: bool
    ) -> dict[str, pa.Array]:
        n, real = b - a, self.real
        tail = np.arange(a, b) >= self.rows - self.n_tail
        minute = tail & (rng.random(n) >= 0.007) if real else tail  # 0.7 % keep seconds
        pickup = self._pickups(rng, a, b, tail, minute)
        duration = durations(rng, n, 660.0 if green else 600.0)
        if real:  # the real tail's trips are longer (median 4.1 miles against 1.8)
            duration[tail] = durations(rng, int(tail.sum()), 1300.0)
        duration[minute] = np.maximum(duration[minute] - duration[minute] % 60, 60)
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
        trip_type = self._pick(rng, [1, 2], [0.96, 0.04], n) if green else None
        if trip_type is not None:
            ratecode = self._pick(rng, [1, 2, 3, 4, 5, 6, 99], [950, 8, 2, 3, 36, 0.5, 0.5], n)
            ratecode[trip_type == 2] = 5
            payment = self._pick(rng, [1, 2, 3, 4, 5], [50, 47, 2, 0.8, 0.2], n)
        else:
            ratecode = self._pick(rng, [1, 2, 3, 4, 5, 6, 99], [965, 20, 3, 2, 9, 0.5, 0.5], n)
            payment = self._pick(rng, [1, 2, 3, 4, 5], [70, 28, 1.2, 0.7, 0.1], n)

        metered = 250 + 250 * distance / 100.0 + 30 * duration / 60.0
        fare: _IntArray = np.rint(metered / 50.0).astype(np.int64) * 50  # meter ticks of 50c
        fare[ratecode == 2] = 5200
        m = {"fare_amount": np.clip(fare, 0, 99_950)}  # amounts in hundredths
        m["extra"] = self._pick(rng, [0, 50, 100, 250, 300, 350], [35, 30, 10, 15, 7, 3], n)
        m["mta_tax"] = np.where(rng.random(n) < 0.97, 50, 0).astype(np.int64)
        tipped = (payment == 1) & (rng.random(n) < 0.85)
        tip = m["fare_amount"] * rng.uniform(0.1, 0.3, n) * tipped
        m["tip_amount"] = np.rint(tip).astype(np.int64)
        m["tolls_amount"] = self._pick(rng, [0, 612, 1175], [95, 4, 1], n)
        m["improvement_surcharge"] = np.full(n, 30, dtype=np.int64)
        if green:
            m["congestion_surcharge"] = self._pick(rng, [0, 275, 250], [85, 5, 10], n)
        else:
            m["congestion_surcharge"] = self._pick(rng, [250, 0], [90, 10], n)
        if real:
            self._as_green_2020_10(rng, tail, metered, m, payment)
            distance[~tail & (rng.random(n) < 0.048)] = 0  # 5.9 % of main rows, with the 1.2 %
        total = np.sum(list(m.values()), axis=0) - m["congestion_surcharge"] * (tail & real)

        ints, null, dec = self._int, tail, self._dec
        pre = "lpep_" if green else "tpep_"
        dist = dec(distance, np.ones(n, dtype=bool) if real else ~tail)  # else the tail: 0.2
        columns = {name: dec(v) for name, v in m.items()}
        columns |= {
            "congestion_surcharge": dec(m["congestion_surcharge"], null=tail if real else None),
            "total_amount": dec(total),
            "VendorID": ints(vendor, null),
            pre + "pickup_datetime": self._ts(pickup),
            pre + "dropoff_datetime": self._ts(dropoff),
            "passenger_count": ints(passengers, null),
            "trip_distance": pc.if_else(pc.equal(dist, "0"), ".00", dist) if real else dist,
            "RatecodeID": ints(ratecode, null),
            "store_and_fwd_flag": pa.array(np.array(["N", "Y"])[flag], pa.string(), mask=null),
            "PULocationID": ints(pu),
            "DOLocationID": ints(do),
            "payment_type": ints(payment, null),
            "ehail_fee": pa.nulls(n, pa.string()),
        }
        if trip_type is not None:
            columns["trip_type"] = ints(trip_type, null)
        return columns

    def _as_green_2020_10(
        self,
        rng: np.random.Generator,
        tail: _BoolArray,
        metered: npt.NDArray[np.float64],
        m: dict[str, _IntArray],
        payment: _IntArray,
    ) -> None:
        """Amounts `m` and `payment` redrawn in place as in the real green 2020-10 (the
        weights are counts in its 52,610 main and 42,510 tail rows)."""
        n, main, nt = len(tail), ~tail, int(tail.sum())
        cents = tail | (rng.random(n) < 0.0036)  # the tail's, and negotiated, fares
        priced = np.rint(metered * rng.uniform(0.9, 1.1, n))
        fare = np.clip(np.where(cents, priced, m["fare_amount"]), 0, 99_999)
        tip = m["tip_amount"]
        weights = [33042, 10416, 7218, 1046, 524, 234, 57, 10]
        extra = self._pick(rng, [0, 100, 50, 275, 375, 325, 250, 450], weights, n)
        mta: _IntArray = np.where(rng.random(n) < 0.962, 50, 0).astype(np.int64)
        tolls = self._pick(rng, [0, 612, 1224, 280, 229, 841], [50423, 1819, 136, 104, 70, 10], n)
        free = main & (rng.random(n) < 0.009)  # 0.9 %: no fare, tip or surcharge
        fare[free] = tip[free] = extra[free] = mta[free] = 0
        improvement: _IntArray = np.where(free, 0, 30).astype(np.int64)
        # The tail: no extra or MTA tax, a tip of 2.75 in 93 % of rows, more tolls.
        extra[tail] = self._pick(rng, [0, 100, 50], [42463, 28, 19], nt)
        mta[tail] = self._pick(rng, [0, 50], [42280, 230], nt)
        r, share = rng.random(nt), rng.uniform(0.05, 0.3, nt)
        tip[tail] = np.where(r < 0.927, 275, np.where(r < 0.949, 0, np.rint(fare[tail] * share)))
        tail_tolls = [37065, 4627, 251, 212, 115, 70]
        tolls[tail] = self._pick(rng, [0, 612, 229, 280, 1224, 841], tail_tolls, nt)
        # Refunds: 0.33 % of main rows (payment 3 or 4; 2 % of negotiated fares, so that
        # a month has the real one's few refunds with cents) have every amount but tolls
        # and congestion negative, 3.5 % a tip; 0.035 % of tail rows only a negative fare.
        refund = main & (rng.random(n) < np.where(cents, 0.02, 0.0033))
        payment[refund] = self._pick(rng, [3, 4], [132, 42], int(refund.sum()))
        tipped = rng.random(n) < 0.035
        tip[refund] = np.where(tipped, np.rint(np.abs(fare) * 0.25), 0)[refund]
        fare[tail & (rng.random(n) < 0.00035)] *= -1
        sign = np.where(refund, -1, 1)
        m["congestion_surcharge"] = self._pick(rng, [0, 275, 250], [41662, 10869, 79], n)
        m |= {"fare_amount": fare.astype(np.int64) * sign, "extra": extra * sign}
        m |= {"mta_tax": mta * sign, "tip_amount": tip * sign, "tolls_amount": tolls}
        m["improvement_surcharge"] = improvement * sign

    def _fhv(self, rng: np.random.Generator, a: int, b: int) -> list[pa.Array]:
        n = b - a
        none = np.zeros(n, dtype=bool)
        pickup = self._pickups(rng, a, b, none, none)
        on_the_minute = rng.random(n) < 0.3  # many bases report whole minutes
        pickup[on_the_minute] -= pickup[on_the_minute] % 60
        dropoff = pickup + durations(rng, n, 900.0)

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
        """The mirror's 7 columns: Uber about 72 %, Lyft 26 %, Via until 2021-11, Juno until
        2019; shared-ride requests 10 % until 2020-03, 1 % after.  The TLC's form has the
        licence and SR_Flag ``1``/empty; the 2021-06 form (100 real rows) SR_Flag ``N``/``Y``
        and Affiliated_base_number: the base for Uber's, empty for Lyft's and Via's."""
        n, ym = b - a, (self.year, self.month)
        none = np.zeros(n, dtype=bool)
        pickup = self._pickups(rng, a, b, none, none)
        dropoff = pickup + durations(rng, n, 900.0)
        juno, via = 1.5 * (ym < (2020, 1)), 2.0 * (ym < (2021, 12))
        lic = self._pick(rng, [0, 1, 2, 3], [juno, 72, via, 26], n)
        base = np.select([lic == 1, lic == 3, lic == 2], [rng.integers(0, 12, n), 12, 13], 14)
        shared = rng.random(n) < (0.1 if ym < (2020, 4) else 0.01)
        bases = pa.array(HV_BASES)
        zones = [self._int(self._zones(rng, n)), self._int(self._zones(rng, n))]
        trip = [bases.take(pa.array(base)), self._ts(pickup), self._ts(dropoff), *zones]
        if self.names[0] == "hvfhs_license_num":
            licence = pa.array(HV_LICENSES).take(pa.array(lic))
            return [licence, *trip, self._int(np.ones(n, dtype=np.int64), ~shared)]
        flag = pa.array(np.array(["N", "Y"])[shared.astype(np.int64)], pa.string())
        return [*trip, flag, bases.take(pa.array(base, mask=lic != 1))]
