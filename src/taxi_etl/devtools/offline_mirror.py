"""The compose ``offline`` profile's mirror: generate sample months, then serve them.

    python -m taxi_etl.devtools.offline_mirror --host 0.0.0.0 --port 8000

It stands in for both download hosts inside the compose network, so the whole stack
(server, agent, flow-run containers, GCS emulator) can be shown and tested with no
internet: the GitHub release of the course mirror at ``http://mirror:8000`` (what
deployments set ``TAXI_ETL_SOURCE_URL`` to), and the TLC's CloudFront host at
``http://mirror:8000/tlc/trip-data``, with its zone file at ``{that}/../misc/``, where a
month not generated answers 403 as an unpublished one does (layout:
:mod:`taxi_etl.devtools.tlc_mirror`). Files already present are kept (generation is
deterministic), so a restart with the named volume serves at once.

Course months: ``demo.MIRROR_SETS`` by default, the ones the CLI demo loads plus green
2019-12, so a backfill across a year boundary (green 2019-12..2020-02) works offline;
``TAXI_ETL_MIRROR_EXTRA_MONTHS`` adds sets (compose passes it through), e.g.
``yellow:2019:3:1000000`` for one big month that takes long enough to interrupt. TLC
months: ``demo.TLC_SETS`` by default (every era and type flip of each dataset, and green
2024-10..2025-02 for a catch-up that stops at 2025-03) at ``TAXI_ETL_MIRROR_TLC_ROWS``
rows; ``TAXI_ETL_MIRROR_EXTRA_TLC_MONTHS`` adds sets such as ``fhvhv:2024:2-3``. Both
zone lookup revisions are served: the course's at ``/misc/``, the TLC's at ``/tlc/misc/``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from taxi_etl.devtools import mirror, tlc_mirror
from taxi_etl.devtools.demo import MIRROR_SETS, TLC_ROWS, TLC_SETS, MonthSet, write_months
from taxi_etl.devtools.tlc_mirror import TlcSet

EXTRA_ENV = "TAXI_ETL_MIRROR_EXTRA_MONTHS"
EXTRA_TLC_ENV = "TAXI_ETL_MIRROR_EXTRA_TLC_MONTHS"


def extra_sets(text: str | None) -> list[MonthSet]:
    """Sets from TAXI_ETL_MIRROR_EXTRA_MONTHS: whitespace-separated colour:year:months[:rows]."""
    try:
        return [MonthSet.parse(item) for item in (text or "").split()]
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"{EXTRA_ENV}: {exc}") from None


def extra_tlc_sets(text: str | None) -> list[TlcSet]:
    """Sets from TAXI_ETL_MIRROR_EXTRA_TLC_MONTHS: whitespace-separated
    dataset:year:months[:rows]."""
    try:
        return [TlcSet.parse(item) for item in (text or "").split()]
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"{EXTRA_TLC_ENV}: {exc}") from None


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m taxi_etl.devtools.offline_mirror", description=__doc__, allow_abbrev=False
    )
    parser.add_argument("--root", type=Path, default=Path("/var/lib/taxi-etl/mirror"))
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind; 0.0.0.0 inside a container"
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--rows",
        type=int,
        default=int(os.environ.get("TAXI_ETL_MIRROR_ROWS", "50000")),
        help="rows per yellow/fhv month, a third of it for green (env TAXI_ETL_MIRROR_ROWS)",
    )
    parser.add_argument(
        "--months",
        dest="sets",
        type=MonthSet.parse,
        action="append",
        help="colour:year:months[:rows] to serve, repeatable (default: "
        + " ".join(map(str, MIRROR_SETS))
        + f"); {EXTRA_ENV} adds more",
    )
    parser.add_argument(
        "--tlc-rows",
        type=int,
        default=int(os.environ.get("TAXI_ETL_MIRROR_TLC_ROWS", str(TLC_ROWS))),
        help=f"rows per TLC parquet month (env TAXI_ETL_MIRROR_TLC_ROWS; default {TLC_ROWS})",
    )
    parser.add_argument(
        "--tlc-months",
        dest="tlc_sets",
        type=TlcSet.parse,
        action="append",
        help="dataset:year:months[:rows] of TLC parquet months, repeatable (default: the "
        f"{sum(len(s.months) for s in TLC_SETS)} of demo.TLC_SETS); {EXTRA_TLC_ENV} adds more",
    )
    args = parser.parse_args(argv)
    sets: list[MonthSet] = (args.sets or list(MIRROR_SETS)) + extra_sets(os.environ.get(EXTRA_ENV))
    tlc_sets = (args.tlc_sets or list(TLC_SETS)) + extra_tlc_sets(os.environ.get(EXTRA_TLC_ENV))

    t0 = time.perf_counter()
    args.root.mkdir(parents=True, exist_ok=True)
    written = write_months(args.root, sets, args.rows)
    written += tlc_mirror.write_tlc_months(args.root, tlc_sets, args.tlc_rows)
    written += tlc_mirror.write_zone_files(args.root)
    print(
        f"generated {len(written)} file(s) in {time.perf_counter() - t0:.1f}s under {args.root}",
        flush=True,
    )
    stop = threading.Event()
    _stop_on_signals(stop)
    # An explicit --host is the opt-in: in a container, 0.0.0.0 reaches only its compose
    # network, which is the point; the default stays on loopback.
    with mirror.serve(
        args.root,
        host=args.host,
        port=args.port,
        allow_non_loopback=True,
        missing=tlc_mirror.MISSING,
    ) as url:
        print(f"serving {', '.join(map(str, sets))} at {url}", flush=True)
        print(
            f"serving TLC {', '.join(map(str, tlc_sets))} at {tlc_mirror.tlc_base_url(url)}",
            flush=True,
        )
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
