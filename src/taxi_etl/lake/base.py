"""The lake's one small interface: objects under a folder key, and what they mean (a
partition's data, manifest and extra file; tables beside them), once, for every
backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from taxi_etl.lake.manifest import (
    DATA_FILE,
    EXTRA_FILE,
    MANIFEST_FILE,
    PENDING_FILE,
    QUARANTINE,
    Manifest,
    ManifestDamaged,
    _json,
    partition_key,
)
from taxi_etl.params import Partition


class LakeUnreachable(RuntimeError):
    """The lake's storage could not be reached within its deadline."""


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

    @abstractmethod
    def _tail(self, key: str, leaf: str, n: int) -> bytes | None:
        """The last `n` bytes of an object (all of it if smaller); None if none."""

    @abstractmethod
    def _move(self, key: str, leaf: str, to: str) -> None:
        """Give an object another name in its folder (a GCS rewrite then a delete)."""

    @abstractmethod
    def objects(self, below: str = "") -> list[tuple[str, int]]:
        """Every object's name under the root (``key/leaf``, below a key) and size."""

    def footer(self, part: Partition) -> pq.FileMetaData:
        """The data object's parquet footer, read from its tail alone (two small reads
        on GCS, not the object); ValueError if it has none that parses."""
        key = partition_key(part)
        last = self._tail(key, DATA_FILE, 8)
        if last is None or len(last) < 8 or last[4:] != b"PAR1":
            raise ValueError("not a parquet file (no footer)")
        tail = self._tail(key, DATA_FILE, int.from_bytes(last[:4], "little") + 8)
        try:
            return pq.read_metadata(pa.BufferReader(tail))
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(f"unreadable footer ({exc})") from None

    def remove(self, uri: str) -> None:
        """Remove an object of this lake by its URI (an orphan verify found)."""
        key, _, leaf = uri.removeprefix(self.uri.rstrip("/") + "/").rpartition("/")
        self._delete(key, leaf)

    def quarantine(self, part: Partition, leaves: list[str]) -> None:
        """Move a damaged partition's objects out of readers' way (``_damaged.`` +
        name, matched by no glob over ``*.parquet``), kept for a look: the month is then
        not loaded, and the next run loads it again."""
        key = partition_key(part)
        for leaf in leaves:
            self._move(key, leaf, f"{QUARANTINE}{leaf}".removesuffix(".parquet"))

    def data_uri(self, part: Partition) -> str:
        return self.table_uri(partition_key(part))

    def table_uri(self, key: str) -> str:
        return f"{self.uri.rstrip('/')}/{key}/{DATA_FILE}"

    def read_manifest(self, part: Partition, leaf: str = MANIFEST_FILE) -> Manifest | None:
        """The partition's manifest, None if it has none; ManifestDamaged if it cannot
        be read as one."""
        key = partition_key(part)
        body = self._read(key, leaf)
        if body is None:
            return None
        uri = self.manifest_uri(key, leaf)
        try:
            manifest = Manifest.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the file"
            raise ManifestDamaged(uri, f"{where}: {first['msg']}") from None
        if manifest.partition != key:
            raise ManifestDamaged(uri, f"it names {manifest.partition}")
        return manifest

    def manifest_uri(self, key: str, leaf: str = MANIFEST_FILE) -> str:
        return f"{self.uri.rstrip('/')}/{key}/{leaf}"

    def fetch(self, part: Partition, leaf: str, local: Path) -> bool:
        """A partition's object (``DATA_FILE``, ``EXTRA_FILE``) as a local file."""
        return self._get_file(partition_key(part), leaf, local)

    def data_size(self, part: Partition) -> int | None:
        return self._size(partition_key(part), DATA_FILE)

    def loaded(self, part: Partition, *, finish: bool = True) -> Manifest | None:
        """The manifest that vouches for the partition's data, if one does: its
        manifest, or the pending manifest of a publish that stopped after its data was
        in place (the disk filled, the process was killed), which `finish` makes the
        manifest. None if no manifest matches the data, or there is none: the month is
        not loaded."""
        size = self.data_size(part)
        if size is None:
            return None
        manifest = self.read_manifest(part)
        if manifest is not None and size == manifest.bytes:
            return manifest
        try:
            pending = self.read_manifest(part, PENDING_FILE)
        except ManifestDamaged:
            pending = None  # a publish that stopped while writing it: its data never came
        if pending is None or size != pending.bytes:
            return None  # data replaced or lost after its manifest: not trustworthy
        if finish:
            key = partition_key(part)
            self._put_bytes(key, MANIFEST_FILE, _json(pending))
            self._delete(key, PENDING_FILE)
        return pending

    def record(self, part: Partition, manifest: Manifest) -> None:
        """Replace a complete partition's manifest, not its data (what a host now says
        of a source that turned out unchanged)."""
        self._put_bytes(partition_key(part), MANIFEST_FILE, _json(manifest))

    def publish(
        self, part: Partition, local: Path, manifest: Manifest, extra: Path | None = None
    ) -> str:
        """Put the partition so that readers of ``data.parquet`` (globs, BigQuery) only
        ever read data a manifest vouches for, whatever step a full disk or a kill stops:

        1. the new manifest, as ``_manifest.pending.json``: the data is still the old
           one, which its manifest vouches for;
        2. the data, replacing the old in one step: from here the pending manifest
           vouches for it (``loaded``), and readers see the old partition or the new;
        3. what the data cannot hold (or the removal of an earlier load's);
        4. the manifest; then the pending one is removed.

        A stop before step 2 leaves the old partition as it was; after it, the new one,
        loaded. ``taxi-etl verify`` finds what a stop left behind."""
        return self.publish_table(partition_key(part), local, _json(manifest), extra)

    def publish_table(
        self, key: str, local: Path, manifest: bytes, extra: Path | None = None
    ) -> str:
        """A partition or a table beside them (the zone lookup), in the order of
        :meth:`publish`."""
        self._put_bytes(key, PENDING_FILE, manifest)
        self._put_file(key, DATA_FILE, local)
        if extra is not None:
            self._put_file(key, EXTRA_FILE, extra)
        else:
            self._delete(key, EXTRA_FILE)
        self._put_bytes(key, MANIFEST_FILE, manifest)
        self._delete(key, PENDING_FILE)
        return self.table_uri(key)

    def table_manifest(self, key: str) -> bytes | None:
        """A table's manifest, if the table is complete (its data is there)."""
        body = self._read(key, MANIFEST_FILE)
        return body if body is not None and self._size(key, DATA_FILE) is not None else None
