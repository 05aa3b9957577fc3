"""gzip on several cores, for writing sample months about as fast as they are generated."""

from __future__ import annotations

import os
import struct
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

import pyarrow as pa


class ParallelGzip:
    """Single-member gzip compressed on worker threads, the way pigz does it.

    Each block is raw deflate primed with the previous 32 KiB and ended with a sync
    flush, so the concatenation is one ordinary deflate stream that every gunzip reads
    while zlib (which releases the GIL) runs on several cores.  The header has no name or
    mtime, so equal input gives equal bytes.
    """

    _BLOCK = 1 << 20
    _WINDOW = 1 << 15

    def __init__(self, raw: BinaryIO, level: int) -> None:
        self._raw = raw
        self._level = level
        workers = max(1, min(4, os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="taxi-etl-gzip")
        self._max_pending = 2 * workers
        self._pending: deque[Future[bytes]] = deque()
        self._crc = 0
        self._size = 0
        self._window = b""
        xfl = 2 if level == 9 else 4 if level == 1 else 0
        raw.write(struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, 0, xfl, 255))

    def __enter__(self) -> ParallelGzip:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._drain(0)
                self._raw.write(zlib.compressobj(self._level, zlib.DEFLATED, -15).flush())
                self._raw.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
        finally:
            for future in self._pending:
                future.cancel()
            self._pool.shutdown(wait=True)

    def write(self, data: bytes | pa.Buffer) -> None:
        view = memoryview(data)
        for offset in range(0, len(view), self._BLOCK):
            block = view[offset : offset + self._BLOCK]
            self._crc = zlib.crc32(block, self._crc)
            self._size += len(block)
            self._pending.append(self._pool.submit(self._deflate, block, self._window))
            self._window = (self._window + bytes(block[-self._WINDOW :]))[-self._WINDOW :]
            self._drain(self._max_pending)

    def _drain(self, keep: int) -> None:
        while len(self._pending) > keep:
            self._raw.write(self._pending.popleft().result())

    def _deflate(self, block: memoryview, window: bytes) -> bytes:
        if window:
            c = zlib.compressobj(self._level, zlib.DEFLATED, -15, zdict=window)
        else:
            c = zlib.compressobj(self._level, zlib.DEFLATED, -15)
        return c.compress(block) + c.flush(zlib.Z_SYNC_FLUSH)
