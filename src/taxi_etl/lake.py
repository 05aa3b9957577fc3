"""The lake: partition layout, manifests, and atomic idempotent writes, behind one
small interface with a local-directory backend and a GCS backend.

Layout: ``{root}/colour=yellow/year=2021/month=01/data.parquet`` plus
``_manifest.json`` beside it. One data object per partition means a re-load replaces
it in one atomic step: a local ``os.replace``, or a GCS object generation, which
readers see whole or not at all. The manifest is written last; a partition without a
manifest that matches its data is treated as not loaded, so a crash between the two
writes is repaired by the next run. Names starting with ``.`` or ``_`` are skipped by
pyarrow, DuckDB-with-hive and BigQuery globs over ``*.parquet``, so temporary files
and manifests never show up as data.
"""

from __future__ import annotations

import os
import shutil
import uuid
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from taxi_etl.params import Partition, Source

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

DATA_FILE = "data.parquet"
MANIFEST_FILE = "_manifest.json"


def partition_key(part: Partition) -> str:
    """The hive path of a partition under a lake's root, the single place it is spelt out."""
    return f"colour={part.colour.value}/year={part.year}/month={part.month:02d}"


class Manifest(BaseModel):
    """What a partition holds and where it came from; its presence marks it complete.

    The source's ETag, Last-Modified and size are what its host said of the file when
    it was loaded, so a later run can ask the host whether the file changed without
    downloading it. Manifests from before they were recorded say ``dtc`` and nothing
    else: such a month is compared by downloading it once and hashing."""

    partition: str
    source: Source = Source.dtc
    source_url: str
    source_sha256: str
    source_bytes: int
    source_etag: str | None = None
    source_last_modified: str | None = None
    #: Source columns that are not in the partition (a leaked index, unknown columns).
    columns_not_loaded: list[str] = Field(default_factory=list)
    rows: int
    bytes: int = Field(description="size of the data object")
    schema_version: int
    flow_run_id: str | None = None
    written_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    stats: dict[str, Any] = Field(default_factory=dict)
    checks: list[dict[str, Any]] = Field(default_factory=list)


class Lake(ABC):
    """Where partitions live; one instance per root, cheap to create."""

    uri: str

    def data_uri(self, part: Partition) -> str:
        return f"{self.uri.rstrip('/')}/{partition_key(part)}/{DATA_FILE}"

    @abstractmethod
    def read_manifest(self, part: Partition) -> Manifest | None: ...

    @abstractmethod
    def data_size(self, part: Partition) -> int | None:
        """Size of the data object, or None when there is none."""

    @abstractmethod
    def _put_data(self, part: Partition, local: Path) -> None: ...

    @abstractmethod
    def _put_manifest(self, part: Partition, body: bytes) -> None: ...

    def loaded(self, part: Partition) -> Manifest | None:
        """The manifest if the partition is complete: manifest and data agree."""
        manifest = self.read_manifest(part)
        if manifest is None or self.data_size(part) != manifest.bytes:
            return None  # no manifest, or data replaced or lost after it: not trustworthy
        return manifest

    def current(self, part: Partition, source_sha256: str) -> Manifest | None:
        """The manifest if the partition is complete and was loaded from this exact source."""
        manifest = self.loaded(part)
        if manifest is None or manifest.source_sha256 != source_sha256:
            return None
        return manifest

    def record(self, part: Partition, manifest: Manifest) -> None:
        """Replace a complete partition's manifest, not its data (what a host now says
        of a source that turned out unchanged)."""
        self._put_manifest(part, manifest.model_dump_json(indent=2).encode())

    def publish(self, part: Partition, local: Path, manifest: Manifest) -> str:
        """Put the data, then the manifest; each step is atomic on its own."""
        self._put_data(part, local)
        self._put_manifest(part, manifest.model_dump_json(indent=2).encode())
        return self.data_uri(part)


class LocalLake(Lake):
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.uri = self.root.as_uri()

    def _dir(self, part: Partition) -> Path:
        return self.root / partition_key(part)

    def read_manifest(self, part: Partition) -> Manifest | None:
        path = self._dir(part) / MANIFEST_FILE
        try:
            return Manifest.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None

    def data_size(self, part: Partition) -> int | None:
        try:
            return (self._dir(part) / DATA_FILE).stat().st_size
        except FileNotFoundError:
            return None

    def _replace(self, final: Path, write: Any) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        try:
            write(tmp)
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

    def _put_data(self, part: Partition, local: Path) -> None:
        self._replace(self._dir(part) / DATA_FILE, lambda tmp: shutil.copyfile(local, tmp))

    def _put_manifest(self, part: Partition, body: bytes) -> None:
        self._replace(self._dir(part) / MANIFEST_FILE, lambda tmp: tmp.write_bytes(body))


class GcsLake(Lake):
    """GCS through google-cloud-storage; a single-object upload is atomic on GCS."""

    def __init__(self, bucket: Bucket, prefix: str = "", *, timeout: float = 600.0) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.timeout = timeout
        self.uri = f"gs://{bucket.name}/{self.prefix}".rstrip("/")

    def _name(self, part: Partition, leaf: str) -> str:
        return "/".join(p for p in (self.prefix, partition_key(part), leaf) if p)

    def read_manifest(self, part: Partition) -> Manifest | None:
        from google.api_core.exceptions import NotFound
        from google.cloud.storage.retry import DEFAULT_RETRY

        blob = self.bucket.blob(self._name(part, MANIFEST_FILE))
        try:
            body = blob.download_as_bytes(timeout=self.timeout, retry=DEFAULT_RETRY)
        except NotFound:
            return None
        return Manifest.model_validate_json(body)

    def data_size(self, part: Partition) -> int | None:
        from google.cloud.storage.retry import DEFAULT_RETRY

        blob = self.bucket.get_blob(
            self._name(part, DATA_FILE), timeout=self.timeout, retry=DEFAULT_RETRY
        )
        return None if blob is None else int(blob.size)

    def _put_data(self, part: Partition, local: Path) -> None:
        from google.cloud.storage.retry import DEFAULT_RETRY

        # Chunked resumable upload: each 16 MiB chunk is retried on its own, and the
        # object only appears, atomically, when the last chunk is committed.
        blob = self.bucket.blob(self._name(part, DATA_FILE), chunk_size=16 << 20)
        blob.upload_from_filename(
            str(local),
            content_type="application/vnd.apache.parquet",
            timeout=self.timeout,
            retry=DEFAULT_RETRY,
        )

    def _put_manifest(self, part: Partition, body: bytes) -> None:
        from google.cloud.storage.retry import DEFAULT_RETRY

        blob = self.bucket.blob(self._name(part, MANIFEST_FILE))
        blob.upload_from_string(
            body, content_type="application/json", timeout=self.timeout, retry=DEFAULT_RETRY
        )


def _storage_client(project: str | None = None) -> Any:
    """A client for real GCS (Google's credential discovery) or, when
    ``STORAGE_EMULATOR_HOST`` is set, for the emulator with anonymous credentials."""
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            project=project or "taxi-etl-emulator",
        )
    return storage.Client(project=project)


def _gcs_from_block(name: str, timeout: float) -> GcsLake:
    from prefect_gcp.cloud_storage import GcsBucket

    block = GcsBucket.load(name)
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        client = _storage_client(block.gcp_credentials.project)
    else:
        client = block.gcp_credentials.get_cloud_storage_client()
    return GcsLake(client.bucket(block.bucket), block.bucket_folder, timeout=timeout)


def open_lake(spec: str | Path, *, upload_timeout: float = 600.0) -> Lake:
    """``gs://BUCKET[/PREFIX]``, ``gcs-block://BLOCK`` (prefect-gcp GcsBucket) or a path."""
    text = str(spec)
    if text.startswith("gs://"):
        bucket, _, prefix = text[5:].partition("/")
        if not bucket:
            raise ValueError(f"lake: {text!r} names no bucket")
        return GcsLake(_storage_client().bucket(bucket), prefix, timeout=upload_timeout)
    if text.startswith("gcs-block://"):
        return _gcs_from_block(text[len("gcs-block://") :], upload_timeout)
    if "://" in text and not text.startswith("file://"):
        raise ValueError(f"lake: unsupported scheme in {text!r}; use a path, gs:// or gcs-block://")
    return LocalLake(Path(text.removeprefix("file://")))
