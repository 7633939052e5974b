"""Prometheus metrics read from the Dagster instance: stage durations, failures, retries, cost and posts; and the
audience (latest views and likes per platform, summed over posts) from the metrics series.

`shorts metrics --port 9108` serves them at /metrics (Prometheus text format 0.0.4); the
Grafana dashboard in deploy/grafana/ plots them. Reading the event log (instead of instrumenting each step)
keeps one source of truth: what the UI shows is what Prometheus scrapes.
"""

from __future__ import annotations

import argparse
import http.server
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, EventRecordsFilter, RunsFilter

from cli.instance import ensure_dagster_home
from resources.catalog import chain_assets

if TYPE_CHECKING:
    from resources.analytics.series import MetricsSeries

WINDOW = 5000  # newest events read per series: bounded work per scrape
AUDIENCE_METRICS = ("views", "likes")


def _number(value: object) -> float | None:
    raw = getattr(value, "value", value)
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _lines(name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]) -> list[str]:
    out = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        rendered = ",".join(f'{key}="{_label(val)}"' for key, val in sorted(labels.items()))
        out.append(f"{name}{{{rendered}}} {value:g}" if rendered else f"{name} {value:g}")
    return out


def audience(series: MetricsSeries) -> dict[tuple[str, str], float]:
    """(platform, metric) -> the latest value of each post, summed over the platform's posts."""
    latest: dict[tuple[str, str, str], tuple[datetime, float]] = {}
    for item in series.observations():
        if item.metric in AUDIENCE_METRICS:
            key = (item.partition_key, item.platform, item.metric)
            seen = latest.get(key)
            if seen is None or seen[0] <= item.observed_at:
                latest[key] = (item.observed_at, item.value)
    totals: defaultdict[tuple[str, str], float] = defaultdict(float)
    for (_, platform, metric), (_, value) in latest.items():
        totals[(platform, metric)] += value
    return dict(totals)


def collect(instance: DagsterInstance, series: MetricsSeries | None = None) -> str:
    """The metrics text for everything the instance has recorded (and the audience, when `series` is given)."""
    seconds: dict[str, list[float]] = defaultdict(list)
    cost: defaultdict[str, float] = defaultdict(float)
    posts: Counter[tuple[str, str]] = Counter()
    for asset in chain_assets():
        result = instance.fetch_materializations(AssetKey(asset), limit=WINDOW)
        for record in result.records:
            materialization = record.asset_materialization
            if materialization is None:
                continue
            metadata = materialization.metadata
            if metadata.get("cached") is not None and getattr(metadata["cached"], "value", False):
                continue  # a cache hit did no work: it would skew durations and double-count cost
            elapsed = _number(metadata.get("elapsed_s"))
            if elapsed is not None:
                seconds[asset].append(elapsed)
            spent = _number(metadata.get("cost_usd"))
            if spent:
                cost[asset] += spent
            if asset.endswith("_post") and not getattr(metadata.get("already_published"), "value", False):
                status = str(getattr(metadata.get("status"), "value", "unknown"))
                posts[(asset.removesuffix("_post"), status)] += 1
    failures = Counter(_step_names(instance, DagsterEventType.STEP_FAILURE))
    retries = Counter(_step_names(instance, DagsterEventType.STEP_UP_FOR_RETRY))
    runs = {
        status.value.lower(): instance.get_runs_count(RunsFilter(statuses=[status]))
        for status in (
            DagsterRunStatus.SUCCESS,
            DagsterRunStatus.FAILURE,
            DagsterRunStatus.STARTED,
            DagsterRunStatus.QUEUED,
        )
    }
    lines: list[str] = []
    lines += _lines("shorts_stage_seconds_sum", "counter", "Seconds spent in each stage (work done, not cache hits).",
                    [({"asset": a}, sum(v)) for a, v in sorted(seconds.items())])  # fmt: skip
    lines += _lines("shorts_stage_seconds_count", "counter", "Materializations that did work, per stage.",
                    [({"asset": a}, len(v)) for a, v in sorted(seconds.items())])  # fmt: skip
    lines += _lines("shorts_stage_failures_total", "counter", "Failed steps per asset.",
                    [({"asset": a}, n) for a, n in sorted(failures.items())])  # fmt: skip
    lines += _lines("shorts_stage_retries_total", "counter", "Step retries per asset.",
                    [({"asset": a}, n) for a, n in sorted(retries.items())])  # fmt: skip
    lines += _lines("shorts_api_cost_usd_total", "counter", "Estimated provider cost in USD per stage.",
                    [({"asset": a}, c) for a, c in sorted(cost.items())])  # fmt: skip
    lines += _lines("shorts_posts_total", "counter", "Posts made per platform and status (outbox, published).",
                    [({"platform": p, "status": s}, n) for (p, s), n in sorted(posts.items())])  # fmt: skip
    lines += _lines("shorts_runs", "gauge", "Runs by status.", [({"status": s}, n) for s, n in sorted(runs.items())])
    totals = audience(series) if series is not None else {}  # the families exist (empty) without a series
    for metric in AUDIENCE_METRICS:
        lines += _lines(f"shorts_audience_{metric}", "gauge", f"Latest {metric} per platform, summed over posts.",
                        [({"platform": p}, v) for (p, m), v in sorted(totals.items()) if m == metric])  # fmt: skip
    return "\n".join(lines) + "\n"


def _step_names(instance: DagsterInstance, event_type: DagsterEventType) -> list[str]:
    records = instance.get_event_records(EventRecordsFilter(event_type=event_type), limit=WINDOW)
    return [record.event_log_entry.step_key or "run" for record in records]


def serve(
    instance: DagsterInstance, *, host: str = "127.0.0.1", port: int = 9108, series: MetricsSeries | None = None
) -> http.server.ThreadingHTTPServer:
    """Start a /metrics endpoint in a background thread; returns the server (call shutdown() to stop)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = collect(instance, series).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `metrics` command."""
    parser = subparsers.add_parser("metrics", help="serve Prometheus metrics from the Dagster instance")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9108)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from resources.analytics.series import MetricsSeries
    from resources.settings import PipelineSettings

    ensure_dagster_home()
    series = MetricsSeries(PipelineSettings.from_env().database_location)
    server = serve(DagsterInstance.get(), host=args.host, port=args.port, series=series)
    print(f"serving http://{args.host}:{args.port}/metrics (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
    return 0
