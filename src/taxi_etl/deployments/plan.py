"""The plan: what ``python deploy.py`` would write, and where, as text (``--dry-run``).

Secrets never appear: a notification URL is shown as its scheme and host only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from taxi_etl.deployments.catalogue import CRON_TIMEZONE, FLOW_PATH, TAG, ParameterSet
from taxi_etl.deployments.settings import DeploySettings
from taxi_etl.orchestration.compat import PREFECT_2

#: Notification block of the server-side policy (Prefect 2) or automation (Prefect 3)
#: for Crashed runs.
CRASHED_NOTIFY_BLOCK = "custom-webhook/taxi-etl-crashed"


def line() -> str:
    """Which Prefect line this is and how flow runs get their containers."""
    import prefect

    how = (
        "an agent starts flow-run containers from a DockerContainer block"
        if PREFECT_2
        else "a Docker worker starts flow-run containers from its work pool"
    )
    return f"Prefect {prefect.__version__} ({2 if PREFECT_2 else 3}.x line): {how}"


def _blocks(s: DeploySettings) -> list[str]:
    where = (
        f"block docker-container/{s.infrastructure_block}"
        if PREFECT_2
        else f"work pool {s.work_pool} (type docker)"
    )
    lines = [
        f"{where}: image {s.image} "
        f"(pull {s.pull_policy()}), network {s.network}, auto_remove {s.auto_remove}"
        + (f", volumes {s.volumes}" if s.volumes else ""),
    ]
    lines += [f"    env {k}={v}" for k, v in s.container_env().items()]
    lines += [
        f"block gcp-credentials/{s.credentials_block}: project {s.gcp_project}, "
        f"service_account_file {s.credentials_file} "
        + ("(a mounted file)" if s.credentials_file else "(Application Default Credentials)"),
        f"block gcs-bucket/{s.bucket_block}: bucket {s.bucket}, folder {s.bucket_folder!r}",
    ]
    return lines


def _notifications(s: DeploySettings) -> list[str]:
    target = s.notify_target()
    lines = []
    if s.notify_url:
        lines.append(f"block {target}: url {s.masked_notify_url()}")
        lines.append(f"block {CRASHED_NOTIFY_BLOCK}: url {s.masked_notify_url()}")
        what = "notification policy" if PREFECT_2 else "automation"
        lines.append(f"{what}: Crashed runs tagged {TAG} -> {CRASHED_NOTIFY_BLOCK}")
    lines.append(
        f"failure notifications: through {target}" if target else "failure notifications: off"
    )
    return lines


def _deployment(s: DeploySettings, p: ParameterSet) -> list[str]:
    when = f"cron {p.cron!r} {CRON_TIMEZONE}" if p.cron else "no schedule"
    runs_on = f"queue {s.work_queue}" if PREFECT_2 else f"pool {s.work_pool}"
    return [
        f"deployment {p.full_name}: {when}, parameters {json.dumps(p.parameters)}, {runs_on}",
        f"    code: {p.entrypoint} under {FLOW_PATH} in {s.image}",
    ]


def describe(settings: DeploySettings, sets: Sequence[ParameterSet], api_url: str) -> str:
    """The plan as text: what would be written, and where."""
    lines = [line(), f"Prefect API {api_url}", *_blocks(settings), *_notifications(settings)]
    for p in sets:
        lines += _deployment(settings, p)
    return "\n".join(lines)
