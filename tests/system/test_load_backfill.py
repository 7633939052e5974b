"""Load: a 50-partition backfill through the webserver and daemon on PostgreSQL keeps every pool at its limit.

As in production: `shorts backfill` posts the UI's GraphQL mutation to a running webserver,
the backfill daemon turns it into one queued run per partition, and the run queue and the per-API pools pace
them with the production instance's own `concurrency` and `run_coordinator` settings (deploy/dagster.yaml), every
pool set to 2. Afterwards the event log is the witness: from each step's STEP_START to its STEP_SUCCESS, no pool
ever had more than 2 steps running; the pools really were the limit (the queue held runs back for a full pool,
or steps waited for a slot); and the backfill finished with every run green and every partition materialized.

Load shape, sized for a 2-core CI machine: each run costs ~3.5 s of process start alone, so the backfill covers
the download stage (`source_video`, the offline local-file engine with its PyAV probe) of one clip registered as
50 partitions, with steps in their run worker (SHORTS_STEP_EXECUTION=in_process). LOAD_ASSETS=all (or a comma
list) and LOAD_PARTITIONS=N run the same check on more of the chain (README, Performance: measured figures).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.execution.backfill import BulkActionStatus

from cli.backfill import launch_backfill
from cli.sample_source import make_sample_source
from definitions import build_definitions
from pipeline_assets.partitions import source_videos
from pipeline_assets.pools import POOL_LIMITS, apply_pool_limits
from resources.catalog import chain_assets
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.records import SourceRequest
from resources.settings import PROJECT_ROOT, PipelineSettings
from tests.conftest import SHORT_NARRATION
from tests.system.daemon import start_process, stop_process_group, tail, write_dagster_home
from tests.system.local_servers import free_port, wait_for_webserver

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(1800)]

BIN = Path(sys.executable).parent
PARTITIONS = int(os.environ.get("LOAD_PARTITIONS", "50"))
POOL_LIMIT = 2
_ASSETS = os.environ.get("LOAD_ASSETS", "source_video")
SELECTION = chain_assets() if _ASSETS == "all" else [name.strip() for name in _ASSETS.split(",")]
DEADLINE_S = 300.0 + 30.0 * PARTITIONS * len(SELECTION) / 2
QUEUE_BLOCKED = re.compile(r"Run (\S+) is blocked by global concurrency limits")


def production_queue() -> dict[str, Any]:
    """deploy/dagster.yaml's run queue and concurrency sections, dequeuing every second, every pool at POOL_LIMIT."""
    production = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    run_coordinator = production["run_coordinator"]
    run_coordinator["config"]["dequeue_interval_seconds"] = 1  # production polls every 5 s
    production["concurrency"]["pools"]["default_limit"] = POOL_LIMIT
    return {"run_coordinator": run_coordinator, "concurrency": production["concurrency"]}


def max_concurrency(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an end at t closes before a start at t opens)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    return peak


def wait_for_backfill(instance: DagsterInstance, backfill_id: str, daemon_log: Path) -> BulkActionStatus:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        record = instance.get_backfill(backfill_id)
        if record is not None and record.status != BulkActionStatus.REQUESTED:
            return record.status
        time.sleep(2.0)
    runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
    statuses = sorted(run.status.value for run in runs)
    pytest.fail(f"backfill unfinished after {DEADLINE_S:.0f} s: {len(runs)} runs {statuses}\n{tail(daemon_log)}")


def step_spans(instance: DagsterInstance, run_ids: list[str]) -> tuple[dict[str, list[tuple[float, float]]], int]:
    """Each step's [STEP_START, STEP_SUCCESS/FAILURE] interval, by step key, and how often a step waited for a pool."""
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    waited = 0
    for run_id in run_ids:
        starts: dict[str, float] = {}
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                starts[event.step_key] = entry.timestamp
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                spans[event.step_key].append((starts.pop(event.step_key), entry.timestamp))
            elif event.event_type == DagsterEventType.ENGINE_EVENT and "blocked by limit for pool" in entry.message:
                waited += 1
        assert not starts, f"run {run_id}: steps started but never ended: {sorted(starts)}"
    return spans, waited


@pytest.fixture
def webserver(postgres_db: str, tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """A webserver on a fresh PostgreSQL database with the production queue: (its URL, DAGSTER_HOME, env)."""
    home = tmp_path / "dagster_home"
    write_dagster_home(home, postgres_db, **production_queue())
    env = {name: value for name, value in os.environ.items() if not name.startswith("SHORTS_")}
    env.update(DAGSTER_HOME=str(home), SHORTS_DATA_DIR=str(tmp_path / "data"), SHORTS_STEP_EXECUTION="in_process")
    env.update(SHORTS_LOCAL_SOURCE_ROOTS=str(tmp_path))  # the clip is made there
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "webserver.log"
    command = [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    process = start_process(command, env, log)
    try:
        if not wait_for_webserver(url):
            pytest.fail(f"webserver at {url} did not start; its log:\n{tail(log)}")
        yield url, home, env
    finally:
        stop_process_group(process)


def test_a_50_partition_backfill_keeps_every_pool_at_its_limit(
    webserver: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    url, home, env = webserver
    clip = make_sample_source(tmp_path / "clip.mp4", narration=SHORT_NARRATION)
    keys = [f"file-load-{index:03d}" for index in range(PARTITIONS)]
    defs = build_definitions(PipelineSettings(data_dir=env["SHORTS_DATA_DIR"]))
    for key in keys:
        request = SourceRequest(partition_key=key, source=str(clip), reason="load test")
        register_source(MediaStore.from_settings(PipelineSettings(data_dir=env["SHORTS_DATA_DIR"])), request)
    pools = {name: str(defs.get_assets_def(AssetKey(name)).op.pool) for name in SELECTION}

    daemon_log = tmp_path / "daemon.log"
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(source_videos.name or "source_videos", keys)
        apply_pool_limits(instance, dict.fromkeys(POOL_LIMITS, POOL_LIMIT))
        started = time.monotonic()
        backfill = launch_backfill(keys, assets=SELECTION, url=url, title="load test")
        # Started after the launch, so its first backfill iteration (then one every 30 s) already sees it.
        daemon = start_process([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env, daemon_log)
        try:
            status = wait_for_backfill(instance, backfill.backfill_id, daemon_log)
        finally:
            stop_process_group(daemon)
        elapsed = time.monotonic() - started
        runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
        failed = {run.run_id: run.status.value for run in runs if run.status != DagsterRunStatus.SUCCESS}
        assert status == BulkActionStatus.COMPLETED_SUCCESS, f"backfill {status.value}; not green: {failed}"
        assert len(runs) == PARTITIONS and not failed, f"{len(runs)} runs; not green: {failed}"
        assert sorted(run.tags["dagster/partition"] for run in runs) == keys
        for name in SELECTION:
            missing = set(keys) - instance.get_materialized_partitions(AssetKey(name))
            assert not missing, f"{name}: {len(missing)} partitions not materialized, e.g. {sorted(missing)[:3]}"
        spans, waited = step_spans(instance, [run.run_id for run in runs])

    by_pool: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for step_key, intervals in spans.items():
        by_pool[pools[step_key]].extend(intervals)
    peaks = {pool: max_concurrency(intervals) for pool, intervals in by_pool.items()}
    held = set(QUEUE_BLOCKED.findall(daemon_log.read_text(errors="replace")))
    print(
        f"\nload: {PARTITIONS} partitions x {len(SELECTION)} assets in {elapsed:.0f} s; peak steps per pool {peaks}; "
        f"runs held in the queue for a full pool: {len(held)}; steps that waited for a slot: {waited}"
    )
    assert sum(len(intervals) for intervals in by_pool.values()) == PARTITIONS * len(SELECTION)
    assert all(peak <= POOL_LIMIT for peak in peaks.values()), f"a pool went over {POOL_LIMIT}: {peaks}"
    # Not a vacuous pass: the pools, not luck, paced the runs. With the production queue settings the daemon holds a
    # run back while a pool of its steps is full (it logs each one); a step that still finds its pool full waits
    # in its run (an engine event). Most of the 50 runs must have been held by one or the other.
    assert len(held) + waited >= PARTITIONS // 2, f"only {len(held)} runs and {waited} steps waited for a pool"


def test_max_concurrency_counts_overlaps() -> None:
    assert max_concurrency([(0, 2), (1, 3), (2, 4)]) == 2  # touching intervals do not overlap
    assert max_concurrency([(0, 5), (1, 2), (1.5, 3)]) == 3
    assert max_concurrency([]) == 0
