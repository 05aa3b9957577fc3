"""The plan: what ``python deploy.py`` would write, and where, as text (``--dry-run``).

Secrets never appear: a notification URL is shown as its scheme and host only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from taxi_etl.deployments.catalogue import CRON_TIMEZONE, FLOW_PATH, TAG, ParameterSet
from taxi_etl.deployments.installed import LINE
from taxi_etl.deployments.line import CRASHED_NOTIFY_BLOCK
from taxi_etl.deployments.settings import DeploySettings


def line() -> str:
    """Which Prefect line this is and how flow runs get their containers."""
    import prefect

    return f"Prefect {prefect.__version__} ({LINE.number}.x line): {LINE.starts}"


def _blocks(s: DeploySettings) -> list[str]:
    where = LINE.where(s)
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
        lines.append(f"{LINE.crash_notice}: Crashed runs tagged {TAG} -> {CRASHED_NOTIFY_BLOCK}")
    lines.append(
        f"failure notifications: through {target}" if target else "failure notifications: off"
    )
    return lines


def _deployment(s: DeploySettings, p: ParameterSet) -> list[str]:
    when = f"cron {p.cron!r} {CRON_TIMEZONE}" if p.cron else "no schedule"
    runs_on = LINE.queue(s)
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
