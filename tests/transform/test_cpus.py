"""The CPUs a transform may use: affinity and a container's CPU quota, not the host's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from taxi_etl.transform import cpus

pytestmark = pytest.mark.one_line


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "max 100000\n"}, None),  # cgroup v2, no quota
        ({"cpu.max": "100000 100000\n"}, 1),  # docker run --cpus 1
        ({"cpu.max": "50000 100000\n"}, 1),  # half a CPU still gets one parse thread
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),  # no cgroup files at all
    ],
)
def test_available_cpus_honours_a_container_quota(
    tmp_path: Path, files: dict[str, str], quota: int | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    affinity = len(os.sched_getaffinity(0))
    assert cpus.available_cpus(tmp_path) == min(affinity, quota or affinity)
