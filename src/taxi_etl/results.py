"""What becomes of a month: its status, the small result that travels back to the
parent run, and the verdict that decides it before anything is downloaded."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from taxi_etl import source
from taxi_etl.lake import Lake, Manifest
from taxi_etl.params import Colour, Partition


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
