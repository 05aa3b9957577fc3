"""One canonical Arrow schema per dataset, and every era's and source's names for its
columns, as data (``datasets``, ``codes``), read by one small model (``model``).

The course code lets pandas guess types per file, and the TLC's own parquet files
drift between eras (int32/int64/double ids, null-typed empty columns, text datetimes,
renamed columns), so a month read as-is has a schema of its own, which breaks BigQuery,
Spark, Polars and DuckDB over more than one month. Here every month of a dataset is
written in its one schema.
"""

from __future__ import annotations

from taxi_etl.params import Colour
from taxi_etl.schemas.datasets import SCHEMAS
from taxi_etl.schemas.model import (
    FLAG_COLUMN,
    TS,
    Column,
    ColumnMap,
    DatasetSchema,
    Kind,
    SchemaError,
    normalise,
)

__all__ = [
    "FLAG_COLUMN",
    "SCHEMAS",
    "TS",
    "Column",
    "ColumnMap",
    "DatasetSchema",
    "Kind",
    "SchemaError",
    "for_colour",
    "normalise",
]


def for_colour(colour: Colour | str) -> DatasetSchema:
    return SCHEMAS[Colour(colour)]
