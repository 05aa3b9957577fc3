"""Run parameters, validated once at the boundary so bad input fails before any IO.

The same types annotate the flows, so Prefect validates deployment runs with them
and the UI renders a typed form (colour as a choice, months as a list of 1-12).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

YEAR_MIN = 2009  # the TLC publishes trip records from January 2009 on
YEAR_MAX = 2035  # a fixed bound keeps the UI schema stable; far enough for real use


class Colour(StrEnum):
    """The TLC trip record datasets; the course calls them colours, the parameter keeps
    that name."""

    yellow = "yellow"
    green = "green"
    fhv = "fhv"
    fhvhv = "fhvhv"  # high-volume for-hire vehicles (Uber, Lyft, ...), from 2019-02


class Source(StrEnum):
    """Where a month's file comes from."""

    dtc = "dtc"  # the course's csv.gz mirror (DataTalksClub nyc-tlc-data releases)
    tlc = "tlc"  # the TLC's own parquet files, every month since 2009
    #: The TLC's original csv files (2009 to 2020), from a host of your own: the TLC
    #: stopped serving them in 2022, and they are the only files with yellow's
    #: coordinates of 2011-2016 and green's of 2013-2016.
    tlc_csv = "tlc-csv"


#: The TLC's first parquet month of each dataset (green 2013 exists only as CSV). The
#: course mirror holds 2019-2021 and says so itself, with a 404.
TLC_FIRST_MONTH: dict[Colour, tuple[int, int]] = {
    Colour.yellow: (2009, 1),
    Colour.green: (2014, 1),
    Colour.fhv: (2015, 1),
    Colour.fhvhv: (2019, 2),
}


Month = Annotated[int, Field(ge=1, le=12, description="Month number, 1-12")]
Year = Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX, description="Calendar year")]
MonthRange = Annotated[
    str,
    Field(
        pattern=r"^\s*\d{4}-(0?[1-9]|1[0-2])\s*(\.\.\s*\d{4}-(0?[1-9]|1[0-2])\s*)?$",
        description="YYYY-MM..YYYY-MM, inclusive",
    ),
]
YearMonth = Annotated[
    str, Field(pattern=r"^\s*\d{4}-(0?[1-9]|1[0-2])\s*$", description="YYYY-MM")
]
Concurrency = Annotated[int, Field(ge=1, le=32, description="Months loaded at once")]
DaskAddress = Annotated[
    str,
    Field(
        pattern=r"^((tcp|tls)://)?[A-Za-z0-9_.\-\[\]:]+:\d+$",
        description="Scheduler of an existing Dask cluster, e.g. tcp://dask-scheduler:8786",
    ),
]


class Runner(StrEnum):
    """Where a parent run's months execute."""

    local = "local"  # one Prefect child flow per month, in the parent's process
    dask = "dask"  # one task per month on a Dask cluster (local, or at an address)


@dataclass(frozen=True, order=True)
class Partition:
    """One month of one colour: the unit that is loaded, checked and published whole.

    Where it lives in a lake is the lake's business (``lake.partition_key``)."""

    colour: Colour
    year: int
    month: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "colour", Colour(self.colour))

    @property
    def ym(self) -> str:
        return f"{self.year}-{self.month:02d}"

    def __str__(self) -> str:
        return f"{self.colour.value} {self.ym}"


class ParameterError(ValueError):
    """Bad run parameters; the message names the parameter. The CLI maps it to exit 2."""


class RunParams(BaseModel):
    """One parent run: a colour, a year and a non-empty set of months."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    colour: Colour
    year: Year
    months: Annotated[list[Month], Field(min_length=1)]

    @field_validator("months")
    @classmethod
    def _unique(cls, v: list[int]) -> list[int]:
        dupes = sorted({m for m in v if v.count(m) > 1})
        if dupes:
            raise ValueError(f"duplicate months {dupes}")
        return sorted(v)


@dataclass(frozen=True)
class LakeSpec:
    """Where a lake is, as ``--lake`` or TAXI_ETL_LAKE spell it: a directory (or
    ``file://``), ``gs://BUCKET[/PREFIX]``, or ``gcs-block://NAME``."""

    kind: Literal["path", "gs", "block"]
    #: The directory, the bucket, or the block's name.
    where: str
    prefix: str = ""

    @classmethod
    def parse(cls, text: str) -> LakeSpec:
        if not text.strip():
            raise ValueError("an empty lake; give a directory, gs://BUCKET or gcs-block://NAME")
        if text.startswith("gs://"):
            bucket, _, prefix = text[5:].partition("/")
            if not bucket:
                raise ValueError(f"{text!r} names no bucket")
            return cls("gs", bucket, prefix.strip("/"))
        if text.startswith("gcs-block://"):
            name = text[len("gcs-block://") :]
            if not name:
                raise ValueError(f"{text!r} names no block")
            return cls("block", name)
        if "://" in text and not text.startswith("file://"):
            raise ValueError(
                f"unsupported scheme in {text!r}; use a path, gs:// or gcs-block://"
            )
        return cls("path", text.removeprefix("file://"))


def check_url(text: str) -> str:
    """A source's base URL: http(s) with a host, or the download would fail late."""
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.split("/")[0]:
        raise ValueError(f"{text!r} is not an http(s) URL")
    return text


def explain(exc: ValidationError) -> str:
    """One line naming each bad parameter or setting, for exit status 2."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "parameters"
        message = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {message} (got {err.get('input')!r})")
    return "invalid parameters: " + "; ".join(parts)


def validate(colour: object, year: object, months: object) -> RunParams:
    """Validate raw values from the CLI, a flow call or a deployment override."""
    if isinstance(months, int | str):
        months = [months]
    try:
        return RunParams(colour=colour, year=year, months=months)
    except ValidationError as exc:
        raise ParameterError(explain(exc)) from None


def check_exists(
    source: Source | str, colour: Colour | str, months: Sequence[tuple[int, int]]
) -> None:
    """Refuse months a source can never have: before the TLC's first month of a dataset."""
    if Source(source) is not Source.tlc:
        return
    first = TLC_FIRST_MONTH[Colour(colour)]
    early = sorted(m for m in months if m < first)
    if early:
        y, m = early[0]
        raise ParameterError(
            f"months: the TLC publishes {Colour(colour).value} from {first[0]}-{first[1]:02d}; "
            f"{y}-{m:02d} does not exist"
        )


def check_concurrency(value: int) -> int:
    if not 1 <= value <= 32:
        raise ParameterError(f"concurrency: {value} is outside 1..32")
    return value


def previous_month(moment: datetime | date) -> tuple[int, int]:
    """The month a monthly schedule firing at `moment` should load: the one before it."""
    if moment.month == 1:
        return moment.year - 1, 12
    return moment.year, moment.month - 1


_YM = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")


def _parse_ym(text: str, what: str) -> tuple[int, int]:
    match = _YM.match(text)
    if not match:
        raise ParameterError(f"months: {what} {text!r} is not YYYY-MM")
    year, month = int(match.group(1)), int(match.group(2))
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise ParameterError(f"year: {year} is outside {YEAR_MIN}..{YEAR_MAX}")
    if not 1 <= month <= 12:
        raise ParameterError(f"months: month {month} in {text!r} is outside 1..12")
    return year, month


def parse_month_range(text: str) -> list[tuple[int, int]]:
    """Expand ``YYYY-MM..YYYY-MM`` (inclusive, may span years) or a single ``YYYY-MM``."""
    start_s, sep, end_s = text.partition("..")
    start = _parse_ym(start_s, "start")
    end = _parse_ym(end_s, "end") if sep else start
    if end < start:
        raise ParameterError(f"months: range {text!r} ends before it starts")
    out = []
    year, month = start
    while (year, month) <= end:
        out.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def parse_months(values: Sequence[str]) -> list[int]:
    """CLI months: numbers (``1 2 3``), comma lists (``1,2``) or spans (``1-3``).

    Each is checked as written before anything is expanded, so ``1-99999999`` is refused
    at once (not built into a list of 10**8 months) and the message quotes the user."""
    months: list[int] = []
    for value in values:
        for token in value.split(","):
            token = token.strip()
            if not token:
                continue
            lo, sep, hi = token.partition("-")
            try:
                first, last = (int(lo), int(hi)) if sep else (int(token), int(token))
            except ValueError:
                raise ParameterError(f"months: {token!r} is not a month number") from None
            bad = next((m for m in (first, last) if not 1 <= m <= 12), None)
            if bad is not None:
                raise ParameterError(f"months: {token!r}: {bad} is not a month (1-12)")
            if last < first:
                raise ParameterError(f"months: {token!r} ends before it starts")
            months.extend(range(first, last + 1))
    return months
