"""The TLC generator's output, pinned byte for byte: a refactor must change nothing.

The digests were taken before ``tlc_sample`` was split into modules; they depend on the
pinned pyarrow and numpy (``constraints.txt``), so an upgrade of either may change them
legitimately (check the other tests still pass, then re-pin).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from taxi_etl.devtools import tlc_sample as tlc

#: (dataset, year, month) -> (sha256 of the file, sha256 of Truth.to_json()), for 1,500
#: rows at seed 5 in row groups of 1,000: each dataset, and the eras with most quirks.
PINNED = {
    ("yellow", 2009, 1): (
        "bb407ff0bcce69fe0f4b0db5c2d223a6fd57a2fdb47e5a7f72cf4f9dd202dbb0",
        "5dae6031da496ccb8e6bc30c3083bc376289b27d1f2720d0b456d583cc8a4265",
    ),
    ("yellow", 2010, 2): (
        "e064e8b05323baec49ecf152b70a5587e983de2c30e0e632526d325cf43135d4",
        "2d371b90938b99ae1b52eec1c3a9de27f90539b94b317fcdeca75d8abef82d41",
    ),
    ("yellow", 2024, 1): (
        "cffde79bedc5107de395dd4827e3271f9710b0169599b8b3b237f9782bbb8c4d",
        "1fb045fdda85f91eaecaba230ee7f95fe33b7fbaf0a54b6047c9c95419b08351",
    ),
    ("yellow", 2025, 1): (
        "298fb2b78889f557f24e916dc47ab42e0466f909a0bf4c0e3dc92257b0390ffa",
        "1bb26708ca60c58f2d7f2040fb2eecd9428ae95078db31278fc54ce641b15c35",
    ),
    ("green", 2019, 9): (
        "edc6bc17f668fb6623c077f41b9726c11f459b0454d2f155ce774f9fb0359fa6",
        "acf326fc975f6b76d01f4fb93053e0cf3ddd7ac80373bc5e649cd47bb48e1bbb",
    ),
    ("fhv", 2019, 2): (
        "d7460b9fac5f483e2e7698db46e7fa488b26ebd715cb4cb8d01d7ed807f2545c",
        "2d261f5831f863491f227627fb1b5f724ddaf54f4c552bc4e224b32c56ad9fa0",
    ),
    ("fhvhv", 2019, 2): (
        "a9262d26d8b6994632810483a97cf653c69bdd0e13bf926b7f5e7e87270782c8",
        "d16efd081cbca74b66ad690297109ce9278935a01d1fa174504f9c069e316fce",
    ),
    ("fhvhv", 2024, 1): (
        "43848fddede76b88ffa7bab783454d0cea3a0dd856f769f0526a28378fe31f68",
        "3d82480db0d724c0ca3977591d63d4585e93b5b32283a4f8df9b213bbf31da3f",
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
