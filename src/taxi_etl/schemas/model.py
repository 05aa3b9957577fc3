"""How a canonical schema is described, and how a file's columns are matched to it.

A dataset's schema is a list of canonical columns, each with a kind (its one Arrow
type), the other names it has gone by in any era or source, and, for codes the old
files wrote as text, a code table. A file's columns are matched by name, trimmed,
unquoted and case-insensitively, so ``Airport_fee``, ``airport_fee`` and 2014's
`` airport_fee`` are the same column.

What a file holds beyond the schema is never silently lost: columns the schema knows
to drop (a leaked pandas index) are listed as ignored, and columns it does not know at
all are listed as unknown: their values are kept beside the partition (see
``transform/extra.py``), the manifest names them and the quality checks warn about
them. What a file lacks is null-filled, unless the schema needs it to recognise the
dataset at all (its required columns): then the file is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import pyarrow as pa

from taxi_etl.params import Colour

FLAG_COLUMN = "pickup_outside_month"  # added by the transform, see transform/conform.py
#: TLC times are naive New York local times; BigQuery reads them as DATETIME.
TS = pa.timestamp("us")


class Kind(StrEnum):
    """A canonical column's one type, whatever the files wrote: every integer id, code
    and count is a nullable int64, every timestamp microseconds."""

    INT = "int"
    FLOAT = "float"
    STR = "str"
    TS = "ts"

    @property
    def arrow(self) -> pa.DataType:
        return _ARROW[self.value]


_ARROW = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "ts": TS}


class SchemaError(ValueError):
    """A file or value that does not fit the canonical schema."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    #: Other names of the column in any era or source (matched case-insensitively).
    aliases: tuple[str, ...] = ()
    #: Text codes (and 0/1 flags) onto the data dictionary's values; matched
    #: case-insensitively after stripping. A value not in the table becomes null and
    #: is counted.
    codes: Mapping[str, int | str] | None = None
    #: Needed to recognise a file as this dataset; a file without it is refused.
    required: bool = False
    #: Aliases that win when a file also has a column of this column's own name: fhv
    #: 2018 has both ``Dispatching_base_number`` (the base) and an empty
    #: ``Dispatching_base_num``, which is then kept beside the partition as unknown.
    prevails: tuple[str, ...] = ()
    #: For the docs: when and where the column has values (None: every month).
    note: str | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        return self.kind.arrow


@dataclass(frozen=True)
class DatasetSchema:
    colour: Colour
    #: Bumped when the dataset's columns change. A partition of an older version is
    #: widened in place when its source had none of the new columns, else reloaded, so
    #: every partition of a dataset has one schema (pipeline.decide).
    version: int
    columns: tuple[Column, ...]
    pickup: str
    dropoff: str
    distance: str | None = None
    fare: str | None = None
    #: Source columns dropped by design (listed in the manifest, never warned about).
    ignored: tuple[str, ...] = ()
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookup: dict[str, Column] = {}
        for col in self.columns:
            for name in (col.name, *col.aliases):
                if lookup.get(name.lower(), col) is not col:
                    raise ValueError(f"{self.colour}: {name!r} names two columns")
                lookup[name.lower()] = col
        object.__setattr__(self, "_by_name", lookup)

    @property
    def arrow(self) -> pa.Schema:
        """The parquet schema: the canonical columns plus the out-of-month flag."""
        fields = [pa.field(c.name, c.arrow_type) for c in self.columns]
        fields.append(pa.field(FLAG_COLUMN, pa.bool_()))
        meta = {
            b"taxi_etl.schema_version": str(self.version).encode(),
            b"taxi_etl.colour": self.colour.value.encode(),
        }
        return pa.schema(fields, metadata=meta)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def lookup(self, name: str) -> Column | None:
        """The canonical column a source name stands for, if any era knows it."""
        return self._by_name.get(normalise(name).lower())

    def resolve(self, names: Sequence[str]) -> ColumnMap:
        """Match a file's column names to the canonical columns, or refuse the file."""
        by_name: dict[str, str] = {}
        unknown: list[str] = []
        ignored: list[str] = []
        duplicated: list[str] = []
        drop = {n.lower() for n in self.ignored}
        winners = {
            a.lower(): c.name for c in self.columns for a in c.prevails if _has(names, a)
        }
        for raw in names:
            key = normalise(raw).lower()
            col = self._by_name.get(key)
            if col is None:
                (ignored if key in drop else unknown).append(raw)
            elif col.name in winners.values() and winners.get(key) != col.name:
                unknown.append(raw)  # displaced by the alias that prevails in this era
            elif col.name in by_name.values():
                duplicated.append(raw)
            else:
                by_name[raw] = col.name
        missing = [c.name for c in self.columns if c.required and c.name not in by_name.values()]
        if missing or duplicated:
            problems = [f"missing columns {missing}"] if missing else []
            if duplicated:
                problems.append(f"columns given twice {duplicated}")
            if unknown:
                problems.append(f"unexpected columns {unknown}")
            what = "; ".join(problems)
            seen = list(names)
            raise SchemaError(f"not a {self.colour.value} file ({what}); its columns: {seen}")
        return ColumnMap(self, by_name, unknown, ignored)


def normalise(name: str) -> str:
    """A header name as matched: trimmed, and unquoted (fhv 2017-07..2018-12 quote
    theirs; 2014 puts a space after each comma)."""
    return name.strip().strip('"').strip()


def _has(names: Sequence[str], alias: str) -> bool:
    return any(normalise(n).lower() == alias.lower() for n in names)


@dataclass(frozen=True)
class ColumnMap:
    """How one file's columns land in the canonical schema."""

    schema: DatasetSchema
    source_to_canonical: dict[str, str]
    #: Source columns no era of the schema knows: kept beside the partition, listed,
    #: warned about.
    unknown: list[str]
    #: Source columns the schema drops by design.
    ignored: list[str]

    @property
    def canonical_to_source(self) -> dict[str, str]:
        return {c: raw for raw, c in self.source_to_canonical.items()}

    @property
    def absent(self) -> list[Column]:
        present = set(self.source_to_canonical.values())
        return [c for c in self.schema.columns if c.name not in present]

    @property
    def not_loaded(self) -> list[str]:
        """Every source column that is not in the partition."""
        return [*self.ignored, *self.unknown]
