"""The Prefect 3 line: a Docker work pool whose base job template holds what the agent's
DockerContainer block held (image, pull policy, network, the flow runs' environment,
labels), deployments by ``flow.to_deployment`` with the image's code (nothing is built,
pushed or uploaded: what ``flow.deploy(build=False, push=False)`` does), and an
automation that reports Crashed runs (what Prefect 2's notification policy did).

The API models are built with ``validated`` from plain data: mypy checks this module on
both lines, and Prefect 2 has models of the same names with other fields.

Everything is overwritten by name: the pool with ``overwrite=True``, the deployments by
their names, the automation by its name, so a re-run converges.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from taxi_etl.deployments.catalogue import CRON_TIMEZONE, TAG, ParameterSet
from taxi_etl.deployments.line import FLOW_RUN_LABELS, Line, crash_notify_block
from taxi_etl.orchestration.compat import validated

if TYPE_CHECKING:
    from taxi_etl.deployments.settings import DeploySettings

#: prefect-docker 0.7's spelling of the pull policies DeploySettings spells Prefect 2's way.
PULL_POLICY = {"IF_NOT_PRESENT": "IfNotPresent", "ALWAYS": "Always", "NEVER": "Never"}
AUTOMATION = "taxi-etl: crashed flow run"
#: The automation's text; Jinja over the event's related objects (unlike Prefect 2's
#: policy, it can name the deployment).
CRASHED_BODY = (
    "taxi_etl: flow run {{ flow.name }}/{{ flow_run.name }} entered "
    "{{ flow_run.state.name }} at {{ flow_run.state.timestamp }}.\n"
    "Deployment: {{ deployment.name }}\nState message: {{ flow_run.state.message }}\n"
    "Parameters: {{ flow_run.parameters }}\nFlow run ID: {{ flow_run.id }}\n"
    "Flow run URL: {{ flow_run|ui_url }}"
)


def base_job_template(settings: DeploySettings) -> dict[str, Any]:
    """prefect-docker's default template with our values as its variables' defaults, so
    a deployment or a Custom run can still override them (job_variables)."""
    from prefect_docker.worker import DockerWorker

    template: dict[str, Any] = copy.deepcopy(DockerWorker.get_default_base_job_template())
    defaults = {
        "image": settings.image,
        "image_pull_policy": PULL_POLICY[settings.pull_policy()],
        "networks": [settings.network],
        "env": settings.container_env(),
        "auto_remove": settings.auto_remove,
        "labels": FLOW_RUN_LABELS,
        "stream_output": True,
        "volumes": settings.volumes,
    }
    for name, value in defaults.items():
        template["variables"]["properties"][name]["default"] = value
    return template


async def register(
    settings: DeploySettings, sets: Sequence[ParameterSet]
) -> tuple[str, dict[str, str]]:
    """The work pool, the crash automation and every deployment; (the pool's id, the
    deployments' ids by full name)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    async with get_client() as client:
        pool = validated(
            WorkPoolCreate,
            {
                "name": settings.work_pool,
                "type": "docker",
                "base_job_template": base_job_template(settings),
            },
        )
        pool_id = await client.create_work_pool(pool, overwrite=True)
        await _converge_crash_automation(client, settings.notify_url)
    return str(getattr(pool_id, "id", pool_id)), await _deploy(settings, sets)


async def _deploy(settings: DeploySettings, sets: Sequence[ParameterSet]) -> dict[str, str]:
    """Every parameter set as a deployment of the image's code: the entrypoint is set
    explicitly (``to_deployment`` would make it relative to this process's directory),
    and resolves against the image's working directory, /opt/prefect/flows.

    ``aapply`` is what ``prefect.deploy(build=False, push=False)`` calls per deployment,
    without its progress table. A set without a cron clears the schedules an earlier
    run gave it (3.9 keeps them unless told otherwise), so a re-run converges.
    """
    from prefect.schedules import Cron
    from prefect.settings import (  # type: ignore[attr-defined,unused-ignore]
        PREFECT_DEPLOYMENTS_CLEAR_SCHEDULES_ON_EMPTY,
        temporary_settings,
    )

    from taxi_etl import flows

    ids = {}
    with temporary_settings(updates={PREFECT_DEPLOYMENTS_CLEAR_SCHEDULES_ON_EMPTY: True}):
        for p in sets:
            runner = await getattr(flows, p.flow).ato_deployment(
                name=p.name,
                parameters=p.parameters,
                description=p.description,
                tags=p.tags,
                schedules=[Cron(p.cron, timezone=CRON_TIMEZONE)] if p.cron else [],
                enforce_parameter_schema=True,
            )
            runner.entrypoint = p.entrypoint
            deployment_id = await runner.aapply(
                schedules=None if p.cron else [],
                work_pool_name=settings.work_pool,
                image=settings.image,
            )
            ids[p.full_name] = str(deployment_id)
    return ids


async def _converge_crash_automation(client: Any, url: SecretStr | None) -> None:
    """One automation posting Crashed runs tagged taxi-etl through CRASHED_NOTIFY_BLOCK
    when `url` is set; without it, that automation (if an earlier run made it) is off."""
    from prefect.events.schemas.automations import (  # type: ignore[attr-defined,unused-ignore]
        AutomationCore,
    )

    block_id = await crash_notify_block(client, url, "prefect-automation")
    if block_id is None:
        return
    trigger = {
        "type": "event",
        "expect": ["prefect.flow-run.Crashed"],
        "match": {"prefect.resource.id": "prefect.flow-run.*"},
        "match_related": {
            "prefect.resource.role": "tag",
            "prefect.resource.id": f"prefect.tag.{TAG}",
        },
        "posture": "Reactive",
        "threshold": 1,
    }
    action = {
        "type": "send-notification",
        "block_document_id": str(block_id),
        "subject": "taxi_etl flow run {{ flow_run.state.name }}",
        "body": CRASHED_BODY,
    }
    wanted = validated(
        AutomationCore,
        {"name": AUTOMATION, "enabled": url is not None, "trigger": trigger, "actions": [action]},
    )
    existing = list(await client.read_automations_by_name(AUTOMATION))
    for extra in existing[1:]:
        await client.delete_automation(extra.id)
    if existing:
        await client.update_automation(existing[0].id, wanted)
    else:
        await client.create_automation(wanted)


LINE = Line(
    number=3,
    image="taxi-etl:prefect3",
    network="taxi-etl-prefect3",
    pull_policy="NEVER",
    starts="a Docker worker starts flow-run containers from its work pool",
    where=lambda s: f"work pool {s.work_pool} (type docker)",
    queue=lambda s: f"pool {s.work_pool}",
    crash_notice="automation",
    container_warnings=None,  # `prefect flow-run execute` warns of nothing of the kind
    register=register,
)
