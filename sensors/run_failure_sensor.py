"""Tell a chat channel when a run fails: which video, which asset, the error, and a link to the run.

POSTs Slack-compatible JSON (`text` + `blocks`; Mattermost, Discord's `/slack` endpoint and most n8n/Zapier
hooks accept it too) to $SHORTS_FAILURE_WEBHOOK_URL. Unset: nothing is sent. RUNNING by default because it is
a no-op until the URL is set, and an alert someone must remember to switch on is no alert.

Error text comes from whatever failed, so it is first stripped of every known secret (`FailureAlerts.redact`),
then escaped (`mrkdwn`): it shows as written and cannot add links, mentions or formatting of its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dagster import DagsterEvent, DagsterInstance, DagsterRun, DefaultSensorStatus, RunFailureSensorContext
from dagster import run_failure_sensor as dagster_run_failure_sensor
from dagster._utils.error import SerializableErrorInfo

from resources.alerts import WEBHOOK_ENV, FailureAlerts
from resources.catalog import PARTITION_TAG
from resources.error_reporting import report_sensor_errors

MAX_ERROR_LINES = 6
MAX_ERROR_CHARS = 1200
MAX_STEPS_SHOWN = 5
# Broadcast words that notify a whole channel when they appear as plain text (Mattermost, Discord; Slack
# with `link_names`); Slack's own `<!channel>` form is taken care of by escaping `<`.
_BROADCAST = re.compile(r"@(channel|here|everyone|all|group)\b", re.IGNORECASE)
WORD_JOINER = "\u2060"  # invisible, and breaks `@here` or a ``` fence without changing what a reader sees


@dataclass(frozen=True)
class FailedStep:
    """One failed step: its key, the asset(s) it materializes, and its error."""

    step_key: str
    asset: str
    error: str


def first_lines(text: str, *, max_lines: int = MAX_ERROR_LINES, max_chars: int = MAX_ERROR_CHARS) -> str:
    """The first non-empty lines of `text`, cut to a size a chat message shows without scrolling."""
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()][:max_lines]
    short = "\n".join(lines)
    return short if len(short) <= max_chars else short[: max_chars - 1] + "…"


def mrkdwn(text: str) -> str:
    """`text` for a Slack mrkdwn field, shown as written: no links, mentions, or code fences of its own."""
    # Slack reads &, < and > as control characters (links `<url|label>`, mentions `<!channel>`, `<@U123>`) and
    # asks for exactly these three to be sent as HTML entities, nothing else:
    # https://api.slack.com/reference/surfaces/formatting#escaping
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # No two backticks side by side, none at either end: the text can neither close the ``` block (or the
    # `code` span) it is shown in, nor open one.
    text = re.sub(r"`(?=`)", f"`{WORD_JOINER}", text)
    text = (WORD_JOINER if text.startswith("`") else "") + text + (WORD_JOINER if text.endswith("`") else "")
    return _BROADCAST.sub(lambda match: f"@{WORD_JOINER}{match.group(1)}", text)


def build_failure_message(
    *,
    job_name: str,
    run_id: str,
    partition: str | None,
    failed_steps: Sequence[FailedStep],
    run_error: str,
    run_url: str,
) -> dict[str, Any]:
    """The Slack-compatible payload for one failed run (pure: no I/O, no environment).

    Every text that does not come from this module is escaped with `mrkdwn`; secrets must be gone already.
    """
    video = mrkdwn(partition or "(no partition)")
    # A run can fail before any step does (e.g. the code location failed to load): then the run's error is all.
    steps = list(failed_steps) or [
        FailedStep(step_key="(run)", asset="(none: the run failed before any step)", error=run_error)
    ]
    first = steps[0]
    headline = mrkdwn(first_lines(first.error, max_lines=1, max_chars=300))
    text = (
        f"Run failed: {mrkdwn(job_name)}, video {video}, asset {mrkdwn(first.asset)}: {headline} "
        f"<{run_url}|Open the run>"
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Run failed: {job_name}"[:150]}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Video*\n`{video}`"},
                {"type": "mrkdwn", "text": f"*Run*\n<{run_url}|{run_id[:8]}>"},
            ],
        },
    ]
    for step in steps[:MAX_STEPS_SHOWN]:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*Asset* `{mrkdwn(step.asset)}`\n```{mrkdwn(first_lines(step.error))}```",
                },
            }
        )
    if len(steps) > MAX_STEPS_SHOWN:
        more = len(steps) - MAX_STEPS_SHOWN
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {more} more failed steps"}]})
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"<{run_url}|Open the run in Dagster>"}})
    return {"text": text, "blocks": blocks}


def error_summary(error: SerializableErrorInfo) -> str:
    """The message an operator needs from a step error: the user's exception, without Dagster's wrapper."""
    # Dagster wraps user errors ("Error occurred while executing op ..."); the cause says what happened.
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    message = error.message.strip()
    head, sep, rest = message.partition(": ")
    if sep and "." in head and " " not in head:
        short_class = head.rsplit(".", 1)[-1]
        # A Failure's description already reads `asset[partition]: what happened; what to do`.
        message = rest if short_class == "Failure" else f"{short_class}: {rest}"
    return message


def _assets_by_step(instance: DagsterInstance, run: DagsterRun) -> dict[str, str]:
    """Step key -> the asset key(s) it materializes, from the run's execution plan snapshot."""
    if not run.execution_plan_snapshot_id:
        return {}
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    assets: dict[str, str] = {}
    for step in plan.steps:
        keys = [
            o.properties.asset_key.to_user_string() for o in step.outputs if o.properties and o.properties.asset_key
        ]
        if keys:
            assets[step.key] = ", ".join(keys)
    return assets


def failed_steps_of(instance: DagsterInstance, run: DagsterRun, events: Sequence[DagsterEvent]) -> list[FailedStep]:
    """The failed steps of `run`, each with its asset and error message."""
    assets = _assets_by_step(instance, run)
    steps = []
    for event in events:
        step_key = event.step_key or "(unknown step)"
        data = event.step_failure_data
        error = error_summary(data.error) if data and data.error else (event.message or "no error message")
        steps.append(FailedStep(step_key=step_key, asset=assets.get(step_key, step_key), error=error))
    return steps


@dagster_run_failure_sensor(
    name="run_failure_sensor",
    monitor_all_code_locations=False,
    default_status=DefaultSensorStatus.RUNNING,
    description=f"Posts failed runs (video, asset, error, link) to ${WEBHOOK_ENV}; does nothing while it is unset.",
)
@report_sensor_errors
def run_failure_sensor(context: RunFailureSensorContext, failure_alerts: FailureAlerts) -> None:
    if not failure_alerts.webhook_url():
        context.log.debug(f"{WEBHOOK_ENV} is not set; no failure alert sent")
        return
    run = context.dagster_run
    steps = [
        FailedStep(s.step_key, s.asset, failure_alerts.redact(s.error))
        for s in failed_steps_of(context.instance, run, context.get_step_failure_events())
    ]
    payload = build_failure_message(
        job_name=run.job_name,
        run_id=run.run_id,
        partition=run.tags.get(PARTITION_TAG),
        failed_steps=steps,
        run_error=failure_alerts.redact(context.failure_event.message or "the run failed"),
        run_url=failure_alerts.run_url(run.run_id),
    )
    problem = failure_alerts.post(payload)
    if problem:
        # An unreachable chat must not turn into a failing sensor that hides the next alerts.
        context.log.warning(problem)
    else:
        context.log.info(f"failure alert sent for run {run.run_id}")
