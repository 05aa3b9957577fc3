"""One month, source -> transform -> lake, as plain functions.

The Prefect child flow wraps each step in a task so the chain shows in the UI; a Dask
worker or a plain script calls :func:`load_month`, which runs the same steps in one
place. Either way the data walks source -> transform -> lake once, and only small
results (a manifest's worth) travel back.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from taxi_etl import quality, source, transform
from taxi_etl.lake import Lake, Manifest, open_lake, partition_key
from taxi_etl.params import Colour, Partition
from taxi_etl.schemas import SCHEMA_VERSION
from taxi_etl.settings import Settings


class MonthStatus(StrEnum):
    """How a month ended; a parent run fails on the last two."""

    loaded = "loaded"  # published from a fresh transform
    skipped = "skipped"  # the lake already held it, complete and current
    failed = "failed"
    not_published = "not_published"  # the source does not have the month (yet)


class MonthResult(BaseModel):
    """One month's outcome, small enough to travel back to the parent."""

    colour: Colour
    year: int
    month: int
    status: MonthStatus
    rows: int | None = None
    bytes: int | None = None
    outside_month: int | None = None
    uri: str | None = None
    warnings: list[str] = Field(default_factory=list)
    error: str | None = None

    @property
    def partition(self) -> Partition:
        return Partition(self.colour, self.year, self.month)

    @classmethod
    def of(cls, part: Partition, status: MonthStatus, **fields: Any) -> MonthResult:
        return cls(colour=part.colour, year=part.year, month=part.month, status=status, **fields)

    @classmethod
    def skipped(cls, lake: Lake, part: Partition, manifest: Manifest) -> MonthResult:
        return cls.of(
            part,
            MonthStatus.skipped,
            rows=manifest.rows,
            bytes=manifest.bytes,
            uri=lake.data_uri(part),
        )

    @classmethod
    def failed(cls, part: Partition, exc: BaseException) -> MonthResult:
        unpublished = isinstance(exc, source.NotPublished)
        status = MonthStatus.not_published if unpublished else MonthStatus.failed
        return cls.of(part, status, error=f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Transformed:
    """A month's parquet in staging, not yet in the lake, and what the transform saw."""

    parquet: Path
    stats: transform.TransformStats


def fetch(part: Partition, cfg: Settings) -> source.Download:
    url = source.url_for(cfg.source_url, part.colour, part.year, part.month)
    dest = source.cache_path(cfg.cache, part.colour, part.year, part.month)
    return source.download(url, dest, timeout=cfg.download_timeout, attempts=cfg.download_attempts)


def current(lake: Lake, part: Partition, download: source.Download, force: bool) -> Manifest | None:
    """The manifest to keep, if the lake already holds this exact source (and no force)."""
    return None if force else lake.current(part, download.sha256)


@functools.cache
def _transform_slots(n: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(n)


def transform_month(part: Partition, download: source.Download, cfg: Settings) -> Transformed:
    """Waits for a transform slot: months in flight (downloads, uploads) may outnumber
    the transforms the cores can run, so one month's download overlaps another's
    transform instead of every month doing the same step at the same time."""
    staging = cfg.cache / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    out = staging / f"{part.colour.value}-{part.ym}-{uuid.uuid4().hex}.parquet"
    with _transform_slots(cfg.transform_slots or transform.CONCURRENT):
        stats = transform.convert(download.path, out, part.colour, year=part.year, month=part.month)
    return Transformed(out, stats)


def check(part: Partition, t: Transformed) -> list[quality.CheckResult]:
    return quality.run_checks(t.stats, t.parquet)


def publish(
    lake: Lake,
    part: Partition,
    t: Transformed,
    checks: list[quality.CheckResult],
    download: source.Download,
    flow_run_id: str | None,
) -> MonthResult:
    """Data first, then the manifest that marks the partition complete."""
    manifest = Manifest(
        partition=partition_key(part),
        source_url=download.url,
        source_sha256=download.sha256,
        source_bytes=download.bytes,
        rows=t.stats.rows,
        bytes=t.stats.bytes,
        schema_version=SCHEMA_VERSION,
        flow_run_id=flow_run_id,
        stats=t.stats.as_dict(),
        checks=[c.as_dict() for c in checks],
    )
    uri = lake.publish(part, t.parquet, manifest)
    return MonthResult.of(
        part,
        MonthStatus.loaded,
        rows=t.stats.rows,
        bytes=t.stats.bytes,
        outside_month=t.stats.outside_month,
        uri=uri,
        warnings=[c.name for c in checks if not c.passed],
    )


#: Called with a month's check results before they are enforced (the Dask task
#: publishes them as the same artifact the child flow does).
OnChecks = Callable[[Partition, list[quality.CheckResult], transform.TransformStats], None]


def load_month(
    part: Partition,
    cfg: Settings,
    *,
    force: bool = False,
    flow_run_id: str | None = None,
    on_checks: OnChecks | None = None,
    keep_download: bool = True,
) -> MonthResult:
    """Every step for one month, in one process; raises on failure like the child flow.

    Without `keep_download` the csv.gz is deleted when the month is done, so a Dask
    worker's disk holds at most the months it is loading, not the whole backfill.
    """
    download = fetch(part, cfg)
    try:
        lake = open_lake(cfg.lake, upload_timeout=cfg.upload_timeout)
        kept = current(lake, part, download, force)
        if kept is not None:
            return MonthResult.skipped(lake, part, kept)
        t = transform_month(part, download, cfg)
        try:
            checks = check(part, t)
            if on_checks is not None:
                on_checks(part, checks, t.stats)
            quality.enforce(checks, str(part))
            return publish(lake, part, t, checks, download, flow_run_id)
        finally:
            t.parquet.unlink(missing_ok=True)
    finally:
        if not keep_download:
            download.path.unlink(missing_ok=True)
