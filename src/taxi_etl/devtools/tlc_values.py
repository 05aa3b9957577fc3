"""The values of synthetic TLC months, per dataset: realistic shapes (hour of day, zone
popularity, fares by distance and time) and each era's codes and quirks.

Any block of a month can be produced on its own, from its own seeded generator, so a
month is generated in bounded memory and the same arguments give the same values.  Values
are integer :class:`~taxi_etl.devtools.tlc_draws.Col` columns; the writer
(:mod:`taxi_etl.devtools.tlc_sample`) types and counts them.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import numpy as np

from taxi_etl.devtools import tlc_eras as E
from taxi_etl.devtools.tlc_draws import (
    DAY_X,
    FINE,
    I64,
    Col,
    Mask,
    cents,
    durations,
    fhv_bases,
    lab,
    pick,
    us,
    yes,
    zone_weights,
)
from taxi_etl.devtools.tlc_eras import DATASETS, UNMAPPABLE
from taxi_etl.devtools.tlc_months import columns, epoch, far_future_row, outside_rows

#: Yellow/green 2011+: trailing rows without passenger/code metadata (and, in yellow, vendor;
#: in green, congestion surcharge, as the real green months have it).  Real green tails are
#: longer: 47 % of 2021-01, 10 % of 2022-01, 6 % of 2023-01, 3.6 % of 2024-03.
_TAIL_PERCENT = 3
_UNMAPPABLE_EVERY = 1000  # rows 500, 1500, ... get vendor XYZ; rows 501, 1501, ... payment ???
_RENAME_2009 = dict(zip(*(E.ERAS["yellow"][i][2].split() for i in (1, 0)), strict=False))


class MonthValues:
    """Everything needed to produce any block of one month."""

    def __init__(self, dataset: str, year: int, month: int, rows: int, seed: int) -> None:
        self.dataset, self.ym, self.rows, self.seed = dataset, (year, month), rows, seed
        self.types = dict(columns(dataset, year, month))
        self.start, self.end = epoch(year, month), epoch(year, month + 1)
        taxi = dataset in ("yellow", "green") and year >= 2011
        self.n_tail = rows * _TAIL_PERCENT // 100 if taxi else 0
        self.outside_rows = outside_rows(rows)
        self.far_row = far_future_row(dataset, year, month, rows)
        self.outside = 0  # pickups generated outside the month so far

    def block(self, index: int, a: int, b: int) -> dict[str, Col]:
        """Rows `a` to `b` (block number `index`), by column name."""
        key = [self.seed, DATASETS.index(self.dataset), *self.ym, index]
        rng = np.random.default_rng(np.random.SeedSequence(key))
        make = {"fhv": self._fhv, "fhvhv": self._fhvhv}.get(self.dataset, self._taxi)
        return make(rng, a, b)

    def _pickups(self, rng: np.random.Generator, a: int, b: int, tail: Mask | None = None) -> I64:
        """Sorted pickups (epoch s) over the month with a daily rhythm, and again over it
        for the tail (a separately appended extract in the real files); `outside_rows`
        land in an earlier month or the next one."""
        n, idx = b - a, np.arange(a, b, dtype=np.int64)
        tail = np.zeros(n, dtype=bool) if tail is None else tail
        main = self.rows - self.n_tail
        pos = np.where(tail, idx - main, idx)
        length = np.where(tail, max(self.n_tail, 1), max(main, 1))
        days = (pos + rng.random(n)) / length * ((self.end - self.start) / 86400.0)
        day = np.floor(days)
        in_day = np.interp(days - day, DAY_X, np.linspace(0.0, 1.0, 25))
        pickup = np.minimum(self.start + ((day + in_day) * 86400).astype(np.int64), self.end - 1)
        pickup[tail] -= pickup[tail] % 60  # the tail's clock has minute resolution
        sel = self.outside_rows[(self.outside_rows >= a) & (self.outside_rows < b)]
        if len(sel):
            k = np.searchsorted(self.outside_rows, sel)
            before = self.start - rng.integers(3600, 20 * 86400, len(sel))
            if self.ym >= (2010, 1):  # real files also carry a few pickups from years ago
                long_ago = epoch(2008, 12) + 30 * 86400 + rng.integers(0, 2 * 86400, len(sel))
                before = np.where(k % 20 == 10, long_ago, before)
            after = self.end + rng.integers(0, 3 * 86400, len(sel))
            pickup[sel - a] = np.where(k % 2 == 0, before, after)
        self.outside += int(np.count_nonzero((pickup < self.start) | (pickup >= self.end)))
        return pickup

    def _zones(self, rng: np.random.Generator, n: int) -> I64:
        return pick(rng, range(1, 266), zone_weights(), n)

    def _fees(self, **charges: I64) -> dict[str, Col]:
        """Fee columns: their values once the fee exists and the column is not null-typed,
        else all null (so that the total never counts a fee the file does not show)."""
        fees = cents(**charges)
        for name, fee in fees.items():
            if self.ym < E.CHARGE_SINCE.get(name.lower(), (0, 0)) or self.types.get(name) == "null":
                fee.v, fee.null = np.zeros_like(fee.v), np.ones(len(fee.v), bool)
        return fees

    def _taxi(self, rng: np.random.Generator, a: int, b: int) -> dict[str, Col]:
        n, ym, green, new = b - a, self.ym, self.dataset == "green", self.ym >= (2025, 1)
        idx = np.arange(a, b, dtype=np.int64)
        tail = idx >= self.rows - self.n_tail
        pickup = self._pickups(rng, a, b, tail)
        duration = durations(rng, n, 660.0 if green else 600.0)
        duration[tail] = np.maximum(duration[tail] - duration[tail] % 60, 60)
        mph = rng.lognormal(np.log(12.0 if green else 11.0), 0.35, n)
        distance = np.clip(np.rint(mph * duration / 36.0), 0, 9999).astype(np.int64)
        distance[rng.random(n) < 0.012] = 0
        passengers = pick(rng, [0, 1, 2, 3, 4, 5, 6], [2, 72, 14, 4, 2, 4, 2], n)
        unknown = 0.1 if ym >= (2010, 1) else 0.0
        payment = pick(rng, [0, 1, 2, 3, 4, 5], [4 * new, 70, 28, 1.2, 0.7, unknown], n)
        ratecode = pick(rng, [1, 2, 3, 4, 5, 6, 99], [965, 20, 3, 2, 9, 0.5, 2 * new], n)
        trip_type = pick(rng, [1, 2], [96, 4], n)
        if green:
            ratecode[trip_type == 2] = 5
        fare = np.clip(np.rint((250 + 2.5 * distance + 0.5 * duration) / 50), 0, 1999) * 50
        fare[ratecode == 2] = 5200
        tip = np.rint(fare * rng.uniform(0.1, 0.3, n) * ((payment == 1) & (rng.random(n) < 0.85)))
        tolls = pick(rng, [0, 612, 1175], [95, 4, 1], n)
        if ym < (2011, 1):
            extra = pick(rng, [0, 50, 100], [55, 35, 10], n)
        else:
            extra = pick(rng, [0, 50, 100, 250, 300, 350], [35, 30, 10, 15, 7, 3], n)
        congestion = ([0, 275, 250], [85, 5, 10]) if green else ([250, 0], [90, 10])
        airport = np.where(rng.random(n) < 0.08, 175 if ym >= (2023, 4) else 125, 0)
        fees = self._fees(
            mta_tax=np.where(rng.random(n) < 0.97, 50, 0),
            improvement_surcharge=np.full(n, 100 if ym >= (2022, 12) else 30),
            congestion_surcharge=pick(rng, *congestion, n),
            cbd_congestion_fee=np.where(rng.random(n) < 0.45, 75, 0),
        )
        if not green:
            fees |= self._fees(airport_fee=airport, Airport_fee=airport)
        elif tail.any():  # the real green tails (2021-01 to 2024-03) lack it, not VendorID
            fee = fees["congestion_surcharge"]
            fee.v = np.where(tail, 0, fee.v)
            fee.null = tail if fee.null is None else fee.null | tail
        total = fare + extra + tip + tolls + sum(f.v for c, f in fees.items() if c in self.types)
        money = cents(fare_amount=fare, tip_amount=tip, tolls_amount=tolls, total_amount=total)
        money |= cents(trip_distance=distance)
        if ym < (2011, 1):
            cols = self._legacy(rng, idx, pickup, duration, passengers, ratecode, payment)
            cols |= money | {"surcharge": Col(extra, "cents"), "mta_tax": fees["mta_tax"]}
            return {_RENAME_2009.get(k, k): c for k, c in cols.items()} if ym < (2010, 1) else cols
        meta = tail if tail.any() else None
        p = "lpep_" if green else "tpep_"
        vendor = pick(rng, [1, 2, 6, 7], [20, 80, 0, 0] if green else [28, 70, new, new], n)
        return fees | money | {
            "VendorID": Col(vendor, null=None if green else meta),
            f"{p}pickup_datetime": us(pickup),
            f"{p}dropoff_datetime": us(pickup + duration),
            "passenger_count": Col(passengers, null=meta),
            "RatecodeID": Col(ratecode, null=meta),
            "store_and_fwd_flag": lab(E.FLAGS, yes(rng, 0.01, n), meta, counted=True),
            "PULocationID": Col(self._zones(rng, n)),
            "DOLocationID": Col(self._zones(rng, n)),
            "payment_type": Col(payment, null=meta),
            "extra": Col(extra, "cents"),
            "ehail_fee": Col(np.zeros(n, np.int64), "cents", np.ones(n, bool)),
            "trip_type": Col(trip_type, null=meta),
            "request_source": lab(E.REQUEST_SOURCES, pick(rng, [0, 1, 2], [80, 15, 5], n), meta),
        }

    def _legacy(
        self, rng: np.random.Generator, idx: I64, pickup: I64, duration: I64, passengers: I64,
        ratecode: I64, payment: I64,
    ) -> dict[str, Col]:
        """Yellow 2009-2010 columns under their 2010 names: vendor and payment as text with a
        few unmappable codes, lat/lon with some zeros and nulls, text datetimes."""
        n, spellings = len(idx), E.PAYMENTS_LEGACY[self.ym[0]]
        codes, pay = np.array([code for _, code in spellings]), np.zeros(n, np.int64)
        for code in np.unique(payment).tolist():
            rows, options = np.flatnonzero(payment == code), np.flatnonzero(codes == code)
            pay[rows] = options[rng.integers(0, len(options), len(rows))]
        vendor = pick(rng, [0, 1, 2], [45, 50, 5], n)
        vendor[idx % _UNMAPPABLE_EVERY == _UNMAPPABLE_EVERY // 2] = len(E.VENDORS_LEGACY) - 1
        pay[idx % _UNMAPPABLE_EVERY == _UNMAPPABLE_EVERY // 2 + 1] = len(spellings)
        rc_null = {"f64": 0.98, "str": 0.001}.get(self.types.get("rate_code", "f64"), 0.0)
        coords: dict[str, Col] = {}
        for end in ("pickup", "dropoff"):
            lon = np.rint(rng.normal(-73.975, 0.035, n) * FINE).astype(np.int64)
            lat = np.rint(rng.normal(40.755, 0.03, n) * FINE).astype(np.int64)
            zero, null = rng.random(n) < 0.015, rng.random(n) < 0.001
            lon[zero], lat[zero] = 0, 0
            coords |= {f"{end}_longitude": Col(lon, "fine", null)}
            coords |= {f"{end}_latitude": Col(lat, "fine", null)}
        cols = coords | {
            "vendor_id": lab(E.VENDORS_LEGACY, vendor, counted=True),
            "pickup_datetime": us(pickup),
            "dropoff_datetime": us(pickup + duration),
            "passenger_count": Col(passengers),
            "rate_code": Col(ratecode, null=(rng.random(n) < rc_null) if rc_null else None),
            "store_and_fwd_flag": Col(yes(rng, 0.3, n), null=rng.random(n) < 0.99),
            "payment_type": lab((*(s for s, _ in spellings), UNMAPPABLE[1]), pay, counted=True),
            "__index_level_0__": Col(idx),
        }
        return cols

    def _fhv(self, rng: np.random.Generator, a: int, b: int) -> dict[str, Col]:
        n = b - a
        pickup = self._pickups(rng, a, b)
        on_the_minute = rng.random(n) < 0.3  # many bases report whole minutes
        pickup[on_the_minute] -= pickup[on_the_minute] % 60
        dropoff = pickup + durations(rng, n, 900.0)
        if self.far_row is not None and a <= self.far_row < b:
            then = datetime.fromtimestamp(int(dropoff[self.far_row - a]), UTC).replace(year=3019)
            dropoff[self.far_row - a] = calendar.timegm(then.timetuple())
        names, weights = fhv_bases()
        base = pick(rng, range(len(names)), weights, n)
        other = pick(rng, range(len(names)), weights, n)
        r = rng.random(n)
        return {
            "dispatching_base_num": lab(names, base),
            "pickup_datetime": us(pickup),
            "dropOff_datetime": us(dropoff),
            "PUlocationID": Col(self._zones(rng, n), null=rng.random(n) < 0.8),
            "DOlocationID": Col(self._zones(rng, n), null=rng.random(n) < 0.7),
            "SR_Flag": Col(np.ones(n, np.int64), null=rng.random(n) >= 0.08),
            "Affiliated_base_number": lab(names, np.where(r < 0.8, base, other), r >= 0.95),
        }

    def _fhvhv(self, rng: np.random.Generator, a: int, b: int) -> dict[str, Col]:
        n, ym = b - a, self.ym
        juno, via = 1.5 * (ym < (2020, 1)), 2.0 * (ym < (2021, 12))
        lic = pick(rng, [0, 1, 2, 3], [juno, 72, via, 26], n)
        uber = lic == 1
        base = np.select([uber, lic == 3, lic == 2], [rng.integers(0, 12, n), 12, 13], 14)
        pickup = self._pickups(rng, a, b)
        wait = np.clip(rng.lognormal(np.log(240.0), 0.6, n), 10, 3600).astype(np.int64)
        on_scene = pickup - wait + (wait * rng.uniform(0.5, 0.95, n)).astype(np.int64)
        trip_time = durations(rng, n, 900.0)
        mph = rng.lognormal(np.log(14.0), 0.35, n)
        miles = np.clip(np.rint(mph * trip_time / 36.0), 0, 99_999)
        fare = np.rint(300 + 1.05 * miles + 0.6 * trip_time).astype(np.int64)
        fare[rng.random(n) < 0.0005] *= -1  # refunds
        gross = np.abs(fare)
        flags = {f"{f}_flag": yes(rng, p, n) for f, p in (("shared_request", 0.02),
                 ("shared_match", 0.01), ("wav_request", 0.05), ("wav_match", 0.04))}
        flags["access_a_ride_flag"] = np.where(lic == 3, 2, 0)  # Lyft leaves it blank
        fees = self._fees(
            congestion_surcharge=pick(rng, [0, 275], [40, 60], n),
            airport_fee=np.where(rng.random(n) < 0.06, 250, 0),
            cbd_congestion_fee=np.where(rng.random(n) < 0.3, 150, 0),
        )
        money = cents(
            trip_miles=miles, base_passenger_fare=fare, bcf=np.rint(gross * 0.0275),
            tolls=pick(rng, [0, 694, 1338], [93, 5, 2], n),
            sales_tax=np.rint(gross * 0.08875),
            tips=np.rint(gross * rng.uniform(0.1, 0.25, n) * (rng.random(n) < 0.15)),
            driver_pay=np.rint(gross * rng.uniform(0.6, 0.8, n)),
        )
        return {f: lab(E.FLAGS, v, counted=True) for f, v in flags.items()} | fees | money | {
            "hvfhs_license_num": lab(E.HV_LICENSES, lic, counted=True),
            "dispatching_base_num": lab(E.HV_BASES, base),
            "originating_base_num": lab(E.HV_BASES, base, ~uber | (rng.random(n) < 0.02)),
            "request_datetime": us(pickup - wait),
            "on_scene_datetime": us(on_scene, ~uber),  # only Uber reports it
            "pickup_datetime": us(pickup),
            "dropoff_datetime": us(pickup + trip_time),
            "PULocationID": Col(self._zones(rng, n)),
            "DOLocationID": Col(self._zones(rng, n)),
            "trip_time": Col(trip_time),
        }
