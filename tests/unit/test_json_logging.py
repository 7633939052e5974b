"""Structured logs: with the `json` logger selected, every line is a JSON object naming run id, partition and asset."""

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    asset,
)

from pipeline_assets.partitions import source_videos
from resources.json_logging import JsonLogFormatter, json_console_logger
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.records import SourceRequest, SourceVideo
from resources.settings import PipelineSettings
from tests.graph import assets_named, store_resources

(source_video,) = assets_named("source_video")

SECRET = "sk-test-must-never-appear-in-logs"
KEY = "file-jsonlogs"


@asset(partitions_def=source_videos)
def source_note(context: AssetExecutionContext, source_video: SourceVideo) -> None:
    """A downstream asset that logs through context.log, as stage code does."""
    context.log.info(f"the source lasts {source_video.facts.duration_s:.1f} s")


@asset(partitions_def=source_videos)
def failing_note(context: AssetExecutionContext) -> None:
    raise ValueError("the disk is full")


def execute_with_json_logger(
    assets: list[AssetsDefinition],
    log_level: str,
    *,
    resources: dict[str, Any] | None = None,
    raise_on_error: bool = True,
) -> ExecuteInProcessResult:
    """Execute `assets` for KEY on a fresh instance with only the json logger, at `log_level`."""
    job = Definitions(
        assets=assets, resources=resources, loggers={"json": json_console_logger}
    ).resolve_implicit_global_asset_job_def()
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(source_videos.name or "source_videos", [KEY])
        return job.execute_in_process(
            run_config={"loggers": {"json": {"config": {"log_level": log_level}}}},
            partition_key=KEY,
            instance=instance,
            raise_on_error=raise_on_error,
        )


def run_with_json_logger(settings: PipelineSettings, sample_video: Path) -> str:
    """Materialize source_video and source_note for KEY with only the json logger; returns the run id."""
    store = MediaStore(root=str(settings.data_path / "media"))
    register_source(store, SourceRequest(partition_key=KEY, source=str(sample_video)))
    result = execute_with_json_logger([source_video, source_note], "DEBUG", resources=store_resources(store))
    assert result.success
    return result.run_id


@pytest.fixture
def json_run(
    settings: PipelineSettings, sample_video: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """(run id, everything the json logger wrote), with a secret in the environment during the run."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    run_id = run_with_json_logger(settings, sample_video)
    return run_id, capsys.readouterr().err


def test_every_line_is_one_json_object(json_run: tuple[str, str]) -> None:
    _, stream = json_run
    lines = stream.splitlines()
    assert len(lines) > 5
    for line in lines:
        entry = json.loads(line)
        assert {"ts", "level", "logger", "message"} <= entry.keys(), line


def test_asset_lines_carry_run_id_partition_and_asset(json_run: tuple[str, str]) -> None:
    run_id, stream = json_run
    entries = [json.loads(line) for line in stream.splitlines()]
    for asset_name in ("source_video", "source_note"):
        of_asset = [entry for entry in entries if entry.get("step_key") == asset_name]
        assert of_asset, f"no log line for {asset_name}"
        for entry in of_asset:
            assert (entry["run_id"], entry["partition"], entry["asset"]) == (run_id, KEY, asset_name), entry
    events = {entry.get("event") for entry in entries if entry.get("asset") == "source_video"}
    assert {"STEP_START", "ASSET_MATERIALIZATION", "STEP_SUCCESS"} <= events
    # What the stage code logged, as it logged it (not Dagster's "job - run - pid - step - ..." console form).
    assert any(
        entry["message"].startswith("the source lasts") for entry in entries if entry.get("asset") == "source_note"
    )


def test_a_failure_line_carries_the_error(settings: PipelineSettings, capsys: pytest.CaptureFixture[str]) -> None:
    result = execute_with_json_logger([failing_note], "INFO", raise_on_error=False)
    assert not result.success
    entries = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    failure = next(entry for entry in entries if entry.get("event") == "STEP_FAILURE")
    assert (failure["level"], failure["asset"], failure["partition"]) == ("ERROR", "failing_note", KEY)
    assert "ValueError: the disk is full" in failure["error"]
    assert "Traceback" not in failure["error"]


def test_the_environment_is_never_written(json_run: tuple[str, str]) -> None:
    _, stream = json_run
    assert SECRET not in stream


def test_formatter_writes_only_its_fields() -> None:
    """Whatever a caller attaches to a record (here the whole environment) stays out of the line."""
    os.environ["SHORTS_TEST_TOKEN"] = SECRET
    try:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom\nsecond line", None, None)
        record.__dict__["env"] = dict(os.environ)
        try:
            raise ValueError("bad input")
        except ValueError:
            record.exc_info = sys.exc_info()
        line = JsonLogFormatter().format(record)
    finally:
        del os.environ["SHORTS_TEST_TOKEN"]
    assert "\n" not in line
    entry = json.loads(line)
    assert SECRET not in line
    assert entry["message"] == "boom\nsecond line"
    assert "ValueError: bad input" in entry["exc_info"]
    assert "run_id" not in entry and "partition" not in entry
