"""Manual intake: `python -m pipeline_assets submit URL_OR_FILE` turns one video into a run on a running webserver.

It goes through the webserver's GraphQL API, the same path as the UI (add the partition, launch the job), so
the run is queued, launched and shown exactly like one started by hand. The source is registered in the
MediaStore of *this* process's settings: the webserver must share them (same `SHORTS_DATA_DIR` or S3 bucket).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from pipeline_assets.jobs import short_pipeline_job
from pipeline_assets.partitions import source_videos
from pipeline_assets.settings import PipelineSettings
from pipeline_assets.source_registry import register_source
from resources.errors import InputRejected, PipelineError
from resources.ingest.downloader import is_url
from resources.ingest.url_safety import check_remote_url
from resources.partition_keys import key_for_source, validate_partition_key
from resources.records import SourceRequest

DEFAULT_UI_URL = "http://127.0.0.1:3000"
LOCATION_NAME = "viral_shorts"  # workspace.yaml's location_name
REPOSITORY_NAME = "__repository__"  # the implicit repository of a `Definitions` object
PARTITIONS_DEF_NAME = source_videos.name or "source_videos"
PARTITION_TAG = "dagster/partition"
TIMEOUT_S = 30.0

ADD_PARTITION = """
mutation AddPartition($selector: RepositorySelector!, $partitionsDefName: String!, $partitionKey: String!) {
  addDynamicPartition(repositorySelector: $selector, partitionsDefName: $partitionsDefName,
                      partitionKey: $partitionKey) {
    __typename
    ... on Error { message }
  }
}
"""

RUNS_FOR_PARTITION = """
query RunsForPartition($filter: RunsFilter!) {
  runsOrError(filter: $filter, limit: 1) {
    __typename
    ... on Runs { results { runId status } }
    ... on Error { message }
  }
}
"""


@dataclass(frozen=True)
class Submission:
    """What `submit_source` did for one source."""

    partition_key: str
    run_id: str
    launched: bool  # False: the partition already had a run, which is reported instead of relaunched
    status: str  # Dagster run status, e.g. QUEUED, STARTED, SUCCESS, FAILURE
    run_url: str


def normalize_source(source: str) -> str:
    """A URL checked for scheme, host and credentials, or the absolute path of an existing local file."""
    source = source.strip()
    if is_url(source):
        # Syntax only: the run's `source_video` resolves the host and applies the SSRF guard with the
        # server's settings, so intake does not need network access.
        return check_remote_url(source, allow_private_networks=True)
    path = Path(source).expanduser().resolve()
    if not path.is_file():
        raise InputRejected(f"{source!r} is neither an http(s) URL nor an existing file; give a video URL or path")
    return str(path)


def submit_source(source: str, *, url: str = DEFAULT_UI_URL, reason: str = "manual") -> Submission:
    """Register `source`, add its partition and launch `short_pipeline_job` for it unless it already has a run."""
    source = normalize_source(source)
    key = validate_partition_key(key_for_source(source))
    base = url.rstrip("/")
    # Imported here: loading every asset module is slow, and `add_submit_parser` runs for every CLI command.
    from pipeline_assets.definitions import build_resources

    with httpx.Client(base_url=base, timeout=TIMEOUT_S) as client:
        check_reachable(client, base)
        register_source(
            build_resources(PipelineSettings.from_env())["media_store"],
            SourceRequest(partition_key=key, source=source, reason=reason),
        )
        _add_partition(client, key)
        existing = _latest_run(client, key)
        if existing is not None:
            run_id, status = existing
            return Submission(key, run_id, launched=False, status=status, run_url=f"{base}/runs/{run_id}")
    run_id = _launch(base, key)
    return Submission(key, run_id, launched=True, status="QUEUED", run_url=f"{base}/runs/{run_id}")


def submit(source: str, *, url: str = DEFAULT_UI_URL, reason: str = "manual") -> str:
    """Submit one video URL or file to a running webserver; return the id of its (new or existing) run."""
    return submit_source(source, url=url, reason=reason).run_id


def check_reachable(client: httpx.Client, base: str) -> None:
    try:
        client.get("/server_info").raise_for_status()
    except httpx.HTTPError as exc:
        raise PipelineError(
            f"the Dagster webserver at {base} is not reachable ({exc}); start it with `make dev` or pass --url"
        ) from exc


def graphql_call(client: httpx.Client, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    try:
        response = client.post("/graphql", json={"query": query, "variables": variables})
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise PipelineError(f"GraphQL request to {client.base_url} failed ({exc}); is it a Dagster webserver?") from exc
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise PipelineError(f"GraphQL error from {client.base_url}: {body['errors'][0].get('message', body['errors'])}")
    return dict(body["data"])


def _add_partition(client: httpx.Client, key: str) -> None:
    variables = {
        "selector": {"repositoryLocationName": LOCATION_NAME, "repositoryName": REPOSITORY_NAME},
        "partitionsDefName": PARTITIONS_DEF_NAME,
        "partitionKey": key,
    }
    result = graphql_call(client, ADD_PARTITION, variables)["addDynamicPartition"]
    # A duplicate is the idempotent case: the partition exists already (sensor, demo, an earlier submit).
    if result["__typename"] not in ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"):
        raise PipelineError(
            f"adding partition {key} failed: {result.get('message', result['__typename'])}; is the code location "
            f"{LOCATION_NAME!r} loaded without errors in the UI?"
        )


def _latest_run(client: httpx.Client, key: str) -> tuple[str, str] | None:
    variables = {"filter": {"pipelineName": short_pipeline_job.name, "tags": [{"key": PARTITION_TAG, "value": key}]}}
    result = graphql_call(client, RUNS_FOR_PARTITION, variables)["runsOrError"]
    if result["__typename"] != "Runs":
        raise PipelineError(f"listing the runs of partition {key} failed: {result.get('message')}")
    runs = result["results"]
    return (str(runs[0]["runId"]), str(runs[0]["status"])) if runs else None


def _launch(base: str, key: str) -> str:
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    parsed = urlparse(base)
    client = DagsterGraphQLClient(
        parsed.hostname or "127.0.0.1",
        port_number=parsed.port,
        use_https=parsed.scheme == "https",
        path_prefix=parsed.path,
        timeout=int(TIMEOUT_S),
    )
    try:
        return client.submit_job_execution(
            short_pipeline_job.name,
            repository_location_name=LOCATION_NAME,
            repository_name=REPOSITORY_NAME,
            tags={PARTITION_TAG: key},
        )
    except DagsterGraphQLClientError as exc:
        raise PipelineError(f"launching {short_pipeline_job.name} for {key} failed: {exc} {exc.body or ''}") from exc


def add_submit_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the `submit` subcommand to the CLI's subparsers."""
    parser = subparsers.add_parser(
        "submit", help="add one video URL or file as a partition and launch its run on a running webserver"
    )
    parser.add_argument("source", help="video URL or local file")
    parser.add_argument(
        "--url",
        default=os.environ.get("SHORTS_UI_BASE_URL", DEFAULT_UI_URL),
        help="the Dagster webserver (default: $SHORTS_UI_BASE_URL or %(default)s)",
    )
    parser.add_argument("--reason", default="manual", help="why this video was chosen (stored with the source)")
    return parser


def run_submit(args: argparse.Namespace) -> int:
    """Run the `submit` subcommand; 0 when a run was launched or already exists, 1 with a message otherwise."""
    try:
        done = submit_source(args.source, url=args.url, reason=args.reason)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if done.launched:
        print(f"partition {done.partition_key}: launched run {done.run_id}: {done.run_url}")
    else:
        print(
            f"partition {done.partition_key}: already has run {done.run_id} ({done.status}), not relaunched; "
            f"re-execute it from the UI if needed: {done.run_url}"
        )
    return 0
