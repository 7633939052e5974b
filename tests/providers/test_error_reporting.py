"""Errors reach Sentry through the real sentry-sdk, tagged and with every secret gone (fake Sentry on 127.0.0.1)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster_webserver.app
import pytest
import sentry_sdk
from dagster import (
    DagsterInstance,
    RunRequest,
    SensorEvaluationContext,
    build_sensor_context,
    instance_for_test,
    materialize,
    sensor,
)
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import EmptyWorkspaceTarget
from dagster_graphql.implementation.utils import ErrorCapture
from starlette.testclient import TestClient

from cli.webserver import install_error_reporting
from resources.catalog import PARTITIONS_NAME
from resources.error_reporting import (
    DSN_ENV,
    init_error_reporting,
    report_sensor_errors,
    shutdown_error_reporting,
    step_failure_hook,
)
from resources.errors import PipelineError
from resources.ingest import Downloader
from resources.ingest.downloader import FetchedVideo
from resources.media.store import MediaStore
from tests.graph import assets_named, store_resources
from tests.providers.fakes.sentry_server import FakeSentry

API_KEY = "sk-fake-openai-key-0123456789"
URL_PASSWORD = "hunter2-url-password"
# What a careless provider error could say: a key, and a URL with a login and a token in its query.
LEAKY_ERROR = (
    f"the provider refused key {API_KEY} at https://bot:{URL_PASSWORD}@media.example/v1/fetch"
    f"?access_token=tok-in-query-987654 (Authorization: Bearer {API_KEY})"
)
SECRETS = (API_KEY, URL_PASSWORD, "tok-in-query-987654")


@pytest.fixture
def fake_sentry(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentry]:
    """A fake Sentry with error reporting initialised against it, and the project's secret in the environment."""
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    with FakeSentry() as fake:
        monkeypatch.setenv(DSN_ENV, fake.dsn)
        yield fake
        shutdown_error_reporting()


def assert_no_secret(fake: FakeSentry) -> None:
    received = fake.everything_received()
    assert received, "nothing reached the fake"
    for secret in SECRETS:
        assert secret.encode() not in received, f"{secret} was sent to Sentry"


class RefusingDownloader(Downloader):
    """A downloader whose provider answers with an error that quotes credentials."""

    def fetch(self, source: str, workdir: Path) -> FetchedVideo:
        raise PipelineError(LEAKY_ERROR)


def test_a_failed_step_sends_one_event_tagged_with_run_partition_asset_and_worker(
    fake_sentry: FakeSentry, tmp_path: Path
) -> None:

    assert init_error_reporting(os.environ)
    store = MediaStore(root=str(tmp_path / "media"))
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PARTITIONS_NAME, ["tiktok-123"])
    result = materialize(
        [a.with_hooks({step_failure_hook}) for a in assets_named("source_video")],
        partition_key="tiktok-123",
        instance=instance,
        resources={**store_resources(store), "downloader": RefusingDownloader()},
        run_config={"ops": {"source_video": {"config": {"source": "https://media.example/v1"}}}},
        raise_on_error=False,
    )
    assert not result.success
    sentry_sdk.flush()

    [event] = fake_sentry.events
    tags = event["tags"]
    assert tags["run_id"] == result.run_id
    assert tags["partition"] == "tiktok-123"
    assert tags["asset"] == "source_video"
    assert tags["worker"].endswith(f":{os.getpid()}")
    assert tags["error_kind"] == "PipelineError"
    assert tags["provider"] == "yt-dlp"  # the asset's kind: what ran it
    # The user's error is there, minus its secrets.
    values = " ".join(value["value"] for value in event["exception"]["values"])
    assert "source_video[tiktok-123]: the provider refused key ***" in values
    assert_no_secret(fake_sentry)


def test_a_sensor_error_is_reported_and_still_raised(fake_sentry: FakeSentry) -> None:

    init_error_reporting(os.environ)

    @sensor(name="exploding_sensor")
    @report_sensor_errors
    def exploding_sensor(context: SensorEvaluationContext) -> Iterator[RunRequest]:
        yield RunRequest(run_key="first")
        raise RuntimeError(f"feed answered 500 for https://feeds.example/?api_key={API_KEY}")

    with instance_for_test() as instance, pytest.raises(Exception, match="feed answered 500"):
        exploding_sensor.evaluate_tick(build_sensor_context(instance=instance))
    sentry_sdk.flush()

    [event] = fake_sentry.events
    assert event["tags"]["sensor"] == "exploding_sensor"
    assert "feed answered 500" in event["exception"]["values"][-1]["value"]
    assert_no_secret(fake_sentry)


@pytest.fixture
def webserver_client(fake_sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Any]]:
    """The real Dagster webserver app, made as `python -m cli.webserver` makes it, with a test client."""

    # Put back what installing changes in this process once the test is over.
    monkeypatch.setattr(dagster_webserver.app, "DagsterWebserver", dagster_webserver.app.DagsterWebserver)
    monkeypatch.setattr(ErrorCapture, "on_exception", ErrorCapture.on_exception)
    assert install_error_reporting(os.environ)
    with instance_for_test() as instance, WorkspaceProcessContext(instance, EmptyWorkspaceTarget()) as context:
        app = dagster_webserver.app.create_app_from_workspace_process_context(context)
        yield TestClient(app, raise_server_exceptions=False), instance


def test_an_exception_in_a_webserver_route_is_reported(
    webserver_client: tuple[TestClient, Any], fake_sentry: FakeSentry
) -> None:
    client, _ = webserver_client
    # Dagster's debug download fails on a run that does not exist: an unhandled exception in the route.
    assert client.get("/download_debug/no-such-run").status_code == 500
    sentry_sdk.flush()

    [event] = fake_sentry.events
    assert event["tags"]["component"] == "webserver"
    assert event["exception"]["values"][-1]["type"] == "AttributeError"
    assert event["request"]["url"].endswith("/download_debug/no-such-run")


def test_an_exception_in_a_graphql_resolver_is_reported_without_secrets(
    webserver_client: tuple[TestClient, Any], fake_sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, instance = webserver_client

    def storage_down(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"run storage down: postgresql://dagster:{URL_PASSWORD}@db/dagster")

    monkeypatch.setattr(instance, "get_run_records", storage_down)
    query = "{ runsOrError { __typename ... on Runs { results { runId } } } }"
    response = client.post("/graphql", json={"query": query}, headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 500
    sentry_sdk.flush()

    [event] = fake_sentry.events
    assert event["tags"]["component"] == "webserver"
    assert "run storage down: postgresql://***@db/dagster" in event["exception"]["values"][-1]["value"]
    assert_no_secret(fake_sentry)


def test_without_a_dsn_nothing_is_initialised_or_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DSN_ENV, raising=False)
    with FakeSentry() as fake:
        assert not init_error_reporting({"OPENAI_API_KEY": API_KEY})
        assert not sentry_sdk.is_initialized()
        sentry_sdk.capture_exception(RuntimeError("nobody hears this"))
        sentry_sdk.flush()
        assert fake.requests == []


def test_the_daemons_error_records_are_reported_tagged_daemon(fake_sentry: FakeSentry) -> None:
    from cli.daemon import install_error_reporting as install_for_daemon

    assert install_for_daemon(os.environ)
    logging.getLogger("dagster.daemon.SensorDaemon").error(
        f"sensor tick failed: https://user:{URL_PASSWORD}@feeds.example/ with key {API_KEY}"
    )
    sentry_sdk.flush()

    [event] = fake_sentry.events
    assert event["tags"]["component"] == "daemon"
    assert "sensor tick failed" in str(event["logentry"])
    assert_no_secret(fake_sentry)
