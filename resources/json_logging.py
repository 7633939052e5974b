"""Structured logs for production: one JSON object per line carrying the run id, the partition and the asset.

Select it per run (or in a job's default run config) with `loggers: {json: {config: {log_level: INFO}}}`;
log collectors (Loki, CloudWatch, Datadog) then filter on `run_id`, `partition` and `asset` instead of
parsing Dagster's human-oriented console lines.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from collections.abc import Mapping
from typing import IO, Any

from dagster import Field, InitLoggerContext, logger

from resources.catalog import LOCATION_NAME, PARTITION_TAG

# Where Dagster's DagsterLogManager puts what it knows about the log call (see dagster._core.log_manager).
DAGSTER_META_ATTR = "dagster_meta"


class JsonLogFormatter(logging.Formatter):
    """Formats a record as one JSON line: ts, level, logger, message, and run_id/partition/asset when known.

    Only these named fields are written, never the record's whole `__dict__` or the run's tags and config:
    those can hold anything (a caller's `extra`, the environment), and a log line must not leak secrets.
    """

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, DAGSTER_META_ATTR, None)
        meta = meta if isinstance(meta, Mapping) else {}
        entry: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            # Dagster rewrites `msg` into "job - run id - pid - step - EVENT - text"; the fields below say all
            # that, so the message is the text the code logged.
            "message": meta.get("orig_message") or record.getMessage(),
        }
        entry.update(dagster_fields(meta))
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def dagster_fields(meta: Mapping[str, Any]) -> dict[str, Any]:
    """run_id, job, step_key, event, partition and asset from a record's Dagster metadata (absent ones left out)."""
    event = meta.get("dagster_event")
    tags = meta.get("job_tags") or {}
    asset_key = getattr(event, "asset_key", None) if event is not None else None
    fields: dict[str, Any] = {
        "run_id": meta.get("run_id"),
        "job": meta.get("job_name"),
        "step_key": meta.get("step_key"),
        "event": event.event_type_value if event is not None else None,
        # A single-partition run carries the tag; an event of a partitioned asset also knows its own partition.
        "partition": tags.get(PARTITION_TAG) or (getattr(event, "partition", None) if event is not None else None),
        # Every stage is an asset computed by the op of the same name, so the step key names the asset when
        # the event itself does not.
        "asset": asset_key.to_user_string() if asset_key is not None else meta.get("step_key"),
        # A failure event's error (type and message, not the stack): the console logger appends it to the text.
        "error": error_message(event),
    }
    return {name: value for name, value in fields.items() if value is not None}


def error_message(event: Any) -> str | None:
    """The error of a failure event and its causes, messages only (no stacks); None for other events."""
    error = getattr(getattr(event, "event_specific_data", None), "error", None)
    messages = []
    while error is not None:
        messages.append(error.message.strip())
        error = error.cause
    return " | caused by: ".join(messages) or None


def json_stream_logger(name: str, level: int | str, stream: IO[str] | None = None) -> logging.Logger:
    """A fresh (unregistered) logger writing JSON lines to `stream` (stderr by default)."""
    # Not logging.getLogger(): a registered logger would collect one more handler on every run in a process.
    json_logger = logging.Logger(name, level)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    json_logger.addHandler(handler)
    return json_logger


@logger(
    config_schema={"log_level": Field(str, default_value="INFO", description="DEBUG, INFO, WARNING or ERROR.")},
    description="One JSON object per line on stderr, with run_id, partition and asset, for log collectors.",
)
def json_console_logger(init_context: InitLoggerContext) -> logging.Logger:
    return json_stream_logger(LOCATION_NAME, init_context.logger_config["log_level"].upper())
