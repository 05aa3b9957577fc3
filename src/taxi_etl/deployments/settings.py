"""What deploy.py writes, from ``TAXI_ETL_DEPLOY_*`` (a few shared with compose).

These are the deploying side's settings; the flow runs' own (``TAXI_ETL_*``) are made
from them by :meth:`DeploySettings.run_settings`, so no name is spelt twice.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from taxi_etl.deployments.installed import LINE
from taxi_etl.deployments.line import FLOW_RUN_LABELS
from taxi_etl.params import DaskAddress, YearMonth
from taxi_etl.settings import Settings

__all__ = ["DEFAULT_NOTIFY_BLOCK", "FLOW_RUN_LABELS", "DeploySettings"]

#: Webhook block saved from TAXI_ETL_DEPLOY_NOTIFY_URL, as ``<block-type>/<name>``.
DEFAULT_NOTIFY_BLOCK = "webhook/taxi-etl-alerts"


class DeploySettings(BaseSettings):
    """What deploy.py writes, from ``TAXI_ETL_DEPLOY_*`` (a few shared with compose).

    Paths, hosts and URLs are as the flow-run containers see them.
    """

    model_config = SettingsConfigDict(
        env_prefix="TAXI_ETL_DEPLOY_", extra="ignore", populate_by_name=True
    )

    image: str = Field(
        LINE.image,
        validation_alias=AliasChoices("TAXI_ETL_DEPLOY_IMAGE", "TAXI_ETL_IMAGE"),
        description="image and tag of the flow-run containers (compose builds it; the "
        "default is the installed line's)",
    )
    image_pull_policy: Literal["IF_NOT_PRESENT", "NEVER", "ALWAYS"] | None = Field(
        None,
        description="unset: IF_NOT_PRESENT on the Prefect 2 line, NEVER on 3 (a locally built "
        "image); ALWAYS fails for an image that is only built locally",
    )
    network: str = Field(
        LINE.network,
        validation_alias=AliasChoices("TAXI_ETL_DEPLOY_NETWORK", "TAXI_ETL_NETWORK"),
        description="the compose network, so the containers reach `server` and `gcs` (the "
        "default is the installed line's stack)",
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
    dtc_url: str | None = Field(
        None,
        validation_alias=AliasChoices("TAXI_ETL_DEPLOY_DTC_URL", "TAXI_ETL_DEPLOY_SOURCE_URL"),
        description="the course mirror's base URL in the flows, e.g. http://mirror:8000 "
        "offline (TAXI_ETL_DEPLOY_SOURCE_URL is its older name)",
    )
    tlc_url: str | None = Field(
        None,
        description="the TLC files' base URL in the flows, e.g. http://mirror:8000/tlc/trip-data "
        "offline",
    )
    tlc_csv_url: str | None = Field(
        None, description="the host of your copy of the TLC's original csv files, in the flows"
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
    catchup_start: YearMonth | None = Field(
        None,
        description="first month (YYYY-MM) of the scheduled catch-ups; unset: each "
        "dataset's first TLC month (a full history: about 60 GB over all four)",
    )
    infrastructure_block: str = "taxi-etl"
    bucket_block: str = "taxi-lake"
    credentials_block: str = "taxi-gcp"
    work_queue: str = "default"
    work_pool: str = Field(
        "taxi-etl-docker", description="the Docker work pool of the Prefect 3 line's worker"
    )

    @field_validator(
        "lake",
        "dtc_url",
        "tlc_url",
        "tlc_csv_url",
        "dask_address",
        "storage_emulator_host",
        "gcp_project",
        "credentials_file",
        "notify_url",
        "notify_block",
        "catchup_start",
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

    def pull_policy(self) -> str:
        """The image pull policy, in Prefect 2's spelling."""
        return self.image_pull_policy or LINE.pull_policy

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

    def run_settings(self) -> Settings:
        """The flow runs' own settings (``TAXI_ETL_*``), as these deploy settings make
        them: the lake, the cache, the source and the notification block."""
        return Settings.of(
            lake=self.container_lake(),
            cache=self.cache,
            dtc_url=self.dtc_url,
            tlc_url=self.tlc_url,
            tlc_csv_url=self.tlc_csv_url,
            upload_timeout=self.upload_timeout,
            dask_address=self.dask_address,
            notify_block=self.notify_target(),  # a block name; the URL stays in the block
        )

    def container_env(self) -> dict[str, str]:
        """Environment of every flow-run container: where the API and the lake are."""
        env = {
            "PREFECT_API_URL": self.container_api_url,
            # The runner checks for cancellation every second, so a finished container
            # exits about 2 s after Completed instead of about 9 s.
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
            "PREFECT_LOGGING_EXTRA_LOGGERS": "taxi_etl",
            **self.run_settings().env(),
        }
        if LINE.container_warnings:
            env["PYTHONWARNINGS"] = LINE.container_warnings
        if self.storage_emulator_host:
            env["STORAGE_EMULATOR_HOST"] = self.storage_emulator_host
            # Never probe the GCE metadata server: an emulator setup has no cloud.
            env["NO_GCE_CHECK"] = "true"
        if self.credentials_file:
            env["GOOGLE_APPLICATION_CREDENTIALS"] = self.credentials_file
        if self.gcp_project:
            env["GOOGLE_CLOUD_PROJECT"] = self.gcp_project
        return env
