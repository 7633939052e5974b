"""Talking to a running Dagster webserver through its GraphQL API, the same path the UI takes."""

from __future__ import annotations

import argparse
from typing import Any

import httpx

from resources.catalog import DEFAULT_UI_URL, LOCATION_NAME, REPOSITORY_NAME
from resources.errors import PipelineError
from resources.settings import PipelineSettings

TIMEOUT_S = 30.0
REPOSITORY_SELECTOR = {"repositoryLocationName": LOCATION_NAME, "repositoryName": REPOSITORY_NAME}


def add_url_argument(parser: argparse.ArgumentParser) -> None:
    """`--url` of the webserver, defaulting to the configured UI (SHORTS_UI_BASE_URL)."""
    try:
        default = PipelineSettings.from_env().ui_base_url
    except PipelineError:  # a bad setting is reported by the command that needs it, not by `--help`
        default = DEFAULT_UI_URL
    parser.add_argument(
        "--url", default=default, help="the Dagster webserver (default: $SHORTS_UI_BASE_URL or %(default)s)"
    )


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
