"""Prometheus metrics from the event log: durations, failures, retries and cost per stage, posts, runs."""

from __future__ import annotations

from pathlib import Path

import httpx
from dagster import DagsterInstance

from cli.metrics import collect, serve
from resources.media.store import MediaStore
from tests.graph import materialize_partition


def ingest(instance: DagsterInstance, store: MediaStore, key: str, source: str) -> None:
    materialize_partition(["source_video"], key, store, source=source, instance=instance, raise_on_error=False)


def test_metrics_count_work_failures_and_runs_and_skip_cache_hits(tmp_path: Path, sample_video: Path) -> None:
    instance = DagsterInstance.ephemeral()
    store = MediaStore(root=str(tmp_path / "media"))
    ingest(instance, store, "file-ok", str(sample_video))
    ingest(instance, store, "file-ok", str(sample_video))  # cache hit: no extra work counted
    ingest(instance, store, "file-missing", str(tmp_path / "missing.mp4"))
    text = collect(instance)
    assert 'shorts_stage_seconds_count{asset="source_video"} 1' in text
    assert 'shorts_stage_failures_total{asset="source_video"} 1' in text
    assert 'shorts_runs{status="success"} 2' in text and 'shorts_runs{status="failure"} 1' in text
    assert "# TYPE shorts_posts_total counter" in text


def test_metrics_endpoint_serves_prometheus_text(tmp_path: Path) -> None:
    server = serve(DagsterInstance.ephemeral(), port=0)
    try:
        port = server.server_address[1]
        reply = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "# HELP shorts_stage_seconds_sum" in reply.text
        assert httpx.get(f"http://127.0.0.1:{port}/other").status_code == 404
    finally:
        server.shutdown()


def test_grafana_dashboard_only_plots_metrics_we_export() -> None:
    import json
    import re

    root = Path(__file__).resolve().parents[2]
    dashboard = json.loads((root / "deploy" / "grafana" / "shorts-dashboard.json").read_text())
    exported = set(re.findall(r"^# TYPE (\w+) ", collect(DagsterInstance.ephemeral()), re.MULTILINE))
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"\bshorts_\w+", target["expr"])}  # fmt: skip
    assert used and used <= exported
