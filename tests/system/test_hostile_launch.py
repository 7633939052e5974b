"""Hostile launches through a real webserver's GraphQL API: a run config cannot redirect secrets or switch off a guard.

The webserver runs the code location as the deployment does (settings from SHORTS_*, with a ledger URL holding a
password and API keys in its environment). Every hostile run config below is what an attacker with UI access would
send as `runConfigData`: each must be refused by config validation with a message naming the field, no run may be
created (so nothing is published), and no secret may appear in any GraphQL answer the UI reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from resources.catalog import LOCATION_NAME, PARTITIONS_NAME, PIPELINE_JOB, REPOSITORY_NAME
from tests.system.local_servers import queued_webserver

ROOT = Path(__file__).resolve().parents[2]
KEY = "file-hostile-launch-0123456789"
LEDGER_PASSWORD = "ledger-pw-7e1f0c"
API_KEY = "sk-test-openai-2b9d4a"
SELECTOR = {"repositoryLocationName": LOCATION_NAME, "repositoryName": REPOSITORY_NAME}
pytestmark = pytest.mark.slow

HOSTILE: dict[str, dict[str, Any]] = {
    "cookies file read from /proc": {"resources": {"downloader": {"config": {"cookies_file": "/proc/self/environ"}}}},
    "private networks allowed": {"resources": {"downloader": {"config": {"allow_private_networks": True}}}},
    "rewriter key sent elsewhere": {
        "resources": {
            "rewriter": {"config": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "AWS_SECRET_ACCESS_KEY"}}
        }
    },
    "transcriber key sent elsewhere": {"resources": {"transcriber": {"config": {"base_url": "http://127.0.0.1:9/v1"}}}},
    "voice key sent elsewhere": {"resources": {"speaker": {"config": {"elevenlabs_base_url": "http://127.0.0.1:9"}}}},
    "avatar key sent elsewhere": {"resources": {"avatar_renderer": {"config": {"api_base_url": "http://127.0.0.1:9"}}}},
    "refresh token sent elsewhere": {
        "resources": {"youtube_publisher": {"config": {"token_url": "http://127.0.0.1:9"}}}
    },
    "uploads sent elsewhere": {"resources": {"tiktok_publisher": {"config": {"api_base_url": "http://127.0.0.1:9"}}}},
    "approval switched off": {"resources": {"x_publisher": {"config": {"require_approval": False}}}},
    "another ledger": {"resources": {"linkedin_publisher": {"config": {"ledger_path": "/tmp/forget.sqlite3"}}}},
    "outbox written elsewhere": {"resources": {"instagram_publisher": {"config": {"outbox_dir": "/etc"}}}},
    "media store elsewhere": {"resources": {"media_store": {"config": {"root": "/"}}}},
    "records elsewhere": {"resources": {"io_manager": {"config": {}, "media_store": {"root": "/"}}}},
    "executor preloads a module": {
        "execution": {"config": {"start_method": {"forkserver": {"preload_modules": ["os"]}}}}
    },
    "unknown resource": {"resources": {"shell": {"config": {"command": "id"}}}},
}

ADD_PARTITION = """
mutation($selector: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $selector, partitionsDefName: $name, partitionKey: $key) { __typename }
}"""
LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on RunConfigValidationInvalid { errors { message } }
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""
RUNS = "query { runsOrError { ... on Runs { results { runId } } } }"
RESOURCES = """
query($selector: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $selector) {
    __typename
    ... on ResourceDetailsList { results { name description configFields { name } configuredValues { key value } } }
  }
}"""


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    assert "errors" not in body, body
    return body["data"]


def launch(url: str, run_config: dict[str, Any]) -> dict[str, Any]:
    params = {
        "selector": {**SELECTOR, "jobName": PIPELINE_JOB},
        "runConfigData": run_config,
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": KEY}]},
    }
    return graphql(url, LAUNCH, {"params": params})["launchRun"]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHORTS_")}
    env.update(
        SHORTS_DATA_DIR=str(tmp_path_factory.mktemp("data")),
        SHORTS_LEDGER_URL=f"postgresql+psycopg2://shorts:{LEDGER_PASSWORD}@127.0.0.1:5432/ledger",
        OPENAI_API_KEY=API_KEY,
    )
    with queued_webserver(tmp_path_factory.mktemp("dagster_home"), env) as url:
        added = graphql(url, ADD_PARTITION, {"selector": SELECTOR, "name": PARTITIONS_NAME, "key": KEY})
        assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess"
        yield url


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_run_config_is_refused_and_launches_nothing(webserver: str, case: str) -> None:
    answer = launch(webserver, HOSTILE[case])
    assert answer["__typename"] == "RunConfigValidationInvalid", answer
    message = " ".join(error["message"] for error in answer["errors"])
    assert "unexpected config entr" in message and "root:" in message  # names where the refused field was
    assert graphql(webserver, RUNS)["runsOrError"]["results"] == []


def test_no_secret_is_shown_by_the_resources_the_ui_lists(webserver: str) -> None:
    answer = graphql(webserver, RESOURCES, {"selector": SELECTOR})["allTopLevelResourceDetailsOrError"]
    assert answer["__typename"] == "ResourceDetailsList"
    everything = json.dumps(answer)
    assert {r["name"] for r in answer["results"]} >= {"media_store", "youtube_publisher", "rewriter"}
    assert LEDGER_PASSWORD not in everything and API_KEY not in everything
    assert all(not r["configFields"] for r in answer["results"])  # nothing to set at launch, nothing to read


def test_the_safe_choices_still_launch(webserver: str) -> None:
    # Last: a queued run is what a legitimate launch leaves (the earlier tests assert there is none).
    answer = launch(webserver, {"ops": {"short_video": {"config": {"layout": "split_screen"}}}})
    assert answer["__typename"] == "LaunchRunSuccess", answer
