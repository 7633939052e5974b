"""Load: a backfill of 50 partitions through the webserver and daemon on PostgreSQL keeps every pool at its limit.

As in production: `python -m pipeline_assets backfill` posts the UI's GraphQL mutation to a running webserver,
the backfill daemon turns it into one queued run per partition, the run queue starts several at once, and the
steps of all those runs share the per-API pools, every pool set to 2. Afterwards the event log is the witness:
from each step's STEP_START to its STEP_SUCCESS, no pool ever had more than 2 steps running, a pool was actually
full (steps were blocked by it), and the backfill finished with every run green and every asset materialized.

Load shape: the intake half of the chain (download, transcribe) on one short spoken clip registered as 50
partitions; steps run in their run worker (SHORTS_STEP_EXECUTION=in_process) so 50 runs fit a 2-core CI machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.execution.backfill import BulkActionStatus

from pipeline_assets.backfill import launch_backfill
from pipeline_assets.definitions import build_definitions
from pipeline_assets.partitions import source_videos
from pipeline_assets.pools import POOL_LIMITS, apply_pool_limits
from pipeline_assets.sample_source import make_sample_source
from pipeline_assets.settings import PROJECT_ROOT, PipelineSettings
from pipeline_assets.source_registry import register_source
from resources.records import SourceRequest
from tests.test_daemon_folder_watch import stop_process_group, tail
from tests.test_postgres_instance import postgres_overrides

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(420)]

BIN = Path(sys.executable).parent
PARTITIONS = 50
POOL_LIMIT = 2
MAX_CONCURRENT_RUNS = 6  # more runs than pool slots, so the pools (not the queue) must hold the line
SELECTION = ["source_video", "transcript"]
DEADLINE_S = 360.0


def write_dagster_home(home: Path, db_name: str) -> None:
    """PostgreSQL storage, a run queue wider than the pools, and every pool's default limit at 2."""
    home.mkdir(parents=True)
    config = {
        **postgres_overrides(db_name),
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"dequeue_interval_seconds": 1},
        },
        "concurrency": {
            "runs": {"max_concurrent_runs": MAX_CONCURRENT_RUNS},
            "pools": {"default_limit": POOL_LIMIT, "granularity": "op"},
        },
        "telemetry": {"enabled": False},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(url: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"webserver at {url} did not start; its log:\n{tail(log)}")


def max_concurrency(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an end at t closes before a start at t opens)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    return peak


@pytest.fixture
def stack(postgres_db: str, tmp_path: Path) -> Iterator[tuple[str, Path, Path, dict[str, str]]]:
    """Webserver + daemon on a fresh PostgreSQL database: (UI url, DAGSTER_HOME, data dir, environment)."""
    home, data = tmp_path / "dagster_home", tmp_path / "data"
    write_dagster_home(home, postgres_db)
    env = {name: value for name, value in os.environ.items() if not name.startswith("SHORTS_")}
    env.update(DAGSTER_HOME=str(home), SHORTS_DATA_DIR=str(data), SHORTS_STEP_EXECUTION="in_process")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    logs = {"webserver": tmp_path / "webserver.log", "daemon": tmp_path / "daemon.log"}
    commands = {
        "webserver": [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        "daemon": [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, command in commands.items():
            with logs[name].open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
        wait_until_serving(url, logs["webserver"])
        yield url, home, data, env
    finally:
        for proc in procs:
            stop_process_group(proc)


def test_a_50_partition_backfill_keeps_every_pool_at_its_limit(
    stack: tuple[str, Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    url, home, data, _ = stack
    clip = make_sample_source(tmp_path / "clip.mp4", narration=["Freeze chopped herbs in olive oil."])
    keys = [f"file-load-{index:03d}" for index in range(PARTITIONS)]
    store = build_definitions(PipelineSettings(data_dir=str(data))).resources["media_store"]  # type: ignore[index]
    for key in keys:
        register_source(store, SourceRequest(partition_key=key, source=str(clip), reason="load test"))

    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(source_videos.name or "source_videos", keys)
        apply_pool_limits(instance, dict.fromkeys(POOL_LIMITS, POOL_LIMIT))
        started = time.monotonic()
        backfill = launch_backfill(keys, assets=SELECTION, url=url, title="load test")
        status = None
        while time.monotonic() - started < DEADLINE_S:
            record = instance.get_backfill(backfill.backfill_id)
            status = record.status if record else None
            if status not in (None, BulkActionStatus.REQUESTED):
                break
            time.sleep(2.0)
        elapsed = time.monotonic() - started
        runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
        log = tmp_path / "daemon.log"
        assert status == BulkActionStatus.COMPLETED_SUCCESS, (
            f"backfill {status} after {elapsed:.0f} s, {len(runs)} runs "
            f"({sorted(run.status.value for run in runs)}); daemon log:\n{tail(log)}"
        )

        failed = [run.run_id for run in runs if run.status != DagsterRunStatus.SUCCESS]
        assert len(runs) == PARTITIONS and not failed, f"{len(runs)} runs, not green: {failed}"
        assert sorted(run.tags["dagster/partition"] for run in runs) == keys
        for name in SELECTION:
            done = instance.get_materialized_partitions(AssetKey(name))
            assert set(keys) <= done, f"{name}: {len(set(keys) - done)} partitions not materialized"

        # The witness: every step's [start, end] interval from the event log, grouped by its pool.
        pools = {name: build_definitions().get_assets_def(AssetKey(name)).op.pool for name in SELECTION}
        intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
        blocked: dict[str, int] = defaultdict(int)
        for run in runs:
            starts: dict[str, float] = {}
            for entry in instance.all_logs(run.run_id):
                event = entry.dagster_event
                if event is None or event.step_key is None:
                    continue
                if event.event_type == DagsterEventType.STEP_START:
                    starts[event.step_key] = entry.timestamp
                elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                    intervals[str(pools[event.step_key])].append((starts.pop(event.step_key), entry.timestamp))
                elif event.event_type == DagsterEventType.ENGINE_EVENT and "blocked by limit" in entry.message:
                    blocked[str(pools[event.step_key])] += 1
            assert not starts, f"run {run.run_id}: steps started but never ended: {sorted(starts)}"

    peaks = {pool: max_concurrency(spans) for pool, spans in intervals.items()}
    print(f"\n{PARTITIONS} partitions in {elapsed:.0f} s; peak steps per pool {peaks}; blocked {dict(blocked)}")
    assert sum(len(spans) for spans in intervals.values()) == PARTITIONS * len(SELECTION)
    assert all(peak <= POOL_LIMIT for peak in peaks.values()), f"a pool went over {POOL_LIMIT}: {peaks}"
    # Not a vacuous pass: the runs really competed, and the busiest pool was held at its limit.
    assert max(blocked.values(), default=0) > 0, f"no step ever waited for a pool slot: {peaks}"
    assert max(peaks.values()) == POOL_LIMIT, peaks


def test_max_concurrency_counts_overlaps() -> None:
    assert max_concurrency([(0, 2), (1, 3), (2, 4)]) == 2  # touching intervals do not overlap
    assert max_concurrency([(0, 5), (1, 2), (1.5, 3)]) == 3
    assert max_concurrency([]) == 0
