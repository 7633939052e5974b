"""`make demo`: register a source, run the whole chain through Dagster, print the finished short's path."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dagster import DagsterInstance

from cli.instance import ensure_dagster_home
from cli.sample_source import make_sample_source
from resources.catalog import PARTITIONS_NAME, PIPELINE_JOB, STAGES
from resources.errors import PipelineError
from resources.ingest.downloader import is_url
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.partition_keys import key_for_source, validate_partition_key
from resources.records import ShortVideo, SourceRequest
from resources.settings import PipelineSettings


def run_demo(source: str | None, *, layout: str = "") -> Path:
    """Run every asset for `source` (default: a generated sample) and return the finished short's local path."""
    ensure_dagster_home()
    # Imported here: loading the code location is the slow part, and `--help` should not pay for it.
    from definitions import build_definitions
    from pipeline_assets.pools import apply_pool_limits

    settings = PipelineSettings.from_env()
    if not source:
        sample = settings.data_path / "samples" / "sample_source.mp4"
        if not sample.exists():
            print(f"making a sample source video with speech: {sample}", flush=True)
            make_sample_source(sample)
        source = str(sample)
    elif not is_url(source):
        path = Path(source).expanduser().resolve()
        if not path.is_file():
            raise PipelineError(f"SOURCE={source} is not a file; give a video file path or an http(s) URL")
        source = str(path)
        settings = settings.with_local_source_root(path.parent)  # the file named here, for this run only
    key = validate_partition_key(key_for_source(source))
    defs = build_definitions(settings)
    store = MediaStore.from_settings(settings)
    register_source(store, SourceRequest(partition_key=key, source=source, reason="make demo"))
    instance = DagsterInstance.get()
    apply_pool_limits(instance)
    instance.add_dynamic_partitions(PARTITIONS_NAME, [key])
    print(f"partition {key}: running the whole chain (UI: make dev)", flush=True)
    # INFO keeps the console to step progress and warnings; every event is still in the UI.
    run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    if layout:
        run_config["ops"] = {"short_video": {"config": {"layout": layout}}}
    result = defs.resolve_job_def(PIPELINE_JOB).execute_in_process(
        instance=instance, partition_key=key, raise_on_error=False, run_config=run_config
    )
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE" and event.step_key:
            print(f"FAILED {event.step_key}: {event.message}", file=sys.stderr)
    if not result.success:
        raise PipelineError(f"the run for {key} failed (run id {result.run_id}); see the errors above or make dev")
    for stage in STAGES:
        for mat in result.asset_materializations_for_node(stage):
            elapsed = mat.metadata.get("elapsed_s")
            print(f"  {stage:<16} {getattr(elapsed, 'value', elapsed)} s")
    short = result.output_for_node("short_video")
    assert isinstance(short, ShortVideo)
    return store.local_path(short.uri).resolve()


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `demo` command."""
    parser = subparsers.add_parser("demo", help="turn one video (default: a generated sample) into a short")
    parser.add_argument("--source", default="", help="video URL or local file")
    parser.add_argument("--layout", default="", choices=["", "auto", "face_crop", "avatar_over_blur", "split_screen"])
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the finished short's path as the last line."""
    print(run_demo(args.source or None, layout=args.layout))
    return 0
