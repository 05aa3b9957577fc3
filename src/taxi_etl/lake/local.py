"""A lake in a local directory: each write is a temporary file, fsynced and renamed
onto its name (``os.replace``), so a reader sees the old object or the new one."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from taxi_etl.lake.base import Lake


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

    def _tail(self, key: str, leaf: str, n: int) -> bytes | None:
        try:
            with (self.root / key / leaf).open("rb") as fh:
                fh.seek(max(0, fh.seek(0, os.SEEK_END) - n))
                return fh.read()
        except FileNotFoundError:
            return None

    def _move(self, key: str, leaf: str, to: str) -> None:
        os.replace(self.root / key / leaf, self.root / key / to)

    def objects(self, below: str = "") -> list[tuple[str, int]]:
        top = self.root / below if below else self.root
        if not top.is_dir():
            return []
        return sorted(
            (p.relative_to(self.root).as_posix(), p.stat().st_size)
            for p in top.rglob("*")
            if p.is_file()
        )
