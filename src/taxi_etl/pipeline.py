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
from pathlib import Path

from taxi_etl import quality, source, transform
from taxi_etl.lake import DATA_FILE, EXTRA_FILE, Lake, Manifest, open_lake, partition_key
from taxi_etl.params import Partition
from taxi_etl.results import MonthResult, MonthStatus, Verdict
from taxi_etl.schemas import DatasetSchema, for_colour
from taxi_etl.settings import Settings

__all__ = ["MonthResult", "MonthStatus", "Transformed", "Verdict", "decide", "load_month"]


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
    retries = source.Retries(cfg.download_timeout, cfg.download_attempts)
    return source.probe(url_of(part, cfg), cfg.source, retries)


def decide(
    lake: Lake, part: Partition, remote: source.Remote, cfg: Settings, force: bool
) -> Verdict:
    """Load, reload, upgrade, or leave the month as the lake holds it.

    A partition of an older schema version is upgraded in place (its new columns null,
    or taken from what was kept beside it), unless its source had one of the new
    columns and nothing kept it: then it is reloaded, from its own source only."""
    held = lake.loaded(part)
    if held is None:
        return Verdict(part, MonthStatus.loaded)
    if force:
        return Verdict(part, MonthStatus.reloaded, held, "forced")
    schema = for_colour(part.colour)
    version = schema.version
    older = held.schema_version < version
    upgrade = Verdict(
        part, MonthStatus.upgraded, held, f"schema v{held.schema_version} -> v{version}"
    )
    if held.source is not cfg.source:
        why = f"loaded from {held.source.value}; force replaces it with {cfg.source.value}"
        return upgrade if older else Verdict(part, MonthStatus.kept, held, why)
    lost = lost_columns(held, schema)
    if lost:
        why = f"its source's {', '.join(lost)} has a column now"
        return Verdict(part, MonthStatus.reloaded, held, why)
    if remote.same_version(held.source_etag, held.source_last_modified, held.source_bytes):
        return upgrade if older else Verdict(part, MonthStatus.skipped, held)
    if remote.known and (held.source_etag or held.source_last_modified):
        was = held.source_etag or held.source_last_modified
        now = remote.etag or remote.last_modified
        return Verdict(part, MonthStatus.reloaded, held, f"republished ({was} -> {now})")
    if older:  # no version recorded: a reload makes both checks at once
        return Verdict(part, MonthStatus.reloaded, held, upgrade.reason)
    return Verdict(part, MonthStatus.reloaded, held, "republished (sha256)", compare_sha=True)


def lost_columns(held: Manifest, schema: DatasetSchema) -> list[str]:
    """Source columns that were not loaded, that the schema now has a column for, whose
    values nothing kept: the partition's column is null although its source had it."""
    filled = set(held.stats.get("columns_null_filled", []))
    return [
        raw
        for raw in held.columns_not_loaded
        if (col := schema.lookup(raw)) is not None and col.name in filled and raw not in held.extra
    ]


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
        extra_bytes=t.extra.stat().st_size if t.extra is not None else None,
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
        return settle(lake, verdict, cfg)
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
            t.discard()
    finally:
        if not keep_download:
            download.path.unlink(missing_ok=True)
