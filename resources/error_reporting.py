"""Errors from every worker in one place: Sentry, switched on by $SENTRY_DSN, with every known secret taken out.

`init_error_reporting(os.environ)` is called once per process (the code location, so every code server, run and
step process; `python -m cli.webserver` for the webserver). Unset DSN: nothing is initialised, nothing is sent.

What is reported, and with which tags:
- a failed step (`step_failure_hook`, attached to the assets): run_id, partition, asset, step, job, worker,
  error_kind, and the asset's kinds (what ran it: `openai`, `ffmpeg`, ...) as `provider`;
- a sensor evaluation that raises (`report_sensor_errors` on the sensor function): sensor, worker;
- an exception in a webserver route (Sentry's Starlette integration) and in a GraphQL resolver (cli/webserver.py);
- any ERROR log record of a process's own loggers (daemon, code server, webserver); Dagster's run log records are
  left to the step failure hook, which has the exception itself, so one failure is one event.

Every event passes `scrub` on its way out: each value of the secret variables the run failure alerts redact
(`resources.alerts.known_secrets`), URL passwords, Authorization / cookie headers, bearer tokens and secret-named
query parameters are replaced in every string of the event (message, exceptions, breadcrumbs, extra, request).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from typing import Any, TypeVar, cast

import sentry_sdk
from dagster import HookContext, failure_hook
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.types import Event, Hint

from resources.alerts import REDACTED, known_secrets, redact_secrets
from resources.catalog import PARTITION_TAG
from resources.errors import ConfigurationError

DSN_ENV = "SENTRY_DSN"
# Sentry's own variable names, so an operator who knows Sentry finds them where they expect.
ENVIRONMENT_ENV = "SENTRY_ENVIRONMENT"
RELEASE_ENV = "SENTRY_RELEASE"
TRACES_ENV = "SENTRY_TRACES_SAMPLE_RATE"
DEFAULT_ENVIRONMENT = "production"
DISTRIBUTION = "viral-shorts-pipeline"
# Header and field names whose whole value is a credential, whatever it looks like ("Basic dXNlcjpwYXNz").
_SECRET_FIELD = re.compile(r"authorization|cookie|api[-_]?key|secret|token|passw|credential|dsn", re.IGNORECASE)
# `?token=...`, `&x-amz-signature=...`: query parameters named like a secret, in any URL of any string.
_SECRET_QUERY = re.compile(r"(?i)([?&;][\w.-]*(?:key|secret|token|pass|signature|sig|auth)[\w.-]*=)[^\s&#\"'<>]+")
# Where Dagster's log manager leaves its metadata on a record of a run (see resources.json_logging).
_DAGSTER_META_ATTR = "dagster_meta"

F = TypeVar("F", bound=Callable[..., Any])


def init_error_reporting(environ: Mapping[str, str], component: str = "") -> bool:
    """Start sending errors to Sentry when $SENTRY_DSN is set; returns whether it did. Without it: no-op.

    `component` (webserver, daemon) tags every event of this process.
    """
    dsn = environ.get(DSN_ENV, "").strip()
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        release=environ.get(RELEASE_ENV, "").strip() or _release(),
        environment=environ.get(ENVIRONMENT_ENV, "").strip() or DEFAULT_ENVIRONMENT,
        send_default_pii=False,
        # Local variables can hold credentials no list of secrets knows (a refreshed token, a provider's answer).
        include_local_variables=False,
        traces_sample_rate=_traces_rate(environ),
        before_send=lambda event, hint: _before_send(event, hint, environ),
        integrations=[
            # ERROR records of the process's own loggers become events; INFO and up become breadcrumbs.
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
            StarletteIntegration(),
        ],
    )
    if component:
        sentry_sdk.get_global_scope().set_tag("component", component)
    return True


def shutdown_error_reporting(timeout_s: float = 5.0) -> None:
    """Send what is queued, then stop reporting in this process (tests; a process that is about to exit)."""
    client = sentry_sdk.get_client()
    if client.is_active():
        client.flush(timeout=timeout_s)
        client.close(timeout=timeout_s)
    scope = sentry_sdk.get_global_scope()
    scope.clear()  # the tags set for the whole process (a closed client still counts as active: it is unset too)
    scope.set_client(None)


def worker() -> str:
    """`hostname:pid` of this process: which container and which process of it failed."""
    return f"{socket.gethostname()}:{os.getpid()}"


def scrub(value: Any, secrets: list[str], field: str = "") -> Any:
    """`value` (an event or any part of it) with every secret, credential header and secret query value replaced."""
    if isinstance(value, Mapping):
        return {key: scrub(item, secrets, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        # Sentry keeps headers and query strings as [name, value] pairs too.
        if len(value) == 2 and isinstance(value[0], str) and _SECRET_FIELD.search(value[0]) and value[1]:
            return [value[0], REDACTED]
        return [scrub(item, secrets, field) for item in value]
    if isinstance(value, str):
        if field and _SECRET_FIELD.search(field) and value:
            return REDACTED
        return _SECRET_QUERY.sub(rf"\1{REDACTED}", redact_secrets(value, secrets))
    return value


def capture(error: BaseException, tags: Mapping[str, str | None]) -> str | None:
    """Report `error` with `tags` (None values left out); the event id, or None when reporting is off."""
    if not sentry_sdk.get_client().is_active():
        return None
    with sentry_sdk.new_scope() as scope:
        for name, value in tags.items():
            if value is not None:
                scope.set_tag(name, value)
        return sentry_sdk.capture_exception(error)


@failure_hook(name="report_step_failure")
def step_failure_hook(context: HookContext) -> None:
    """Report a failed step (after its last retry) with run id, partition, asset, worker and what ran it."""
    error = context.op_exception
    if error is None or not sentry_sdk.get_client().is_active():
        return
    capture(error, step_tags(context, error))


def step_tags(context: HookContext, error: BaseException) -> dict[str, str | None]:
    """The tags of a step failure event."""
    run = context.instance.get_run_by_id(context.run_id)
    asset_key = _asset_key(context)
    kinds = _asset_kinds(context)
    # `stage_failures` wraps pipeline errors in a Failure: the cause names the kind (ConfigurationError, ...).
    cause = error.__cause__ or error
    return {
        "run_id": context.run_id,
        "partition": run.tags.get(PARTITION_TAG) if run is not None else None,
        "asset": asset_key or context.step_key,
        "step": context.step_key,
        "job": context.job_name,
        "worker": worker(),
        "error_kind": type(cause).__name__,
        "provider": ", ".join(sorted(kinds)) or None,
    }


def report_sensor_errors(evaluate: F) -> F:
    """Decorate a sensor's function (under `@sensor`): an exception it raises is reported, then raised as before.

    Dagster reads the function's parameters (context, resources) through the wrapper, so nothing else changes.
    """

    def report(args: tuple[Any, ...], kwargs: Mapping[str, Any], error: BaseException) -> None:
        context = kwargs.get("context", args[0] if args else None)
        try:
            name = context.sensor_name  # type: ignore[union-attr]
        except Exception:  # a context built without a name (tests) says so by raising
            name = evaluate.__name__
        capture(error, {"sensor": name, "worker": worker()})

    if inspect.isgeneratorfunction(evaluate):

        @functools.wraps(evaluate)
        def evaluate_each(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from evaluate(*args, **kwargs)
            except Exception as error:
                report(args, kwargs, error)
                raise

        return cast(F, evaluate_each)

    @functools.wraps(evaluate)
    def evaluate_once(*args: Any, **kwargs: Any) -> Any:
        try:
            return evaluate(*args, **kwargs)
        except Exception as error:
            report(args, kwargs, error)
            raise

    return cast(F, evaluate_once)


def _before_send(event: Event, hint: Hint, environ: Mapping[str, str]) -> Event | None:
    record = hint.get("log_record")
    if record is not None and hasattr(record, _DAGSTER_META_ATTR):
        # A run's log line (each of its loggers sees it again): its failure is the step failure hook's event.
        return None
    event.setdefault("tags", {}).setdefault("worker", worker())
    # Read per event, not at init: the environment and the token file change while a process runs.
    return cast(Event, scrub(event, known_secrets(environ)))


def _asset_key(context: HookContext) -> str | None:
    """The asset the failed step materializes (None for a plain op)."""
    keys = _step_asset_keys(context)
    return ", ".join(keys) if keys else None


def _step_asset_keys(context: HookContext) -> list[str]:
    step = getattr(context, "_step_execution_context", None)
    outputs = getattr(getattr(step, "step", None), "step_outputs", None) or []
    keys = []
    for output in outputs:
        key = getattr(getattr(output, "properties", None), "asset_key", None)
        if key is not None:
            keys.append(key.to_user_string())
    return keys


def _asset_kinds(context: HookContext) -> set[str]:
    """The failed asset's kinds (`{"openai"}`, `{"ffmpeg"}`): which provider or engine ran it."""
    step = getattr(context, "_step_execution_context", None)
    try:
        assets_def = step.job_def.asset_layer.get_assets_def_for_node(step.node_handle) if step else None
    except Exception:  # a plain op has no asset; the tag is a convenience, never a second failure
        return set()
    if assets_def is None:
        return set()
    return {kind for spec in assets_def.specs for kind in spec.kinds}


def _release() -> str | None:
    try:
        return f"{DISTRIBUTION}@{metadata.version(DISTRIBUTION)}"
    except metadata.PackageNotFoundError:
        return None


def _traces_rate(environ: Mapping[str, str]) -> float | None:
    """$SENTRY_TRACES_SAMPLE_RATE as a fraction; None (no tracing) when unset."""
    raw = environ.get(TRACES_ENV, "").strip()
    if not raw:
        return None
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise ConfigurationError(f"{TRACES_ENV}={raw!r} is not a fraction; set it between 0 and 1, or unset it")
    return rate
