"""run_failure_sensor: a failed run becomes one chat message naming the video, the asset, the error and the run."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterEventType, DagsterInstance, build_run_status_sensor_context

from definitions import build_definitions
from pipeline_assets.partitions import source_videos
from resources.alerts import FailureAlerts
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.records import SourceRequest
from resources.settings import PipelineSettings
from sensors.run_failure_sensor import FailedStep, build_failure_message, first_lines, run_failure_sensor

KEY = "file-missing0001"


class Receiver:
    """A webhook receiver on 127.0.0.1 that records every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.close()


def failed_run_context(settings: PipelineSettings, tmp_path: Path) -> Any:
    """Run `short_pipeline_job` for a partition whose source file is gone; the context the daemon would build."""
    defs = build_definitions(settings)
    store = MediaStore.from_settings(settings)
    register_source(store, SourceRequest(partition_key=KEY, source=str(tmp_path / "deleted.mp4")))
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(source_videos.name or "source_videos", [KEY])
    result = defs.resolve_job_def("short_pipeline_job").execute_in_process(
        instance=instance, partition_key=KEY, raise_on_error=False
    )
    assert not result.success
    (failure,) = [event for event in result.all_events if event.event_type == DagsterEventType.RUN_FAILURE]
    return build_run_status_sensor_context(
        sensor_name="run_failure_sensor",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
    )


def test_failed_run_posts_video_asset_error_and_link(
    settings: PipelineSettings, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHORTS_FAILURE_WEBHOOK_URL", receiver.url)
    context = failed_run_context(settings, tmp_path)

    run_failure_sensor(context, failure_alerts=FailureAlerts(ui_base_url="http://dagster.internal:3000/"))

    assert len(receiver.bodies) == 1
    body = receiver.bodies[0]
    run_id = context.dagster_run.run_id
    everything = json.dumps(body)
    assert KEY in body["text"] and "source_video" in body["text"]
    assert f"http://dagster.internal:3000/runs/{run_id}" in body["text"]
    assert "deleted.mp4" in everything  # the error itself, not only "step failed"
    assert "Error occurred while executing" not in everything  # Dagster's wrapper is stripped
    assert body["blocks"][0]["type"] == "header"
    assert any("`source_video`" in block.get("text", {}).get("text", "") for block in body["blocks"])


def test_without_a_webhook_url_nothing_is_sent(
    settings: PipelineSettings, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHORTS_FAILURE_WEBHOOK_URL", raising=False)
    run_failure_sensor(failed_run_context(settings, tmp_path), failure_alerts=FailureAlerts())
    assert receiver.bodies == []


def test_an_unreachable_webhook_is_logged_not_raised(
    settings: PipelineSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SHORTS_FAILURE_WEBHOOK_URL", f"http://127.0.0.1:{port}/hook")
    run_failure_sensor(failed_run_context(settings, tmp_path), failure_alerts=FailureAlerts())  # no exception


def test_message_names_video_asset_error_and_link() -> None:
    message = build_failure_message(
        job_name="short_pipeline_job",
        run_id="0123456789abcdef",
        partition="tiktok-42",
        failed_steps=[FailedStep("x_post", "x_post", "x_post[tiktok-42]: HTTP 403 duplicate; fix it\nmore detail")],
        run_error="ignored when steps failed",
        run_url=FailureAlerts().run_url("0123456789abcdef"),
    )
    assert message["text"] == (
        "Run failed: short_pipeline_job, video tiktok-42, asset x_post: x_post[tiktok-42]: HTTP 403 duplicate; "
        "fix it <http://127.0.0.1:3000/runs/0123456789abcdef|Open the run>"
    )
    assert message["blocks"][2]["text"]["text"] == (
        "*Asset* `x_post`\n```x_post[tiktok-42]: HTTP 403 duplicate; fix it\nmore detail```"
    )


def test_a_run_that_failed_before_any_step_reports_the_run_error() -> None:
    message = build_failure_message(
        job_name="short_pipeline_job",
        run_id="r1",
        partition=None,
        failed_steps=[],
        run_error="code location failed to load",
        run_url="http://ui/runs/r1",
    )
    assert "(no partition)" in message["text"] and "code location failed to load" in message["text"]


def test_long_errors_are_cut_to_their_first_lines() -> None:
    text = "\n".join(f"line {n}" for n in range(50))
    assert first_lines(text, max_lines=3) == "line 0\nline 1\nline 2"
    assert len(first_lines("x" * 5000, max_chars=100)) == 100
