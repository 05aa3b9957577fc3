"""One month, source -> transform -> lake, as plain functions.

The Prefect child flow wraps each step in a task so the chain shows in the UI; a Dask
worker or a plain script calls :func:`load_month`, which runs the same steps in one
place. Either way the data walks source -> transform -> lake once, and only small
results (a manifest's worth) travel back.

Freshness: before anything is downloaded, the host is asked what it has now (one
HEAD) and the answer is compared with what the partition's manifest recorded. Only a
month that is new, was republished, or was written under an older schema is
downloaded and loaded again. A month the lake holds from the other source is kept
unless ``force``: the course mirror and the TLC's files differ (rows, columns), so
switching one silently would change counts a user relies on; either way a month is
in the lake once.
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

    loaded = "loaded"  # new in the lake
    reloaded = "reloaded"  # replaced: republished by its host, an older schema, or forced
    skipped = "skipped"  # the lake holds this exact version
    kept = "kept"  # the lake holds it from the other source (force replaces it)
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
    #: Why a month was reloaded or kept, in words.
    reason: str | None = None
    warnings: list[str] = Field(default_factory=list)
    error: str | None = None

    @property
    def partition(self) -> Partition:
        return Partition(self.colour, self.year, self.month)

    @classmethod
    def of(cls, part: Partition, status: MonthStatus, **fields: Any) -> MonthResult:
        return cls(colour=part.colour, year=part.year, month=part.month, status=status, **fields)

    @classmethod
    def held(cls, lake: Lake, verdict: Verdict) -> MonthResult:
        """A month left as the lake holds it (unchanged, or from the other source)."""
        assert verdict.manifest is not None
        return cls.of(
            verdict.part,
            verdict.status,
            rows=verdict.manifest.rows,
            bytes=verdict.manifest.bytes,
            uri=lake.data_uri(verdict.part),
            reason=verdict.reason,
        )

    @classmethod
    def failed(cls, part: Partition, exc: BaseException) -> MonthResult:
        unpublished = isinstance(exc, source.NotPublished)
        status = MonthStatus.not_published if unpublished else MonthStatus.failed
        return cls.of(part, status, error=f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Verdict:
    """What to do with a month, from its manifest and what its host says now."""

    part: Partition
    #: What the month's result will say: loaded, reloaded, or skipped/kept (no work).
    status: MonthStatus
    manifest: Manifest | None = None
    reason: str | None = None
    #: The manifest records no version, so only the file's sha256 can tell: download,
    #: and skip if it is the same.
    compare_sha: bool = False

    @property
    def load(self) -> bool:
        return self.status in (MonthStatus.loaded, MonthStatus.reloaded)


@dataclass(frozen=True)
class Transformed:
    """A month's parquet in staging, not yet in the lake, and what the transform saw."""

    parquet: Path
    stats: transform.TransformStats


def url_of(part: Partition, cfg: Settings) -> str:
    return source.url_for(cfg.base_url, part.colour, part.year, part.month, cfg.source)


def probe(part: Partition, cfg: Settings) -> source.Remote:
    """What the host has of the month now; NotPublished if nothing."""
    retries = source.Retries(cfg.download_timeout, cfg.download_attempts)
    return source.probe(url_of(part, cfg), cfg.source, retries)


def decide(
    lake: Lake, part: Partition, remote: source.Remote, cfg: Settings, force: bool
) -> Verdict:
    """Load, reload, or leave the month as the lake holds it."""
    held = lake.loaded(part)
    if held is None:
        return Verdict(part, MonthStatus.loaded)
    if force:
        return Verdict(part, MonthStatus.reloaded, held, "forced")
    if held.source is not cfg.source:
        why = f"loaded from {held.source.value}; force replaces it with {cfg.source.value}"
        return Verdict(part, MonthStatus.kept, held, why)
    if held.schema_version < SCHEMA_VERSION:
        why = f"schema v{held.schema_version} -> v{SCHEMA_VERSION}"
        return Verdict(part, MonthStatus.reloaded, held, why)
    if remote.same_version(held.source_etag, held.source_last_modified, held.source_bytes):
        return Verdict(part, MonthStatus.skipped, held)
    if remote.known and (held.source_etag or held.source_last_modified):
        was = held.source_etag or held.source_last_modified
        now = remote.etag or remote.last_modified
        return Verdict(part, MonthStatus.reloaded, held, f"republished ({was} -> {now})")
    return Verdict(part, MonthStatus.reloaded, held, "republished (sha256)", compare_sha=True)


def download_path(part: Partition, cfg: Settings) -> Path:
    return source.cache_path(cfg.cache, part.colour, part.year, part.month, cfg.source)


def fetch(part: Partition, cfg: Settings) -> source.Download:
    return source.download(
        url_of(part, cfg),
        download_path(part, cfg),
        cfg.source,
        timeout=cfg.download_timeout,
        attempts=cfg.download_attempts,
    )


def unchanged(lake: Lake, verdict: Verdict, download: source.Download) -> Manifest | None:
    """For a manifest without a version: if the download is the file it was loaded
    from, record the host's version in it (so the next run need not download) and
    return it; None if the file changed."""
    held = verdict.manifest
    if not verdict.compare_sha or held is None or held.source_sha256 != download.sha256:
        return None
    updated = held.model_copy(
        update={"source_etag": download.etag, "source_last_modified": download.last_modified}
    )
    lake.record(verdict.part, updated)
    return updated


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
    verdict: Verdict,
    t: Transformed,
    checks: list[quality.CheckResult],
    download: source.Download,
    cfg: Settings,
    flow_run_id: str | None,
) -> MonthResult:
    """Data first, then the manifest that marks the partition complete."""
    part = verdict.part
    manifest = Manifest(
        partition=partition_key(part),
        source=cfg.source,
        source_url=download.url,
        source_sha256=download.sha256,
        source_bytes=download.bytes,
        source_etag=download.etag,
        source_last_modified=download.last_modified,
        columns_not_loaded=t.stats.columns_not_loaded,
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
        verdict.status,
        rows=t.stats.rows,
        bytes=t.stats.bytes,
        outside_month=t.stats.outside_month,
        uri=uri,
        reason=verdict.reason,
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

    Without `keep_download` the download is deleted when the month is done, so a Dask
    worker's disk holds at most the months it is loading, not the whole backfill.
    """
    lake = open_lake(cfg.lake, upload_timeout=cfg.upload_timeout)
    verdict = decide(lake, part, probe(part, cfg), cfg, force)
    if not verdict.load:
        return MonthResult.held(lake, verdict)
    download = fetch(part, cfg)
    try:
        same = unchanged(lake, verdict, download)
        if same is not None:
            return MonthResult.held(lake, Verdict(part, MonthStatus.skipped, same))
        t = transform_month(part, download, cfg)
        try:
            checks = check(part, t)
            if on_checks is not None:
                on_checks(part, checks, t.stats)
            quality.enforce(checks, str(part))
            return publish(lake, verdict, t, checks, download, cfg, flow_run_id)
        finally:
            t.parquet.unlink(missing_ok=True)
    finally:
        if not keep_download:
            download.path.unlink(missing_ok=True)
