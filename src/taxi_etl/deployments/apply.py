"""Applying the plan: the blocks, the deployments and the notifications, written to a
Prefect API and overwritten by name, so a re-run converges on this code and settings.

What both Prefect lines share is here (the GCS blocks, the webhook the failure hooks
post through); how flow runs get their containers is the line's own: ``agent`` (Prefect
2: a DockerContainer block and an agent) or ``worker`` (Prefect 3: a Docker work pool
and a worker). The installed Prefect decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from taxi_etl.deployments.catalogue import ParameterSet
from taxi_etl.deployments.settings import DeploySettings
from taxi_etl.orchestration.compat import construct, validated
from taxi_etl.orchestration.deprecations import silence_prefect2_deprecations


@dataclass(frozen=True)
class Applied:
    """What one run of :func:`apply` registered, for the summary and for tests."""

    #: The DockerContainer block's id (Prefect 2) or the work pool's (Prefect 3).
    infrastructure_id: str
    bucket_id: str
    deployment_ids: dict[str, str]


async def apply(settings: DeploySettings, sets: Sequence[ParameterSet], api_url: str) -> Applied:
    """Save the blocks and register the deployments at `api_url`, overwriting by name."""
    silence_prefect2_deprecations()
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from taxi_etl.deployments.installed import LINE

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        await _check_api(api_url)
        bucket_id = await _save_gcs_blocks(settings)
        await _save_notify_block(settings)
        infrastructure_id, deployment_ids = await LINE.register(settings, sets)
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


async def _save_gcs_blocks(settings: DeploySettings) -> str:
    """The GCS lake as prefect-gcp blocks; returns the bucket block's id.

    Constructed: no validation and no block_initialization, which would resolve
    credentials here, on the deploying machine, where the key file or the workload
    identity of the flow containers does not exist.
    """
    from prefect_gcp import GcpCredentials
    from prefect_gcp.cloud_storage import GcsBucket

    credentials = construct(
        GcpCredentials,
        project=settings.gcp_project,
        service_account_file=Path(settings.credentials_file) if settings.credentials_file else None,
        service_account_info=None,
    )
    await credentials.save(settings.credentials_block, overwrite=True)
    bucket = construct(
        GcsBucket,
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
        webhook = validated(
            Webhook, {"method": "POST", "url": settings.notify_url.get_secret_value()}
        )
        await webhook.save(target.split("/", 1)[1], overwrite=True)
