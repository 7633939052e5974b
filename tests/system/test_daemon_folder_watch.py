"""Hands-off mode for real: the daemon on PostgreSQL sees a new file in the watch folder and makes its short.

Everything runs as in production: `dagster sensor start` switches the sensor on, `dagster-daemon run` evaluates
it, queues the run (QueuedRunCoordinator) and launches it in its own process against the code location loaded
from workspace.yaml. The test only drops a file and waits.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from cli.sample_source import make_sample_source
from resources.media.probe import probe
from resources.partition_keys import key_for_file
from resources.settings import PROJECT_ROOT
from tests.conftest import SHORT_NARRATION
from tests.system.daemon import isolated_env, start_process, stop_process_group, tail, write_dagster_home

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BIN = Path(sys.executable).parent
DEADLINE_S = 300.0  # daemon start, two watch-folder ticks 30 s apart (a file must hold still), the whole chain
NARRATION = SHORT_NARRATION  # one sentence is refused as too little to say


def wait_for_finished_run(instance: DagsterInstance, key: str, daemon_log: Path) -> DagsterRun:
    """The first run of partition `key` once it finished; fails with the reason when time runs out."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        runs = instance.get_runs(RunsFilter(tags={"dagster/partition": key}))
        if runs and runs[0].is_finished:
            return runs[0]
        time.sleep(2.0)
    status = runs[0].status.value if runs else "no run was created"
    pytest.fail(f"no finished run for {key} after {DEADLINE_S:.0f} s ({status}); daemon log:\n{tail(daemon_log)}")


def test_a_video_dropped_in_the_watch_folder_becomes_a_short(postgres_db: str, tmp_path: Path) -> None:
    home, data, inbox = tmp_path / "dagster_home", tmp_path / "data", tmp_path / "inbox"
    write_dagster_home(home, postgres_db)
    inbox.mkdir()
    # Made elsewhere, then moved in whole: the sensor must never see a half-written file.
    video = make_sample_source(tmp_path / "made" / "clip.mp4", narration=NARRATION).rename(inbox / "clip.mp4")
    key = key_for_file(video)
    env = isolated_env(home, data, inbox)
    # Before the daemon starts: its first sensor tick happens at once, the next only 30 s later.
    subprocess.run(
        [str(BIN / "dagster"), "sensor", "start", "folder_watch_sensor", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    daemon_log = tmp_path / "daemon.log"
    daemon = start_process([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env, daemon_log)
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            run = wait_for_finished_run(instance, key, daemon_log)
            failures = [
                str(record.event_log_entry.message)
                for record in instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_FAILURE).records
            ]
    finally:
        stop_process_group(daemon)

    assert run.status == DagsterRunStatus.SUCCESS, f"run {run.run_id} {run.status.value}: {failures}"
    assert run.job_name == "short_pipeline_job"
    assert run.tags["dagster/sensor_name"] == "folder_watch_sensor"
    assert run.tags["dagster/run_key"] == f"video:{key}"
    shorts = sorted((data / "media" / "media" / key / "short_video").glob("*/short.mp4"))
    assert len(shorts) == 1
    facts = probe(shorts[0])
    assert (facts.width, facts.height) == (1080, 1920)
    assert facts.duration_s > 3
