"""A month's steps as the tasks of the child flow (fetch, transform, quality, write),
each a step of ``pipeline`` pushed to a thread, so the chain shows in the UI and a parent
can run several months on one event loop; :data:`STEPS` hands them to
``pipeline.run_month``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from prefect import get_run_logger, task
from prefect.runtime import flow_run
from prefect.tasks import task_input_hash

from taxi_etl import pipeline, quality, source, zones
from taxi_etl.lake import Lake
from taxi_etl.orchestration import artifacts
from taxi_etl.orchestration.compat import fetch_result_storage, no_cache
from taxi_etl.params import Partition
from taxi_etl.pipeline import MonthResult
from taxi_etl.settings import Settings


@task(
    name="fetch",
    result_storage=fetch_result_storage(),
    cache_key_fn=task_input_hash,
    cache_expiration=timedelta(days=1),
)
async def fetch(part: Partition, cfg: Settings, remote: source.Remote) -> source.Download:
    """Cached for a day by its inputs, which include what the host said of the file
    just now: a republished file is a new key, so the cache never hides it."""
    get_run_logger().info("downloading %s", remote.url)
    return await asyncio.to_thread(pipeline.fetch, part, cfg)


@task(name="transform", **no_cache())
async def transform_month(
    part: Partition, download: source.Download, cfg: Settings
) -> pipeline.Transformed:
    t = await asyncio.to_thread(pipeline.transform_month, part, download, cfg)
    get_run_logger().info(
        "%s: %d rows, %s outside the month, %d bytes of parquet",
        part,
        t.stats.rows,
        t.stats.outside_month,
        t.stats.bytes,
    )
    return t


@task(name="quality", **no_cache())
async def check_month(part: Partition, t: pipeline.Transformed) -> list[quality.CheckResult]:
    results = await asyncio.to_thread(pipeline.check, part, t)
    await artifacts.publish_quality(part, results, t.stats)
    quality.enforce(results, str(part))  # a failed check stops the partition here
    return results


@task(name="write", **no_cache())
async def write_month(
    lake: Lake,
    verdict: pipeline.Verdict,
    t: pipeline.Transformed,
    checks: list[quality.CheckResult],
    download: source.Download,
    cfg: Settings,
    flow_run_id: str | None,
) -> MonthResult:
    result = await asyncio.to_thread(
        pipeline.publish, lake, verdict, t, checks, download, cfg, flow_run_id
    )
    get_run_logger().info("published %s", result.uri)
    return result


async def _fetch(part: Partition, cfg: Settings, remote: source.Remote) -> source.Download:
    """The cached fetch, refreshed if the host gave no version to key the cache on, or
    if what the cache holds is not the version the host describes now: the file gone,
    or its bytes no longer those the cached result recorded (another process, another
    host, a hand replaced it).

    A missing file is looked for first: a flow-run container starts with neither the
    file nor the cached result's storage, and Prefect fails reading a result that is
    not there rather than run the task again."""
    gone = not await asyncio.to_thread(pipeline.download_path(part, cfg).exists)
    download: source.Download = await fetch.with_options(
        refresh_cache=gone or not remote.known
    )(part, cfg, remote)
    if remote.known and not await asyncio.to_thread(download.intact, remote):
        get_run_logger().warning("%s: the cached download is not intact; downloading", part)
        download = await fetch.with_options(refresh_cache=True)(part, cfg, remote)
    return download


#: The child flow's steps: each a task (see pipeline.Steps).
STEPS = pipeline.Steps(_fetch, transform_month, check_month, write_month)


def run_id() -> str | None:
    """The running flow's id, for the manifest."""
    return str(flow_run.id or "") or None


@task(name="zones", **no_cache())
async def load_zones(cfg: Settings) -> zones.ZonesManifest:
    """The zone lookup the source serves now, as a revision in the lake."""
    target = await asyncio.to_thread(pipeline.lake_of, cfg)
    manifest, new = await asyncio.to_thread(zones.load_zones, target, cfg)
    get_run_logger().info(
        "zones revision %s (%d zones): %s",
        manifest.revision,
        manifest.rows,
        "new" if new else "held",
    )
    return manifest
