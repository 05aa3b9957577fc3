"""``python deploy.py``: print the plan, then apply it unless ``--dry-run``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from taxi_etl.deployments.catalogue import DEPLOYMENTS, select, starting
from taxi_etl.deployments.plan import describe
from taxi_etl.deployments.settings import DeploySettings

DEFAULT_API_URL = "http://127.0.0.1:4200/api"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python deploy.py",
        description="Register the taxi_etl deployments that run in containers "
        "(settings: TAXI_ETL_DEPLOY_*, see src/taxi_etl/deployments/settings.py).",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--api-url",
        default=os.environ.get("PREFECT_API_URL") or DEFAULT_API_URL,
        help="Prefect API to register with (default: $PREFECT_API_URL, else %(default)s)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=[p.name for p in DEPLOYMENTS],
        metavar="NAME",
        help="register only this deployment (repeatable); the blocks are always saved. "
        f"One of: {', '.join(p.name for p in DEPLOYMENTS)}",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = DeploySettings()
    sets = starting(select(args.only), settings.catchup_start)
    print(describe(settings, sets, args.api_url))
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    from taxi_etl.deployments.apply import apply

    try:
        applied = asyncio.run(apply(settings, sets, args.api_url))
    except ConnectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, deployment_id in applied.deployment_ids.items():
        print(f"registered {name} ({deployment_id})")
    ui = args.api_url.removesuffix("/api")
    print(f"open {ui}/deployments, pick one, and start a Custom run to set parameters")
    return 0
