"""One canonical Arrow schema per colour, and the map from every known CSV header onto it.

The course code lets pandas guess types per file, so an id column is int64 in one
month and float64 in the next, which breaks BigQuery external tables over the lake.
Here the output schema is fixed per colour: ids and codes are nullable int64 whatever
the file writes (``1``, ``1.0`` or nothing), columns a release lacks are null-filled,
and an unknown header is an error rather than a silent new schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from taxi_etl.params import Colour

SCHEMA_VERSION = 1
TS = pa.timestamp("us")  # TLC times are naive New York local times; BigQuery reads DATETIME
FLAG_COLUMN = "pickup_outside_month"  # added by the transform, see transform/conform.py


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    required: bool = True
    # Integer codes may be written as "1.0"; they are read as float64 and cast exactly.
    is_code: bool = False


_KINDS = {"id": pa.int64(), "ts": TS, "num": pa.float64(), "str": pa.string()}


def _cols(spec: str) -> tuple[Column, ...]:
    """Columns from ``name:kind`` words in file order; a trailing ``?`` marks optional."""
    cols = []
    for word in spec.split():
        name, kind = word.split(":")
        optional = kind.endswith("?")
        kind = kind.rstrip("?")
        cols.append(Column(name, _KINDS[kind], required=not optional, is_code=kind == "id"))
    return tuple(cols)


@dataclass(frozen=True)
class ColourSchema:
    colour: Colour
    columns: tuple[Column, ...]
    pickup: str
    dropoff: str
    distance: str | None = None
    fare: str | None = None
    _lookup: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookup: dict[str, Column] = {}
        for col in self.columns:
            lookup[col.name.lower()] = col
        object.__setattr__(self, "_lookup", lookup)

    @property
    def arrow(self) -> pa.Schema:
        """The parquet schema: the canonical columns plus the out-of-month flag."""
        fields = [pa.field(c.name, c.type) for c in self.columns]
        fields.append(pa.field(FLAG_COLUMN, pa.bool_()))
        meta = {
            b"taxi_etl.schema_version": str(SCHEMA_VERSION).encode(),
            b"taxi_etl.colour": self.colour.value.encode(),
        }
        return pa.schema(fields, metadata=meta)

    def resolve(self, header: list[str]) -> HeaderMap:
        """Map a file's header onto the canonical columns, or fail listing what is off."""
        by_name: dict[str, str] = {}
        unexpected: list[str] = []
        duplicated: list[str] = []
        for raw in header:
            col = self._lookup.get(raw.strip().lower())
            if col is None:
                unexpected.append(raw)
            elif col.name in by_name.values():
                duplicated.append(raw)
            else:
                by_name[raw] = col.name
        present = set(by_name.values())
        missing = [c.name for c in self.columns if c.required and c.name not in present]
        if unexpected or missing or duplicated:
            problems = []
            if unexpected:
                problems.append(f"unexpected columns {unexpected}")
            if missing:
                problems.append(f"missing columns {missing}")
            if duplicated:
                problems.append(f"columns given twice {duplicated}")
            raise SchemaError(
                f"unknown {self.colour.value} header ({'; '.join(problems)}); header was {header}"
            )
        return HeaderMap(self, by_name)


@dataclass(frozen=True)
class HeaderMap:
    """How one file's columns land in the canonical schema."""

    schema: ColourSchema
    source_to_canonical: dict[str, str]

    @property
    def read_types(self) -> dict[str, pa.DataType]:
        """CSV read types keyed by the file's own column names."""
        types = {}
        cols = {c.name: c for c in self.schema.columns}
        for raw, name in self.source_to_canonical.items():
            col = cols[name]
            types[raw] = pa.float64() if col.is_code else col.type
        return types

    @property
    def absent(self) -> list[Column]:
        present = set(self.source_to_canonical.values())
        return [c for c in self.schema.columns if c.name not in present]


class SchemaError(ValueError):
    """A header or value that does not fit the canonical schema."""


# Optional columns were added to the files over time: improvement_surcharge 2015,
# congestion_surcharge 2019, airport_fee 2022 (spelt Airport_fee by the TLC), and
# cbd_congestion_fee 2025. Older files get them as nulls, so every month shares a schema.
YELLOW = ColourSchema(
    Colour.yellow,
    _cols(
        "VendorID:id tpep_pickup_datetime:ts tpep_dropoff_datetime:ts passenger_count:id"
        " trip_distance:num RatecodeID:id store_and_fwd_flag:str PULocationID:id"
        " DOLocationID:id payment_type:id fare_amount:num extra:num mta_tax:num"
        " tip_amount:num tolls_amount:num improvement_surcharge:num? total_amount:num"
        " congestion_surcharge:num? airport_fee:num? cbd_congestion_fee:num?"
    ),
    pickup="tpep_pickup_datetime",
    dropoff="tpep_dropoff_datetime",
    distance="trip_distance",
    fare="fare_amount",
)

GREEN = ColourSchema(
    Colour.green,
    _cols(
        "VendorID:id lpep_pickup_datetime:ts lpep_dropoff_datetime:ts store_and_fwd_flag:str"
        " RatecodeID:id PULocationID:id DOLocationID:id passenger_count:id trip_distance:num"
        " fare_amount:num extra:num mta_tax:num tip_amount:num tolls_amount:num"
        " ehail_fee:num? improvement_surcharge:num? total_amount:num payment_type:id"
        " trip_type:id congestion_surcharge:num? cbd_congestion_fee:num?"
    ),
    pickup="lpep_pickup_datetime",
    dropoff="lpep_dropoff_datetime",
    distance="trip_distance",
    fare="fare_amount",
)

# The mirror spells dropOff_datetime / PUlocationID / DOlocationID; the original 2019
# files (6 columns, no Affiliated_base_number) spell dropoff_datetime / PULocationID.
# Matching is case-insensitive, so both land on the same canonical names.
FHV = ColourSchema(
    Colour.fhv,
    _cols(
        "dispatching_base_num:str pickup_datetime:ts dropoff_datetime:ts PULocationID:id"
        " DOLocationID:id SR_Flag:id Affiliated_base_number:str?"
    ),
    pickup="pickup_datetime",
    dropoff="dropoff_datetime",
)

SCHEMAS: dict[Colour, ColourSchema] = {s.colour: s for s in (YELLOW, GREEN, FHV)}


def for_colour(colour: Colour | str) -> ColourSchema:
    return SCHEMAS[Colour(colour)]
