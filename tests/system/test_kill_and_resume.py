"""Kill and resume: a run worker killed mid-render fails its run; re-executing from failure redoes only what was
unfinished, and the finished stages keep their materializations and their media untouched.

Production shape: PostgreSQL storage, `dagster-daemon run` queues and launches the run in its own run-worker
process (the DefaultRunLauncher starts it from the daemon's code server). The test SIGKILLs that worker, with
everything under it (the step process and its ffmpeg), as a crashed or evicted machine would, while
`short_video` renders.

Who notices: the DefaultRunLauncher offers no worker health check to the monitoring daemon, so the code server
that started the worker sees it die and fails the run ("Run execution process for <run> was terminated by
signal 9"); run monitoring stays on for start timeouts, and run retries are off so the test decides on the
re-execution.
"""

from __future__ import annotations

import contextlib
import multiprocessing.forkserver
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    JobDefinition,
    ReexecutionOptions,
    execute_job,
    reconstructable,
)

from cli.sample_source import make_sample_source
from definitions import build_definitions
from pipeline_assets.partitions import source_videos
from resources.media.probe import probe
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.partition_keys import key_for_file
from resources.records import SourceRequest
from resources.settings import PROJECT_ROOT, PipelineSettings
from tests.conftest import SHORT_NARRATION
from tests.system.daemon import isolated_env, start_process, stop_process_group, tail, write_dagster_home

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(180)]

BIN = Path(sys.executable).parent
JOB = "short_pipeline_job"
KILLED_STAGE = "short_video"
FINISHED_STAGES = ["source_video", "transcript", "script", "voiceover", "avatar_video"]
RENDER_START_DEADLINE_S = 180.0  # daemon start, two watch-folder ticks 30 s apart, queue, launch, five stages
FAILURE_DEADLINE_S = 90.0
# The shortest narration the offline rewriter makes a script of (three sentences; one is refused as too little
# to say). Its render takes seconds, so it is still running when a test reacts to its STEP_START (≈0.2 s).
NARRATION = SHORT_NARRATION
# On top of the production instance: monitoring polls every 2 s, and no automatic retry (the test re-executes).
MONITORING_WITHOUT_RETRIES = {
    "run_monitoring": {
        "enabled": True,
        "poll_interval_seconds": 2,
        "start_timeout_seconds": 60,
        "max_resume_run_attempts": 0,
    },
    "run_retries": {"enabled": False},
}


def full_job() -> JobDefinition:
    """The job as the code location defines it, rebuilt from SHORTS_* in each step process (reconstructable)."""
    return build_definitions(PipelineSettings.from_env()).resolve_job_def(JOB)


def step_keys(instance: DagsterInstance, run_id: str, event_type: DagsterEventType) -> set[str]:
    records = instance.get_records_for_run(run_id, of_type=event_type, limit=1000).records
    return {record.event_log_entry.step_key for record in records if record.event_log_entry.step_key}


def run_worker_pid(instance: DagsterInstance, run_id: str) -> int:
    """The pid of the run worker: the process that logged RUN_START."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_START).records
    event = records[0].event_log_entry.dagster_event
    assert event is not None and event.pid is not None
    return event.pid


def wait_for_step_start(instance: DagsterInstance, run_id: str, step: str, daemon_log: Path) -> float:
    deadline = time.monotonic() + RENDER_START_DEADLINE_S
    while time.monotonic() < deadline:
        if step in step_keys(instance, run_id, DagsterEventType.STEP_START):
            return time.monotonic()
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            pytest.fail(f"run {run_id} finished ({run.status.value}) before {step} started")
        time.sleep(0.2)
    pytest.fail(f"{step} did not start within {RENDER_START_DEADLINE_S:.0f} s; daemon log:\n{tail(daemon_log)}")


def wait_for_status(instance: DagsterInstance, run_id: str, timeout_s: float) -> DagsterRunStatus:
    deadline = time.monotonic() + timeout_s
    while True:
        run = instance.get_run_by_id(run_id)
        assert run is not None
        if run.is_finished or time.monotonic() > deadline:
            return run.status
        time.sleep(0.5)


def parent_pids() -> dict[int, int]:
    """pid -> parent pid of every process on the machine, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                # Fields after the command name, which may itself contain spaces or parentheses.
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
    return parents


def kill_process_tree(root: int) -> list[int]:
    """SIGKILL `root` and every process under it, as losing the machine would; returns the pids killed.

    The tree is frozen first (SIGSTOP, repeated until no new child appears) so that no survivor can react to
    another's death: an orphaned step process would otherwise finish the render and report success.
    """
    stopped: set[int] = set()
    while True:
        parents = parent_pids()
        tree, frontier = {root}, [root]
        while frontier:
            pid = frontier.pop()
            children = [child for child, parent in parents.items() if parent == pid]
            tree.update(children)
            frontier.extend(children)
        new = tree - stopped
        if not new:
            break
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= new
    for pid in [root, *sorted(stopped - {root})]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return sorted(stopped)


def materialization_count(instance: DagsterInstance, asset: str, key: str) -> int:
    return len(
        instance.fetch_materializations(AssetRecordsFilter(AssetKey(asset), asset_partitions=[key]), 100).records
    )


def media_files(data: Path, key: str, stage: str) -> dict[str, int]:
    """Every file a stage stored for the partition (record.json and its media) -> modification time (ns)."""
    folder = data / "media" / "media" / key / stage
    return {str(path.relative_to(folder)): path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}


def test_a_killed_run_worker_fails_the_run_and_reexecution_redoes_only_the_unfinished_stage(
    postgres_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, data, inbox = tmp_path / "dagster_home", tmp_path / "data", tmp_path / "inbox"
    write_dagster_home(home, postgres_db, **MONITORING_WITHOUT_RETRIES)
    inbox.mkdir()
    video = make_sample_source(tmp_path / "made" / "clip.mp4", narration=NARRATION)
    key = key_for_file(video)
    register_source(MediaStore(root=str(data / "media")), SourceRequest(partition_key=key, source=str(video)))
    env = isolated_env(home, data, inbox)
    run_id = str(uuid.uuid4())
    timings: dict[str, float] = {}

    daemon_log = tmp_path / "daemon.log"
    daemon = start_process([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env, daemon_log)
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            instance.add_dynamic_partitions(source_videos.name or "source_videos", [key])
            started = time.monotonic()
            # Queued (QueuedRunCoordinator); the daemon launches it in a run worker of its code server.
            subprocess.run(
                [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", JOB, "--run-id", run_id,
                 "--tags", f'{{"dagster/partition": "{key}"}}'],
                cwd=PROJECT_ROOT, env=env, check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            render_started = wait_for_step_start(instance, run_id, KILLED_STAGE, daemon_log)
            timings["launch_to_render_start_s"] = render_started - started

            worker = run_worker_pid(instance, run_id)
            # Never kill outside the daemon's own process group (a stale pid could name another process).
            assert os.getpgid(worker) == daemon.pid, f"pid {worker} is not under the test's daemon"
            killed = kill_process_tree(worker)
            killed_at = time.monotonic()

            status = wait_for_status(instance, run_id, FAILURE_DEADLINE_S)
            timings["kill_to_failure_s"] = time.monotonic() - killed_at
            assert status == DagsterRunStatus.FAILURE, (
                f"run {run_id} is {status.value} {timings['kill_to_failure_s']:.0f} s after the kill; "
                f"daemon log:\n{tail(daemon_log)}"
            )
            engine_messages = [
                str(record.event_log_entry.dagster_event and record.event_log_entry.dagster_event.message)
                for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT).records
            ]
            assert any(
                f"Run execution process for {run_id}" in message and "signal 9" in message
                for message in engine_messages
            ), engine_messages

            finished = step_keys(instance, run_id, DagsterEventType.STEP_SUCCESS)
            assert finished == set(FINISHED_STAGES), f"killed too late or too early: {finished} finished"
            assert materialization_count(instance, KILLED_STAGE, key) == 0, "the render finished before the kill"
            before = {stage: media_files(data, key, stage) for stage in FINISHED_STAGES}
            counts_before = {stage: materialization_count(instance, stage, key) for stage in FINISHED_STAGES}
            assert all(before.values()) and set(counts_before.values()) == {1}

            # The test process is the one re-executing: it needs the code location's environment too.
            for name in [name for name in os.environ if name.startswith("SHORTS_")]:
                monkeypatch.delenv(name)
            for name in ("DAGSTER_HOME", "SHORTS_DATA_DIR", "SHORTS_WATCH_DIR"):
                monkeypatch.setenv(name, env[name])
            # Steps fork from this process's forkserver, which keeps the environment it started with: one
            # started by an earlier test in this worker would hand the steps that test's SHORTS_DATA_DIR.
            multiprocessing.forkserver._forkserver._stop()  # type: ignore[attr-defined]
            reexecuted = time.monotonic()
            result = execute_job(
                reconstructable(full_job),
                instance=instance,
                # Unlike the UI, execute_job does not copy the parent's tags: the partition must be given again.
                tags={"dagster/partition": key},
                reexecution_options=ReexecutionOptions.from_failure(run_id, instance),
            )
            timings["reexecution_s"] = time.monotonic() - reexecuted
            assert result.success, [
                str(event.step_failure_data.error) for event in result.all_events if event.is_step_failure
            ]

            redone = step_keys(instance, result.run_id, DagsterEventType.STEP_START)
            all_steps = {node.name for node in full_job().nodes}  # one step per asset op
            assert KILLED_STAGE in redone
            assert redone.isdisjoint(FINISHED_STAGES), f"finished stages ran again: {redone & set(FINISHED_STAGES)}"
            assert redone == all_steps - set(FINISHED_STAGES)
            after = {stage: media_files(data, key, stage) for stage in FINISHED_STAGES}
            counts_after = {stage: materialization_count(instance, stage, key) for stage in FINISHED_STAGES}
            assert after == before, "finished stages' records or media were rewritten"
            assert counts_after == counts_before
            assert materialization_count(instance, KILLED_STAGE, key) == 1
    finally:
        stop_process_group(daemon)

    print(f"killed {killed}; " + ", ".join(f"{name} {value:.1f}" for name, value in timings.items()))
    assert timings["kill_to_failure_s"] <= FAILURE_DEADLINE_S
    shorts = sorted((data / "media" / "media" / key / KILLED_STAGE).glob("*/short.mp4"))
    assert len(shorts) == 1
    facts = probe(shorts[0])
    assert (facts.width, facts.height) == (1080, 1920)
