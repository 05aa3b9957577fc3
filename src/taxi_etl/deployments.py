"""Deployments of the flows that run in containers (``python deploy.py``).

Saves the blocks and one deployment per parameter set in :data:`DEPLOYMENTS`:

* ``docker-container/taxi-etl``: the infrastructure the agent of docker-compose.yml
  starts each flow run with: the project image (never pulled when built locally), the
  compose network, the server's in-network API URL and the lake settings as env vars;
* ``gcp-credentials/taxi-gcp`` and ``gcs-bucket/taxi-lake``: the GCS lake as prefect-gcp
  blocks. The credentials block holds no secret, only where the flow containers find
  one at run time: a mounted service-account file, or Application Default Credentials;
* failure notifications, only when ``TAXI_ETL_DEPLOY_NOTIFY_URL`` is set. The URL is a
  secret (a Slack or Teams hook URL is its own credential): it lives in blocks only, and
  the plan printed here masks it. Two routes, because neither covers every case:

  - ``webhook/taxi-etl-alerts``: the flow runs get ``TAXI_ETL_NOTIFY_BLOCK`` naming it,
    and the flows' ``on_failure``/``on_crashed`` hooks post JSON with the deployment,
    the parameters and the error (taxi_etl.notify). A hook runs inside the flow run,
    so it cannot report a container that was killed or ran out of memory;
  - a server-side notification policy on ``Crashed`` runs tagged ``taxi-etl``, through
    ``custom-webhook/taxi-etl-crashed`` (the URL held in the block's secrets): the
    agent marks a run Crashed when its container dies, and the server then posts. Its
    text has the flow run, parameters, state message and a link, not the deployment;
* deployments registered with ``Deployment.build_from_flow``, path
  :data:`FLOW_PATH` and an entrypoint in ``src/taxi_etl/flows.py``, which is where the
  Dockerfile puts the code, so the flow is found in the container. Nothing is uploaded.

Everything is overwritten by name, so running it again changes nothing unless the
code or the settings changed. Settings are ``TAXI_ETL_DEPLOY_*`` variables and hold
values as the flow-run containers see them (``http://server:4200/api``, not 127.0.0.1);
their defaults fit ``docker compose up`` with the GCS emulator. Prefect is imported
only when something is written, so ``--dry-run`` works without a server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from taxi_etl.compat import flow_run_pythonwarnings, silence_prefect2_deprecations
from taxi_etl.params import DaskAddress

MONTHLY_CRON = "0 5 1 * *"
CRON_TIMEZONE = "UTC"
#: Where the image holds the repository's pyproject.toml and src/ (see Dockerfile).
FLOW_PATH = "/opt/prefect/flows"
#: The flows' module, relative to FLOW_PATH: the same path `prefect deployment build`
#: writes when run from the repository root, so both routes give the container the same
#: code location.
FLOWS_FILE = "src/taxi_etl/flows.py"
#: The parent flow: the course's `etl_parent_flow(months, year, colour)`.
FLOW_NAME = "etl_parent_flow"
#: The resumable month-range flow behind the `backfill` deployment.
BACKFILL_FLOW_NAME = "etl_backfill_flow"
ENTRYPOINT = f"{FLOWS_FILE}:{FLOW_NAME}"
DEFAULT_API_URL = "http://127.0.0.1:4200/api"
#: Labels of every flow-run container. Compose labels the image it builds with its
#: project and service (`server`), and containers inherit image labels: blanking them
#: keeps `docker compose up/ps/down` from taking a flow run for a replica of `server`.
FLOW_RUN_LABELS = {
    "com.docker.compose.project": "",
    "com.docker.compose.service": "",
    "com.docker.compose.version": "",
    "io.taxi-etl.role": "flow-run",
}


#: Webhook block saved from TAXI_ETL_DEPLOY_NOTIFY_URL, as ``<block-type>/<name>``.
DEFAULT_NOTIFY_BLOCK = "webhook/taxi-etl-alerts"
#: Notification block of the server-side policy for Crashed runs.
CRASHED_NOTIFY_BLOCK = "custom-webhook/taxi-etl-crashed"
#: Tag of every deployment here; the policy only reports runs that carry it.
TAG = "taxi-etl"
#: The policy's text; the server fills in these fields (no deployment name among them).
CRASHED_MESSAGE = (
    "taxi_etl: flow run {flow_name}/{flow_run_name} entered {flow_run_state_name} at "
    "{flow_run_state_timestamp}.\nState message: {flow_run_state_message}\n"
    "Parameters: {flow_run_parameters}\nFlow run ID: {flow_run_id}\nFlow run URL: {flow_run_url}"
)


@dataclass(frozen=True)
class ParameterSet:
    """One deployment: a name, the flow it runs, the parameters it fixes, its schedule."""

    name: str
    parameters: dict[str, Any]
    cron: str | None
    description: str
    #: A flow of src/taxi_etl/flows.py, by function name (= its Prefect flow name).
    flow: str = FLOW_NAME

    @property
    def entrypoint(self) -> str:
        return f"{FLOWS_FILE}:{self.flow}"

    @property
    def full_name(self) -> str:
        """``flow/deployment``, as `prefect deployment run` and the UI name it."""
        return f"{self.flow}/{self.name}"


#: Every deployment, in one place. The monthly ones give no months or year: the flow then
#: loads the month before the run's scheduled start, so the 1 May run loads April.
#: ``custom`` and ``backfill`` have no schedule; their parameters are only the defaults
#: of a Custom run: ``custom`` is the course's months-of-one-year form, ``backfill`` a
#: month range across years that skips what is loaded and so resumes where it stopped.
DEPLOYMENTS: tuple[ParameterSet, ...] = (
    ParameterSet(
        "yellow-monthly",
        {"colour": "yellow"},
        MONTHLY_CRON,
        "Previous month of yellow taxi trips, on the 1st at 05:00 UTC.",
    ),
    ParameterSet(
        "green-monthly",
        {"colour": "green"},
        MONTHLY_CRON,
        "Previous month of green taxi trips, on the 1st at 05:00 UTC.",
    ),
    ParameterSet(
        "fhv-monthly",
        {"colour": "fhv"},
        MONTHLY_CRON,
        "Previous month of for-hire vehicle trips, on the 1st at 05:00 UTC.",
    ),
    ParameterSet(
        "custom",
        {"colour": "yellow", "year": 2021, "months": [1, 2, 3]},
        None,
        "Any months of one colour and year: set colour, year and months in a Custom run.",
    ),
    ParameterSet(
        "backfill",
        {"colour": "yellow", "months": "2019-01..2021-07"},
        None,
        "A range of months across years (YYYY-MM..YYYY-MM): loaded months are skipped, "
        "so a re-run resumes; unpublished months are reported at the end.",
        flow=BACKFILL_FLOW_NAME,
    ),
)


class DeploySettings(BaseSettings):
    """What deploy.py writes, from ``TAXI_ETL_DEPLOY_*`` (a few shared with compose).

    Paths, hosts and URLs are as the flow-run containers see them.
    """

    model_config = SettingsConfigDict(
        env_prefix="TAXI_ETL_DEPLOY_", extra="ignore", populate_by_name=True
    )

    image: str = Field(
        "taxi-etl:local",
        validation_alias=AliasChoices("TAXI_ETL_DEPLOY_IMAGE", "TAXI_ETL_IMAGE"),
        description="image and tag of the flow-run containers (compose builds it)",
    )
    image_pull_policy: Literal["IF_NOT_PRESENT", "NEVER", "ALWAYS"] = Field(
        "IF_NOT_PRESENT", description="ALWAYS fails for an image that is only built locally"
    )
    network: str = Field(
        "taxi-etl",
        validation_alias=AliasChoices("TAXI_ETL_DEPLOY_NETWORK", "TAXI_ETL_NETWORK"),
        description="the compose network, so the containers reach `server` and `gcs`",
    )
    container_api_url: str = Field(
        "http://server:4200/api",
        description="the Prefect API from inside the network (127.0.0.1 is the container)",
    )
    auto_remove: bool = Field(True, description="remove flow-run containers when they exit")
    volumes: list[str] = Field(
        default_factory=list,
        description='host:container[:ro] mounts, e.g. ["/keys/sa.json:/run/secrets/gcp.json:ro"]',
    )
    lake: str | None = Field(
        None,
        description="TAXI_ETL_LAKE of the flows; default gs://BUCKET with the emulator, "
        "else gcs-block://BUCKET_BLOCK",
    )
    source_url: str | None = Field(
        None, description="TAXI_ETL_SOURCE_URL of the flows, e.g. http://mirror:8000 offline"
    )
    cache: str = Field("/tmp/taxi-etl/cache", description="TAXI_ETL_CACHE in the containers")
    upload_timeout: float | None = Field(None, gt=0, description="TAXI_ETL_UPLOAD_TIMEOUT")
    dask_address: DaskAddress | None = Field(
        None,
        description="TAXI_ETL_DASK_ADDRESS of the flows: runs default to this Dask cluster, "
        "e.g. tcp://dask-scheduler:8786 with the compose `dask` profile",
    )
    storage_emulator_host: str | None = Field(
        "http://gcs:9023", description="the GCS emulator; set it empty for real GCS"
    )
    bucket: str = Field(
        "taxi-lake", validation_alias=AliasChoices("TAXI_ETL_DEPLOY_BUCKET", "TAXI_ETL_BUCKET")
    )
    bucket_folder: str = ""
    gcp_project: str | None = None
    credentials_file: str | None = Field(
        None, description="service-account key file inside the containers (mount it)"
    )
    notify_url: SecretStr | None = Field(
        None,
        description="webhook URL for failed and crashed runs; a secret, saved in a Webhook "
        "block and never printed",
    )
    notify_block: str | None = Field(
        None,
        description="<block-type>/<name> the flow runs notify through; default "
        f"{DEFAULT_NOTIFY_BLOCK} when NOTIFY_URL is set. Without NOTIFY_URL it names a block "
        "made elsewhere (e.g. slack-webhook/ops, made in the UI)",
    )
    infrastructure_block: str = "taxi-etl"
    bucket_block: str = "taxi-lake"
    credentials_block: str = "taxi-gcp"
    work_queue: str = "default"

    @field_validator(
        "lake",
        "source_url",
        "dask_address",
        "storage_emulator_host",
        "gcp_project",
        "credentials_file",
        "notify_url",
        "notify_block",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty variable switches a setting off (e.g. the emulator, for real GCS)."""
        return value or None

    @model_validator(mode="after")
    def _notify_block_is_a_webhook(self) -> DeploySettings:
        """NOTIFY_URL is saved as a Webhook block, so its slug must be one."""
        if self.notify_url and self.notify_block and not self.notify_block.startswith("webhook/"):
            raise ValueError(
                f"notify_block {self.notify_block!r}: NOTIFY_URL is saved as a webhook/NAME "
                "block; leave NOTIFY_URL empty to use another block type"
            )
        return self

    def notify_target(self) -> str | None:
        """The block the flow runs notify through (TAXI_ETL_NOTIFY_BLOCK), if any."""
        if self.notify_block:
            return self.notify_block
        return DEFAULT_NOTIFY_BLOCK if self.notify_url else None

    def masked_notify_url(self) -> str:
        """Scheme and host only: the path or query of a hook URL is its credential."""
        if not self.notify_url:
            return "(none)"
        parts = urlsplit(self.notify_url.get_secret_value())
        return f"{parts.scheme}://{parts.hostname or '?'}/**** (secret, masked)"

    def container_lake(self) -> str:
        """The lake of the flow runs. With the emulator the flows use the bucket directly
        (anonymous credentials); loading the GcsBucket block would make prefect-gcp look
        for real credentials, which an emulator setup does not have."""
        if self.lake:
            return self.lake
        if self.storage_emulator_host:
            return f"gs://{self.bucket}/{self.bucket_folder}".rstrip("/")
        return f"gcs-block://{self.bucket_block}"

    def container_env(self) -> dict[str, str]:
        """Environment of every flow-run container: where the API and the lake are."""
        env = {
            "PREFECT_API_URL": self.container_api_url,
            # The runner checks for cancellation every second, so a finished container
            # exits about 2 s after Completed instead of about 9 s.
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
            "PREFECT_LOGGING_EXTRA_LOGGERS": "taxi_etl",
            "PYTHONWARNINGS": flow_run_pythonwarnings(),
            "TAXI_ETL_LAKE": self.container_lake(),
            "TAXI_ETL_CACHE": self.cache,
        }
        if self.source_url:
            env["TAXI_ETL_SOURCE_URL"] = self.source_url
        if self.upload_timeout:
            env["TAXI_ETL_UPLOAD_TIMEOUT"] = str(self.upload_timeout)
        if self.dask_address:
            env["TAXI_ETL_DASK_ADDRESS"] = self.dask_address
        if self.storage_emulator_host:
            env["STORAGE_EMULATOR_HOST"] = self.storage_emulator_host
            # Never probe the GCE metadata server: an emulator setup has no cloud.
            env["NO_GCE_CHECK"] = "true"
        if self.credentials_file:
            env["GOOGLE_APPLICATION_CREDENTIALS"] = self.credentials_file
        if self.gcp_project:
            env["GOOGLE_CLOUD_PROJECT"] = self.gcp_project
        target = self.notify_target()
        if target:
            env["TAXI_ETL_NOTIFY_BLOCK"] = target  # a block name; the URL stays in the block
        return env


def select(names: Sequence[str] | None) -> list[ParameterSet]:
    """The parameter sets named (all when none), in declaration order."""
    known = {p.name: p for p in DEPLOYMENTS}
    unknown = sorted(set(names or ()) - known.keys())
    if unknown:
        raise ValueError(f"unknown deployment(s) {unknown}; choose from {sorted(known)}")
    return [p for p in DEPLOYMENTS if not names or p.name in names]


def describe(settings: DeploySettings, sets: Sequence[ParameterSet], api_url: str) -> str:
    """The plan as text: what would be written, and where."""
    s = settings
    lines = [
        f"Prefect API {api_url}",
        f"block docker-container/{s.infrastructure_block}: image {s.image} "
        f"(pull {s.image_pull_policy}), network {s.network}, auto_remove {s.auto_remove}"
        + (f", volumes {s.volumes}" if s.volumes else ""),
    ]
    lines += [f"    env {k}={v}" for k, v in s.container_env().items()]
    lines += [
        f"block gcp-credentials/{s.credentials_block}: project {s.gcp_project}, "
        f"service_account_file {s.credentials_file} "
        + ("(a mounted file)" if s.credentials_file else "(Application Default Credentials)"),
        f"block gcs-bucket/{s.bucket_block}: bucket {s.bucket}, folder {s.bucket_folder!r}",
    ]
    target = s.notify_target()
    if s.notify_url:
        lines.append(f"block {target}: url {s.masked_notify_url()}")
        lines.append(f"block {CRASHED_NOTIFY_BLOCK}: url {s.masked_notify_url()}")
        lines.append(f"notification policy: Crashed runs tagged {TAG} -> {CRASHED_NOTIFY_BLOCK}")
    lines.append(
        f"failure notifications: through {target}" if target else "failure notifications: off"
    )
    for p in sets:
        when = f"cron {p.cron!r} {CRON_TIMEZONE}" if p.cron else "no schedule"
        lines.append(
            f"deployment {p.full_name}: {when}, parameters "
            f"{json.dumps(p.parameters)}, queue {s.work_queue}"
        )
        lines.append(f"    code: {p.entrypoint} under {FLOW_PATH} in {s.image}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Applied:
    """What one run of :func:`apply` registered, for the summary and for tests."""

    infrastructure_id: str
    bucket_id: str
    deployment_ids: dict[str, str]


async def apply(settings: DeploySettings, sets: Sequence[ParameterSet], api_url: str) -> Applied:
    """Save the blocks and register the deployments at `api_url`, overwriting by name."""
    silence_prefect2_deprecations()
    from pathlib import Path

    from prefect.blocks.webhook import Webhook
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.deployments.deployments import Deployment
    from prefect.infrastructure.container import DockerContainer, ImagePullPolicy
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect_gcp import GcpCredentials
    from prefect_gcp.cloud_storage import GcsBucket

    from taxi_etl import flows

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        async with get_client() as client:
            problem = await client.api_healthcheck()
        if problem is not None:
            raise ConnectionError(
                f"no Prefect API at {api_url} ({problem}); start it with "
                "`docker compose up -d --wait` or set PREFECT_API_URL"
            )

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
        infrastructure_id = await infrastructure.save(settings.infrastructure_block, overwrite=True)

        # construct(): no validation and no block_initialization, which would resolve
        # credentials here, on the deploying machine, where the key file or the
        # workload identity of the flow containers does not exist.
        credentials = GcpCredentials.construct(
            project=settings.gcp_project,
            service_account_file=Path(settings.credentials_file)
            if settings.credentials_file
            else None,
            service_account_info=None,
        )
        await credentials.save(settings.credentials_block, overwrite=True)
        bucket = GcsBucket.construct(
            bucket=settings.bucket,
            gcp_credentials=credentials,
            bucket_folder=settings.bucket_folder,
        )
        bucket_id = await bucket.save(settings.bucket_block, overwrite=True)

        target = settings.notify_target()
        async with get_client() as client:
            await _converge_crash_policy(client, settings.notify_url)
        if settings.notify_url and target:
            # The block's url is a SecretStr: the API returns it masked unless asked for
            # secrets, and the UI shows it as ********.
            # parse_obj: Prefect's blocks are pydantic v1 models, validated the v1 way.
            webhook = Webhook.parse_obj(
                {"method": "POST", "url": settings.notify_url.get_secret_value()}
            )
            await webhook.save(target.split("/", 1)[1], overwrite=True)

        deployment_ids = {}
        for p in sets:
            deployment = await Deployment.build_from_flow(
                flow=getattr(flows, p.flow),
                name=p.name,
                parameters=p.parameters,
                description=p.description,
                tags=[TAG, "scheduled" if p.cron else "manual"],
                schedules=[CronSchedule(cron=p.cron, timezone=CRON_TIMEZONE)] if p.cron else [],
                infrastructure=infrastructure,
                work_queue_name=settings.work_queue,
                path=FLOW_PATH,
                entrypoint=p.entrypoint,
                enforce_parameter_schema=True,
                skip_upload=True,
                # Everything comes from here, not from what the server holds, so a
                # re-run converges on this file (a UI edit is overwritten, as intended).
                load_existing=False,
                # Nothing is uploaded, so no .prefectignore is needed (or written).
                ignore_file=os.devnull,
            )
            deployment_ids[p.full_name] = str(await deployment.apply())
    return Applied(str(infrastructure_id), str(bucket_id), deployment_ids)


async def _converge_crash_policy(client: Any, url: SecretStr | None) -> None:
    """One active policy for Crashed runs through CRASHED_NOTIFY_BLOCK when `url` is
    set; without it, that policy (if an earlier run made it) is switched off."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.schemas.filters import FlowRunNotificationPolicyFilter
    from prefect.exceptions import ObjectNotFound

    slug, name = CRASHED_NOTIFY_BLOCK.split("/", 1)
    if url is None:
        try:
            block = await client.read_block_document_by_name(name, slug, include_secrets=False)
        except ObjectNotFound:
            return
        block_id = block.id
    else:
        # The URL goes into the block's secrets, and `url` only references it: the
        # block's plain fields are shown in the UI and returned by the API as they are.
        block = CustomWebhookNotificationBlock.parse_obj(
            {
                "name": "taxi-etl",
                "url": "{{url}}",
                "method": "POST",
                "json_data": {"source": "prefect-notification-policy", "text": "{{body}}"},
                "secrets": {"url": url.get_secret_value()},
            }
        )
        block_id = await block.save(name, overwrite=True)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python deploy.py",
        description="Register the taxi_etl deployments that run in containers "
        "(settings: TAXI_ETL_DEPLOY_*, see src/taxi_etl/deployments.py).",
    )
    parser.add_argument(
        "--api-url",
        default=os.environ.get("PREFECT_API_URL") or DEFAULT_API_URL,
        help="Prefect API to register with (default: $PREFECT_API_URL, else %(default)s)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=[p.name for p in DEPLOYMENTS],
        metavar="NAME",
        help="register only this deployment (repeatable); the blocks are always saved. "
        f"One of: {', '.join(p.name for p in DEPLOYMENTS)}",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = DeploySettings()
    sets = select(args.only)
    print(describe(settings, sets, args.api_url))
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    try:
        applied = asyncio.run(apply(settings, sets, args.api_url))
    except ConnectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, deployment_id in applied.deployment_ids.items():
        print(f"registered {name} ({deployment_id})")
    ui = args.api_url.removesuffix("/api")
    print(f"open {ui}/deployments, pick one, and start a Custom run to set parameters")
    return 0
