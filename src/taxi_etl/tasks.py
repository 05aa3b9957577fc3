"""The tasks of the child flow: fetch, transform, quality and write, each a step of
``pipeline`` pushed to a thread, so the chain shows in the UI and a parent can run
several months on one event loop.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from prefect import get_run_logger, task
from prefect.filesystems import LocalFileSystem
from prefect.runtime import flow_run
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH
from prefect.tasks import task_input_hash

from taxi_etl import artifacts, pipeline, quality, source, zones
from taxi_etl.compat import PREFECT_2, no_cache
from taxi_etl.lake import Lake, open_lake
from taxi_etl.params import Partition
from taxi_etl.pipeline import MonthResult
from taxi_etl.settings import Settings

# Where the cached fetch results go. Prefect 2 saves an anonymous block for it on first
# use; two children doing that at once deadlock SQLite ("database is locked"), so the
# parent saves it once before it starts them (see prepare_result_storage). Prefect 3
# refuses an unsaved block here and needs none: a task with a cache_key_fn persists its
# result to PREFECT_RESULTS_LOCAL_STORAGE_PATH (the old name is still read).
RESULT_STORAGE = (
    LocalFileSystem(basepath=str(PREFECT_LOCAL_STORAGE_PATH.value())) if PREFECT_2 else None
)


async def prepare_result_storage() -> None:
    if RESULT_STORAGE is not None and RESULT_STORAGE._block_document_id is None:
        await RESULT_STORAGE._save(is_anonymous=True, overwrite=True)


@task(
    name="fetch",
    result_storage=RESULT_STORAGE,
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
) -> MonthResult:
    run_id = str(flow_run.id or "") or None
    result = await asyncio.to_thread(
        pipeline.publish, lake, verdict, t, checks, download, cfg, run_id
    )
    get_run_logger().info("published %s", result.uri)
    return result


@task(name="zones", **no_cache())
async def load_zones(cfg: Settings) -> zones.ZonesManifest:
    """The zone lookup the source serves now, as a revision in the lake."""
    target = await asyncio.to_thread(open_lake, cfg.lake, upload_timeout=cfg.upload_timeout)
    manifest, new = await asyncio.to_thread(zones.load_zones, target, cfg)
    get_run_logger().info(
        "zones revision %s (%d zones): %s",
        manifest.revision,
        manifest.rows,
        "new" if new else "held",
    )
    return manifest
