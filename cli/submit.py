"""Manual intake: `shorts submit URL_OR_FILE` turns one video into a run on a running webserver.

It goes through the webserver's GraphQL API, the same path as the UI (add the partition, launch the job), so
the run is queued, launched and shown exactly like one started by hand. The source is registered in the
MediaStore of *this* process's settings: the webserver must share them (same `SHORTS_DATA_DIR` or S3 bucket).
Through the production proxy: `--user` (or SHORTS_UI_USER) and the password in SHORTS_UI_PASSWORD.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx

from cli.webserver import (
    REPOSITORY_SELECTOR,
    TIMEOUT_S,
    Login,
    add_login_argument,
    add_url_argument,
    base_url,
    check_reachable,
    client_options,
    graphql_call,
    login_from,
    webserver_client,
)
from resources.catalog import (
    DEFAULT_UI_URL,
    LOCATION_NAME,
    PARTITION_TAG,
    PARTITIONS_NAME,
    PIPELINE_JOB,
    REPOSITORY_NAME,
)
from resources.errors import InputRejected, PipelineError
from resources.ingest.downloader import is_url
from resources.ingest.url_safety import check_remote_url
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.partition_keys import key_for_source, validate_partition_key
from resources.records import SourceRequest
from resources.settings import PipelineSettings

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


def submit_source(
    source: str, *, url: str = DEFAULT_UI_URL, reason: str = "manual", login: Login | None = None
) -> Submission:
    """Register `source`, add its partition and launch `short_pipeline_job` for it unless it already has a run.

    `login`: the proxy's, when `url` is the production address (deploy/README.md).
    """
    source = normalize_source(source)
    key = validate_partition_key(key_for_source(source))
    base = base_url(url)
    with webserver_client(base, login) as client:
        check_reachable(client, base)
        register_source(
            MediaStore.from_settings(PipelineSettings.from_env()),
            SourceRequest(partition_key=key, source=source, reason=reason),
        )
        _add_partition(client, key)
        existing = _latest_run(client, key)
        if existing is not None:
            run_id, status = existing
            return Submission(key, run_id, launched=False, status=status, run_url=f"{base}/runs/{run_id}")
    run_id = _launch(base, key, login)
    return Submission(key, run_id, launched=True, status="QUEUED", run_url=f"{base}/runs/{run_id}")


def submit(source: str, *, url: str = DEFAULT_UI_URL, reason: str = "manual", login: Login | None = None) -> str:
    """Submit one video URL or file to a running webserver; return the id of its (new or existing) run."""
    return submit_source(source, url=url, reason=reason, login=login).run_id


def _add_partition(client: httpx.Client, key: str) -> None:
    variables = {
        "selector": REPOSITORY_SELECTOR,
        "partitionsDefName": PARTITIONS_NAME,
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
    variables = {"filter": {"pipelineName": PIPELINE_JOB, "tags": [{"key": PARTITION_TAG, "value": key}]}}
    result = graphql_call(client, RUNS_FOR_PARTITION, variables)["runsOrError"]
    if result["__typename"] != "Runs":
        raise PipelineError(f"listing the runs of partition {key} failed: {result.get('message')}")
    runs = result["results"]
    return (str(runs[0]["runId"]), str(runs[0]["status"])) if runs else None


def _launch(base: str, key: str, login: Login | None) -> str:
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError
    from gql.transport.httpx import HTTPXTransport

    parsed = urlparse(base)
    client = DagsterGraphQLClient(
        parsed.hostname or "127.0.0.1",
        port_number=parsed.port,
        use_https=parsed.scheme == "https",
        path_prefix=parsed.path,
        timeout=int(TIMEOUT_S),
        # The same httpx options as every other call (login, client header, TLS), not a second HTTP stack.
        transport=HTTPXTransport(url=f"{base}/graphql", **client_options(login)),
    )
    try:
        return client.submit_job_execution(
            PIPELINE_JOB,
            repository_location_name=LOCATION_NAME,
            repository_name=REPOSITORY_NAME,
            tags={PARTITION_TAG: key},
        )
    except DagsterGraphQLClientError as exc:
        raise PipelineError(f"launching {PIPELINE_JOB} for {key} failed: {exc} {exc.body or ''}") from exc


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `submit` command."""
    parser = subparsers.add_parser(
        "submit", help="add one video URL or file as a partition and launch its run on a running webserver"
    )
    parser.add_argument("source", help="video URL or local file")
    add_url_argument(parser)
    add_login_argument(parser)
    parser.add_argument("--reason", default="manual", help="why this video was chosen (stored with the source)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """0 when a run was launched or already exists (PipelineError otherwise)."""
    done = submit_source(args.source, url=args.url, reason=args.reason, login=login_from(args.user))
    if done.launched:
        print(f"partition {done.partition_key}: launched run {done.run_id}: {done.run_url}")
    else:
        print(
            f"partition {done.partition_key}: already has run {done.run_id} ({done.status}), not relaunched; "
            f"re-execute it from the UI if needed: {done.run_url}"
        )
    return 0
