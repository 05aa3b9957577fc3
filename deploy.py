"""Register the taxi_etl deployments that run in containers.

    docker compose up -d --wait      # server, agent, GCS emulator
    python deploy.py                 # blocks + yellow/green/fhv-monthly + custom + backfill
    TAXI_ETL_DEPLOY_NOTIFY_URL=... python deploy.py   # also failure notifications
    python deploy.py --dry-run       # print the plan only
    python deploy.py --only backfill

A thin entry point: the parameter sets live in src/taxi_etl/deployments/catalogue.py and the
settings in src/taxi_etl/deployments/settings.py.
Needs the package installed (`pip install -e .`).
"""

import sys

from taxi_etl.deployments import main

if __name__ == "__main__":
    sys.exit(main())
