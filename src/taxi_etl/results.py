"""What becomes of a month: its status, the small result that travels back to the
parent run, and the verdict that decides it before anything is downloaded.

Freshness: before anything is downloaded, the host is asked what it has now (one
HEAD) and the answer is compared with what the partition's manifest recorded. Only a
month that is new, was republished, or needs its source for a newer schema is
downloaded and loaded again. A month the lake holds from another source is kept unless
``force``: the course mirror and the TLC's files differ (rows, columns), so switching
one silently would change counts a user relies on; either way a month is in the lake
once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from taxi_etl import source
from taxi_etl.lake import Lake, Manifest, ManifestDamaged
from taxi_etl.params import Colour, Partition
from taxi_etl.schemas import DatasetSchema, for_colour
from taxi_etl.settings import Settings
from taxi_etl.verify import problems


class MonthStatus(StrEnum):
    """How a month ended; a parent run fails on the last two."""

    loaded = "loaded"  # new in the lake
    reloaded = "reloaded"  # replaced: republished by its host, an older schema, or forced
    skipped = "skipped"  # the lake holds this exact version
    #: rewritten onto the dataset's newer schema in place, without its source
    upgraded = "upgraded"
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

    @property
    def work(self) -> bool:
        """Whether the month needs a run: a load, a sha256 comparison or an upgrade."""
        return self.load or self.compare_sha or self.status is MonthStatus.upgraded


def decide(
    lake: Lake, part: Partition, remote: source.Remote, cfg: Settings, force: bool
) -> Verdict:
    """Load, reload, upgrade, or leave the month as the lake holds it.

    A partition of an older schema version is upgraded in place (its new columns null,
    or taken from what was kept beside it), unless its source had one of the new
    columns and nothing kept it: then it is reloaded, from its own source only."""
    try:
        held = lake.loaded(part)
    except ManifestDamaged as exc:  # that month only: it is loaded again
        return Verdict(part, MonthStatus.reloaded, None, f"not loaded, {exc}")
    if held is None:
        return Verdict(part, MonthStatus.loaded)
    if force:
        return Verdict(part, MonthStatus.reloaded, held, "forced")
    damage = problems(lake, part, held, full=False)  # never hidden behind "skipped"
    if damage:
        return Verdict(part, MonthStatus.reloaded, held, f"damaged: {'; '.join(damage)}")
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
