"""The DataTalksClub course's transform, kept as the baseline the project is measured against.

The course (discdiver/prefect-zoomcamp, ``flows/02_gcp/etl_web_to_gcs.py``) loads a
whole month with ``pd.read_csv``, parses the two ``tpep_`` datetime columns with
``pd.to_datetime`` and writes ``df.to_parquet(path, compression="gzip")``. This module
does exactly that, except that it finds the colour's own two datetime columns, so the
green (``lpep_``) and fhv files, on which the course code crashes, can be compared too.
Types are whatever pandas guesses, as in the course. Tests and ``benchmarks/`` use it;
the pipeline never does. Run it alone with ``python -m taxi_etl.devtools.reference SRC DST``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

_SUFFIXES = ("pickup_datetime", "dropoff_datetime")
_PREFIXES = {"yellow": "tpep_", "green": "lpep_", "fhv": ""}


def datetime_columns(columns: Sequence[str], colour: str | None = None) -> tuple[str, str]:
    """The file's (pickup, dropoff) column names, matched case-insensitively: ``tpep_``
    for yellow, ``lpep_`` for green, fhv's bare ``pickup_datetime``/``dropOff_datetime``.
    Without a colour, any one column per ``*pickup_datetime``/``*dropoff_datetime``."""
    if colour is not None and colour not in _PREFIXES:
        raise ValueError(f"colour must be one of {sorted(_PREFIXES)}, got {colour!r}")
    found = []
    for suffix in _SUFFIXES:
        if colour is None:
            names = [c for c in columns if c.lower().endswith(suffix)]
        else:
            names = [c for c in columns if c.lower() == _PREFIXES[colour] + suffix]
        if len(names) != 1:
            raise ValueError(f"expected one *{suffix} column, found {names} in {list(columns)}")
        found.append(names[0])
    return found[0], found[1]


def course_transform(src: Path | str, dst: Path | str, colour: str | None = None) -> int:
    """csv.gz -> gzip parquet the course's way, in memory; returns the number of rows."""
    df = pd.read_csv(src)
    for name in datetime_columns(list(df.columns), colour):
        df[name] = pd.to_datetime(df[name])
    df.to_parquet(dst, compression="gzip")
    return len(df)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=course_transform.__doc__)
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--colour", "--color", choices=sorted(_PREFIXES))
    args = parser.parse_args(argv)
    rows = course_transform(args.src, args.dst, args.colour)
    print(f"{args.dst}: {rows:,} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
