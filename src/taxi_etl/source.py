"""TLC release URLs and a streaming, retrying, checksummed download.

A download streams to a temporary file beside its destination and is renamed into
place only when complete and of the announced length, so the cache never holds a
partial file. Transient failures (5xx, 429, resets, timeouts) are retried with
exponential backoff; a 404 means the month is not published and is not retried.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from taxi_etl.params import Colour

log = logging.getLogger(__name__)
CHUNK = 1 << 20
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class SourceError(RuntimeError):
    """The source could not be read after every attempt."""


class NotPublished(SourceError):
    """The month is not in the release (HTTP 404); retrying would not help."""


@dataclass(frozen=True)
class Download:
    url: str
    path: Path
    sha256: str
    bytes: int


def file_name(colour: Colour | str, year: int, month: int) -> str:
    """The release's name for a month, the one place it is spelt out."""
    return f"{Colour(colour).value}_tripdata_{year}-{month:02d}.csv.gz"


def release_path(colour: Colour | str, year: int, month: int) -> str:
    """Where a month sits below the release's base URL (the GitHub release layout):
    ``{colour}/{file name}``. Mirrors and the cache lay their files out the same way."""
    return f"{Colour(colour).value}/{file_name(colour, year, month)}"


def url_for(base_url: str, colour: Colour | str, year: int, month: int) -> str:
    return f"{base_url.rstrip('/')}/{release_path(colour, year, month)}"


def cache_path(cache_dir: Path, colour: Colour | str, year: int, month: int) -> Path:
    return cache_dir / release_path(colour, year, month)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _attempt(client: httpx.Client, url: str, tmp: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with client.stream("GET", url) as resp:
        if resp.status_code == 404:
            raise NotPublished(f"{url} is not published (HTTP 404)")
        resp.raise_for_status()
        expected = resp.headers.get("content-length")
        with tmp.open("wb") as fh:
            for chunk in resp.iter_raw(CHUNK):
                digest.update(chunk)
                fh.write(chunk)
                size += len(chunk)
    if expected is not None and int(expected) != size:
        raise httpx.RemoteProtocolError(f"got {size} of {expected} bytes")
    return digest.hexdigest(), size


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in RETRYABLE_STATUS
    return isinstance(exc, httpx.TransportError)


def download(
    url: str,
    dest: Path,
    *,
    timeout: float = 60.0,
    attempts: int = 4,
    backoff: float = 1.0,
    max_backoff: float = 30.0,
) -> Download:
    """Fetch ``url`` into ``dest`` and return its sha256; raise ``NotPublished`` on 404."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    timeouts = httpx.Timeout(timeout, connect=min(timeout, 15.0))
    try:
        with httpx.Client(timeout=timeouts, follow_redirects=True) as client:
            for attempt in range(1, attempts + 1):
                try:
                    sha, size = _attempt(client, url, tmp)
                    break
                except (httpx.HTTPStatusError, httpx.TransportError) as exc:
                    if not _retryable(exc) or attempt == attempts:
                        raise SourceError(
                            f"{url}: {type(exc).__name__}: {exc} (attempt {attempt}/{attempts})"
                        ) from exc
                    delay = min(max_backoff, backoff * 2 ** (attempt - 1))
                    log.warning(
                        "%s: %s; retrying in %.1fs (attempt %d/%d)",
                        url,
                        exc,
                        delay,
                        attempt,
                        attempts,
                    )
                    time.sleep(delay)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return Download(url=url, path=dest, sha256=sha, bytes=size)
