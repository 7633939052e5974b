"""Talking to a running Dagster webserver through its GraphQL API, the same path the UI takes; and serving it.

Behind the production proxy (deploy/Caddyfile) every request needs the proxy's login, and a change must come as
JSON with a header no web page can add: `login_from` reads the login, `client_options` gives every client both.

`python -m cli.webserver <dagster-webserver options>` runs `dagster-webserver` with error reporting: with
$SENTRY_DSN set, exceptions in its routes and GraphQL resolvers go to Sentry (`resources.error_reporting`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from resources.catalog import DEFAULT_UI_URL, LOCATION_NAME, REPOSITORY_NAME
from resources.errors import InputRejected, PipelineError
from resources.settings import PipelineSettings

if TYPE_CHECKING:
    from dagster_graphql.schema.errors import GraphenePythonError
    from dagster_webserver.webserver import DagsterWebserver

TIMEOUT_S = 30.0
REPOSITORY_SELECTOR = {"repositoryLocationName": LOCATION_NAME, "repositoryName": REPOSITORY_NAME}
USER_ENV = "SHORTS_UI_USER"
# Only ever from the environment: a flag's value is visible to every user of the machine in `ps`.
PASSWORD_ENV = "SHORTS_UI_PASSWORD"
# Pages on other sites cannot send a custom header without a CORS preflight, so the proxy lets a request without
# an Origin (a command-line client) change things only when it carries this one.
CLIENT_HEADERS = {"X-Requested-With": "shorts-cli"}


@dataclass(frozen=True)
class Login:
    """The proxy's basic-auth login (deploy/.env PROXY_USER and the password behind PROXY_PASSWORD_HASH)."""

    user: str
    password: str = field(repr=False)


def add_url_argument(parser: argparse.ArgumentParser) -> None:
    """`--url` of the webserver, defaulting to the configured UI (SHORTS_UI_BASE_URL)."""
    try:
        default = PipelineSettings.from_env().ui_base_url
    except PipelineError:  # a bad setting is reported by the command that needs it, not by `--help`
        default = DEFAULT_UI_URL
    parser.add_argument(
        "--url", default=default, help="the Dagster webserver (default: $SHORTS_UI_BASE_URL or %(default)s)"
    )


def add_login_argument(parser: argparse.ArgumentParser) -> None:
    """`--user` for the proxy's login; its password comes from $SHORTS_UI_PASSWORD only."""
    parser.add_argument(
        "--user",
        default=os.environ.get(USER_ENV) or None,
        help=f"the proxy's login (default: ${USER_ENV}); the password is read from ${PASSWORD_ENV}, never a flag",
    )


def login_from(user: str | None, environ: Mapping[str, str] = os.environ) -> Login | None:
    """The login for `user` with the password from the environment; None without a user (no proxy: `make dev`)."""
    password = environ.get(PASSWORD_ENV, "")
    if not user:
        if password:
            raise InputRejected(f"{PASSWORD_ENV} is set but no user is; pass --user or set {USER_ENV}")
        return None
    if not password:
        raise InputRejected(f"login {user!r} has no password: set {PASSWORD_ENV} (it is never taken as a flag)")
    return Login(user, password)


def client_options(login: Login | None) -> dict[str, Any]:
    """httpx.Client arguments every call to the webserver uses: timeout, the proxy's login and the client header.

    TLS is verified against the system's default CAs, or $SSL_CERT_FILE (Caddy's internal CA: deploy/README.md).
    """
    return {"timeout": TIMEOUT_S, "headers": CLIENT_HEADERS, "auth": (login.user, login.password) if login else None}


def webserver_client(url: str, login: Login | None) -> httpx.Client:
    """An httpx client for the webserver at `url`, through the proxy with `login` when given."""
    return httpx.Client(base_url=base_url(url), **client_options(login))


def base_url(url: str) -> str:
    """`url` without a trailing slash; refused when it carries a login, which would end up in messages and links."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise InputRejected(
            f"the webserver URL carries a login; pass the user as --user or {USER_ENV} and the password in "
            f"{PASSWORD_ENV}, and give the URL without it ({parts.scheme}://{parts.hostname}…)"
        )
    return url.rstrip("/")


def check_reachable(client: httpx.Client, base: str) -> None:
    try:
        response = client.get("/server_info")
    except httpx.HTTPError as exc:
        raise PipelineError(
            f"the Dagster webserver at {base} is not reachable ({exc}); start it with `make dev` or pass --url"
        ) from exc
    if response.status_code == 401:
        who = "no login was sent" if client.auth is None else "the proxy refused the login"
        raise PipelineError(
            f"{base} asks for a login and {who}: set {USER_ENV} (or --user) and {PASSWORD_ENV} to the proxy's "
            "user and password (deploy/.env PROXY_USER)"
        )
    _raise_for_status(response, base)


def graphql_call(client: httpx.Client, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    try:
        response = client.post("/graphql", json={"query": query, "variables": variables})
    except httpx.HTTPError as exc:
        raise PipelineError(f"GraphQL request to {client.base_url} failed ({exc}); is it a Dagster webserver?") from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("errors"):  # the webserver answers GraphQL errors with 400/500 too
        raise PipelineError(f"GraphQL error from {client.base_url}: {body['errors'][0].get('message', body['errors'])}")
    _raise_for_status(response, str(client.base_url))
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise PipelineError(f"{client.base_url} answered /graphql without GraphQL data; is it a Dagster webserver?")
    return dict(body["data"])


def _raise_for_status(response: httpx.Response, base: str) -> None:
    if response.is_success:
        return
    # The proxy's refusals are one short line of text ("refused: ..."); a webserver error page is not shown whole.
    reason = response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
    raise PipelineError(
        f"{response.request.method} {response.request.url.path} at {base} answered HTTP {response.status_code}: "
        f"{reason}; is it a Dagster webserver (or its proxy) at --url?"
    )


# --- serving the webserver, with its errors reported ------------------------------------------------------------
# The webserver's packages are imported only here: every `shorts` command imports this module for its client.


def _report(error: BaseException) -> None:
    from resources.error_reporting import capture, worker

    capture(error, {"worker": worker()})


def reporting_webserver_class() -> type[DagsterWebserver]:
    """The Dagster webserver, reporting each GraphQL error that an exception in a resolver caused."""
    from dagster_webserver.webserver import DagsterWebserver
    from graphql import GraphQLError

    class ReportingWebserver(DagsterWebserver):
        def handle_graphql_errors(self, errors: Sequence[GraphQLError]) -> list[Any]:
            for error in errors:
                if error.original_error is not None:  # a syntax or validation error is the client's, not ours
                    _report(error.original_error)
            return list(super().handle_graphql_errors(errors))

    return ReportingWebserver


def report_resolver_exception(
    exc_info: tuple[type[BaseException], BaseException, TracebackType],
) -> GraphenePythonError:
    """Dagster's hook for a resolver exception it shows as a PythonError: report it, then show it as before."""
    from dagster_graphql.implementation.utils import ErrorCapture

    _report(exc_info[1])
    return ErrorCapture.default_on_exception(exc_info)


def install_error_reporting(environ: Mapping[str, str]) -> bool:
    """Report this process's webserver errors when $SENTRY_DSN is set; returns whether it does.

    Route exceptions: Sentry's Starlette integration. Resolver exceptions Dagster shows as a PythonError: its
    global `ErrorCapture.on_exception` hook. Any other GraphQL error caused by an exception: the app is made of
    `reporting_webserver_class()`, put where dagster-webserver's app factory takes its class from.
    """
    from resources.error_reporting import init_error_reporting

    if not init_error_reporting(environ, component="webserver"):  # every event of this process, routes too
        return False
    import dagster_webserver.app
    from dagster_graphql.implementation.utils import ErrorCapture

    ErrorCapture.on_exception = report_resolver_exception
    dagster_webserver.app.DagsterWebserver = reporting_webserver_class()  # type: ignore[misc]
    return True


def serve(argv: Sequence[str]) -> int:
    """Run `dagster-webserver` with `argv` (its own options), its errors reported when $SENTRY_DSN is set."""
    from dagster_webserver.cli import cli as dagster_webserver_cli

    install_error_reporting(os.environ)
    dagster_webserver_cli.main(args=list(argv), prog_name="dagster-webserver")  # exits with the server's status
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:]))
