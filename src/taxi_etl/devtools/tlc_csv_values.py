"""The values of synthetic original-csv months, by canonical column, as each era wrote them.

Integers until :mod:`taxi_etl.devtools.tlc_csv` turns them into text, so that its ground
truth is exact: money and distances in hundredths, yellow 2009-2014 coordinates in
millionths of a degree (the GPS values the TLC printed as doubles), later ones (green from
2013-08) to 2016-06 on the float32 grid in 2**-20 degree (it printed float32 values).
Any chunk of a month comes from its own seeded generator, so months are made in bounded
memory and repeat exactly.
What the heads show, per vendor: 2009-2014 VTS clocks have whole minutes and leave
``store_and_fwd_flag`` empty; CMT writes ``0`` in 2009-2010; DDS's 2010 ``mta_tax`` is
sometimes ``-1``; green refunds make every charge negative; fhv base numbers are now and
then lower case (``b00056`` in 2017-01; toddwschneider/nyc-taxi-data upper-cases them).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from taxi_etl.devtools import tlc_csv_forms as F
from taxi_etl.devtools.tlc_draws import (
    DAY_X,
    I64,
    Col,
    Mask,
    durations,
    fhv_bases,
    lab,
    pick,
    yes,
    zone_weights,
)
from taxi_etl.devtools.tlc_eras import HV_BASES, HV_LICENSES
from taxi_etl.devtools.tlc_months import epoch, outside_rows

#: The usual toll and a rarer one (hundredths), from the month given, as in the real heads.
_TOLLS = (((2009, 1), 415, 550), ((2010, 1), 457, 550), ((2011, 1), 480, 950),
          ((2013, 1), 533, 1025), ((2015, 1), 554, 1050), ((2017, 1), 576, 585),
          ((2019, 1), 576, 612))
_REFUND_EVERY = 400  # green rows 200, 600, ...: a refund, every charge negative
_LOWER_EVERY = 100  # fhv rows 50, 150, ... before 2019: a lower-case base number


@dataclass
class Stamp:
    """A timestamp column: epoch seconds, and a nanosecond fraction for the R variant."""

    s: I64
    ns: I64 | None = None
    null: Mask | None = None


Values = dict[str, Col | Stamp]


def _null(n: int, p: float, rng: np.random.Generator) -> Mask:
    return rng.random(n) < p


class CsvMonth:
    """Everything needed to produce any chunk of one month in one form."""

    def __init__(
        self, dataset: str, ym: tuple[int, int], rows: int, seed: int, form: F.Form,
        variant: str,
    ) -> None:
        self.dataset, self.ym, self.rows, self.seed = dataset, ym, rows, seed
        self.form, self.variant = form, variant
        self.start, self.end = epoch(*ym), epoch(ym[0], ym[1] + 1)
        self.outside_rows = outside_rows(rows)
        row = rows // 2
        far = row + 1 if row in self.outside_rows.tolist() else row
        self.far_row = far if variant == "r" and rows > 0 else None
        self.quirks: dict[str, int] = {}

    def chunk(self, index: int, a: int, b: int) -> Values:
        """Rows `a` to `b` (chunk number `index`), by canonical column."""
        key = [self.seed, list(F.FIRST).index(self.dataset), *self.ym, index,
               F.VARIANTS.index(self.variant)]
        rng = np.random.default_rng(np.random.SeedSequence(key))
        make = {"fhv": self._fhv, "fhvhv": self._fhvhv}.get(self.dataset, self._taxi)
        cols = make(rng, a, b)
        if self.variant == "r":
            for col in cols.values():
                if isinstance(col, Stamp):
                    col.ns = rng.integers(0, 1_000_000_000, b - a)
        return cols

    def _count(self, quirk: str, n: int) -> None:
        self.quirks[quirk] = self.quirks.get(quirk, 0) + n

    def _pickups(self, rng: np.random.Generator, a: int, b: int, tail: int = 0) -> I64:
        """Sorted pickups over the month with a daily rhythm, and again for the last `tail`
        rows; `outside_rows` land in an earlier month (even ones) or the next (odd ones)."""
        n, idx, main = b - a, np.arange(a, b), self.rows - tail
        pos, length = np.where(idx >= main, idx - main, idx), np.where(idx >= main, tail, main)
        days = (pos + rng.random(n)) / np.maximum(length, 1) * (self.end - self.start)
        day = np.floor(days / 86400.0)
        in_day = np.interp(days / 86400.0 - day, DAY_X, np.linspace(0.0, 1.0, 25))
        pickup = np.minimum(self.start + ((day + in_day) * 86400).astype(np.int64), self.end - 1)
        sel = self.outside_rows[(self.outside_rows >= a) & (self.outside_rows < b)]
        if len(sel):
            k = np.searchsorted(self.outside_rows, sel)
            before = self.start - rng.integers(3600, 20 * 86400, len(sel))
            after = self.end + rng.integers(0, 3 * 86400, len(sel))
            pickup[sel - a] = np.where(k % 2 == 0, before, after)
            self._count("outside_month", len(sel))
        return pickup

    def _dropoffs(self, a: int, pickup: I64, duration: I64, null: Mask | None = None) -> Stamp:
        dropoff = pickup + duration
        if self.far_row is not None and a <= self.far_row < a + len(pickup):
            then = datetime.fromtimestamp(int(dropoff[self.far_row - a]), UTC).replace(year=3019)
            dropoff[self.far_row - a] = calendar.timegm(then.timetuple())
            if null is not None:
                null[self.far_row - a] = False
            self._count("year_3019", 1)
        return Stamp(dropoff, null=null)

    def _zones(self, rng: np.random.Generator, n: int) -> I64:
        return pick(rng, range(1, 266), zone_weights(), n)

    def _coords(self, rng: np.random.Generator, n: int, zero: float) -> dict[str, Col]:
        """2009-2016-06 pickup and dropoff coordinates, some exactly 0 (no GPS fix)."""
        legacy, out = self.form.legacy, {}
        for end, p in (("pickup", zero), ("dropoff", zero / 3)):
            lon, lat = rng.normal(-73.95, 0.05, n), rng.normal(40.75, 0.05, n)
            if legacy:  # microdegrees
                ilon, ilat = np.rint(lon * 1e6), np.rint(lat * 1e6)
            else:  # float32 values: multiples of 2**-17 (lon) and 2**-18 (lat) degree
                ilon, ilat = np.rint(lon * (1 << 17)) * 8, np.rint(lat * (1 << 18)) * 4
            none, junk = rng.random(n) < p, rng.random(n) < 0.003 * legacy
            ilon[none], ilat[none] = 0, 0
            ilon[junk], ilat[junk] = rng.integers(-50_000, 50_000, (2, int(junk.sum())))
            unit = "micro" if legacy else "fine"
            out[f"{end}_longitude"] = Col(ilon.astype(np.int64), unit)
            out[f"{end}_latitude"] = Col(ilat.astype(np.int64), unit)
        return out

    def _taxi(self, rng: np.random.Generator, a: int, b: int) -> Values:
        n, ym, green = b - a, self.ym, self.dataset == "green"
        legacy = not green and ym < (2015, 1)
        n_tail = int(self.rows * [p for m, p in F.TAIL[self.dataset] if m <= ym][-1])
        pickup = self._pickups(rng, a, b, n_tail)
        duration = durations(rng, n, 660.0 if green else 600.0)
        tail = np.arange(a, b) >= self.rows - n_tail
        pickup[tail] -= pickup[tail] % 60  # the tail's clock: whole minutes
        duration[tail] = np.maximum(duration[tail] - duration[tail] % 60, 60)
        cols: Values = {}
        if legacy:
            era = "yellow-2009" if ym < (2010, 9) else "yellow-2010-09"
            names = tuple(v for v, _ in F.VENDORS[era])
            vendor = pick(rng, range(len(names)), [w for _, w in F.VENDORS[era]], n)
            vts = vendor == names.index("VTS")
            pickup[vts] -= pickup[vts] % 60  # VTS clocks: whole minutes
            duration[vts] = np.maximum(duration[vts] - duration[vts] % 60, 60)
            cols["VendorID"] = lab(names, vendor, counted=True)
        else:
            cols["VendorID"] = Col(pick(rng, [1, 2], [20, 80] if green else [45, 55], n))
        mph = rng.lognormal(np.log(12.0 if green else 11.0), 0.35, n)
        distance = np.clip(np.rint(mph * duration / 36.0), 0, 9999).astype(np.int64)
        distance[rng.random(n) < 0.012] = 0
        few = rng.random(n) < 0.005  # a few hundredths of a mile
        distance[few] = rng.integers(1, 10, int(few.sum()))
        payment = pick(rng, [1, 2, 3, 4, 5], [60, 37, 1.2, 0.7, 0.5 * (ym >= (2010, 1))], n)
        ratecode = pick(rng, [1, 2, 3, 4, 5, 6], [940, 20, 8, 5, 20, 1], n)
        if green:
            trip_type = pick(rng, [1, 2], [96, 4], n)
            ratecode[trip_type == 2] = 5
            empty = [p for m, p in F.GREEN_NO_TRIP_TYPE if m <= ym][-1]
            cols["trip_type"] = Col(trip_type, null=_null(n, empty, rng))
            cols["ehail_fee"] = Col(np.zeros(n, np.int64), "cents", np.ones(n, bool))
        tick = 10 if ym < (2012, 9) else 50  # the meter: 40c a fifth of a mile, 50c from 2012-09
        fare = np.clip(np.rint((250 + 2.5 * distance + 0.5 * duration) / tick), 0, 99950 // tick)
        fare *= tick
        fare[ratecode == 2] = 5200
        extras = ([0, 50, 100, 150], [50, 35, 14, 1]) if ym < (2012, 9) else (
            [0, 50, 100, 300, 325], [35, 45, 15, 4 * (ym >= (2019, 2)), ym >= (2019, 2)])
        money = {
            "fare_amount": fare.astype(np.int64),
            "extra": pick(rng, *extras, n),
            "mta_tax": np.where(rng.random(n) < 0.97, 50, 0),
            "tip_amount": np.where(rng.random(n) < 0.01, rng.integers(1, 10, n), np.rint(
                fare * rng.uniform(0.1, 0.3, n)) * ((payment == 1) & (rng.random(n) < 0.85))),
            "tolls_amount": pick(rng, [0, *[t for m, *t in _TOLLS if m <= ym][-1]], [94, 5, 1], n),
        }
        nulls: dict[str, Mask] = {}
        if ym >= (2015, 1):
            money["improvement_surcharge"] = np.where(rng.random(n) < 0.97, 30, 0)
        if ym >= (2019, 1):
            congestion = ([0, 275, 250], [85, 5, 10]) if green else ([250, 0], [80, 20])
            money["congestion_surcharge"] = pick(rng, *congestion, n)
            # The charge started in 2019-02: empty before, and in the tail.
            nulls["congestion_surcharge"] = tail | (ym < (2019, 2))
        if legacy:
            cols |= self._legacy(rng, names, vendor, payment, money, nulls)
        else:
            cols["payment_type"] = Col(payment)
            cols["store_and_fwd_flag"] = lab(("N", "Y"), yes(rng, 0.01, n), counted=True)
        if green:
            refund = np.arange(a, b) % _REFUND_EVERY == _REFUND_EVERY // 2
            for name in ("fare_amount", "extra", "mta_tax", "improvement_surcharge"):
                if name in money:
                    money[name] = np.where(refund, -money[name], money[name])
            self._count("refunds", int(np.count_nonzero(refund)))
        money["total_amount"] = np.sum(
            [v * ~nulls.get(k, np.zeros(n, bool)) for k, v in money.items()], axis=0)
        cols |= {k: Col(np.asarray(v, np.int64), "cents", nulls.get(k)) for k, v in money.items()}
        cols["trip_distance"] = Col(distance, "cents")
        cols["passenger_count"] = Col(pick(rng, [0, 1, 2, 3, 4, 5, 6], [2, 72, 14, 4, 2, 4, 2], n))
        no_rate = np.ones(n, bool) if ym < (2010, 1) else None  # 2009's Rate_Code is empty
        cols["RatecodeID"] = Col(ratecode, null=no_rate)
        if n_tail:
            self._count("tail", int(np.count_nonzero(tail)))
            for name in F.TAIL_EMPTY:
                col = cols.get(name)
                if isinstance(col, Col):
                    col.null = tail if col.null is None else col.null | tail
        p = "lpep_" if green else "tpep_"
        cols[f"{p}pickup_datetime"] = Stamp(pickup)
        cols[f"{p}dropoff_datetime"] = self._dropoffs(a, pickup, duration)
        if ym < (2016, 7):
            cols |= self._coords(rng, n, 0.15 if green else 0.015)
        else:
            cols |= {"PULocationID": Col(self._zones(rng, n)),
                     "DOLocationID": Col(self._zones(rng, n))}
        return cols

    def _legacy(
        self, rng: np.random.Generator, names: tuple[str, ...], vendor: I64, payment: I64,
        money: dict[str, I64], nulls: dict[str, Mask],
    ) -> Values:
        """Yellow 2009-2014's text payment types and flags, which vary by vendor."""
        n, ym = len(vendor), self.ym
        era = "yellow-2009" if ym < (2010, 1) else "yellow-2010" if ym < (2010, 9) else (
            "yellow-2010-09")
        table = F.PAYMENTS[era]
        labels = tuple(dict.fromkeys(s for row in table.values() for s in row))
        spelled = np.zeros(n, np.int64)
        for i, name in enumerate(names):
            row = np.array([labels.index(s) for s in table[name]])
            sel = vendor == i
            spelled[sel] = row[np.minimum(payment[sel], len(row)) - 1]
        cmt = vendor == names.index("CMT")
        if ym < (2010, 9):  # CMT writes 0; the others nothing (2009-01's CMT rows too)
            flag = lab(("0", "1"), np.zeros(n, np.int64), ~cmt | (ym < (2009, 4)), counted=True)
        else:
            flag = lab(("N", "Y"), yes(rng, 0.02, n), ~cmt, counted=True)
        if ym < (2010, 1):  # no MTA tax yet; CMT writes 0 from 2009-10
            money["mta_tax"] = np.zeros(n, np.int64)
            nulls["mta_tax"] = ~cmt | (ym < (2009, 10))
        elif "DDS" in names:
            dds = (vendor == names.index("DDS")) & (rng.random(n) < 0.2)
            money["mta_tax"] = np.where(dds, -100, money["mta_tax"])
        return {"payment_type": lab(labels, spelled, counted=True), "store_and_fwd_flag": flag}

    def _base(self, rng: np.random.Generator, a: int, b: int, null: Mask | None = None) -> Col:
        names, weights = fhv_bases()
        base = pick(rng, range(len(names)), weights, b - a)
        if self.ym >= (2019, 1):
            return lab(names, base, null)
        lower = np.arange(a, b) % _LOWER_EVERY == _LOWER_EVERY // 2
        self._count("lowercase_base", int(np.count_nonzero(lower)))
        labels = names + tuple(s.lower() for s in names)
        return lab(labels, np.where(lower, base + len(names), base), null)

    def _fhv(self, rng: np.random.Generator, a: int, b: int) -> Values:
        n, ym = b - a, self.ym
        pickup = self._pickups(rng, a, b)
        minute = rng.random(n) < (1.0 if ym < (2017, 1) else 0.3)  # bases report minutes
        pickup[minute] -= pickup[minute] % 60
        pu, do = self._zones(rng, n), self._zones(rng, n)
        if ym >= (2019, 1):  # many trips in the "unknown" zones 264 and 265
            pu[rng.random(n) < 0.4], do[rng.random(n) < 0.3] = 264, 264
            do[rng.random(n) < 0.1] = 265
        sparse = 0.8 if ym < (2017, 7) else 0.05
        cols: Values = {
            "dispatching_base_num": self._base(rng, a, b),
            "pickup_datetime": Stamp(pickup),
            "dropoff_datetime": self._dropoffs(a, pickup, durations(rng, n, 900.0),
                                               _null(n, sparse, rng)),
            "PULocationID": Col(pu, null=_null(n, sparse, rng)),
            "DOLocationID": Col(do, null=_null(n, min(0.9, sparse + 0.1), rng)),
            "SR_Flag": Col(np.ones(n, np.int64), null=rng.random(n) >= 0.05),
        }
        return cols

    def _fhvhv(self, rng: np.random.Generator, a: int, b: int) -> Values:
        n, ym = b - a, self.ym
        juno, via = 1.5 * (ym < (2020, 1)), 2.0 * (ym < (2021, 12))
        lic = pick(rng, [0, 1, 2, 3], [juno, 72, via, 26], n)
        base = np.select([lic == 1, lic == 3, lic == 2], [rng.integers(0, 12, n), 12, 13], 14)
        pickup = self._pickups(rng, a, b)
        shared = rng.random(n) < (0.1 if ym < (2020, 4) else 0.01)
        cols: Values = {
            "hvfhs_license_num": lab(HV_LICENSES, lic, counted=True),
            "dispatching_base_num": lab(HV_BASES, base),
            "pickup_datetime": Stamp(pickup),
            "dropoff_datetime": self._dropoffs(a, pickup, durations(rng, n, 900.0)),
            "PULocationID": Col(self._zones(rng, n)),
            "DOLocationID": Col(self._zones(rng, n)),
            "shared_request_flag": lab(("1",), np.zeros(n, np.int64), ~shared, counted=True),
        }
        if self.form.name == "fhvhv-course-2021":  # N/Y, and the affiliated base
            cols["shared_request_flag"] = lab(("N", "Y"), shared.astype(np.int64), counted=True)
            cols["Affiliated_base_number"] = lab(HV_BASES, base, rng.random(n) < 0.2)
        return cols
