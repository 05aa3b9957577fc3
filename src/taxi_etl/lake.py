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

import contextlib
import os
import shutil
import uuid
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError

from taxi_etl.params import LakeSpec, Partition, Source

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

_PARQUET = "application/vnd.apache.parquet"
DATA_FILE = "data.parquet"
MANIFEST_FILE = "_manifest.json"
#: What the partition cannot hold, kept row for row beside it (transform/extra.py).
EXTRA_FILE = "_extra.arrow"


class ManifestDamaged(ValueError):
    """A partition's manifest that cannot be read (truncated, edited by hand): that
    month is not loaded and is loaded again; no other month is affected."""

    def __init__(self, uri: str, why: str) -> None:
        super().__init__(f"manifest damaged: {uri}: {why}")
        self.uri = uri


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
    #: sha256 of the data object as written (None in manifests before it was recorded).
    data_sha256: str | None = None
    #: Size of ``_extra.arrow``, when the source held values the partition cannot (a
    #: column no era knows, unmapped codes), and source column -> rows kept there.
    extra_bytes: int | None = None
    extra_sha256: str | None = None
    extra: dict[str, int] = Field(default_factory=dict)
    schema_version: int
    flow_run_id: str | None = None
    written_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    stats: dict[str, Any] = Field(default_factory=dict)
    checks: list[dict[str, Any]] = Field(default_factory=list)


class Lake(ABC):
    """Where partitions live; one instance per root, cheap to create.

    A backend stores whole objects under a folder key; everything about what the
    objects mean (partitions, manifests, tables beside them) is here, once.
    """

    uri: str

    @abstractmethod
    def _read(self, key: str, leaf: str) -> bytes | None: ...

    @abstractmethod
    def _size(self, key: str, leaf: str) -> int | None:
        """Size of an object, or None when there is none."""

    @abstractmethod
    def _put_file(self, key: str, leaf: str, local: Path) -> None: ...

    @abstractmethod
    def _get_file(self, key: str, leaf: str, local: Path) -> bool:
        """Copy an object to a local file; False when there is none."""

    @abstractmethod
    def _put_bytes(self, key: str, leaf: str, body: bytes) -> None: ...

    @abstractmethod
    def _delete(self, key: str, leaf: str) -> None:
        """Remove an object if it is there."""

    def data_uri(self, part: Partition) -> str:
        return self.table_uri(partition_key(part))

    def table_uri(self, key: str) -> str:
        return f"{self.uri.rstrip('/')}/{key}/{DATA_FILE}"

    def read_manifest(self, part: Partition) -> Manifest | None:
        """The partition's manifest, None if it has none; ManifestDamaged if it cannot
        be read as one."""
        key = partition_key(part)
        body = self._read(key, MANIFEST_FILE)
        if body is None:
            return None
        try:
            manifest = Manifest.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the file"
            raise ManifestDamaged(self.manifest_uri(key), f"{where}: {first['msg']}") from None
        if manifest.partition != key:
            raise ManifestDamaged(self.manifest_uri(key), f"it names {manifest.partition}")
        return manifest

    def manifest_uri(self, key: str) -> str:
        return f"{self.uri.rstrip('/')}/{key}/{MANIFEST_FILE}"

    def fetch(self, part: Partition, leaf: str, local: Path) -> bool:
        """A partition's object (``DATA_FILE``, ``EXTRA_FILE``) as a local file."""
        return self._get_file(partition_key(part), leaf, local)

    def data_size(self, part: Partition) -> int | None:
        return self._size(partition_key(part), DATA_FILE)

    def loaded(self, part: Partition) -> Manifest | None:
        """The manifest if the partition is complete: manifest and data agree."""
        manifest = self.read_manifest(part)
        if manifest is None or self.data_size(part) != manifest.bytes:
            return None  # no manifest, or data replaced or lost after it: not trustworthy
        return manifest

    def record(self, part: Partition, manifest: Manifest) -> None:
        """Replace a complete partition's manifest, not its data (what a host now says
        of a source that turned out unchanged)."""
        self._put_bytes(partition_key(part), MANIFEST_FILE, _json(manifest))

    def publish(
        self, part: Partition, local: Path, manifest: Manifest, extra: Path | None = None
    ) -> str:
        """Put the data, then what it cannot hold (or remove an earlier load's), then the
        manifest; each step is atomic on its own, and the manifest, last, records the
        sizes of both, so a crash between steps leaves a month that is not loaded."""
        key = partition_key(part)
        self._put_file(key, DATA_FILE, local)
        if extra is not None:
            self._put_file(key, EXTRA_FILE, extra)
        else:
            self._delete(key, EXTRA_FILE)
        self._put_bytes(key, MANIFEST_FILE, _json(manifest))
        return self.table_uri(key)

    def publish_table(self, key: str, local: Path, manifest: bytes) -> str:
        """A table beside the partitions (the zone lookup), written the same way."""
        self._put_file(key, DATA_FILE, local)
        self._put_bytes(key, MANIFEST_FILE, manifest)
        return self.table_uri(key)

    def table_manifest(self, key: str) -> bytes | None:
        """A table's manifest, if the table is complete (its data is there)."""
        body = self._read(key, MANIFEST_FILE)
        return body if body is not None and self._size(key, DATA_FILE) is not None else None


def _json(manifest: BaseModel) -> bytes:
    return manifest.model_dump_json(indent=2).encode()


class LocalLake(Lake):
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.uri = self.root.as_uri()

    def _read(self, key: str, leaf: str) -> bytes | None:
        try:
            return (self.root / key / leaf).read_bytes()
        except FileNotFoundError:
            return None

    def _size(self, key: str, leaf: str) -> int | None:
        try:
            return (self.root / key / leaf).stat().st_size
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

    def _put_file(self, key: str, leaf: str, local: Path) -> None:
        self._replace(self.root / key / leaf, lambda tmp: shutil.copyfile(local, tmp))

    def _get_file(self, key: str, leaf: str, local: Path) -> bool:
        try:
            shutil.copyfile(self.root / key / leaf, local)
        except FileNotFoundError:
            return False
        return True

    def _put_bytes(self, key: str, leaf: str, body: bytes) -> None:
        self._replace(self.root / key / leaf, lambda tmp: tmp.write_bytes(body))

    def _delete(self, key: str, leaf: str) -> None:
        (self.root / key / leaf).unlink(missing_ok=True)


class GcsLake(Lake):
    """GCS through google-cloud-storage; a single-object upload is atomic on GCS."""

    def __init__(self, bucket: Bucket, prefix: str = "", *, timeout: float = 600.0) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.timeout = timeout
        self.uri = f"gs://{bucket.name}/{self.prefix}".rstrip("/")

    def _name(self, key: str, leaf: str) -> str:
        return "/".join(p for p in (self.prefix, key, leaf) if p)

    def _read(self, key: str, leaf: str) -> bytes | None:
        from google.api_core.exceptions import NotFound
        from google.cloud.storage.retry import DEFAULT_RETRY

        blob = self.bucket.blob(self._name(key, leaf))
        try:
            body: bytes = blob.download_as_bytes(timeout=self.timeout, retry=DEFAULT_RETRY)
        except NotFound:
            return None
        return body

    def _size(self, key: str, leaf: str) -> int | None:
        from google.cloud.storage.retry import DEFAULT_RETRY

        blob = self.bucket.get_blob(
            self._name(key, leaf), timeout=self.timeout, retry=DEFAULT_RETRY
        )
        return None if blob is None else int(blob.size)

    def _put_file(self, key: str, leaf: str, local: Path) -> None:
        from google.cloud.storage.retry import DEFAULT_RETRY

        # Chunked resumable upload: each 16 MiB chunk is retried on its own, and the
        # object only appears, atomically, when the last chunk is committed.
        blob = self.bucket.blob(self._name(key, leaf), chunk_size=16 << 20)
        parquet = leaf.endswith(".parquet")
        blob.upload_from_filename(
            str(local),
            content_type=_PARQUET if parquet else "application/vnd.apache.arrow.file",
            timeout=self.timeout,
            retry=DEFAULT_RETRY,
        )

    def _get_file(self, key: str, leaf: str, local: Path) -> bool:
        from google.api_core.exceptions import NotFound
        from google.cloud.storage.retry import DEFAULT_RETRY

        try:
            self.bucket.blob(self._name(key, leaf), chunk_size=16 << 20).download_to_filename(
                str(local), timeout=self.timeout, retry=DEFAULT_RETRY
            )
        except NotFound:
            local.unlink(missing_ok=True)
            return False
        return True

    def _put_bytes(self, key: str, leaf: str, body: bytes) -> None:
        from google.cloud.storage.retry import DEFAULT_RETRY

        blob = self.bucket.blob(self._name(key, leaf))
        blob.upload_from_string(
            body, content_type="application/json", timeout=self.timeout, retry=DEFAULT_RETRY
        )

    def _delete(self, key: str, leaf: str) -> None:
        from google.api_core.exceptions import NotFound
        from google.cloud.storage.retry import DEFAULT_RETRY

        with contextlib.suppress(NotFound):
            self.bucket.blob(self._name(key, leaf)).delete(
                timeout=self.timeout, retry=DEFAULT_RETRY
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

    # _sync=True: this runs in a worker thread of an async flow, which Prefect 3 (whose
    # Block.load picks sync or async from the run context, copied into the thread)
    # would otherwise answer with a coroutine. Prefect 2 accepts the same flag.
    block = GcsBucket.load(name, _sync=True)
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        client = _storage_client(block.gcp_credentials.project)
    else:
        client = block.gcp_credentials.get_cloud_storage_client()
    return GcsLake(client.bucket(block.bucket), block.bucket_folder, timeout=timeout)


def open_lake(spec: str | Path, *, upload_timeout: float = 600.0) -> Lake:
    """``gs://BUCKET[/PREFIX]``, ``gcs-block://BLOCK`` (prefect-gcp GcsBucket) or a path."""
    try:
        where = LakeSpec.parse(str(spec))
    except ValueError as exc:
        raise ValueError(f"lake: {exc}") from None
    if where.kind == "gs":
        return GcsLake(_storage_client().bucket(where.where), where.prefix, timeout=upload_timeout)
    if where.kind == "block":
        return _gcs_from_block(where.where, upload_timeout)
    return LocalLake(Path(where.where))
