"""Failure notifications from the container stack (#7 §2), against a real receiver.

The test starts a webhook receiver in a container of its own on the stack's network
(webhook_receiver.py, in the project image), registers with
``TAXI_ETL_DEPLOY_NOTIFY_URL`` pointing at it, and checks both routes deploy.py sets up:

* a Failed run (a month that is not published) is reported by the flow's hook through
  the ``webhook/taxi-etl-alerts`` block, with the deployment, parameters and error;
* a run whose container is killed is reported by the server's notification policy
  (Prefect 2) or automation (Prefect 3) for Crashed runs (a hook cannot run in a killed
  process);
* the URL, whose path is the secret, appears in no log: deploy.py's output, the
  agent's or worker's and the flow runs' logs, even when the receiver answers 500.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from compose_stack import (
    ALL_DEPLOYMENTS,
    HELPER_LABEL,
    IMAGE,
    LAUNCHER,
    REGISTERED,
    RUN_LABEL,
    UI_RUN_PATH,
    Stack,
    await_,
    client,
    run,
    start_run,
    wait_for_final_state,
)
from lines import LINE

PROJECT = "taxi-etl-notify"
#: What deploy.py's Crashed-run route puts in the webhook's JSON `source`.
CRASH_SOURCE = LINE.crash_source
#: The secret part of the webhook URL; unique per session so no old log can match.
TOKEN = f"T0KEN-{uuid.uuid4().hex[:12]}"
RECEIVER_SOURCE = Path(__file__).with_name("webhook_receiver.py")

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


@dataclass
class Receiver:
    """The webhook receiver container: what it got, read from its stdout."""

    name: str

    @property
    def url(self) -> str:
        return f"http://{self.name}:8080/hooks/{TOKEN}"

    def posts(self) -> list[tuple[datetime, dict[str, Any]]]:
        """(arrival time, request) for every POST so far."""
        out = run(["docker", "logs", "--timestamps", self.name]).stdout
        posts = []
        for line in out.splitlines():
            stamp, _, text = line.partition(" ")
            if text.startswith("{"):
                # Docker's RFC 3339 stamps have nanoseconds; Python parses microseconds.
                when = datetime.fromisoformat(stamp[:26] + "+00:00")
                posts.append((when, json.loads(text)))
        return posts

    def wait_for(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> tuple[datetime, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = [(t, p) for t, p in self.posts() if match(p)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching notification within {timeout:.0f}s: "
                                     f"{self.posts()}")  # fmt: skip
            time.sleep(0.5)

    def answer(self, status: int) -> None:
        """Make the receiver answer `status` from now on."""
        run(["docker", "exec", self.name, "sh", "-c", f"echo {status} >/tmp/status"])


def _body(post: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(post["body"])
    return body


@pytest.fixture(scope="module")
def receiver(stack: Stack) -> Iterator[Receiver]:
    name = f"{stack.project}-webhook"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
    run(
        ["docker", "run", "--detach", "--init", "--name", name, "--network", stack.network,
         "--label", f"{HELPER_LABEL}={stack.project}", IMAGE,
         "python", "-c", RECEIVER_SOURCE.read_text(), "8080"],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "listening on 8080" not in run(["docker", "logs", name]).stderr:
            assert time.monotonic() < deadline, "the webhook receiver did not start"
            time.sleep(0.3)
        yield Receiver(name)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def deploy_output(stack: Stack, receiver: Receiver) -> str:
    result = stack.deploy(TAXI_ETL_DEPLOY_NOTIFY_URL=receiver.url)
    assert set(dict(REGISTERED.findall(result.stdout))) == ALL_DEPLOYMENTS, result.stdout
    return result.stdout + result.stderr


@dataclass(frozen=True)
class Notified:
    run: Any
    post: dict[str, Any]


@pytest.fixture(scope="module")
def failed_run(stack: Stack, receiver: Receiver, deploy_output: str) -> Notified:
    """A Custom run of a month the release has not published: it fails."""
    run_id, _ = start_run(
        stack, "etl_parent_flow/custom", "colour=yellow", "year=2021", "months=[8]"
    )
    flow_run = wait_for_final_state(stack.api_url, run_id)
    arrived, post = receiver.wait_for(
        lambda p: p["path"] == f"/hooks/{TOKEN}" and _body(p).get("flow_run_id") == run_id
    )
    stack.measure(
        "Failed -> notification received (s)",
        round((arrived - flow_run.state.timestamp).total_seconds(), 2),
    )
    return Notified(flow_run, post)


@pytest.fixture(scope="module")
def crashed_run(stack: Stack, receiver: Receiver, deploy_output: str) -> Notified:
    """A Custom run whose container is killed as soon as it runs."""
    run_id, _ = start_run(
        stack, "etl_parent_flow/custom", "colour=green", "year=2020", "months=[1]"
    )
    deadline = time.monotonic() + 120
    container = ""
    while not container:
        assert time.monotonic() < deadline, f"the {LAUNCHER} started no container in 120 s"
        time.sleep(0.2)
        container = run(
            ["docker", "ps", "-q", "--filter", f"label={RUN_LABEL}={run_id}"]
        ).stdout.strip()
    # Kill only once the launcher watches the container. Killed before that, the
    # container (auto_remove) is gone when the launcher looks, and Prefect's Docker
    # launchers then read exit code 0 from their snapshot: the run stays Submitting and
    # nothing reports it (docs/faults.md).
    name = run(["docker", "inspect", "--format", "{{.Name}}", container]).stdout.strip("/\n")
    while f"Docker container {name!r} has status" not in stack.logs(LAUNCHER):
        assert time.monotonic() < deadline, f"the {LAUNCHER} never watched {name} in 120 s"
        time.sleep(0.2)
    run(["docker", "kill", container])
    flow_run = wait_for_final_state(stack.api_url, run_id)
    arrived, post = receiver.wait_for(
        lambda p: _body(p).get("source") == CRASH_SOURCE and run_id in p["body"]
    )
    stack.measure(
        "Crashed -> policy notification received (s)",
        round((arrived - flow_run.state.timestamp).total_seconds(), 2),
    )
    return Notified(flow_run, post)


def test_failed_run_posts_deployment_parameters_and_error(
    receiver: Receiver, failed_run: Notified
) -> None:
    flow_run, post = failed_run.run, failed_run.post
    assert flow_run.state.is_failed(), flow_run.state
    assert post["path"] == f"/hooks/{TOKEN}"
    assert post["content_type"] == "application/json"
    payload = _body(post)
    assert payload["event"] == "flow-run-failed"
    assert payload["deployment"] == "custom"
    assert payload["flow"] == "etl_parent_flow"
    assert payload["flow_run"] == flow_run.name
    # The custom deployment's own default fills the source in.
    expected = {"colour": "yellow", "year": 2021, "months": [8], "source": "dtc"}
    assert payload["parameters"] == expected
    assert payload["state"] == "FAILED"
    error = payload["error"]
    assert error.startswith("LoadFailed: colour=yellow/year=2021/month=08: NotPublished"), error
    assert "yellow_tripdata_2021-08.csv.gz is not published (HTTP 404)" in error
    # What a Slack-style webhook displays: one line with the same facts.
    assert payload["text"].startswith(
        f"etl_parent_flow/custom run {flow_run.name} FAILED: LoadFailed: "
    ), payload["text"]
    assert "'months': [8]" in payload["text"]
    # One notification per failure: the Crashed-only policy stays quiet for Failed.
    about = [p for _, p in receiver.posts() if str(flow_run.id) in p["body"]]
    assert about == [post]


def test_killed_run_is_reported_by_the_server_policy(
    stack: Stack, receiver: Receiver, crashed_run: Notified
) -> None:
    flow_run, post = crashed_run.run, crashed_run.post
    assert flow_run.state.is_crashed(), flow_run.state
    assert post["path"] == f"/hooks/{TOKEN}"
    assert post["user_agent"] == "Prefect Notifications"  # sent by the server
    text = _body(post)["text"]
    assert f"etl_parent_flow/{flow_run.name} entered Crashed" in text
    assert "non-zero status code 137" in text  # SIGKILL, as the agent or worker saw it
    for extra in LINE.crash_text_extra:  # an automation's template can name the deployment
        assert extra in text
    assert f"Flow run ID: {flow_run.id}" in text
    # A link a person can open: compose gives the server PREFECT_UI_URL.
    assert f"Flow run URL: {stack.ui_url}/{UI_RUN_PATH}/{flow_run.id}" in text
    for value in ("'colour': 'green'", "'year': 2020", "'months': [1]"):
        assert value in text, text
    # The killed process ran no hook: the policy's is the only notification.
    about = [p for _, p in receiver.posts() if str(flow_run.id) in p["body"]]
    assert about == [post]


def test_the_webhook_url_is_in_no_log(
    stack: Stack,
    receiver: Receiver,
    deploy_output: str,
    failed_run: Notified,
    crashed_run: Notified,
) -> None:
    assert "/**** (secret, masked)" in deploy_output
    assert TOKEN not in deploy_output
    # A receiver that fails: the hook logs that it could not send, without the URL.
    receiver.answer(500)
    run_id, _ = start_run(
        stack, "etl_parent_flow/custom", "colour=yellow", "year=2021", "months=[9]"
    )
    failing = wait_for_final_state(stack.api_url, run_id)
    assert failing.state.is_failed()
    receiver.wait_for(lambda p: run_id in p["body"])

    async def flow_run_logs() -> str:
        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

        ids = [failed_run.run.id, crashed_run.run.id, failing.id]
        async with client(stack.api_url) as c:
            logs = await c.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)), limit=200)
        return "\n".join(log.message for log in logs)

    not_sent = "could not send the failure notification through webhook/taxi-etl-alerts"
    # The hook logs after the receiver answered, and the run's log records reach the API
    # in batches (Prefect 3 ships them from a background worker): poll, bounded.
    deadline = time.monotonic() + 60
    api_logs = await_(flow_run_logs)
    while f"{not_sent}: HTTPStatusError" not in api_logs and time.monotonic() < deadline:
        time.sleep(1)
        api_logs = await_(flow_run_logs)
    assert "failure notification sent through webhook/taxi-etl-alerts" in api_logs
    assert f"{not_sent}: HTTPStatusError" in api_logs
    assert TOKEN not in api_logs
    # The agent (worker) streams every flow-run container's output; deploy.py's blocks
    # are read by the runs. Only the Crashed route's server could log it (a failed
    # delivery), and it delivered every time here.
    agent_log = stack.logs(LAUNCHER)
    assert not_sent in agent_log
    assert TOKEN not in agent_log
    assert TOKEN not in stack.logs()
