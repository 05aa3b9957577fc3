"""The ``taxi-etl`` command. Exit status: 0 success, 2 bad parameters, 1 failure.

Options must be spelt in full: argparse's prefix matching would take ``--source`` for
``--source-url``, or ``--lak`` for ``--lake``, silently.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from taxi_etl import stopping
from taxi_etl.cli import stops
from taxi_etl.params import Colour, ParameterError, Runner, Source

__all__ = ["build_parser", "main"]


def _source_options(parser: argparse.ArgumentParser) -> None:
    """Where months come from and go to; each option maps onto a setting."""
    parser.add_argument("--lake", help="directory, gs://BUCKET[/PREFIX] or gcs-block://NAME")
    parser.add_argument(
        "--source",
        choices=[s.value for s in Source],
        help="dtc: the course's csv.gz mirror; tlc: the TLC's parquet files [dtc, or "
        "TAXI_ETL_SOURCE]",
    )
    parser.add_argument(
        "--source-url", help="base URL of the chosen source [that source's own host]"
    )
    parser.add_argument("--cache", help="download cache directory")


def _load_options(parser: argparse.ArgumentParser) -> None:
    """The options every loading command shares."""
    _source_options(parser)
    parser.add_argument("--force", action="store_true", help="reload months already loaded")
    parser.add_argument("--concurrency", type=int, default=2, help="months loaded at once")
    parser.add_argument(
        "--runner",
        choices=[r.value for r in Runner],
        help="local: child flows here; dask: a task per month on Dask [local, or dask "
        "when a Dask address is set]",
    )
    parser.add_argument(
        "--dask-address", help="scheduler of an existing Dask cluster, e.g. tcp://HOST:8786"
    )


def build_parser() -> argparse.ArgumentParser:
    from taxi_etl.cli import commands

    parser = argparse.ArgumentParser(
        prog="taxi-etl", description=__doc__.splitlines()[0], allow_abbrev=False
    )
    sub = parser.add_subparsers(dest="command", required=True)
    colours = [c.value for c in Colour]

    run = sub.add_parser("run", help="load months of one colour into the lake", allow_abbrev=False)
    run.add_argument("--colour", "--color", required=True, choices=colours)
    run.add_argument("--year", required=True, type=int)
    run.add_argument(
        "--months", required=True, nargs="+", help="month numbers: 1 2 3, 1,2,3 or 1-3"
    )
    _load_options(run)
    run.set_defaults(func=commands.cmd_run)

    back = sub.add_parser(
        "backfill", help="load a month range, resumably, across years", allow_abbrev=False
    )
    back.add_argument("colour", choices=colours)
    back.add_argument("range", help="YYYY-MM..YYYY-MM, inclusive, e.g. 2019-01..2021-07")
    _load_options(back)
    back.set_defaults(func=commands.cmd_backfill)

    catch = sub.add_parser(
        "catchup",
        help="bring a dataset up to date: every published month not in the lake, or "
        "republished, up to the newest",
        allow_abbrev=False,
    )
    catch.add_argument("colour", choices=colours)
    catch.add_argument("--start", help="first month, YYYY-MM [the TLC's first of the dataset]")
    catch.add_argument("--end", help="last month, YYYY-MM [last month]")
    _load_options(catch)
    catch.set_defaults(func=commands.cmd_catchup)

    zones = sub.add_parser(
        "zones",
        help="load the taxi zone lookup into the lake (each revision kept)",
        allow_abbrev=False,
    )
    _source_options(zones)
    zones.set_defaults(func=commands.cmd_zones)

    check = sub.add_parser(
        "verify",
        help="check every partition against its manifest: data, size, sha256, schema, rows",
        allow_abbrev=False,
    )
    check.add_argument("--lake", help="directory, gs://BUCKET[/PREFIX] or gcs-block://NAME")
    check.add_argument("--colour", "--color", choices=colours, help="one dataset (default: all)")
    check.add_argument("--deep", action="store_true", help="also decode every row group")
    check.add_argument(
        "--repair",
        action="store_true",
        help="remove orphans and move damaged partitions aside (the next run reloads them)",
    )
    check.set_defaults(func=commands.cmd_verify)

    conv = sub.add_parser(
        "convert",
        help="transform one local file (csv, csv.gz or the TLC's parquet) into canonical parquet",
        allow_abbrev=False,
    )
    conv.add_argument("--colour", "--color", required=True, choices=colours)
    conv.add_argument("--year", type=int, help="partition year (default: from the file name)")
    conv.add_argument("--month", type=int, help="partition month (default: from the file name)")
    conv.add_argument("src", type=Path)
    conv.add_argument("dst", type=Path)
    conv.set_defaults(func=commands.cmd_convert)

    demo = sub.add_parser(
        "demo", help="offline: sample months over a local mirror into a lake", allow_abbrev=False
    )
    demo.add_argument("--dir", default="data/demo", help="where the demo keeps lake and cache")
    demo.add_argument("--lake", help="lake for the demo (default: DIR/lake)")
    demo.add_argument("--rows", type=int, default=100_000, help="rows per sample month")
    demo.set_defaults(func=commands.cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from taxi_etl.cli.output import console

    args = build_parser().parse_args(argv)
    try:
        code: int = stops.run_stoppable(lambda: args.func(args))
    except ParameterError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    except (stopping.Stopped, KeyboardInterrupt):
        pass  # said below
    except Exception as exc:
        if not stopping.asked():
            console.print(f"[red]failed:[/red] {type(exc).__name__}: {exc}")
            return 1
    else:
        if not stopping.asked():
            return code
    signum = stopping.asked() or signal.SIGINT  # a KeyboardInterrupt off the main thread
    console.print(f"[red]stopped by {signal.Signals(signum).name}:[/red] {stops.how_far()}")
    return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
