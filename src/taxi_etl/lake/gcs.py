"""A lake in a GCS bucket, through google-cloud-storage: a single-object upload is
atomic on GCS, and a gcs-block:// lake takes its bucket and credentials from a
prefect-gcp GcsBucket block."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from taxi_etl.lake.base import Lake, LakeUnreachable
from taxi_etl.lake.manifest import _PARQUET

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

_Method = TypeVar("_Method", bound=Callable[..., Any])


def _reached(method: _Method) -> _Method:
    """A storage call that could not reach GCS within its deadline fails as
    LakeUnreachable, naming the lake, not as a RetryError from deep in the client."""

    @functools.wraps(method)
    def call(self: GcsLake, *args: Any, **kwargs: Any) -> Any:
        from google.api_core.exceptions import GoogleAPIError, NotFound
        from requests.exceptions import RequestException

        try:
            return method(self, *args, **kwargs)
        except NotFound:
            raise
        except (GoogleAPIError, RequestException) as exc:
            why = str(exc).split(", last exception:")[0]
            raise LakeUnreachable(f"{self.uri} could not be reached ({why})") from exc

    return call  # type: ignore[return-value]


class GcsLake(Lake):
    """GCS through google-cloud-storage; a single-object upload is atomic on GCS."""

    def __init__(
        self, bucket: Bucket, prefix: str = "", *, timeout: float = 600.0, deadline: float = 120.0
    ) -> None:
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.timeout = timeout
        self.uri = f"gs://{bucket.name}/{self.prefix}".rstrip("/")
        #: Google's retry of transient errors, given up after `deadline` seconds.
        self._retry = DEFAULT_RETRY.with_timeout(deadline)

    def _name(self, key: str, leaf: str) -> str:
        return "/".join(p for p in (self.prefix, key, leaf) if p)

    @_reached
    def _read(self, key: str, leaf: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        blob = self.bucket.blob(self._name(key, leaf))
        try:
            body: bytes = blob.download_as_bytes(timeout=self.timeout, retry=self._retry)
        except NotFound:
            return None
        return body

    @_reached
    def _size(self, key: str, leaf: str) -> int | None:

        blob = self.bucket.get_blob(
            self._name(key, leaf), timeout=self.timeout, retry=self._retry
        )
        return None if blob is None else int(blob.size)

    @_reached
    def _put_file(self, key: str, leaf: str, local: Path) -> None:

        # Chunked resumable upload: each 16 MiB chunk is retried on its own, and the
        # object only appears, atomically, when the last chunk is committed.
        blob = self.bucket.blob(self._name(key, leaf), chunk_size=16 << 20)
        parquet = leaf.endswith(".parquet")
        blob.upload_from_filename(
            str(local),
            content_type=_PARQUET if parquet else "application/vnd.apache.arrow.file",
            timeout=self.timeout,
            retry=self._retry,
        )

    @_reached
    def _get_file(self, key: str, leaf: str, local: Path) -> bool:
        from google.api_core.exceptions import NotFound

        try:
            self.bucket.blob(self._name(key, leaf), chunk_size=16 << 20).download_to_filename(
                str(local), timeout=self.timeout, retry=self._retry
            )
        except NotFound:
            local.unlink(missing_ok=True)
            return False
        return True

    @_reached
    def _put_bytes(self, key: str, leaf: str, body: bytes) -> None:

        blob = self.bucket.blob(self._name(key, leaf))
        blob.upload_from_string(
            body, content_type="application/json", timeout=self.timeout, retry=self._retry
        )

    @_reached
    def _delete(self, key: str, leaf: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self.bucket.blob(self._name(key, leaf)).delete(
                timeout=self.timeout, retry=self._retry
            )


    @_reached
    def _tail(self, key: str, leaf: str, n: int) -> bytes | None:
        from google.api_core.exceptions import NotFound

        blob = self.bucket.get_blob(self._name(key, leaf), timeout=self.timeout)
        if blob is None:
            return None
        try:
            body: bytes = blob.download_as_bytes(
                start=max(0, int(blob.size) - n), timeout=self.timeout, retry=self._retry
            )
        except NotFound:
            return None
        return body

    @_reached
    def _move(self, key: str, leaf: str, to: str) -> None:

        blob = self.bucket.blob(self._name(key, leaf))
        self.bucket.copy_blob(
            blob, self.bucket, self._name(key, to), timeout=self.timeout, retry=self._retry
        )
        blob.delete(timeout=self.timeout, retry=self._retry)

    @_reached
    def objects(self, below: str = "") -> list[tuple[str, int]]:

        start = "/".join(p for p in (self.prefix, below) if p)
        blobs = self.bucket.list_blobs(
            prefix=f"{start}/" if start else None, timeout=self.timeout, retry=self._retry
        )
        cut = len(self.prefix) + 1 if self.prefix else 0
        return sorted((b.name[cut:], int(b.size)) for b in blobs)


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


def _gcs_from_block(name: str, timeout: float, deadline: float) -> GcsLake:
    from prefect_gcp.cloud_storage import GcsBucket

    # _sync=True: this runs in a worker thread of an async flow, which Prefect 3 (whose
    # Block.load picks sync or async from the run context, copied into the thread)
    # would otherwise answer with a coroutine. Prefect 2 accepts the same flag.
    block = GcsBucket.load(name, _sync=True)
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        client = _storage_client(block.gcp_credentials.project)
    else:
        client = block.gcp_credentials.get_cloud_storage_client()
    return GcsLake(
        client.bucket(block.bucket), block.bucket_folder, timeout=timeout, deadline=deadline
    )
