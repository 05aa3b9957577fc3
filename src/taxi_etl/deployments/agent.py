"""The Prefect 2 line: a ``DockerContainer`` infrastructure block the agent starts every
flow run with, deployments by ``Deployment.build_from_flow``, and a server-side
notification policy for Crashed runs (the course's model; deprecated in 2.16, gone in 3).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from taxi_etl.deployments.catalogue import CRON_TIMEZONE, FLOW_PATH, TAG, ParameterSet
from taxi_etl.deployments.line import FLOW_RUN_LABELS, Line, crash_notify_block
from taxi_etl.orchestration.deprecations import flow_run_pythonwarnings

if TYPE_CHECKING:
    from taxi_etl.deployments.settings import DeploySettings

#: The crash policy's text; the server fills in these fields (no deployment name).
CRASHED_MESSAGE = (
    "taxi_etl: flow run {flow_name}/{flow_run_name} entered {flow_run_state_name} at "
    "{flow_run_state_timestamp}.\nState message: {flow_run_state_message}\n"
    "Parameters: {flow_run_parameters}\nFlow run ID: {flow_run_id}\nFlow run URL: {flow_run_url}"
)


async def register(
    settings: DeploySettings, sets: Sequence[ParameterSet]
) -> tuple[str, dict[str, str]]:
    """The infrastructure block, the crash policy and every deployment; (the block's
    id, the deployments' ids by full name)."""
    from prefect.client.orchestration import get_client

    infrastructure, infrastructure_id = await _save_infrastructure(settings)
    async with get_client() as client:
        await _converge_crash_policy(client, settings.notify_url)
    ids = {p.full_name: await _register(p, infrastructure, settings) for p in sets}
    return infrastructure_id, ids


async def _save_infrastructure(settings: DeploySettings) -> tuple[Any, str]:
    """The DockerContainer block the agent starts every flow run with, and its id."""
    from prefect.infrastructure.container import DockerContainer, ImagePullPolicy

    infrastructure = DockerContainer(
        image=settings.image,
        image_pull_policy=ImagePullPolicy(settings.pull_policy()),
        networks=[settings.network],
        auto_remove=settings.auto_remove,
        volumes=settings.volumes,
        env=dict[str, str | None](settings.container_env()),
        labels=FLOW_RUN_LABELS,
        stream_output=True,
    )
    block_id = await infrastructure.save(settings.infrastructure_block, overwrite=True)
    return infrastructure, str(block_id)


async def _register(p: ParameterSet, infrastructure: Any, settings: DeploySettings) -> str:
    """One deployment with ``Deployment.build_from_flow``: the code is the image's, at
    FLOW_PATH, so nothing is uploaded and the entrypoint is found in the container."""
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.deployments.deployments import Deployment

    from taxi_etl import flows

    deployment = await Deployment.build_from_flow(
        flow=getattr(flows, p.flow),
        name=p.name,
        parameters=p.parameters,
        description=p.description,
        tags=p.tags,
        schedules=[CronSchedule(cron=p.cron, timezone=CRON_TIMEZONE)] if p.cron else [],
        infrastructure=infrastructure,
        work_queue_name=settings.work_queue,
        path=FLOW_PATH,
        entrypoint=p.entrypoint,
        enforce_parameter_schema=True,
        skip_upload=True,
        # Everything comes from here, not from what the server holds, so a re-run
        # converges on this file (a UI edit is overwritten, as intended).
        load_existing=False,
        # Nothing is uploaded, so no .prefectignore is needed (or written).
        ignore_file=os.devnull,
    )
    return str(await deployment.apply())


async def _converge_crash_policy(client: Any, url: SecretStr | None) -> None:
    """One active policy for Crashed runs through CRASHED_NOTIFY_BLOCK when `url` is
    set; without it, that policy (if an earlier run made it) is switched off."""
    from prefect.client.schemas.filters import (  # type: ignore[attr-defined,unused-ignore]
        FlowRunNotificationPolicyFilter,  # Prefect 2 only (3 has automations instead)
    )

    block_id = await crash_notify_block(client, url, "prefect-notification-policy")
    if block_id is None:
        return
    ours = [
        p
        for p in await client.read_flow_run_notification_policies(
            FlowRunNotificationPolicyFilter(is_active=None)  # the default means inactive only
        )
        if p.block_document_id == block_id
    ]
    for extra in ours[1:]:
        await client.delete_flow_run_notification_policy(extra.id)
    wanted = {
        "is_active": url is not None,
        "state_names": ["Crashed"],
        "tags": [TAG],
        "message_template": CRASHED_MESSAGE,
    }
    if ours:
        await client.update_flow_run_notification_policy(ours[0].id, **wanted)
    elif url is not None:
        await client.create_flow_run_notification_policy(block_document_id=block_id, **wanted)


LINE = Line(
    number=2,
    image="taxi-etl:local",
    network="taxi-etl",
    pull_policy="IF_NOT_PRESENT",
    starts="an agent starts flow-run containers from a DockerContainer block",
    where=lambda s: f"block docker-container/{s.infrastructure_block}",
    queue=lambda s: f"queue {s.work_queue}",
    crash_notice="notification policy",
    # `python -m prefect.engine` warns before any project code could install a filter.
    container_warnings=flow_run_pythonwarnings(),
    register=register,
)
