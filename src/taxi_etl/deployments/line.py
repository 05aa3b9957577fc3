"""What a Prefect line does with the deployments, as one value: ``agent.LINE`` (Prefect 2:
a DockerContainer block and an agent) and ``worker.LINE`` (Prefect 3: a work pool and a
worker). ``installed`` chooses one, once; settings, the plan and apply read it, so no
other module asks which line is installed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from taxi_etl.deployments.catalogue import ParameterSet
from taxi_etl.orchestration.compat import validated

if TYPE_CHECKING:
    from taxi_etl.deployments.settings import DeploySettings

#: Notification block of the server-side policy (Prefect 2) or automation (Prefect 3)
#: for Crashed runs.
CRASHED_NOTIFY_BLOCK = "custom-webhook/taxi-etl-crashed"

#: Labels of every flow-run container. Compose labels the image it builds with its
#: project and service (`server`), and containers inherit image labels: blanking them
#: keeps `docker compose up/ps/down` from taking a flow run for a replica of `server`.
FLOW_RUN_LABELS = {
    "com.docker.compose.project": "",
    "com.docker.compose.service": "",
    "com.docker.compose.version": "",
    "io.taxi-etl.role": "flow-run",
}


@dataclass(frozen=True)
class Line:
    number: int
    #: The image and compose network of the line's own stack (docker-compose*.yml).
    image: str
    network: str
    #: The default pull policy, in Prefect 2's spelling.
    pull_policy: str
    #: How the plan says the line starts flow runs, where from, and what they queue on.
    starts: str
    where: Callable[[DeploySettings], str]
    queue: Callable[[DeploySettings], str]
    #: What reports Crashed runs on the server: a notification policy, an automation.
    crash_notice: str
    #: PYTHONWARNINGS of the flow-run containers, if their engine needs it.
    container_warnings: str | None
    #: Saves the line's infrastructure, its crash notice and every deployment; returns
    #: (the infrastructure's id, the deployments' ids by full name).
    register: Callable[
        [DeploySettings, Sequence[ParameterSet]], Awaitable[tuple[str, dict[str, str]]]
    ]


async def crash_notify_block(client: Any, url: SecretStr | None, source: str) -> Any:
    """The crash notice's block id: saved with `url` in its secrets, or, without a URL,
    the one an earlier run saved (None if there is none). `source` names the notice in
    the posted JSON."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.exceptions import ObjectNotFound

    slug, name = CRASHED_NOTIFY_BLOCK.split("/", 1)
    if url is None:
        try:
            return (await client.read_block_document_by_name(name, slug, include_secrets=False)).id
        except ObjectNotFound:
            return None
    # The URL goes into the block's secrets, and `url` only references it: the block's
    # plain fields are shown in the UI and returned by the API as they are.
    block = validated(
        CustomWebhookNotificationBlock,
        {
            "name": "taxi-etl",
            "url": "{{url}}",
            "method": "POST",
            "json_data": {"source": source, "text": "{{body}}"},
            "secrets": {"url": url.get_secret_value()},
        },
    )
    return await block.save(name, overwrite=True)
