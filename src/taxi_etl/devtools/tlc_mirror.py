"""The TLC host's files inside a local mirror root, beside the course mirror's.

The TLC's CloudFront host is flat: ``https://d37ci6vzurychx.cloudfront.net/trip-data/
{dataset}_tripdata_{YYYY}-{MM}.parquet`` and ``.../misc/taxi_zone_lookup.csv``.  A mirror
root keeps the course mirror's files where they are and the TLC's under ``tlc/``::

    {colour}/{colour}_tripdata_YYYY-MM.csv.gz       the course mirror (sample, demo)
    misc/taxi_zone_lookup.csv                        the course's zone copy, dtc-2022
    tlc/trip-data/{dataset}_tripdata_YYYY-MM.parquet the TLC's months (tlc_sample)
    tlc/misc/taxi_zone_lookup.csv                    the TLC's zone file, tlc-2024

Served with ``mirror.serve(root, missing=MISSING)``, the TLC base URL of a mirror at
``http://HOST:PORT`` is :func:`tlc_base_url` ``http://HOST:PORT/tlc/trip-data``, its zone
file is at ``{base}/../misc/taxi_zone_lookup.csv`` as on the real host, and a month not
written answers 403, as CloudFront does for a month not published yet.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from urllib.parse import urljoin

from taxi_etl.devtools import tlc_sample
from taxi_etl.params import ParameterError, parse_months

__all__ = [
    "MISSING", "TRIP_DATA", "ZONE_PATHS", "TlcSet", "republish", "sets_of", "tlc_base_url",
    "tlc_path", "write_tlc_months", "write_zone_files", "zone_url",
]

#: Where the TLC's trip files sit under a mirror root (and a mirror's URL).
TRIP_DATA = "tlc/trip-data"
#: For ``mirror.serve``: CloudFront answers 403, not 404, for a file it does not have.
MISSING = {"/tlc/": 403}
#: Zone lookup revision -> its place under a mirror root.
ZONE_PATHS = {"dtc-2022": "misc/taxi_zone_lookup.csv", "tlc-2024": "tlc/misc/taxi_zone_lookup.csv"}


@dataclass(frozen=True)
class TlcSet:
    """Months of one TLC dataset and year, written ``dataset:year:months[:rows]``
    (``fhvhv:2024:1-3``, ``yellow:2019:3:100000``); without rows, the caller's."""

    dataset: str
    year: int
    months: tuple[int, ...]
    rows: int | None = None

    def __post_init__(self) -> None:
        for month in self.months:
            tlc_sample.era(self.dataset, self.year, month)  # raises ValueError if none
        if not self.months or (self.rows is not None and self.rows < 1):
            raise ValueError("a set needs months, and rows must be positive")

    @classmethod
    def parse(cls, text: str) -> TlcSet:
        try:
            dataset, year, months, *rows = text.split(":")
            if len(rows) > 1:
                raise ValueError("rows must be one positive number")
            months_ = tuple(parse_months([months]))
            return cls(dataset, int(year), months_, int(rows[0]) if rows else None)
        except (ValueError, ParameterError) as exc:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected dataset:year:months[:rows], e.g. fhvhv:2024:1-3 ({exc})"
            ) from None

    def __str__(self) -> str:
        text = f"{self.dataset}:{self.year}:{','.join(map(str, self.months))}"
        return text if self.rows is None else f"{text}:{self.rows}"


def sets_of(months: Iterable[tuple[str, int, int]], rows: int | None = None) -> tuple[TlcSet, ...]:
    """(dataset, year, month) triples as sets, one per dataset and year, in dataset order."""
    order = {d: i for i, d in enumerate(tlc_sample.DATASETS)}
    keyed = sorted(set(months), key=lambda k: (order.get(k[0], len(order)), k[1], k[2]))
    return tuple(
        TlcSet(dataset, year, tuple(m for _, _, m in group), rows)
        for (dataset, year), group in groupby(keyed, key=lambda k: (k[0], k[1]))
    )


def tlc_path(dataset: str, year: int, month: int) -> str:
    """A month's place under a mirror root (and its mirror URL's path), e.g.
    ``tlc/trip-data/green_tripdata_2025-01.parquet``."""
    return f"{TRIP_DATA}/{tlc_sample.file_name(dataset, year, month)}"


def tlc_base_url(mirror_url: str) -> str:
    """The stand-in for ``https://d37ci6vzurychx.cloudfront.net/trip-data``."""
    return f"{mirror_url.rstrip('/')}/{TRIP_DATA}"


def zone_url(base_url: str) -> str:
    """The TLC zone file of a TLC base URL: ``{base}/../misc/taxi_zone_lookup.csv``,
    resolved (the mirror, like a careful server, refuses ``..`` in a path)."""
    return urljoin(base_url.rstrip("/") + "/", "../misc/taxi_zone_lookup.csv")


def write_tlc_months(root: Path, sets: Sequence[TlcSet], rows: int) -> list[Path]:
    """Write every month of `sets` that is not already under `root` (a set's own rows,
    else `rows`); return the new files.  The seed is the month, so a file that is there
    is the same file, and is kept."""
    written = []
    for tlc_set in sets:
        for month in tlc_set.months:
            path = Path(root) / tlc_path(tlc_set.dataset, tlc_set.year, month)
            if path.is_file():
                continue
            n = tlc_set.rows if tlc_set.rows is not None else rows
            tlc_sample.generate_month(path, tlc_set.dataset, tlc_set.year, month, n, seed=month)
            written.append(path)
    return written


def republish(root: Path, dataset: str, year: int, month: int, rows: int, revision: int) -> Path:
    """Rewrite a month in place with other values (`revision` >= 1 picks them), as the TLC
    republishes files: the mirror gives it a new ETag and Last-Modified at once."""
    if revision < 1:
        raise ValueError(f"revision must be >= 1 (0 is the first publication), got {revision}")
    path = Path(root) / tlc_path(dataset, year, month)
    tlc_sample.generate_month(path, dataset, year, month, rows, seed=month + 100 * revision)
    return path


def write_zone_files(root: Path) -> list[Path]:
    """Write each zone lookup revision at its place (:data:`ZONE_PATHS`) unless it is
    there; return the new files."""
    written = []
    for revision, place in ZONE_PATHS.items():
        path = Path(root) / place
        if not path.is_file():
            tlc_sample.write_zone_lookup(path, revision)
            written.append(path)
    return written
