"""Is the lake what its manifests say? The checks a run cannot make as it loads.

A run trusts a partition whose manifest matches its data's size; damage that keeps
the size (a bad sector, a hand) was ``skipped`` and stayed unreadable for every
reader, and a hand-edited manifest was believed. Here every partition is checked:

* cheap (:func:`problems` with ``full=False``; every run makes them on the months it
  leaves as they are, so damage never hides behind "skipped"): the manifest parses,
  the data is there at its recorded size, its footer is parquet, in the dataset's
  schema, with the manifest's row count, and the extra file is what it records;
* full (``taxi-etl verify``): also the sha256 of the data and extra file;
* deep (``--deep``): also every row group decoded.

Orphans (temporary files, a publish's leftovers, data without a manifest, staging
files and partial downloads in the cache) are listed; ``--repair`` removes them and
moves damaged partitions out of readers' way, and the next run loads those again.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from taxi_etl import source
from taxi_etl.lake import (
    DATA_FILE,
    EXTRA_FILE,
    MANIFEST_FILE,
    PENDING_FILE,
    QUARANTINE,
    Lake,
    Manifest,
    ManifestDamaged,
    partition_key,
)
from taxi_etl.params import Colour, Partition
from taxi_etl.schemas import for_colour

_PART = re.compile(r"^colour=(\w+)/year=(\d{4})/month=(\d{2})/(.+)$")
_KNOWN = {DATA_FILE, MANIFEST_FILE, EXTRA_FILE}


def problems(lake: Lake, part: Partition, held: Manifest, *, full: bool) -> list[str]:
    """What is wrong with a partition its manifest vouches for by size (empty: none)."""
    schema = for_colour(part.colour)
    found: list[str] = []
    try:
        footer = lake.footer(part)
    except ValueError as exc:
        return [f"data: {exc}"]
    if footer.num_rows != held.rows:
        found.append(f"rows: the data has {footer.num_rows:,}, the manifest says {held.rows:,}")
    written = footer.schema.to_arrow_schema()
    if held.schema_version == schema.version and not written.equals(schema.arrow):
        found.append(f"schema: not the {part.colour.value} schema v{schema.version}")
    key = partition_key(part)
    extra = dict(lake.objects(key)).get(f"{key}/{EXTRA_FILE}")
    if extra != held.extra_bytes:
        found.append(f"extra file: {extra} bytes, the manifest says {held.extra_bytes}")
    if full:
        found += _checksums(lake, part, held)
    return found


def _checksums(lake: Lake, part: Partition, held: Manifest) -> list[str]:
    found = []
    with tempfile.TemporaryDirectory(prefix="taxi-etl-verify-") as tmp:
        for leaf, want in ((DATA_FILE, held.data_sha256), (EXTRA_FILE, held.extra_sha256)):
            local = Path(tmp) / leaf
            if want is None or not lake.fetch(part, leaf, local):
                continue
            got = source.sha256_of(local)
            if got != want:
                found.append(f"{leaf}: sha256 {got[:12]}, the manifest says {want[:12]}")
            local.unlink()
    return found


def _decodes(lake: Lake, part: Partition) -> list[str]:
    """Every row group of the data decoded: damage inside a page, where no checksum
    was recorded (manifests before data_sha256)."""
    with tempfile.TemporaryDirectory(prefix="taxi-etl-verify-") as tmp:
        local = Path(tmp) / DATA_FILE
        lake.fetch(part, DATA_FILE, local)
        try:
            data = pq.ParquetFile(local, page_checksum_verification=True)
            for i in range(data.num_row_groups):
                data.read_row_group(i)
        except Exception as exc:  # whatever Arrow raises for a damaged page
            return [f"data: row group unreadable ({type(exc).__name__}: {exc})"]
    return []


@dataclass
class Report:
    partitions: int = 0
    #: partition key -> what is wrong with it.
    bad: dict[str, list[str]] = field(default_factory=dict)
    #: Objects in the lake, and files in the cache, that nothing vouches for.
    orphans: list[str] = field(default_factory=list)
    #: Partitions of an older schema version (upgraded in place by the next run).
    older: list[str] = field(default_factory=list)
    #: Publishes that stopped after their data: the pending manifest vouches for it,
    #: and the next run (or --repair) makes it the manifest.
    unfinished: list[str] = field(default_factory=list)
    #: Objects --repair moved out of readers' way, kept for a look.
    quarantined: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.bad and not self.orphans


def verify(
    lake: Lake, colours: list[Colour], *, deep: bool = False, cache: Path | None = None
) -> Report:
    report = Report()
    wanted = {c.value for c in colours}
    names: dict[str, set[str]] = {}
    for name, _size in lake.objects():
        m = _PART.match(name)
        if m is not None and m.group(1) in wanted:  # zones and the rest are not partitions
            folder, _, leaf = name.rpartition("/")
            names.setdefault(folder, set()).add(leaf)
    for folder, leaves in sorted(names.items()):
        part = _partition(folder)
        report.partitions += 1
        _check(lake, part, leaves, deep, report)
        known = _KNOWN | ({PENDING_FILE} if folder in report.unfinished else set())
        for leaf in sorted(leaves - known):
            kept = leaf.startswith(QUARANTINE)
            (report.quarantined if kept else report.orphans).append(f"{lake.uri}/{folder}/{leaf}")
    if cache is not None:
        report.orphans += [str(p) for p in _cache_orphans(cache)]
    return report


def _partition(key: str) -> Partition:
    m = _PART.match(f"{key}/x")
    assert m is not None, key
    return Partition(Colour(m.group(1)), int(m.group(2)), int(m.group(3)))


def _check(lake: Lake, part: Partition, leaves: set[str], deep: bool, report: Report) -> None:
    key = partition_key(part)
    try:
        manifest = lake.read_manifest(part)
        vouched = lake.loaded(part, finish=False)
    except ManifestDamaged as exc:
        report.bad[key] = [str(exc)]
        return
    if vouched is None:
        if DATA_FILE in leaves:
            size, want = lake.data_size(part), manifest.bytes if manifest else None
            report.bad[key] = [f"data ({size} bytes) that no manifest vouches for ({want})"]
        elif manifest is not None:
            report.bad[key] = ["a manifest without data"]
        return
    if manifest is None or vouched.bytes != manifest.bytes:
        report.unfinished.append(key)
    found = problems(lake, part, vouched, full=True)
    if deep and not found:
        found = _decodes(lake, part)
    if found:
        report.bad[key] = found
    elif vouched.schema_version < for_colour(part.colour).version:
        report.older.append(key)


def _cache_orphans(cache: Path) -> list[Path]:
    """What a killed run left in the cache: staging parquet and partial downloads."""
    staged = list((cache / "staging").glob("*")) if (cache / "staging").is_dir() else []
    partial = list(cache.rglob(".*.part")) if cache.is_dir() else []
    return sorted(p for p in [*staged, *partial] if p.is_file())


def repair(lake: Lake, report: Report, cache: Path | None = None) -> None:
    """Finish the stopped publishes, move the damaged partitions out of readers' way
    (the next run loads them again), and remove the orphans."""
    for key in report.unfinished:
        if key not in report.bad:
            lake.loaded(_partition(key), finish=True)
    for key in report.bad:
        present = {name.rpartition("/")[2] for name, _ in lake.objects(key)}
        lake.quarantine(_partition(key), sorted(present & (_KNOWN | {PENDING_FILE})))
    for orphan in report.orphans:
        if orphan.startswith(lake.uri + "/"):
            lake.remove(orphan)
        elif cache is not None:
            Path(orphan).unlink(missing_ok=True)
