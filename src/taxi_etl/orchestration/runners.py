"""Where a parent run's months execute: child flows in-process, or tasks on Dask.

The same flows serve a laptop and a cluster; one setting (``TAXI_ETL_DASK_ADDRESS``)
or one run parameter points them at an existing Dask scheduler. Without an address a
temporary local cluster of processes is started, which also sidesteps the GIL that
limits in-process concurrency (benchmarks/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taxi_etl.orchestration.compat import dask_worker_env
from taxi_etl.params import ParameterError, Runner
from taxi_etl.settings import Settings


@dataclass(frozen=True)
class Execution:
    runner: Runner
    dask_address: str | None = None

    def describe(self) -> str:
        if self.runner is Runner.local:
            return "child flows in this process"
        return f"Dask cluster at {self.dask_address}" if self.dask_address else "local Dask cluster"


def resolve(runner: Runner | str | None, dask_address: str | None, cfg: Settings) -> Execution:
    """Run parameters first, then settings; an address alone means Dask."""
    chosen = Runner(runner) if runner else cfg.runner
    address = dask_address or cfg.dask_address
    if chosen is None:
        chosen = Runner.dask if address else Runner.local
    if chosen is Runner.local and dask_address:
        raise ParameterError("dask_address: only used with runner=dask")
    return Execution(chosen, address if chosen is Runner.dask else None)


def task_runner(execution: Execution, workers: int) -> Any:
    """A DaskTaskRunner: the given scheduler, or `workers` single-threaded processes.

    One thread per worker: the transform already uses Arrow's own thread pool, and a
    month per process keeps each worker's memory to one transform's bound. The local
    workers report to this process's API (compat.dask_worker_env).
    """
    from prefect_dask.task_runners import DaskTaskRunner

    if execution.dask_address:
        return DaskTaskRunner(address=execution.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": workers,
            "threads_per_worker": 1,
            "processes": True,
            # Loopback and any free port: the dashboard is never reachable from outside.
            "dashboard_address": "127.0.0.1:0",
            "env": dask_worker_env(),
        }
    )
