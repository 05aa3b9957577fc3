"""Deployments of the flows that run in containers (``python deploy.py``).

Saves the blocks and one deployment per parameter set in ``catalogue.DEPLOYMENTS``:

* ``docker-container/taxi-etl``: the infrastructure the agent of docker-compose.yml
  starts each flow run with: the project image (never pulled when built locally), the
  compose network, the server's in-network API URL and the lake settings as env vars;
* ``gcp-credentials/taxi-gcp`` and ``gcs-bucket/taxi-lake``: the GCS lake as prefect-gcp
  blocks. The credentials block holds no secret, only where the flow containers find
  one at run time: a mounted service-account file, or Application Default Credentials;
* failure notifications, only when ``TAXI_ETL_DEPLOY_NOTIFY_URL`` is set. The URL is a
  secret (a Slack or Teams hook URL is its own credential): it lives in blocks only, and
  the plan printed here masks it. Two routes, because neither covers every case:

  - ``webhook/taxi-etl-alerts``: the flow runs get ``TAXI_ETL_NOTIFY_BLOCK`` naming it,
    and the flows' ``on_failure``/``on_crashed`` hooks post JSON with the deployment,
    the parameters and the error (taxi_etl.orchestration.notifications). A hook runs
    inside the flow run, so it cannot report a container that was killed or ran out of memory;
  - a server-side notification policy on ``Crashed`` runs tagged ``taxi-etl``, through
    ``custom-webhook/taxi-etl-crashed`` (the URL held in the block's secrets): the
    agent marks a run Crashed when its container dies, and the server then posts. Its
    text has the flow run, parameters, state message and a link, not the deployment;
* deployments registered with ``Deployment.build_from_flow``, path
  ``catalogue.FLOW_PATH`` and an entrypoint in ``src/taxi_etl/flows.py``, which is where the
  Dockerfile puts the code, so the flow is found in the container. Nothing is uploaded.

Everything is overwritten by name, so running it again changes nothing unless the
code or the settings changed. Settings are ``TAXI_ETL_DEPLOY_*`` variables and hold
values as the flow-run containers see them (``http://server:4200/api``, not 127.0.0.1);
their defaults fit ``docker compose up`` with the GCS emulator. Prefect is imported
only when something is written, so ``--dry-run`` works without a server.

One module a concern: ``catalogue`` (the parameter sets), ``settings`` (what the
deploying side is told), ``plan`` (the ``--dry-run`` text), ``apply`` (the API writes)
and ``cli`` (the command).
"""

from taxi_etl.deployments.catalogue import (
    DEPLOYMENTS,
    ENTRYPOINT,
    FLOW_PATH,
    ParameterSet,
    select,
    starting,
)
from taxi_etl.deployments.cli import main
from taxi_etl.deployments.plan import describe
from taxi_etl.deployments.settings import DeploySettings

__all__ = [
    "DEPLOYMENTS",
    "ENTRYPOINT",
    "FLOW_PATH",
    "DeploySettings",
    "ParameterSet",
    "describe",
    "main",
    "select",
    "starting",
]
