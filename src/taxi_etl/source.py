"""The sources' file names and URLs, what their hosts say of a file now, and a
streaming, retrying, checksummed download.

A download streams to a temporary file beside its destination and is renamed into
place only when complete and of the announced length, so the cache never holds a
partial file. Transient failures (5xx, 429, resets, timeouts) are retried with
exponential backoff. A month the host does not have is not retried: GitHub answers
404, the TLC's CloudFront 403 (its bucket does not list), so one request says so.

Freshness: the TLC rewrites files in place, so a month's identity is what its host
says of it now (:class:`Remote`: ETag, Last-Modified, size), asked with one HEAD.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
from pydantic import BaseModel

from taxi_etl import stopping
from taxi_etl.params import Colour, Source

log = logging.getLogger(__name__)
CHUNK = 1 << 20
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
#: Where each source's months live unless a base URL is given. The TLC's original csv
#: files have no public host any more (its S3 bucket closed in 2022): a base URL of
#: the user's own is required.
DEFAULT_BASE_URL = {
    Source.dtc: "https://github.com/DataTalksClub/nyc-tlc-data/releases/download",
    Source.tlc: "https://d37ci6vzurychx.cloudfront.net/trip-data",
}
#: What each host answers for a month it does not have (yet).
NOT_PUBLISHED_STATUS = {
    Source.dtc: frozenset({404}),
    Source.tlc: frozenset({403, 404}),
    Source.tlc_csv: frozenset({403, 404}),
}
#: The TLC named its original files ``.csv``; plain or gzip, the transform tells by
#: their content.
_SUFFIX = {Source.dtc: "csv.gz", Source.tlc: "parquet", Source.tlc_csv: "csv"}
_T = TypeVar("_T")


class SourceError(RuntimeError):
    """The source could not be read after every attempt."""


class NotPublished(SourceError):
    """The host does not have the month (404, or 403 from the TLC); retrying would not
    help until it is published."""


class Remote(BaseModel):
    """What a host says of a file now; a change in any of it means a new version."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    size: int | None = None

    @property
    def known(self) -> bool:
        """Whether the host identified the version at all (a HEAD that gave nothing can
        only be compared by downloading and hashing)."""
        return bool(self.etag or self.last_modified)

    def same_version(self, etag: str | None, last_modified: str | None, size: int | None) -> bool:
        """Is a file recorded with these headers the one the host has now?"""
        if not self.known:
            return False
        if self.etag and etag:
            return self.etag == etag
        return (self.last_modified, self.size) == (last_modified, size)


@dataclass(frozen=True)
class Download:
    url: str
    path: Path
    sha256: str
    bytes: int
    etag: str | None = None
    last_modified: str | None = None

    def intact(self, remote: Remote) -> bool:
        """Whether this download, kept in a cache, still is the version the host
        describes now: the same file (size and sha256 of its bytes, read again) and the
        host's same ETag or Last-Modified. A cached result is used only if so."""
        try:
            if self.path.stat().st_size != self.bytes:
                return False
        except FileNotFoundError:
            return False
        if remote.known and not remote.same_version(self.etag, self.last_modified, self.bytes):
            return False
        return sha256_of(self.path) == self.sha256


def file_name(colour: Colour | str, year: int, month: int, source: Source = Source.dtc) -> str:
    """The host's name for a month, the one place it is spelt out."""
    return f"{Colour(colour).value}_tripdata_{year}-{month:02d}.{_SUFFIX[Source(source)]}"


def release_path(colour: Colour | str, year: int, month: int, source: Source = Source.dtc) -> str:
    """Where a month sits below its source's base URL: ``{colour}/{file}`` in the
    course's GitHub releases, ``{file}`` flat on the TLC's host (and in its old ``trip
    data/`` folder of csv files). Mirrors and the cache lay their files out the same
    way."""
    name = file_name(colour, year, month, source)
    return f"{Colour(colour).value}/{name}" if Source(source) is Source.dtc else name


def url_for(
    base_url: str, colour: Colour | str, year: int, month: int, source: Source = Source.dtc
) -> str:
    return f"{base_url.rstrip('/')}/{release_path(colour, year, month, source)}"


def cache_path(cache_dir: Path, url: str, source: Source = Source.dtc) -> Path:
    """Where a download of `url` is kept: keyed by the URL, not only by the month, so
    two hosts of one month (a company mirror and the TLC, a changed --source-url, a CDN
    edge with an older version) never share a file; the file keeps the host's name."""
    host = hashlib.sha256(url.encode()).hexdigest()[:16]
    return cache_dir / Source(source).value / host / url.rsplit("/", 1)[-1]


def zones_url(base_url: str, source: Source) -> str:
    """The taxi zone lookup beside the trip files: ``{base}/misc/`` in the course's
    releases; ``misc/`` beside the trip files' folder on the TLC's hosts."""
    base = base_url.rstrip("/")
    if Source(source) is not Source.dtc:
        base = base.rsplit("/", 1)[0]
    return f"{base}/misc/taxi_zone_lookup.csv"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check(resp: httpx.Response, url: str, source: Source) -> None:
    if resp.status_code in NOT_PUBLISHED_STATUS[source]:
        raise NotPublished(f"{url} is not published (HTTP {resp.status_code})")
    resp.raise_for_status()


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in RETRYABLE_STATUS
    return isinstance(exc, httpx.TransportError)


@dataclass(frozen=True)
class Retries:
    """How hard to try: seconds of silence per attempt, attempts, the backoff, and the
    slowest an attempt may be: after `grace` seconds its average must be `min_rate`
    bytes a second, so an attempt lasts at most ``grace + size / min_rate``, whatever a
    host that announces 10 GB and trickles 100 bytes every 2 s would like."""

    timeout: float = 60.0
    attempts: int = 4
    backoff: float = 1.0
    max_backoff: float = 30.0
    min_rate: float = 64 * 1024
    grace: float = 120.0


class TooSlow(httpx.TransportError):
    """An attempt fell below the slowest rate allowed (retried like a timeout)."""


def _with_retries(url: str, attempt: Callable[[httpx.Client], _T], retries: Retries) -> _T:
    """Run `attempt` until it succeeds, retrying transient failures with backoff."""
    timeout, attempts = retries.timeout, retries.attempts
    timeouts = httpx.Timeout(timeout, connect=min(timeout, 15.0))
    with httpx.Client(timeout=timeouts, follow_redirects=True) as client:
        for n in range(1, attempts + 1):
            try:
                return attempt(client)
            except (httpx.HTTPStatusError, httpx.TransportError) as exc:
                stopping.check()  # a read a stop shut down is no failure of the host
                if not _retryable(exc) or n == attempts:
                    raise SourceError(
                        f"{url}: {type(exc).__name__}: {exc} (attempt {n}/{attempts})"
                    ) from exc
                delay = min(retries.max_backoff, retries.backoff * 2 ** (n - 1))
                log.warning(
                    "%s: %s; retrying in %.1fs (attempt %d/%d)", url, exc, delay, n, attempts
                )
                stopping.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _socket_of(resp: httpx.Response) -> socket.socket | None:
    """The connection's socket, for a stop to shut down (httpcore names it so)."""
    stream = resp.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    return sock if isinstance(sock, socket.socket) else None


def _keep_up(size: int, elapsed: float, expected: str | None, retries: Retries) -> None:
    if elapsed > retries.grace and size < retries.min_rate * elapsed:
        whole = f" of {int(expected):,}" if expected is not None else ""
        deadline = f"; {retries.grace + int(expected) / retries.min_rate:.0f} s" if expected else ""
        raise TooSlow(
            f"slower than {retries.min_rate:,.0f} bytes/s: {size:,}{whole} bytes in "
            f"{elapsed:.0f} s (the deadline: {retries.grace:.0f} s + size / rate{deadline})"
        )


def probe(url: str, source: Source = Source.dtc, retries: Retries = Retries()) -> Remote:
    """One HEAD: what the host says of the file now; NotPublished if it has none."""

    def head(client: httpx.Client) -> Remote:
        resp = client.head(url)
        if resp.status_code in (405, 501):  # no HEAD here: only a download can tell
            return Remote(url=url)
        _check(resp, url, Source(source))
        size = resp.headers.get("content-length")
        return Remote(
            url=url,
            etag=resp.headers.get("etag"),
            last_modified=resp.headers.get("last-modified"),
            size=int(size) if size is not None else None,
        )

    return _with_retries(url, head, retries)


def download(
    url: str, dest: Path, source: Source = Source.dtc, retries: Retries = Retries()
) -> Download:
    """Fetch ``url`` into ``dest`` with its sha256 and version headers; NotPublished if
    the host does not have it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")

    def get(client: httpx.Client) -> Download:
        digest = hashlib.sha256()
        size = 0
        started = time.monotonic()
        with client.stream("GET", url) as resp:
            _check(resp, url, Source(source))
            expected = resp.headers.get("content-length")
            with tmp.open("wb") as fh, stopping.reading(_socket_of(resp)):
                # As the bytes arrive: a fixed chunk size would wait for a whole chunk
                # from a host that trickles, and the rate could not be checked.
                for chunk in resp.iter_raw():
                    stopping.check()
                    digest.update(chunk)
                    fh.write(chunk)
                    size += len(chunk)
                    _keep_up(size, time.monotonic() - started, expected, retries)
            headers = resp.headers
        if expected is not None and int(expected) != size:
            raise httpx.RemoteProtocolError(f"got {size} of {expected} bytes")
        return Download(
            url, dest, digest.hexdigest(), size, headers.get("etag"), headers.get("last-modified")
        )

    try:
        got = _with_retries(url, get, retries)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return got
