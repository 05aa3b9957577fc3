"""``docs/schemas.md``, rendered from the schemas themselves, so the page cannot drift
from the code: ``python -m taxi_etl.devtools.schema_docs > docs/schemas.md`` (a test
checks that the committed page is what this prints).
"""

from __future__ import annotations

import sys

from taxi_etl.devtools import sample, tlc_eras, tlc_sample
from taxi_etl.schemas import FLAG_COLUMN, SCHEMAS, Column, DatasetSchema
from taxi_etl.schemas.codes import FLAG, PAYMENT, VENDOR

_CODE_TABLES = {id(VENDOR): "vendor", id(PAYMENT): "payment", id(FLAG): "flag"}
_TYPES = {"int": "int64", "float": "double", "str": "string", "ts": "timestamp[us]"}


def _row(col: Column) -> str:
    names = ", ".join(f"`{a}`" for a in col.aliases) or ""
    codes = f"text codes: {_CODE_TABLES[id(col.codes)]} table" if col.codes else ""
    notes = "; ".join(n for n in (col.note, codes) if n)
    required = "yes" if col.required else ""
    return f"| `{col.name}` | {_TYPES[col.kind.value]} | {names} | {required} | {notes} |"


def _mapping(source: str, names: list[str], schema: DatasetSchema) -> str:
    """One era's or source's file onto the schema, by the mapping the transform uses."""
    cmap = schema.resolve(names)
    renamed = ", ".join(f"`{raw}`→`{c}`" for raw, c in cmap.source_to_canonical.items() if raw != c)
    absent = ", ".join(f"`{c.name}`" for c in cmap.absent)
    dropped = ", ".join(f"`{n}`" for n in cmap.not_loaded)
    return f"| {source} | {renamed or 'none'} | {absent or 'none'} | {dropped or 'none'} |"


def _eras(schema: DatasetSchema) -> list[str]:
    dataset = schema.colour.value
    lines = [
        f"How each era's files land in it (from `{dataset}`'s file footers and headers; the "
        "eras are in [sources.md](sources.md)):",
        "",
        "| era (from) | renamed | null-filled | not loaded |",
        "|---|---|---|---|",
    ]
    firsts = [(first, era) for first, era, _ in tlc_eras.ERAS[dataset]]
    for (year, month), era in firsts + [((2010, 2), "yellow-2010")] * (dataset == "yellow"):
        names = tlc_sample.source_schema(dataset, year, month).names
        lines.append(_mapping(f"tlc {era} ({year}-{month:02d})", names, schema))
    for key in (k for k in sample.HEADERS if k.split("_")[0] == dataset):
        lines.append(_mapping(f"dtc csv.gz `{key}` header", sample.HEADERS[key], schema))
    return [*lines, ""]


def _codes() -> list[str]:
    lines = ["## Code tables", ""]
    for name, table in (("vendor", VENDOR), ("payment", PAYMENT), ("flag", FLAG)):
        pairs = ", ".join(f"`{k}` → {v}" for k, v in table.items())
        lines.append(f"- **{name}**: {pairs}; anything else is null and counted.")
    return lines


def render() -> str:
    lines = [
        "# Canonical schemas",
        "",
        "<!-- Rendered by `python -m taxi_etl.devtools.schema_docs`; do not edit. -->",
        "",
        "One schema per dataset for every month, from the course mirror (`dtc`), the TLC's "
        "own files (`tlc`) or its original csv files (`tlc-csv`). A file's columns are "
        "matched by name (trimmed, unquoted, case-insensitively) to a canonical column or "
        "one of its other names; what a month lacks is null. Every partition also has the "
        f"boolean `{FLAG_COLUMN}`. What a partition cannot hold is kept beside it in "
        "`_extra.arrow`, row for row, as the source wrote it: a column no era knows (also "
        "named in the manifest's `columns_not_loaded` and warned about by the "
        "`unknown_columns` check), a code with no data-dictionary value, a timestamp's "
        "digits below the microsecond.",
        "",
    ]
    for schema in SCHEMAS.values():
        lines += [
            f"## {schema.colour.value}",
            "",
            f"Schema version {schema.version}.",
            "",
            "| column | type | other names (eras, sources) | required | notes |",
            "|---|---|---|---|---|",
            *(_row(c) for c in schema.columns),
            "",
        ]
        if schema.ignored:
            dropped = ", ".join(f"`{n}`" for n in schema.ignored)
            lines += [f"Dropped by design: {dropped}.", ""]
        lines += _eras(schema)
    return "\n".join([*lines, *_codes(), ""])


if __name__ == "__main__":
    sys.stdout.write(render())
