"""The TLC generator's output, pinned byte for byte: a refactor must change nothing.

The digests were re-taken when the footers became the TLC writer's (gzip or zstd, format
1.0 with pandas metadata up to 2023-01, ns-embedded timestamps, ``Truth.writer``) and
green's tail the real one's (VendorID kept, congestion surcharge null); the other values
are unchanged.  They depend on the pinned pyarrow and numpy (``constraints.txt``), so an
upgrade of either may change them legitimately (check the other tests still pass, then
re-pin).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from taxi_etl.devtools import tlc_sample as tlc

pytestmark = pytest.mark.one_line

#: (dataset, year, month) -> (sha256 of the file, sha256 of Truth.to_json()), for 1,500
#: rows at seed 5 in row groups of 1,000: each dataset, and the eras with most quirks.
PINNED = {
    ("yellow", 2009, 1): (
        "eb50b0bf50bbe74574648ca722504463b981f8aa434f87546cba445835e1d894",
        "18133808549f23ac15b12fdc07e8514339d005e1eb269d8f63e32a0c4bb17c6d",
    ),
    ("yellow", 2010, 2): (
        "e8437df12c476e3078f0737eeaf1a660124eeb7b1047d7029ceac6cbbdfe4df3",
        "c3e470c0125e819b4be014fee51b3e542a8180db40c4241325b4c39b8c5ece47",
    ),
    ("yellow", 2024, 1): (
        "edea3bf763d2562616f6d60c552816116bab8c959fb46e66c4915b587019facc",
        "0537190d99c82429dbe0dfeeb17248991b925e2f6ff03ec30d8b4e72da4df7b5",
    ),
    ("yellow", 2025, 1): (
        "2ec7218fce40b125a86ccdfd50602b31139baad0ff9c2758da29f118730815b9",
        "eacc1d02e9cf8da0a94d7fc6357218f410b06dbbe7b860ec636f927f181c607c",
    ),
    ("green", 2019, 9): (
        "e4809208b51e62c9e530139f9616f1994eaf526f55a10fcb27f170c9720d8d0c",
        "8f09705de7ee4cada5475a140181ef45aa733785769e24c580d9a581f4bf1101",
    ),
    ("fhv", 2019, 2): (
        "c371ae56f6965e44c7713e833d5261b44249e16ad063b26bd70424483e5c06a8",
        "f81b2951bfd77efbdd9f8706e7572ee820e2979039e0566e567a570934ed005e",
    ),
    ("fhvhv", 2019, 2): (
        "c70be5122939f359c85be2b4d9a6c90008b603e5c7b561ddbdcc61caeadbdb43",
        "754c5776c836805f68151759ddaf16a8758c764247b85613731fb5c50b09f1c6",
    ),
    ("fhvhv", 2024, 1): (
        "ac57f592282aff9fe3e4c9f978a30799fbdcba9cc2e6a7624497a60a2c616718",
        "cf88a00625f670ffed273836b1b2347232ae31275c57a6b9658f7920ec25bb59",
    ),
}
ZONES = {
    "dtc-2022": "6077d85c0460778006e4c3198c30f804adeda0474271a788b44913e3e71b99e7",
    "tlc-2024": "0d6ba7087b0b982edf45a1a0c6ab98f596d58ba298005bc0a97d44ce6ebeab25",
}
VERSIONS = f"pyarrow {pa.__version__}, numpy {np.__version__}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("key", sorted(PINNED), ids=lambda k: "{}-{}-{:02}".format(*k))
def test_month_bytes_and_truth_are_unchanged(tmp_path: Path, key: tuple[str, int, int]) -> None:
    path = tmp_path / tlc.file_name(*key)
    truth = tlc.generate_month(path, *key, 1500, seed=5, row_group_rows=1000)
    assert (_sha256(path.read_bytes()), _sha256(truth.to_json().encode())) == PINNED[key], (
        f"output changed ({VERSIONS})"
    )


@pytest.mark.parametrize("revision", sorted(ZONES))
def test_zone_lookup_bytes_are_unchanged(tmp_path: Path, revision: str) -> None:
    path = tmp_path / "taxi_zone_lookup.csv"
    tlc.write_zone_lookup(path, revision)
    assert _sha256(path.read_bytes()) == ZONES[revision]
