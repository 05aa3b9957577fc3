"""Where the real files are, what each one is, and whether it is the file its
checksum list says."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT_ENV = "TAXI_ETL_REAL_TLC"
REQUIRE_ENV = "TAXI_ETL_REQUIRE_REAL_TLC"
#: The kinds of real file, by glob under the root.
GLOBS = ("parquet/*.parquet", "course/*.csv.gz", "tlc-csv/*.csv.gz")
_NAME = re.compile(r"(yellow|green|fhvhv|fhv)_tripdata_([0-9]{4})-([0-9]{2})")
_WHOLE = re.compile(r"(yellow|green|fhvhv|fhv)_tripdata_[0-9]{4}-[0-9]{2}\.(parquet|csv\.gz)")


def real_root() -> Path:
    """TAXI_ETL_REAL_TLC (tests/conftest.py keeps it), else ../shared/real-tlc beside
    the repository."""
    given = os.environ.get(ROOT_ENV)
    if given:
        return Path(given)
    return Path(__file__).resolve().parents[2].parent / "shared" / "real-tlc"


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


@dataclass(frozen=True)
class RealFile:
    path: Path
    #: Its path under the root, the test id.
    name: str
    dataset: str | None
    year: int | None
    month: int | None

    @property
    def whole_month(self) -> bool:
        return _WHOLE.fullmatch(self.path.name) is not None

    @property
    def is_parquet(self) -> bool:
        return self.path.name.endswith(".parquet")


def discover(root: Path) -> list[RealFile]:
    found: list[RealFile] = []
    for pattern in GLOBS:
        for path in sorted(root.glob(pattern)):
            m = _NAME.match(path.name)
            dataset = m.group(1) if m else None
            year, month = (int(m.group(2)), int(m.group(3))) if m else (None, None)
            found.append(RealFile(path, path.relative_to(root).as_posix(), dataset, year, month))
    return found


@cache
def checksums(root: Path) -> dict[str, str]:
    """SHA256SUMS as relative path -> hex digest (empty when there is no list)."""
    listing = root / "SHA256SUMS"
    if not listing.is_file():
        return {}
    sums: dict[str, str] = {}
    for line in listing.read_text().splitlines():
        digest, _, name = line.strip().partition(" ")
        if digest:
            sums[name.strip().lstrip("*")] = digest.lower()
    return sums


def check_sum(root: Path, real: RealFile) -> str | None:
    """What is wrong with the file's bytes, or None when they are the listed ones (or
    it is not listed)."""
    want = checksums(root).get(real.name)
    if want is None:
        return None
    got = hashlib.sha256(real.path.read_bytes()).hexdigest()
    return None if got == want else f"{real.name}: sha256 {got}, SHA256SUMS says {want}"
