"""The four datasets' canonical schemas, and every era's names for their columns: data.

One schema per dataset for every month since the TLC began publishing it, from either
source. The canonical names are the TLC's 2011-on names; older eras and the course
mirror's spellings are aliases. Integer ids, codes and counts are int64 whatever a file
wrote (int32, int64, double ``1.0``, text), timestamps are microseconds, strings are
``string``; columns a month lacks are null. Columns are only ever added at the end
(before the out-of-month flag), so a reader by position still finds the old ones.

Eras, from the TLC's parquet footers and the headers of its original csv files
(docs/sources.md has the whole table):

* yellow 2009: ``vendor_name``, ``Trip_Pickup_DateTime`` (text), ``Start_Lon``...,
  ``Rate_Code``, ``store_and_forward`` (0/1), ``Payment_Type`` (text), ``Fare_Amt``,
  ``surcharge``, ``Tip_Amt``, ``Tolls_Amt``, ``Total_Amt``; no location ids;
* yellow 2010-2014: ``vendor_id``, ``pickup_datetime`` (text), ``pickup_longitude``...,
  ``rate_code``, ``payment_type`` (text), ``surcharge``; 2010-02 and -03 also a pandas
  ``__index_level_0__`` (parquet); the original csv files keep the coordinates until
  2016-06, the TLC's parquet only until 2010;
* yellow 2011 on: the canonical names; ``Airport_fee`` from 2023-02,
  ``cbd_congestion_fee`` from 2025-01 (yellow, green, fhvhv), ``request_source`` from
  2026-06 (yellow, green);
* green 2013-08..2016-06 (original csv): coordinates instead of location ids;
* fhv: ``dropOff_datetime``, ``PUlocationID``, ``DOlocationID`` in every parquet month,
  and the 2019 course files' ``dropoff_datetime``/``PULocationID`` spellings; the
  original csv files of 2015-2016 have only ``Dispatching_base_num,Pickup_date,
  locationID`` (the pickup zone), and 2018 names the base ``Dispatching_base_number``;
* fhvhv: the TLC's 24 columns, or the course mirror's 7 in one of two forms:
  ``hvfhs_license_num,...,SR_Flag`` (``SR_Flag`` is the shared-ride request, ``1``) or
  ``dispatching_base_num,...,SR_Flag,Affiliated_base_number`` (2021-06, ``SR_Flag``
  ``N``/``Y``), which does not say which company ran a trip: its license stays null.
"""

from __future__ import annotations

from taxi_etl.params import Colour
from taxi_etl.schemas.codes import FLAG, PAYMENT, VENDOR
from taxi_etl.schemas.model import Column, DatasetSchema
from taxi_etl.schemas.model import Kind as K

_COORDS = "the TLC's parquet: 2009-2010; its original csv files: 2009 to 2016-06"
_GREEN_COORDS = "the TLC's original csv files of 2013-08 to 2016-06 only"
_REQUEST = "from 2026-06"

YELLOW = DatasetSchema(
    Colour.yellow,
    3,
    (
        Column("VendorID", K.INT, ("vendor_name", "vendor_id"), VENDOR, required=True),
        Column(
            "tpep_pickup_datetime",
            K.TS,
            ("Trip_Pickup_DateTime", "pickup_datetime"),
            required=True,
        ),
        Column(
            "tpep_dropoff_datetime",
            K.TS,
            ("Trip_Dropoff_DateTime", "dropoff_datetime"),
            required=True,
        ),
        Column("passenger_count", K.INT, required=True),
        Column("trip_distance", K.FLOAT, required=True),
        Column("RatecodeID", K.INT, ("Rate_Code", "rate_code")),
        Column("store_and_fwd_flag", K.STR, ("store_and_forward",), FLAG),
        Column("PULocationID", K.INT, note="null until 2016-06 (coordinates instead)"),
        Column("DOLocationID", K.INT, note="null until 2016-06 (coordinates instead)"),
        Column("payment_type", K.INT, (), PAYMENT, required=True),
        Column("fare_amount", K.FLOAT, ("Fare_Amt",), required=True),
        Column("extra", K.FLOAT, ("surcharge",)),
        Column("mta_tax", K.FLOAT),
        Column("tip_amount", K.FLOAT, ("Tip_Amt",)),
        Column("tolls_amount", K.FLOAT, ("Tolls_Amt",)),
        Column("improvement_surcharge", K.FLOAT, note="from 2015"),
        Column("total_amount", K.FLOAT, ("Total_Amt",), required=True),
        Column("congestion_surcharge", K.FLOAT, note="from 2019"),
        Column("airport_fee", K.FLOAT, note="from 2021; Airport_fee from 2023-02"),
        Column("cbd_congestion_fee", K.FLOAT, note="from 2025-01"),
        Column("pickup_longitude", K.FLOAT, ("Start_Lon",), note=_COORDS),
        Column("pickup_latitude", K.FLOAT, ("Start_Lat",), note=_COORDS),
        Column("dropoff_longitude", K.FLOAT, ("End_Lon",), note=_COORDS),
        Column("dropoff_latitude", K.FLOAT, ("End_Lat",), note=_COORDS),
        Column("request_source", K.STR, note=_REQUEST),
    ),
    pickup="tpep_pickup_datetime",
    dropoff="tpep_dropoff_datetime",
    distance="trip_distance",
    fare="fare_amount",
    ignored=("__index_level_0__",),
)

GREEN = DatasetSchema(
    Colour.green,
    3,
    (
        Column("VendorID", K.INT, (), VENDOR, required=True),
        Column("lpep_pickup_datetime", K.TS, required=True),
        Column("lpep_dropoff_datetime", K.TS, required=True),
        Column("store_and_fwd_flag", K.STR, (), FLAG),
        Column("RatecodeID", K.INT),
        Column("PULocationID", K.INT, note="null until 2016-06 (coordinates instead)"),
        Column("DOLocationID", K.INT, note="null until 2016-06 (coordinates instead)"),
        Column("passenger_count", K.INT),
        Column("trip_distance", K.FLOAT, required=True),
        Column("fare_amount", K.FLOAT, required=True),
        Column("extra", K.FLOAT),
        Column("mta_tax", K.FLOAT),
        Column("tip_amount", K.FLOAT),
        Column("tolls_amount", K.FLOAT),
        Column("ehail_fee", K.FLOAT, note="empty in most months"),
        Column("improvement_surcharge", K.FLOAT),
        Column("total_amount", K.FLOAT, required=True),
        Column("payment_type", K.INT, (), PAYMENT),
        Column("trip_type", K.INT),
        Column("congestion_surcharge", K.FLOAT, note="from 2019"),
        Column("cbd_congestion_fee", K.FLOAT, note="from 2025-01"),
        Column("pickup_longitude", K.FLOAT, note=_GREEN_COORDS),
        Column("pickup_latitude", K.FLOAT, note=_GREEN_COORDS),
        Column("dropoff_longitude", K.FLOAT, note=_GREEN_COORDS),
        Column("dropoff_latitude", K.FLOAT, note=_GREEN_COORDS),
        Column("request_source", K.STR, note=_REQUEST),
    ),
    pickup="lpep_pickup_datetime",
    dropoff="lpep_dropoff_datetime",
    distance="trip_distance",
    fare="fare_amount",
    ignored=("__index_level_0__",),
)

_2017_ON = "from 2017 (the original csv files of 2015-2016 lack it)"
FHV = DatasetSchema(
    Colour.fhv,
    2,
    (
        Column(
            "dispatching_base_num",
            K.STR,
            ("Dispatching_base_number",),
            required=True,
            prevails=("Dispatching_base_number",),
        ),
        Column("pickup_datetime", K.TS, ("Pickup_date",), required=True),
        Column("dropoff_datetime", K.TS, note=_2017_ON),
        Column("PULocationID", K.INT, ("locationID",)),
        Column("DOLocationID", K.INT, note=_2017_ON),
        Column("SR_Flag", K.INT, note="1 for a shared ride; null otherwise"),
        Column("Affiliated_base_number", K.STR, note="not in the 2019 course files"),
    ),
    pickup="pickup_datetime",
    dropoff="dropoff_datetime",
    ignored=("__index_level_0__",),
)

_TLC_ONLY = "TLC files only (null from the course mirror)"
FHVHV = DatasetSchema(
    Colour.fhvhv,
    3,
    (
        Column(
            "hvfhs_license_num",
            K.STR,
            note="HV0003 Uber, HV0005 Lyft; null from the course mirror's 2021-06 form",
        ),
        Column("dispatching_base_num", K.STR, required=True),
        Column("originating_base_num", K.STR, note=_TLC_ONLY),
        Column("request_datetime", K.TS, note=_TLC_ONLY),
        Column("on_scene_datetime", K.TS, note=_TLC_ONLY),
        Column("pickup_datetime", K.TS, required=True),
        Column("dropoff_datetime", K.TS, required=True),
        Column("PULocationID", K.INT, required=True),
        Column("DOLocationID", K.INT, required=True),
        Column("trip_miles", K.FLOAT, note=_TLC_ONLY),
        Column("trip_time", K.INT, note=_TLC_ONLY),
        Column("base_passenger_fare", K.FLOAT, note=_TLC_ONLY),
        Column("tolls", K.FLOAT, note=_TLC_ONLY),
        Column("bcf", K.FLOAT, note=_TLC_ONLY),
        Column("sales_tax", K.FLOAT, note=_TLC_ONLY),
        Column("congestion_surcharge", K.FLOAT, note=_TLC_ONLY),
        Column("airport_fee", K.FLOAT, note=_TLC_ONLY),
        Column("tips", K.FLOAT, note=_TLC_ONLY),
        Column("driver_pay", K.FLOAT, note=_TLC_ONLY),
        Column(
            "shared_request_flag",
            K.STR,
            ("SR_Flag",),
            FLAG,
            note="the course mirror's SR_Flag: 1 or Y",
        ),
        Column("shared_match_flag", K.STR, note=_TLC_ONLY),
        Column("access_a_ride_flag", K.STR, note=_TLC_ONLY),
        Column("wav_request_flag", K.STR, note=_TLC_ONLY),
        Column("wav_match_flag", K.STR, note=_TLC_ONLY),
        Column("cbd_congestion_fee", K.FLOAT, note="from 2025-01"),
        Column(
            "Affiliated_base_number",
            K.STR,
            note="the course mirror's 2021-06 form only (not the TLC's originating base)",
        ),
    ),
    pickup="pickup_datetime",
    dropoff="dropoff_datetime",
    distance="trip_miles",
    fare="base_passenger_fare",
    ignored=("__index_level_0__",),
)

SCHEMAS: dict[Colour, DatasetSchema] = {s.colour: s for s in (YELLOW, GREEN, FHV, FHVHV)}
