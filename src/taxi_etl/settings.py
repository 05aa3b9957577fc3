"""Settings from the environment (``TAXI_ETL_*``), in one place, so CLI flags and
deployments agree.

Every default works on one machine (the embedded default): the course's DataTalksClub
mirror as source, ``./data/lake`` as lake, ``./data/cache`` for downloads. Nothing
here holds a secret: GCS credentials come from Google's own discovery (a
service-account file, workload identity) or from a prefect-gcp GcpCredentials block.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from taxi_etl.params import DaskAddress, LakeSpec, Runner, Source, check_url
from taxi_etl.source import DEFAULT_BASE_URL, Retries


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAXI_ETL_", extra="ignore")

    source: Source = Field(
        Source.dtc,
        description="dtc: the course's csv.gz mirror; tlc: the TLC's parquet files; tlc-csv: "
        "the TLC's original csv files, from a host of your own",
    )
    source_url: str | None = Field(
        None,
        description="base URL of the chosen source, for this run; unset: dtc_url, tlc_url "
        "or tlc_csv_url, else that source's own host",
    )
    dtc_url: str | None = Field(None, description="base URL of the course's csv.gz mirror")
    tlc_url: str | None = Field(None, description="base URL of the TLC's parquet files")
    tlc_csv_url: str | None = Field(
        None, description="base URL of a host of the TLC's original csv files (no default)"
    )
    lake: str = Field(
        "data/lake",
        description="a directory, gs://BUCKET[/PREFIX], or gcs-block://NAME (a GcsBucket block)",
    )
    cache: Path = Field(Path("data/cache"), description="where downloads are kept for a day")
    download_timeout: float = Field(
        60.0, gt=0, description="seconds of silence before a download attempt is abandoned"
    )
    download_attempts: int = Field(4, ge=1, le=20)
    download_min_rate: float = Field(
        64 * 1024,
        gt=0,
        description="bytes a second an attempt must average after download_grace seconds; "
        "so a download's deadline is download_grace + its size / this rate",
    )
    download_grace: float = Field(
        120.0, gt=0, description="seconds a download may take before its rate is checked"
    )
    upload_timeout: float = Field(
        600.0,
        gt=0,
        description="per GCS request; the library's 60 s default is too short for large months",
    )
    storage_deadline: float = Field(
        120.0,
        gt=0,
        description="seconds a GCS call retries transient errors before the lake is "
        "unreachable for that month",
    )
    transform_slots: int | None = Field(
        None,
        ge=1,
        description="transforms at once in one process; unset: as many as fill the cores "
        "(one on 2 cores: a transform's parse threads already use them all)",
    )
    runner: Runner | None = Field(
        None, description="local or dask; unset: dask when dask_address is set, else local"
    )
    dask_address: DaskAddress | None = Field(
        None, description="scheduler of an existing Dask cluster; unset: a temporary local one"
    )
    notify_block: str | None = Field(
        None,
        description="<block-type>/<name> of the block failed and crashed runs notify through "
        "(the URL stays a secret of the block); unset: no notification",
    )

    @field_validator("lake")
    @classmethod
    def _a_lake(cls, value: str) -> str:
        LakeSpec.parse(value)
        return value

    @field_validator("source_url", "dtc_url", "tlc_url", "tlc_csv_url")
    @classmethod
    def _a_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)

    @model_validator(mode="after")
    def _has_a_host(self) -> Self:
        if self.source is Source.tlc_csv and not (self.source_url or self.tlc_csv_url):
            raise ValueError(
                "source tlc-csv: the TLC no longer serves its original csv files; give the "
                "host of your copy with --source-url (or TAXI_ETL_TLC_CSV_URL)"
            )
        return self

    def retries(self) -> Retries:
        """How hard a download or a probe tries, and how slow it may be."""
        return Retries(
            self.download_timeout,
            self.download_attempts,
            min_rate=self.download_min_rate,
            grace=self.download_grace,
        )

    @property
    def base_url(self) -> str:
        """Where the chosen source's months are: the run's base, else the source's."""
        own = {
            Source.dtc: self.dtc_url,
            Source.tlc: self.tlc_url,
            Source.tlc_csv: self.tlc_csv_url,
        }
        return self.source_url or own[self.source] or DEFAULT_BASE_URL[self.source]

    @classmethod
    def of(cls, **values: Any) -> Settings:
        """Settings from these values alone, not from this process's environment: the
        configuration of another process (a container, a worker) built here."""
        given = _Given(**{k: v for k, v in values.items() if v is not None})
        return Settings.model_construct(given.model_fields_set, **given.model_dump())

    @classmethod
    def with_overrides(cls, **values: Any) -> Self:
        """This process's settings, with the values given (a run's parameters) on top."""
        return cls(**{k: v for k, v in values.items() if v})

    def env(self) -> dict[str, str]:
        """The values set on this instance as ``TAXI_ETL_*`` variables, for a child
        process or a container: the one place the names are spelt out."""
        prefix = self.model_config.get("env_prefix", "")
        return {
            f"{prefix}{name.upper()}": value if isinstance(value, str) else json.dumps(value)
            for name, value in self.model_dump(
                mode="json", exclude_unset=True, exclude_none=True
            ).items()
        }


class _Given(Settings):
    """Validated like Settings, from the values passed in and nothing else."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: Any, *_: Any, **__: Any
    ) -> tuple[Any, ...]:
        return (init_settings,)

