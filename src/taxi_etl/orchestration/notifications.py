"""Failure notifications, as flow hooks that post to a Prefect block.

Hooks work on the embedded API and in containers alike, which Prefect 2's server-side
notification policies do not (they need the server's services). The target is any
saved block named by the setting ``notify_block`` as ``<block-type>/<name>``: a
``webhook`` block gets a JSON payload; a notification block (Slack, Teams, custom
webhook...) gets the same facts as text. Its URL stays a secret of the block: it is
never logged, and nothing is sent when the setting is empty.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


async def failure_payload(flow: Any, flow_run: Any, state: Any) -> dict[str, Any]:
    """What a person needs to act: which deployment, which parameters, what went wrong."""
    from prefect import get_client

    from taxi_etl.orchestration.compat import state_result

    deployment = None
    if flow_run.deployment_id:
        async with get_client() as client:
            deployment = (await client.read_deployment(flow_run.deployment_id)).name
    error = await state_result(state)
    payload = {
        "event": f"flow-run-{state.type.value.lower()}",
        "flow": flow.name,
        "flow_run": flow_run.name,
        "flow_run_id": str(flow_run.id),
        "deployment": deployment,
        "parameters": flow_run.parameters,
        "state": state.type.value,
        "message": state.message,
        "error": f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else None,
    }
    # The field Slack-style incoming webhooks require and display; the rest is for tools.
    payload["text"] = (
        f"{flow.name}/{deployment or '-'} run {flow_run.name} {state.type.value}: "
        f"{payload['error'] or state.message} (parameters {flow_run.parameters})"
    )
    return payload


def _run_logger(flow: Any, flow_run: Any) -> Any:
    """The flow run's own logger: hooks run outside the run context, where records of
    an extra logger (``taxi_etl``) go to the API handler only, which drops them. This
    one reaches the run's logs in the UI and the container's output."""
    try:
        from prefect.logging.loggers import flow_run_logger

        return flow_run_logger(flow_run, flow)
    except Exception:
        return log


async def notify_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_failure`` / ``on_crashed`` hook; never raises, so it cannot mask the failure."""
    from taxi_etl.settings import Settings

    try:
        slug = (Settings().notify_block or "").strip()
    except ValueError:  # a bad TAXI_ETL_* value: the run already says so
        return
    if not slug:
        return
    logger = _run_logger(flow, flow_run)
    try:
        from prefect.blocks.core import Block

        payload = await failure_payload(flow, flow_run, state)
        block: Any = await Block.load(slug)
        if hasattr(block, "call"):  # prefect.blocks.webhook.Webhook
            response = await block.call(payload)
            response.raise_for_status()
        else:  # a NotificationBlock: Slack, Teams, custom webhook, ...
            lines = [f"{k}: {v}" for k, v in payload.items() if v is not None and k != "text"]
            await block.notify("\n".join(lines), subject=f"{payload['flow']} {payload['state']}")
        logger.info("failure notification sent through %s", slug)
    except Exception as exc:  # a broken notifier must not hide the run's own failure
        # The type only: an HTTP error's text holds the URL, which is the secret.
        logger.error(
            "could not send the failure notification through %s: %s", slug, type(exc).__name__
        )
