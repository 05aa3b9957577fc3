"""Applying the plan: the blocks, the deployments and the notifications, written to a
Prefect API and overwritten by name, so a re-run converges on this code and settings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from taxi_etl.compat import silence_prefect2_deprecations
from taxi_etl.deployments.catalogue import CRON_TIMEZONE, FLOW_PATH, TAG, ParameterSet
from taxi_etl.deployments.plan import CRASHED_NOTIFY_BLOCK
from taxi_etl.deployments.settings import DeploySettings

#: Labels of every flow-run container. Compose labels the image it builds with its
#: project and service (`server`), and containers inherit image labels: blanking them
#: keeps `docker compose up/ps/down` from taking a flow run for a replica of `server`.
FLOW_RUN_LABELS = {
    "com.docker.compose.project": "",
    "com.docker.compose.service": "",
    "com.docker.compose.version": "",
    "io.taxi-etl.role": "flow-run",
}
#: The crash policy's text; the server fills in these fields (no deployment name).
CRASHED_MESSAGE = (
    "taxi_etl: flow run {flow_name}/{flow_run_name} entered {flow_run_state_name} at "
    "{flow_run_state_timestamp}.\nState message: {flow_run_state_message}\n"
    "Parameters: {flow_run_parameters}\nFlow run ID: {flow_run_id}\nFlow run URL: {flow_run_url}"
)


@dataclass(frozen=True)
class Applied:
    """What one run of :func:`apply` registered, for the summary and for tests."""

    infrastructure_id: str
    bucket_id: str
    deployment_ids: dict[str, str]


async def apply(settings: DeploySettings, sets: Sequence[ParameterSet], api_url: str) -> Applied:
    """Save the blocks and register the deployments at `api_url`, overwriting by name."""
    silence_prefect2_deprecations()
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        await _check_api(api_url)
        infrastructure, infrastructure_id = await _save_infrastructure(settings)
        bucket_id = await _save_gcs_blocks(settings)
        async with get_client() as client:
            await _converge_crash_policy(client, settings.notify_url)
        await _save_notify_block(settings)
        deployment_ids = {p.full_name: await _register(p, infrastructure, settings) for p in sets}
    return Applied(infrastructure_id, bucket_id, deployment_ids)


async def _check_api(api_url: str) -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        problem = await client.api_healthcheck()
    if problem is not None:
        raise ConnectionError(
            f"no Prefect API at {api_url} ({problem}); start it with "
            "`docker compose up -d --wait` or set PREFECT_API_URL"
        )


async def _save_infrastructure(settings: DeploySettings) -> tuple[Any, str]:
    """The DockerContainer block the agent starts every flow run with, and its id."""
    from prefect.infrastructure.container import DockerContainer, ImagePullPolicy

    infrastructure = DockerContainer(
        image=settings.image,
        image_pull_policy=ImagePullPolicy(settings.image_pull_policy),
        networks=[settings.network],
        auto_remove=settings.auto_remove,
        volumes=settings.volumes,
        env=dict[str, str | None](settings.container_env()),
        labels=FLOW_RUN_LABELS,
        stream_output=True,
    )
    block_id = await infrastructure.save(settings.infrastructure_block, overwrite=True)
    return infrastructure, str(block_id)


async def _save_gcs_blocks(settings: DeploySettings) -> str:
    """The GCS lake as prefect-gcp blocks; returns the bucket block's id.

    construct(): no validation and no block_initialization, which would resolve
    credentials here, on the deploying machine, where the key file or the workload
    identity of the flow containers does not exist.
    """
    from prefect_gcp import GcpCredentials
    from prefect_gcp.cloud_storage import GcsBucket

    credentials = GcpCredentials.construct(
        project=settings.gcp_project,
        service_account_file=Path(settings.credentials_file) if settings.credentials_file else None,
        service_account_info=None,
    )
    await credentials.save(settings.credentials_block, overwrite=True)
    bucket = GcsBucket.construct(
        bucket=settings.bucket,
        gcp_credentials=credentials,
        bucket_folder=settings.bucket_folder,
    )
    return str(await bucket.save(settings.bucket_block, overwrite=True))


async def _save_notify_block(settings: DeploySettings) -> None:
    """The webhook block the flows' failure hooks post through, if a URL is set."""
    from prefect.blocks.webhook import Webhook

    target = settings.notify_target()
    if settings.notify_url and target:
        # The block's url is a SecretStr: the API returns it masked unless asked for
        # secrets, and the UI shows it as ********.
        # parse_obj: Prefect's blocks are pydantic v1 models, validated the v1 way.
        webhook = Webhook.parse_obj(
            {"method": "POST", "url": settings.notify_url.get_secret_value()}
        )
        await webhook.save(target.split("/", 1)[1], overwrite=True)


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


async def _crash_policy_block(client: Any, url: SecretStr | None) -> Any:
    """The policy's block id: saved with `url` in its secrets, or, without a URL, the
    one an earlier run saved (None if there is none)."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.exceptions import ObjectNotFound

    slug, name = CRASHED_NOTIFY_BLOCK.split("/", 1)
    if url is None:
        try:
            return (await client.read_block_document_by_name(name, slug, include_secrets=False)).id
        except ObjectNotFound:
            return None
    # The URL goes into the block's secrets, and `url` only references it: the block's
    # plain fields are shown in the UI and returned by the API as they are.
    block = CustomWebhookNotificationBlock.parse_obj(
        {
            "name": "taxi-etl",
            "url": "{{url}}",
            "method": "POST",
            "json_data": {"source": "prefect-notification-policy", "text": "{{body}}"},
            "secrets": {"url": url.get_secret_value()},
        }
    )
    return await block.save(name, overwrite=True)


async def _converge_crash_policy(client: Any, url: SecretStr | None) -> None:
    """One active policy for Crashed runs through CRASHED_NOTIFY_BLOCK when `url` is
    set; without it, that policy (if an earlier run made it) is switched off."""
    from prefect.client.schemas.filters import FlowRunNotificationPolicyFilter

    block_id = await _crash_policy_block(client, url)
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
