"""How many CPUs a transform may use, and so how many parse threads and transforms.

``os.cpu_count()`` shows the host's count: a ``--cpus 1`` container on a 16-core host
would start 16 threads' worth of work. The affinity mask and a cgroup CPU quota are
what the process may really use.
"""

from __future__ import annotations

import os
from pathlib import Path


def cpu_quota(quota: str, period: str) -> int | None:
    """Whole CPUs a cgroup CPU quota grants (v2 "max" and v1 "-1" mean no quota)."""
    if quota.strip() in ("max", "-1"):
        return None
    return max(1, -(-int(quota) // int(period)))


def available_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may use: its affinity, and a container's CPU quota."""
    affinity = hasattr(os, "sched_getaffinity")
    cpus = (len(os.sched_getaffinity(0)) if affinity else os.cpu_count()) or 1
    quota = None
    try:
        if (cgroup / "cpu.max").exists():  # cgroup v2: "QUOTA PERIOD"
            quota = cpu_quota(*(cgroup / "cpu.max").read_text().split()[:2])
        elif (cgroup / "cpu" / "cpu.cfs_quota_us").exists():  # cgroup v1
            v1 = cgroup / "cpu"
            quota = cpu_quota(
                (v1 / "cpu.cfs_quota_us").read_text(), (v1 / "cpu.cfs_period_us").read_text()
            )
    except (OSError, ValueError, TypeError):
        quota = None
    return min(cpus, quota) if quota else cpus


CPUS = available_cpus()
#: Parse threads of one transform.
WORKERS = min(4, CPUS)
#: Transforms that fill this machine's cores: more at once only share the same cores,
#: in lock-step with each other, and multiply the memory bound.
CONCURRENT = max(1, CPUS // WORKERS)
