"""The forms a TLC csv file comes in, read once before the stream starts, and the
file's own line numbers for an error found in a block.

The course mirror's csv.gz files are plain. The TLC's original csv files (2009-2020)
are not: plain text or gzip, a header with a space after each comma (2014) or quoted
(fhv 2017-07..2018-12), one or two blank lines after it (2009-2010, green 2014), and
rows with two more fields than the header names, all empty (yellow and green
2016-07..12, green 2013-2015). Those trailing fields get names of their own so they
parse; they must stay empty, since a value there belongs to no column.
"""

from __future__ import annotations

import csv
import gzip
import importlib
import io
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from taxi_etl.schemas import SchemaError, normalise
from taxi_etl.transform.conform import CorruptSource

# ISA-L (the `isal` wheel) when installed, and what a truncated or damaged gzip stream
# raises, from zlib or from ISA-L.
_igzip: Any
CORRUPT: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error)
try:
    _igzip = importlib.import_module("isal.igzip")
    CORRUPT += (importlib.import_module("isal.isal_zlib").error,)
except ImportError:  # pragma: no cover - only without the optional wheel
    _igzip = None

_UNREADABLE: tuple[type[BaseException], ...] = (*CORRUPT, UnicodeDecodeError)
_GZIP_MAGIC = b"\x1f\x8b"
_HEAD_LINES = 8  # lines read to find the first row: the header, blank lines, a row


def is_gzip(src: Path) -> bool:
    with src.open("rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def open_text(src: Path) -> IO[bytes]:
    """The file's bytes, decompressed if it is gzip (by content, not by name: the TLC
    named its files ``.csv``, the mirror ``.csv.gz``, and a cache may name them
    anything). ISA-L's igzip decompresses the same streams about 3x faster than zlib."""
    if not is_gzip(src):
        return src.open("rb")
    if _igzip is None:
        return cast(IO[bytes], gzip.open(src, "rb"))
    return cast(IO[bytes], _igzip.open(src, "rb"))


def padding_name(position: int) -> str:
    """The name given to an unnamed field (1-based position in the row)."""
    return f"_field_{position}"


@dataclass(frozen=True)
class Header:
    #: Every field's name, normalised, padding names included.
    names: list[str]
    #: Names given to fields the header does not name: they must stay empty.
    padding: list[str]

    @property
    def named(self) -> list[str]:
        return [n for n in self.names if n not in self.padding]


def read_header(src: Path) -> Header:
    """The header's names, and as many padding names as the first row has fields more."""
    try:
        with open_text(src) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            lines = [text.readline() for _ in range(_HEAD_LINES)]
    except _UNREADABLE as exc:
        if getattr(exc, "errno", None) is not None:
            raise
        raise CorruptSource(f"{src.name}: cannot read header ({exc})") from None
    if not lines[0].strip():
        raise SchemaError(f"{src.name}: empty file, no header")
    rows = [r for r in csv.reader(line.rstrip("\r\n") for line in lines if line.strip())]
    header = [normalise(n) for n in rows[0]]
    width = max(len(header), len(rows[1]) if len(rows) > 1 else 0)
    names, padding = [], []
    for i in range(width):
        name = header[i] if i < len(header) else ""
        if not name:
            name = padding_name(i + 1)
            padding.append(name)
        names.append(name)
    return Header(names, padding)


def fit(block: memoryview, header: Header) -> bytes:
    """The block with every row at the header's width, where only empty fields make the
    difference: surplus trailing fields that are empty are dropped, and rows that stop
    after the named columns get their unnamed ones, empty. Other rows are left as they
    are (and fail to parse). A slow path, for files whose rows differ in width."""
    width, named = len(header.names), len(header.named)
    out = []
    for line in bytes(block).split(b"\n"):
        body = line.rstrip(b"\r")
        if body:
            fields = next(csv.reader([body.decode("utf-8", errors="replace")]))
            surplus = len(fields) - width
            if surplus > 0 and not any(f.strip() for f in fields[width:]):
                line = body.rsplit(b",", surplus)[0] + line[len(body) :]
            elif named <= len(fields) < width:
                line = body + b"," * (width - len(fields)) + line[len(body) :]
        out.append(line)
    return b"\n".join(out)


def _rows(block: memoryview, first_line: int) -> list[tuple[int, list[str]]]:
    """The block's rows with their line numbers in the file, blank lines skipped as the
    parser skips them."""
    text = bytes(block).decode("utf-8", errors="replace")
    out = []
    for n, line in enumerate(text.split("\n")):
        line = line.rstrip("\r")
        if line:
            out.append((first_line + n, next(csv.reader([line]))))
    return out


_COLUMN = re.compile(r"In CSV column #(\d+): .*invalid value '(.*)'$", re.S)
WIDTH = re.compile(r"Expected (\d+) columns, got (\d+)")
_ROW = re.compile(r"\s*at Row #(\d+)")
_BLOCK_ROW = re.compile(r"Row #\d+: ")


def locate(message: str, block: memoryview, first_line: int, rows_before: int = 0) -> str:
    """The error with the line of the file it is on: Arrow's messages name a value or a
    field count but no line, and a row number within the block counts no blank lines."""
    rows = _rows(block, first_line)
    line: int | None = None
    if m := _ROW.search(message):
        index = rows_before + int(m.group(1))
        if index < len(rows):
            line = rows[index][0]
        message = _ROW.sub("", message)
    elif m := _COLUMN.search(message):
        k, value = int(m.group(1)), m.group(2)
        line = next((n for n, f in rows if len(f) > k and f[k] == value), None)
    elif m := WIDTH.search(message):
        width = int(m.group(1))
        line = next((n for n, f in rows if len(f) != width), None)
        message = _BLOCK_ROW.sub("", message)  # Arrow's own count, of the block's rows
    return f"line {line}: {message}" if line is not None else message
