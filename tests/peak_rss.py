"""Peak RSS of a command, as a user's process would have it."""

from __future__ import annotations

import subprocess
import sys


def peak_rss_mb(cmd: list[str]) -> float:
    """Peak RSS of `cmd`, measured by a fresh, small parent: a child's ru_maxrss starts
    from its parent's RSS at fork and survives exec, so a child of the test process
    would count the test's own memory, and no other child's peak counts either."""
    probe = (
        "import resource, subprocess, sys\n"
        "proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "assert proc.returncode == 0, proc.stderr\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *cmd], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip()) / 1024
