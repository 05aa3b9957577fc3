"""One month, source -> transform -> lake, as plain functions.

:func:`run_month` runs a month's steps in their one order. The Prefect child flow
passes its steps as tasks, so the chain shows in the UI; a Dask worker or a script
passes the plain ones. Either way the data walks source -> transform -> lake once, and
only small results (a manifest's worth) travel back. What to do with a month is
decided before anything is downloaded (``results.decide``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taxi_etl import quality, source, transform
from taxi_etl.lake import DATA_FILE, EXTRA_FILE, Lake, Manifest, open_lake, partition_key
from taxi_etl.params import Partition, check_exists
from taxi_etl.results import MonthResult, MonthStatus, Verdict, decide
from taxi_etl.schemas import for_colour
from taxi_etl.settings import Settings

__all__ = [
    "PLAIN",
    "MonthResult",
    "MonthStatus",
    "Steps",
    "Transformed",
    "Verdict",
    "decide",
    "load_month",
    "run_month",
]


@dataclass(frozen=True)
class Transformed:
    """A month's parquet in staging, not yet in the lake, what it cannot hold (if
    anything), and what the transform saw."""

    parquet: Path
    stats: transform.TransformStats
    extra: Path | None = None

    def discard(self) -> None:
        """Remove the staging files (published or not, they are no longer needed)."""
        self.parquet.unlink(missing_ok=True)
        if self.extra is not None:
            self.extra.unlink(missing_ok=True)


def url_of(part: Partition, cfg: Settings) -> str:
    return source.url_for(cfg.base_url, part.colour, part.year, part.month, cfg.source)


def probe(part: Partition, cfg: Settings) -> source.Remote:
    """What the host has of the month now; NotPublished if nothing."""
    return source.probe(url_of(part, cfg), cfg.source, cfg.retries())


def lake_of(cfg: Settings) -> Lake:
    """The run's lake, with its storage timeouts."""
    return open_lake(cfg.lake, upload_timeout=cfg.upload_timeout, deadline=cfg.storage_deadline)


def download_path(part: Partition, cfg: Settings) -> Path:
    return source.cache_path(cfg.cache, url_of(part, cfg), cfg.source)


def fetch(part: Partition, cfg: Settings) -> source.Download:
    return source.download(url_of(part, cfg), download_path(part, cfg), cfg.source, cfg.retries())


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
    extra = transform.extra_path(out)
    with _transform_slots(cfg.transform_slots or transform.CONCURRENT):
        stats = transform.convert(
            download.path, out, part.colour, year=part.year, month=part.month, extra=extra
        )
    return Transformed(out, stats, extra if extra.exists() else None)


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
        data_sha256=source.sha256_of(t.parquet),
        extra_bytes=t.extra.stat().st_size if t.extra is not None else None,
        extra_sha256=source.sha256_of(t.extra) if t.extra is not None else None,
        extra=t.stats.extra,
        schema_version=for_colour(part.colour).version,
        flow_run_id=flow_run_id,
        stats=t.stats.as_dict(),
        checks=[c.as_dict() for c in checks],
    )
    uri = lake.publish(part, t.parquet, manifest, t.extra)
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


def settle(lake: Lake, verdict: Verdict, cfg: Settings) -> MonthResult:
    """A month that needs no download: upgraded in place, or left as the lake holds it."""
    if verdict.status is MonthStatus.upgraded:
        return upgrade(lake, verdict, cfg)
    return MonthResult.held(lake, verdict)


def upgrade(lake: Lake, verdict: Verdict, cfg: Settings) -> MonthResult:
    """The partition onto its dataset's current schema, from the lake alone: its data
    and what was kept beside it, rewritten and published as a load publishes."""
    part, held = verdict.part, verdict.manifest
    assert held is not None
    schema = for_colour(part.colour)
    staging = cfg.cache / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    stem = staging / f"{part.colour.value}-{part.ym}-{uuid.uuid4().hex}"
    old, new = stem.with_suffix(".old.parquet"), stem.with_suffix(".parquet")
    extra, rest = stem.with_suffix(".old.arrow"), stem.with_suffix(".arrow")
    try:
        if not lake.fetch(part, DATA_FILE, old):
            raise FileNotFoundError(f"{lake.data_uri(part)} vanished during the upgrade")
        had_extra = held.extra_bytes is not None and lake.fetch(part, EXTRA_FILE, extra)
        done = transform.widen(old, new, schema, extra if had_extra else None)
        kept = transform.drop_taken(extra, done.taken, rest) if had_extra else None
        stats = dict(held.stats)
        stats["nulls"] = {**stats.get("nulls", {}), **done.added}
        stats["columns_null_filled"] = [
            *stats.get("columns_null_filled", []),
            *(c for c, n in done.added.items() if n == done.rows),
        ]
        manifest = held.model_copy(
            update={
                "bytes": done.bytes,
                "data_sha256": source.sha256_of(new),
                "extra_sha256": source.sha256_of(kept) if kept is not None else None,
                "schema_version": schema.version,
                "columns_not_loaded": [c for c in held.columns_not_loaded if c not in done.taken],
                "extra": {c: n for c, n in held.extra.items() if c not in done.taken},
                "extra_bytes": kept.stat().st_size if kept is not None else None,
                "stats": stats,
            }
        )
        uri = lake.publish(part, new, manifest, kept)
    finally:
        for path in (old, new, extra, rest):
            path.unlink(missing_ok=True)
    return MonthResult.of(
        part, MonthStatus.upgraded, rows=done.rows, bytes=done.bytes, uri=uri, reason=verdict.reason
    )


Fetch = Callable[[Partition, Settings, source.Remote], Awaitable[source.Download]]
Transform = Callable[[Partition, source.Download, Settings], Awaitable[Transformed]]
Check = Callable[[Partition, Transformed], Awaitable[list[quality.CheckResult]]]
Publish = Callable[
    [Lake, Verdict, Transformed, list[quality.CheckResult], source.Download, Settings, str | None],
    Awaitable[MonthResult],
]


@dataclass(frozen=True)
class Steps:
    """How the working steps of a month run; their order is :func:`run_month`'s alone.

    The plain steps (:data:`PLAIN`) are this module's functions, each in a thread: a
    Dask worker's, a script's. The child flow passes Prefect tasks instead (the course's
    cached fetch, and the chain in the UI). A ``check`` enforces: a failed *fail* check
    raises, so nothing is published."""

    fetch: Fetch
    transform: Transform
    check: Check
    publish: Publish
    log: Callable[[str], None] = logging.getLogger(__name__).info


async def _fetch(part: Partition, cfg: Settings, remote: source.Remote) -> source.Download:
    return await asyncio.to_thread(fetch, part, cfg)


async def _transform(part: Partition, download: source.Download, cfg: Settings) -> Transformed:
    return await asyncio.to_thread(transform_month, part, download, cfg)


async def _check(part: Partition, t: Transformed) -> list[quality.CheckResult]:
    checks = await asyncio.to_thread(check, part, t)
    quality.enforce(checks, str(part))
    return checks


async def _publish(*args: Any) -> MonthResult:
    return await asyncio.to_thread(publish, *args)


PLAIN = Steps(_fetch, _transform, _check, _publish)


async def run_month(
    part: Partition,
    cfg: Settings,
    steps: Steps = PLAIN,
    *,
    force: bool = False,
    flow_run_id: str | None = None,
    keep_download: bool = True,
) -> MonthResult:
    """A month, source -> transform -> lake: probe, decide, fetch, unchanged, transform,
    check, publish, the one place this order is written. Raises on failure.

    Without `keep_download` the download is deleted when the month is done, so a Dask
    worker's disk holds at most the months it is loading, not the whole backfill.
    """
    check_exists(cfg.source, part.colour, [(part.year, part.month)])
    remote = await asyncio.to_thread(probe, part, cfg)
    # Off the event loop: a gcs-block:// lake loads a Prefect block synchronously.
    lake = await asyncio.to_thread(lake_of, cfg)
    verdict = await asyncio.to_thread(decide, lake, part, remote, cfg, force)
    if not verdict.load:
        steps.log(f"{part}: {verdict.status}" + (f" ({verdict.reason})" if verdict.reason else ""))
        return await asyncio.to_thread(settle, lake, verdict, cfg)
    download = await steps.fetch(part, cfg, remote)
    try:
        same = await asyncio.to_thread(unchanged, lake, verdict, download)
        if same is not None:
            steps.log(f"{part} is unchanged (sha256 {download.sha256[:12]}); skipped")
            return MonthResult.held(lake, Verdict(part, MonthStatus.skipped, same))
        t = await steps.transform(part, download, cfg)
        try:
            checks = await steps.check(part, t)
            return await steps.publish(lake, verdict, t, checks, download, cfg, flow_run_id)
        finally:
            t.discard()
    finally:
        if not keep_download:
            download.path.unlink(missing_ok=True)


def load_month(part: Partition, cfg: Settings, **options: Any) -> MonthResult:
    """:func:`run_month` with the plain steps, from synchronous code (a script, a
    benchmark); the same options."""
    return asyncio.run(run_month(part, cfg, PLAIN, **options))
