"""The forms of the TLC's original csv files (before the 2022 parquet rewrite): the data,
and which form a month has.

Read byte for byte off the heads of real files in ``shared/real-tlc/tlc-csv`` (yellow
2009-2017 and green 2013-2017 at months 01, 04, 07, 10; every dataset at 01 and 07 to
2020) and the course mirror's copies in ``shared/real-tlc/course``.  Where two sampled
months differ, the boundary is the one toddwschneider/nyc-taxi-data's loaders use
(``import_trip_data.sh``: green 2015 H1 vs H2, 2016 H2, yellow 2016 H2;
``import_fhv_trip_data.sh``: fhv 2017 H1, H2, 2018, 2019), else the first month seen in
the new form, as noted.  Every data row ends in CRLF.  The last forms are assumed to run
to 2021-12 (fhv: 2020-12): the course mirror's 2021 copies have the same headers, and
the TLC's fhvhv 2021-02 had the 2019 columns (DE Zoomcamp 2022 week 5).
"""

from __future__ import annotations

from dataclasses import dataclass

Month = tuple[int, int]


@dataclass(frozen=True)
class Form:
    """One form of file: its header line, what follows it, and the shape of its rows."""

    name: str
    names: tuple[str, ...]  # the header's names as written (``Trip_type `` keeps its space)
    header: bytes  # the header line, without its line end
    header_eol: bytes
    after_header: bytes  # the blank line(s) after the header, as written
    extras: int  # empty fields at the end of every data row, beyond the header's
    quoted: bool  # every value in double quotes, ``""`` when empty (header too)
    legacy: bool  # numbers as C doubles to 17 digits (yellow 2009-2014)
    eol: bytes = b"\r\n"


FIRST: dict[str, Month] = {"yellow": (2009, 1), "green": (2013, 8), "fhv": (2015, 1),
                           "fhvhv": (2019, 2)}
LAST: dict[str, Month] = {"yellow": (2021, 12), "green": (2021, 12), "fhv": (2020, 12),
                          "fhvhv": (2021, 12)}
VARIANTS = ("tlc", "course", "r")

_Y09 = ("vendor_name,Trip_Pickup_DateTime,Trip_Dropoff_DateTime,Passenger_Count,Trip_Distance,"
        "Start_Lon,Start_Lat,Rate_Code,store_and_forward,End_Lon,End_Lat,Payment_Type,Fare_Amt,"
        "surcharge,mta_tax,Tip_Amt,Tolls_Amt,Total_Amt")
_Y10 = ("vendor_id,pickup_datetime,dropoff_datetime,passenger_count,trip_distance,"
        "pickup_longitude,pickup_latitude,rate_code,store_and_fwd_flag,dropoff_longitude,"
        "dropoff_latitude,payment_type,fare_amount,surcharge,mta_tax,tip_amount,tolls_amount,"
        "total_amount")
_Y15 = ("VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,trip_distance,"
        "pickup_longitude,pickup_latitude,RateCodeID,store_and_fwd_flag,dropoff_longitude,"
        "dropoff_latitude,payment_type,fare_amount,extra,mta_tax,tip_amount,tolls_amount,"
        "improvement_surcharge,total_amount")
_Y16 = ("VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,trip_distance,"
        "RatecodeID,store_and_fwd_flag,PULocationID,DOLocationID,payment_type,fare_amount,extra,"
        "mta_tax,tip_amount,tolls_amount,improvement_surcharge,total_amount")
_G13 = ("VendorID,lpep_pickup_datetime,Lpep_dropoff_datetime,Store_and_fwd_flag,RateCodeID,"
        "Pickup_longitude,Pickup_latitude,Dropoff_longitude,Dropoff_latitude,Passenger_count,"
        "Trip_distance,Fare_amount,Extra,MTA_tax,Tip_amount,Tolls_amount,Ehail_fee,Total_amount,"
        "Payment_type,Trip_type ")
_G15 = _G13.replace("Ehail_fee,", "Ehail_fee,improvement_surcharge,")
_G16 = ("VendorID,lpep_pickup_datetime,lpep_dropoff_datetime,store_and_fwd_flag,RatecodeID,"
        "PULocationID,DOLocationID,passenger_count,trip_distance,fare_amount,extra,mta_tax,"
        "tip_amount,tolls_amount,ehail_fee,improvement_surcharge,total_amount,payment_type,"
        "trip_type")
_F17 = "Dispatching_base_num,Pickup_DateTime,DropOff_datetime,PUlocationID,DOlocationID"
_F18 = ("Pickup_DateTime,DropOff_datetime,PUlocationID,DOlocationID,SR_Flag,"
        "Dispatching_base_number,Dispatching_base_num")
_HV = ("hvfhs_license_num,dispatching_base_num,pickup_datetime,dropoff_datetime,PULocationID,"
       "DOLocationID,SR_Flag")
_CR, _LF = b"\r\n", b"\n"


def _form(name: str, names: str, eol: bytes, after: bytes, extras: int = 0, *,
          sep: str = ",", quoted: bool = False, legacy: bool = False,
          rows_eol: bytes = b"\r\n") -> Form:
    cols = tuple(names.split(","))
    text = sep.join(f'"{c}"' if quoted else c for c in cols)
    return Form(name, cols, text.encode(), eol, after, extras, quoted, legacy, rows_eol)


#: (first month, form) per dataset; a form runs until the next one starts.
FORMS: dict[str, tuple[tuple[Month, Form], ...]] = {
    "yellow": (
        ((2009, 1), _form("yellow-2009", _Y09, _LF, _CR, legacy=True)),
        ((2010, 1), _form("yellow-2010", _Y10, _LF, _CR, legacy=True)),
        # Same bytes; the codes change: 2010-07 still has CAS/Cre and 0/empty flags, 2010-10
        # CSH/CRD and N/Y; the TLC re-released 2010-09..12 apart from 2010-08 (2022-08-22).
        ((2010, 9), _form("yellow-2010-09", _Y10, _LF, _CR, legacy=True)),
        ((2014, 1), _form("yellow-2014", _Y10, _LF, _CR, sep=", ", legacy=True)),
        ((2015, 1), _form("yellow-2015", _Y15, _CR, b"")),
        # RateCodeID in 2015-01 and -04, RatecodeID from 2015-07 (2015-05/06 not seen).
        ((2015, 7), _form("yellow-2015-07", _Y15.replace("RateCodeID", "RatecodeID"), _CR, b"")),
        ((2016, 7), _form("yellow-2016-07", _Y16, _CR, b"", 2)),
        ((2017, 1), _form("yellow-2017", _Y16, _LF, _CR)),
        ((2019, 1), _form("yellow-2019", _Y16 + ",congestion_surcharge", _CR, b"")),
    ),
    "green": (
        ((2013, 8), _form("green-2013", _G13, _LF, _CR, 2)),
        ((2014, 1), _form("green-2014", _G13, _LF, _LF + _CR, 2)),  # two blank lines
        ((2015, 1), _form("green-2015", _G15, _CR, b"", 2)),
        ((2015, 7), _form("green-2015-07", _G15, _CR, b"")),
        ((2016, 1), _form("green-2016", _G15, _LF, _CR)),  # 2015-10 CRLF, 2016-01 LF + blank
        ((2016, 7), _form("green-2016-07", _G16, _LF, _CR, 2)),
        ((2017, 1), _form("green-2017", _G16, _LF, _CR)),
        ((2019, 1), _form("green-2019", _G16 + ",congestion_surcharge", _CR, b"")),
    ),
    "fhv": (
        ((2015, 1), _form("fhv-2015", "Dispatching_base_num,Pickup_date,locationID", _CR, b"")),
        ((2017, 1), _form("fhv-2017", _F17, _CR, b"")),
        ((2017, 7), _form("fhv-2017-07", _F17 + ",SR_Flag", _CR, b"", quoted=True)),
        ((2018, 1), _form("fhv-2018", _F18, _CR, b"", quoted=True)),
        ((2019, 1), _form("fhv-2019", _HV.split(",", 1)[1], _CR, b"")),
    ),
    "fhvhv": (((2019, 2), _form("fhvhv-2019", _HV, _CR, b"")),),
}

#: The course mirror's copies where they differ from the TLC's: its fhvhv 2021-06 (the only
#: one seen) has the fhv 2021 columns, ``SR_Flag`` ``N`` and LF line ends.
COURSE: dict[str, tuple[tuple[Month, Form], ...]] = {
    "fhvhv": (((2021, 1), _form(
        "fhvhv-course-2021", _HV.split(",", 1)[1] + ",Affiliated_base_number", _LF, b"",
        rows_eol=_LF)),),
}

#: The canonical columns (the TLC's 2011-on names, ``taxi_etl.schemas``) a form can hold.
CANONICAL: dict[str, tuple[str, ...]] = {
    "yellow": (
        "VendorID", "tpep_pickup_datetime", "tpep_dropoff_datetime", "passenger_count",
        "trip_distance", "RatecodeID", "store_and_fwd_flag", "PULocationID", "DOLocationID",
        "payment_type", "fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount",
        "improvement_surcharge", "total_amount", "congestion_surcharge", "pickup_longitude",
        "pickup_latitude", "dropoff_longitude", "dropoff_latitude",
    ),
    "green": (
        "VendorID", "lpep_pickup_datetime", "lpep_dropoff_datetime", "store_and_fwd_flag",
        "RatecodeID", "PULocationID", "DOLocationID", "passenger_count", "trip_distance",
        "fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount", "ehail_fee",
        "improvement_surcharge", "total_amount", "payment_type", "trip_type",
        "congestion_surcharge", "pickup_longitude", "pickup_latitude", "dropoff_longitude",
        "dropoff_latitude",
    ),
    "fhv": ("dispatching_base_num", "pickup_datetime", "dropoff_datetime", "PULocationID",
            "DOLocationID", "SR_Flag"),
    "fhvhv": ("hvfhs_license_num", "dispatching_base_num", "pickup_datetime",
              "dropoff_datetime", "PULocationID", "DOLocationID", "shared_request_flag",
              "Affiliated_base_number"),
}
#: Header name (lower case, stripped) -> canonical column, beyond a change of case.
ALIASES: dict[str, dict[str, str]] = {
    "yellow": {
        "vendor_name": "VendorID", "vendor_id": "VendorID",
        "trip_pickup_datetime": "tpep_pickup_datetime", "pickup_datetime": "tpep_pickup_datetime",
        "trip_dropoff_datetime": "tpep_dropoff_datetime",
        "dropoff_datetime": "tpep_dropoff_datetime", "start_lon": "pickup_longitude",
        "start_lat": "pickup_latitude", "end_lon": "dropoff_longitude",
        "end_lat": "dropoff_latitude", "rate_code": "RatecodeID",
        "store_and_forward": "store_and_fwd_flag", "fare_amt": "fare_amount",
        "surcharge": "extra", "tip_amt": "tip_amount", "tolls_amt": "tolls_amount",
        "total_amt": "total_amount",
    },
    "green": {},
    "fhv": {"pickup_date": "pickup_datetime", "locationid": "PULocationID",
            "dispatching_base_number": "dispatching_base_num"},
    "fhvhv": {"sr_flag": "shared_request_flag"},
}
#: Header names that are always empty and load into nothing: fhv 2018's second base column.
IGNORED: dict[str, frozenset[str]] = {"fhv-2018": frozenset({"Dispatching_base_num"})}

# -- codes ------------------------------------------------------------------------------

#: Yellow's text vendors by era, with their weights.
VENDORS: dict[str, tuple[tuple[str, float], ...]] = {
    "yellow-2009": (("CMT", 45), ("VTS", 50), ("DDS", 5)),
    "yellow-2010-09": (("CMT", 50), ("VTS", 50)),
}
#: Yellow's text payment types by era and vendor, per data-dictionary code (1 credit, 2
#: cash, 3 no charge, 4 dispute, 5 unknown).  Seen: 2009 CMT ``Cash``/``Credit``/``No
#: Charge``, VTS ``CASH``/``Credit``, DDS ``CASH``/``CREDIT``; 2010 VTS ``CAS``/``Cre``, DDS
#: ``CAS``/``CRE``, CMT ``Cas``/``Cre``/``No `` (trailing space); from 2010-10 ``CSH``,
#: ``CRD``, ``NOC``, ``UNK``.  The others (``Dispute``, ``DIS``, ``NA ``) are of the same
#: spelling families but not in the heads.
PAYMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "yellow-2009": {"CMT": ("Credit", "Cash", "No Charge", "Dispute"),
                    "VTS": ("Credit", "CASH", "No Charge", "Dispute"),
                    "DDS": ("CREDIT", "CASH", "NO CHARGE", "DISPUTE")},
    "yellow-2010": {"CMT": ("Cre", "Cas", "No ", "DIS", "NA "),
                    "VTS": ("Cre", "CAS", "NOC", "DIS", "UNK"),
                    "DDS": ("CRE", "CAS", "NOC", "DIS", "UNK")},
    "yellow-2010-09": {v: ("CRD", "CSH", "NOC", "DIS", "UNK") for v in ("CMT", "VTS")},
}
#: What a text code loads as; None: nothing (counted as unmapped).  DDS has no number in
#: the data dictionary.
MEANING: dict[str, dict[str, int | str | None]] = {
    "VendorID": {"CMT": 1, "VTS": 2, "DDS": None},
    "payment_type": {
        s: i + 1 for spellings in PAYMENTS.values() for row in spellings.values()
        for i, s in enumerate(row)
    },
    "store_and_fwd_flag": {"0": "N", "1": "Y", "N": "N", "Y": "Y"},
    "shared_request_flag": {"1": "Y", "N": "N", "Y": "Y"},
}
#: Share of a month's rows in its tail, from the month given: rows appended at the end and
#: sorted again, on whole minutes, with VendorID, passenger_count, RatecodeID,
#: store_and_fwd_flag, payment_type, trip_type and congestion_surcharge empty.  The course
#: mirror's copies of 2019-2021 (the TLC's files) have it: 44.7 % of green 2020-10 (the
#: TLC's green parquet: 47.1 % of 2021-01, 10 % of 2022-01).  No head can show a tail.
TAIL: dict[str, tuple[tuple[Month, float], ...]] = {
    "yellow": (((2009, 1), 0.0), ((2019, 1), 0.03)),
    "green": (((2013, 8), 0.0), ((2019, 1), 0.03), ((2020, 10), 0.45)),
}
TAIL_EMPTY = ("VendorID", "passenger_count", "RatecodeID", "store_and_fwd_flag",
              "payment_type", "trip_type", "congestion_surcharge")
#: Share of green rows with an empty ``Trip_type``, from the month given: 2013-10 11 %,
#: 2014-01 every row, 2014-04 14 %, none from 2014-07.
GREEN_NO_TRIP_TYPE: tuple[tuple[Month, float], ...] = (
    ((2013, 8), 0.11), ((2014, 1), 1.0), ((2014, 4), 0.14), ((2014, 7), 0.0),
)


def form(dataset: str, year: int, month: int, variant: str = "tlc") -> Form:
    """The form of a month's file; ValueError outside the months the forms cover."""
    if dataset not in FORMS:
        raise ValueError(f"dataset must be one of {tuple(FORMS)}, got {dataset!r}")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, got {month}")
    first, last = FIRST[dataset], LAST[dataset]
    if not first <= (year, month) <= last:
        raise ValueError(f"{dataset} csv runs {first[0]}-{first[1]:02}..{last[0]}-{last[1]:02}, "
                         f"got {year}-{month:02}")
    forms = FORMS[dataset] + (COURSE.get(dataset, ()) if variant == "course" else ())
    return max((f for f in forms if f[0] <= (year, month)), key=lambda f: f[0])[1]


def file_name(dataset: str, year: int, month: int) -> str:
    """The TLC's name for a month, e.g. ``yellow_tripdata_2012-01.csv``."""
    form(dataset, year, month)
    return f"{dataset}_tripdata_{year}-{month:02}.csv"


def canonical(dataset: str, shape: Form) -> tuple[str | None, ...]:
    """The canonical column of each header name of `shape` (None: loads into nothing)."""
    aliases = {c.lower(): c for c in CANONICAL[dataset]} | ALIASES[dataset]
    ignored = IGNORED.get(shape.name, frozenset())
    return tuple(None if n in ignored else aliases[n.strip().lower()] for n in shape.names)
