"""Failure notifications reach a webhook receiver on 127.0.0.1, without leaking its URL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from taxi_etl import flows
from taxi_etl.cli import running

pytestmark = pytest.mark.prefect


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.posts: list[tuple[str, dict[str, Any]]] = []


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append((self.path, json.loads(body)))
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_failed_run_posts_parameters_and_error(
    workdir: Path,
    mirror_url: str,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from prefect.blocks.webhook import Webhook

    token = "s3cr3t-7f1c9a"
    Webhook(
        url=f"http://127.0.0.1:{receiver.server_port}/hooks/{token}", allow_private_urls=True
    ).save("taxi-alerts", overwrite=True)
    monkeypatch.setenv("TAXI_ETL_NOTIFY_BLOCK", "webhook/taxi-alerts")

    state = running.run_parent(months=[9], year=2021, colour="yellow", source_url=mirror_url)
    assert state.is_failed()
    assert len(receiver.posts) == 1
    path, payload = receiver.posts[0]
    assert path == f"/hooks/{token}"
    assert payload["flow"] == "etl_parent_flow"
    assert payload["state"] == "FAILED"
    assert payload["parameters"]["months"] == [9]
    assert payload["parameters"]["colour"] == "yellow"
    assert "LoadFailed" in payload["error"] and "not published" in payload["error"]
    out, err = capfd.readouterr()
    assert token not in caplog.text + out + err


def test_successful_run_sends_nothing(
    workdir: Path, mirror_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.webhook import Webhook

    Webhook(url=f"http://127.0.0.1:{receiver.server_port}/ok", allow_private_urls=True).save(
        "taxi-alerts-ok", overwrite=True
    )
    monkeypatch.setenv("TAXI_ETL_NOTIFY_BLOCK", "webhook/taxi-alerts-ok")
    assert running.run_parent(
        months=[1], year=2019, colour="fhv", source_url=mirror_url
    ).is_completed()
    assert receiver.posts == []


def test_unreachable_notifier_does_not_mask_the_failure(
    workdir: Path, mirror_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAXI_ETL_NOTIFY_BLOCK", "webhook/no-such-block")
    state = running.run_parent(months=[9], year=2021, colour="yellow", source_url=mirror_url)
    assert state.is_failed()
    with pytest.raises(flows.LoadFailed, match="not published"):
        state.result()
