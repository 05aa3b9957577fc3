"""Column names, physical types and code values of the official TLC parquet files (data only).

Transcribed from published footer scans of the real files (docs/sources.md, for users) for
:mod:`taxi_etl.devtools.tlc_sample`; kept apart so the tables read as a specification.

A type history is a string ``"T0 YYYY-MM:T1 YYYY-MM:T2 ..."``: type ``T0`` from the
dataset's first month, ``T1`` from the first dated month, and so on.  Codes: ``i64``/``i32``
int64/int32, ``f64`` double, ``str``/``lstr`` string/large_string, ``null`` an all-null
column of Arrow type null (parquet INT32, logical type Null), ``ts`` a timestamp.
"""

from __future__ import annotations

Month = tuple[int, int]

DATASETS: tuple[str, ...] = ("yellow", "green", "fhv", "fhvhv")
FIRST_MONTH: dict[str, Month] = {
    "yellow": (2009, 1),
    "green": (2014, 1),
    "fhv": (2015, 1),
    "fhvhv": (2019, 2),
}

_Y2009 = (
    "vendor_name Trip_Pickup_DateTime Trip_Dropoff_DateTime Passenger_Count Trip_Distance "
    "Start_Lon Start_Lat Rate_Code store_and_forward End_Lon End_Lat Payment_Type Fare_Amt "
    "surcharge mta_tax Tip_Amt Tolls_Amt Total_Amt"
)
_Y2010 = (
    "vendor_id pickup_datetime dropoff_datetime passenger_count trip_distance pickup_longitude "
    "pickup_latitude rate_code store_and_fwd_flag dropoff_longitude dropoff_latitude "
    "payment_type fare_amount surcharge mta_tax tip_amount tolls_amount total_amount "
    "__index_level_0__"
)
_Y2011 = (
    "VendorID tpep_pickup_datetime tpep_dropoff_datetime passenger_count trip_distance "
    "RatecodeID store_and_fwd_flag PULocationID DOLocationID payment_type fare_amount extra "
    "mta_tax tip_amount tolls_amount improvement_surcharge total_amount congestion_surcharge"
)
_GREEN = (
    "VendorID lpep_pickup_datetime lpep_dropoff_datetime store_and_fwd_flag RatecodeID "
    "PULocationID DOLocationID passenger_count trip_distance fare_amount extra mta_tax "
    "tip_amount tolls_amount ehail_fee improvement_surcharge total_amount payment_type "
    "trip_type congestion_surcharge"
)
_FHV = (
    "dispatching_base_num pickup_datetime dropOff_datetime PUlocationID DOlocationID SR_Flag "
    "Affiliated_base_number"
)
_FHVHV = (
    "hvfhs_license_num dispatching_base_num originating_base_num request_datetime "
    "on_scene_datetime pickup_datetime dropoff_datetime PULocationID DOLocationID trip_miles "
    "trip_time base_passenger_fare tolls bcf sales_tax congestion_surcharge airport_fee tips "
    "driver_pay shared_request_flag shared_match_flag access_a_ride_flag wav_request_flag "
    "wav_match_flag"
)

#: Column-name eras: (first month, era name, column names in file order).  An era runs
#: until the next one starts.  2023-02 starts an era in every dataset because the TLC
#: rewrote every file from then on with int32 ids, nullable int64 codes and large_string.
ERAS: dict[str, tuple[tuple[Month, str, str], ...]] = {
    "yellow": (
        ((2009, 1), "yellow-2009", _Y2009),
        ((2010, 1), "yellow-2010", _Y2010),
        ((2011, 1), "yellow-2011", _Y2011 + " airport_fee"),
        ((2023, 2), "yellow-2023-02", _Y2011 + " Airport_fee"),
        ((2025, 1), "yellow-2025", _Y2011 + " Airport_fee cbd_congestion_fee"),
        ((2026, 6), "yellow-2026-06", _Y2011 + " Airport_fee cbd_congestion_fee request_source"),
    ),
    "green": (
        ((2014, 1), "green-2014", _GREEN),
        ((2023, 2), "green-2023-02", _GREEN),
        ((2025, 1), "green-2025", _GREEN + " cbd_congestion_fee"),
        ((2026, 6), "green-2026-06", _GREEN + " cbd_congestion_fee request_source"),
    ),
    "fhv": (
        ((2015, 1), "fhv-2015", _FHV),
        ((2023, 2), "fhv-2023-02", _FHV),
    ),
    "fhvhv": (
        ((2019, 2), "fhvhv-2019", _FHVHV),
        ((2023, 2), "fhvhv-2023-02", _FHVHV),
        ((2025, 1), "fhvhv-2025", _FHVHV + " cbd_congestion_fee"),
    ),
}

#: Columns of an era that exist only in some of its months: a pandas index that leaked
#: into yellow 2010-02 and 2010-03.
ONLY_IN: dict[str, dict[str, tuple[Month, Month]]] = {
    "yellow": {"__index_level_0__": ((2010, 2), (2010, 3))},
}

_STR = "str 2023-02:lstr"
_ID = "i64 2023-02:i32"

#: Type history per column (README §2.1-2.4); columns not listed are ``f64``.
TYPES: dict[str, dict[str, str]] = {
    "yellow": {
        # 2009 (snowch): text datetimes and codes, int64 passengers, double rate code/flag.
        "vendor_name": "str",
        "Trip_Pickup_DateTime": "str",
        "Trip_Dropoff_DateTime": "str",
        "Passenger_Count": "i64",
        "Payment_Type": "str",
        # 2010: only rate_code is documented; the rest is assumed to follow 2009.
        "vendor_id": "str",
        "pickup_datetime": "str",
        "dropoff_datetime": "str",
        "rate_code": "str 2010-02:i64 2010-04:str",
        "__index_level_0__": "i64",
        # 2010 and 2011+ share these names.
        "passenger_count": "i64 2018-07:f64 2023-02:i64",
        "store_and_fwd_flag": "f64 2011-01:str 2023-02:lstr",
        "payment_type": "str 2011-01:i64",
        "VendorID": _ID,
        "tpep_pickup_datetime": "ts",
        "tpep_dropoff_datetime": "ts",
        "RatecodeID": "i64 2018-07:f64 2023-02:i64",
        "PULocationID": _ID,
        "DOLocationID": _ID,
        "improvement_surcharge": "f64 2014-08:null 2014-09:f64",
        "congestion_surcharge": (
            "f64 2011-02:null 2011-03:f64 2011-04:null 2012-12:f64 2013-01:null 2013-05:f64 "
            "2013-06:null 2014-01:f64 2014-02:null 2018-01:f64 2018-02:null 2018-06:f64 "
            "2018-07:null 2018-09:f64 2018-10:null 2018-11:f64 2018-12:null 2019-01:f64"
        ),
        "airport_fee": "f64 2011-02:null 2018-01:f64 2018-02:null 2020-08:f64 2020-10:null "
        "2020-11:f64",
        "request_source": "lstr",
    },
    "green": {
        "VendorID": _ID,
        "lpep_pickup_datetime": "ts",
        "lpep_dropoff_datetime": "ts",
        "store_and_fwd_flag": _STR,
        # Double before 2023-02 per the 2019+ scans; assumed the same back to 2014.
        "RatecodeID": "f64 2023-02:i64",
        "PULocationID": _ID,
        "DOLocationID": _ID,
        "passenger_count": "f64 2023-02:i64",
        "ehail_fee": "f64 2019-09:null 2023-02:f64",
        "payment_type": "f64 2023-02:i64",
        "trip_type": "f64 2023-02:i64",
        "request_source": "lstr",
    },
    "fhv": {
        "dispatching_base_num": _STR,
        "pickup_datetime": "ts",
        "dropOff_datetime": "ts",
        "PUlocationID": "f64 2019-05:i64 2019-07:f64 2023-02:i64",
        "DOlocationID": "f64 2019-05:i64 2019-07:f64 2020-07:i64 2020-08:f64 2023-02:i64",
        "SR_Flag": "f64 2019-03:null 2023-02:i64",
        "Affiliated_base_number": _STR,
    },
    "fhvhv": {
        "hvfhs_license_num": _STR,
        "dispatching_base_num": _STR,
        "originating_base_num": _STR,
        "request_datetime": "ts",
        "on_scene_datetime": "ts",
        "pickup_datetime": "ts",
        "dropoff_datetime": "ts",
        "PULocationID": _ID,
        "DOLocationID": _ID,
        "trip_time": "i64",
        "airport_fee": "null 2019-07:f64 2020-04:null 2020-05:f64 2020-10:null 2020-11:f64",
        "shared_request_flag": _STR,
        "shared_match_flag": _STR,
        "access_a_ride_flag": _STR,
        "wav_request_flag": _STR,
        "wav_match_flag": "null 2019-04:str 2023-02:lstr",
    },
}

#: Months whose embedded ``ARROW:schema`` says ``timestamp[ns]`` over TIMESTAMP(MICROS)
#: columns: every month up to 2024-10.  The real green 2021-01, 2022-01, 2023-01 and
#: 2024-03 all embed ns (``shared/real-tlc``), so do yellow 2024-01…10 and fhvhv 2024-01
#: (README §2.5: Polars reads ns there, µs from yellow 2024-11); the pandas-written files
#: (up to 2023-01) could hardly say otherwise, as pandas holds datetimes as
#: ``datetime64[ns]``.  From 2024-11 the embedded unit is µs.
NS_METADATA: dict[str, tuple[Month, Month]] = {
    dataset: (FIRST_MONTH[dataset], (2024, 10)) for dataset in DATASETS
}
#: Timestamp columns that embed µs inside an ns month: fhv 2019-02's dropoff holds a value
#: in 3019, which no ``datetime64[ns]`` column can, so it reached Arrow as Python datetimes
#: (pyarrow infers ``timestamp[us]`` for those) [inferred; no footer of that file seen].
US_IN_NS_MONTH: dict[tuple[str, Month], tuple[str, ...]] = {
    ("fhv", (2019, 2)): ("dropOff_datetime",),
}

#: How the TLC wrote its parquet files, the same in every dataset: (first month, writer,
#: Parquet format version, codec, pandas metadata's (pandas, pyarrow) versions or None,
#: rows per row group, 0 for the whole month in one).  Footers of the real green months
#: (``shared/real-tlc/parquet``): 2021-01 and 2022-01 parquet-cpp-arrow 7.0.0, pandas
#: 1.2.4; 2023-01 8.0.0, pandas 1.2.3 (published on 2023-03-20 with 2022-12, per
#: ``file-metadata-2009-2024.csv``); all format 1.0, gzip, one row group (so is yellow
#: 2023-01's 3,066,766 rows, microsoft/AzureStorageExplorer#6990): pandas with pyarrow's
#: then default of 64 Mi rows per group.  2024-03: 14.0.2, format 2.6, zstd, no pandas
#: metadata; yellow 2024-01 (2,964,624 rows) has 3 row groups and fhvhv 2024-01
#: (19,663,930) 19, both 14.0.2 (footers quoted in public notes): pyarrow >= 13's default
#: of 1 Mi rows.  That writer is taken to start with the 2023-02 rewrite (int32 ids,
#: large_string), whose own footers were not seen.  Codec levels are pyarrow's defaults:
#: rewriting the real 2021-01 and 2024-03 tables so comes within 1 % of their sizes.
WRITERS: tuple[tuple[Month, str, str, str, tuple[str, str] | None, int], ...] = (
    ((2009, 1), "pandas-pyarrow-7", "1.0", "gzip", ("1.2.4", "7.0.0"), 0),
    ((2022, 12), "pandas-pyarrow-8", "1.0", "gzip", ("1.2.3", "8.0.0"), 0),
    ((2023, 2), "pyarrow-14", "2.6", "zstd", None, 1 << 20),
)

#: Month a charge first has values; before it the column (if present and typed double)
#: is entirely null.  Inferred, not from footer scans: an all-null column comes out of
#: pandas as double or as null type, which is how the flips above arose; yellow 2009-01's
#: widely quoted first row has an empty mta_tax (2009-11, the MTA tax's start, is a guess).
CHARGE_SINCE: dict[str, Month] = {
    "mta_tax": (2009, 11),
    "improvement_surcharge": (2015, 1),
    "congestion_surcharge": (2019, 2),
    "airport_fee": (2021, 1),
    "cbd_congestion_fee": (2025, 1),
}

# -- code values (README §2.4, §2.6) and reference data -------------------------------

#: 2009-2010 vendor strings; the last is an injected code the data dictionary lacks.
VENDORS_LEGACY: tuple[str, ...] = ("CMT", "VTS", "DDS", "XYZ")
#: (spelling, data-dictionary payment code) as the 2009 and 2010 files write them.
PAYMENTS_LEGACY: dict[int, tuple[tuple[str, int], ...]] = {
    2009: (
        ("CASH", 2), ("Cash", 2), ("CREDIT", 1), ("Credit", 1), ("No Charge", 3), ("Dispute", 4),
    ),
    2010: (
        ("CAS", 2), ("Cas", 2), ("cas", 2), ("CRE", 1), ("Cre", 1), ("cre", 1), ("NOC", 3),
        ("DIS", 4), ("UNK", 5),
    ),
}
#: Injected 2009-2010 codes that map to nothing: a vendor and a payment type.
UNMAPPABLE: tuple[str, ...] = ("XYZ", "???")
FLAGS: tuple[str, ...] = ("N", "Y", " ")  # fhvhv's access_a_ride_flag is " " for Lyft
HV_LICENSES: tuple[str, ...] = ("HV0002", "HV0003", "HV0004", "HV0005")  # Juno Uber Via Lyft
#: Twelve Uber bases, then Lyft's, Via's and Juno's.
HV_BASES: tuple[str, ...] = (
    *(f"B0{n}" for n in (2764, 2765, 2869, 2872, 2875, 2876, 2877, 2878, 2879, 2882, 2883, 2884)),
    *("B02510", "B02800", "B02907"),
)
REQUEST_SOURCES: tuple[str, ...] = ("Street Hail", "App", "Dispatch")  # synthetic values

#: Zone lookup: (borough, zones, name stems).  The counts are the real file's (Queens's 69
#: include JFK and LaGuardia); the names are synthetic, stems joined by "_".  In
#: Manhattan the last three stems lie outside the yellow zone.
BOROUGHS: tuple[tuple[str, int, str], ...] = (
    ("Queens", 67, "Astoria Flushing Jamaica Elmhurst Bayside Corona Woodside Ridgewood "
     "Sunnyside Far_Rockaway Howard_Beach Douglaston,_Little_Neck"),
    ("Bronx", 43, "Fordham Riverdale Mott_Haven Pelham_Bay Kingsbridge Soundview Co-Op_City "
     "Hunts_Point Morrisania Wakefield"),
    ("Manhattan", 69, "Midtown Upper_East_Side Upper_West_Side East_Village West_Village "
     "Chelsea Murray_Hill Lenox_Hill Tribeca Financial_District Soho Yorkville Harlem "
     "Washington_Heights Inwood"),
    ("Staten Island", 20, "St._George Tottenville Great_Kills Port_Richmond New_Dorp "
     "Arden_Heights Mariners_Harbor Oakwood"),
    ("Brooklyn", 61, "Bay_Ridge Bushwick Park_Slope Williamsburg Crown_Heights Flatbush "
     "Bensonhurst Greenpoint Sunset_Park Canarsie Red_Hook Brownsville"),
)
#: Rows 264 and 265 (Borough, Zone) per zone-lookup revision (README §2.6).
UNKNOWN_ZONES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "dtc-2022": (("Unknown", "NV"), ("Unknown", "NA")),
    "tlc-2024": (("Unknown", "N/A"), ("N/A", "Outside of NYC")),
}
