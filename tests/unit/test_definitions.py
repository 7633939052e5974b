"""The code location loads with no secrets, and its graph is the designed one."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey

from definitions import build_definitions, build_resources
from resources.settings import PipelineSettings

ROOT = Path(__file__).resolve().parents[2]
CHAIN = ["source_video", "transcript", "script", "voiceover", "avatar_video", "short_video"]


def test_dagster_definitions_validate_passes_without_secrets(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN", "_SECRET"))}
    env["DAGSTER_HOME"] = str(tmp_path)
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_each_stage_depends_on_the_previous_one(settings: PipelineSettings) -> None:
    graph = build_definitions(settings).resolve_asset_graph()
    for upstream, downstream in itertools.pairwise(CHAIN):
        assert AssetKey(upstream) in graph.get(AssetKey(downstream)).parent_keys, downstream


def test_six_platform_posts_hang_off_the_short(settings: PipelineSettings) -> None:
    graph = build_definitions(settings).resolve_asset_graph()
    children = {key.to_user_string() for key in graph.get(AssetKey("short_video")).child_keys}
    posts = {f"{p}_post" for p in ["youtube", "tiktok", "instagram", "facebook", "x", "linkedin"]}
    assert children == {*posts, "short_approval", "post_metrics"}  # post_metrics reads the short's layout


def test_the_analytics_loop_follows_the_posts(settings: PipelineSettings) -> None:
    definitions = build_definitions(settings)
    graph = definitions.resolve_asset_graph()
    posts = {AssetKey(f"{p}_post") for p in ["youtube", "tiktok", "instagram", "facebook", "x", "linkedin"]}
    assert posts <= graph.get(AssetKey("post_metrics")).parent_keys
    assert graph.get(AssetKey("channel_performance")).parent_keys == {AssetKey("post_metrics")}
    assert {graph.get(AssetKey(name)).group_name for name in ("post_metrics", "channel_performance")} == {"analytics"}
    assert definitions.resolve_sensor_def("metrics_refresh_sensor").minimum_interval_seconds == 600
    assert definitions.resolve_job_def("post_metrics_job").partitions_def is not None


def test_every_asset_but_the_report_is_partitioned_by_source_video(settings: PipelineSettings) -> None:
    graph = build_definitions(settings).resolve_asset_graph()
    for node in graph.asset_nodes:
        if node.key == AssetKey("channel_performance"):  # one report over every post
            assert node.partitions_def is None
            continue
        assert node.partitions_def is not None and node.partitions_def.name == "source_videos", node.key


def test_settings_come_from_shorts_environment_variables() -> None:
    settings = PipelineSettings.from_env(
        {"SHORTS_MEDIA_BACKEND": "s3", "SHORTS_S3_BUCKET": "b", "SHORTS_LAYOUT": "split_screen", "OTHER": "x"}
    )
    assert (settings.media_backend, settings.s3_bucket, settings.layout) == ("s3", "b", "split_screen")


def test_a_bad_setting_names_the_variable_its_value_and_the_choices() -> None:
    from resources.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"SHORTS_STEP_EXECUTION='threads': Input should be 'multiprocess'"):
        PipelineSettings.from_env({"SHORTS_STEP_EXECUTION": "threads"})


def test_step_execution_setting_chooses_the_executor() -> None:
    in_process = build_definitions(PipelineSettings(step_execution="in_process")).resolve_job_def("short_pipeline_job")
    forked = build_definitions(PipelineSettings()).resolve_job_def("short_pipeline_job")
    assert in_process.executor_def.name == "in_process"
    assert forked.executor_def.name == "multiprocess_forkserver"


def test_s3_backend_setting_reaches_the_media_store() -> None:
    store = build_resources(PipelineSettings(media_backend="s3", s3_bucket="shorts-media"))["media_store"]
    assert store.backend == "s3" and store.bucket == "shorts-media"


@pytest.mark.parametrize(
    "run_config",
    [
        {"resources": {"downloader": {"config": {"cookies_file": "/proc/self/environ"}}}},
        {"resources": {"rewriter": {"config": {"base_url": "http://evil.example", "api_key_env": "AWS_SECRET"}}}},
        {"resources": {"youtube_publisher": {"config": {"token_url": "http://evil.example/token"}}}},
        {"resources": {"x_publisher": {"config": {"require_approval": False, "ledger_path": "/tmp/other.db"}}}},
        {"resources": {"downloader": {"config": {"allow_private_networks": True}}}},
        {"resources": {"analytics": {"config": {"database": "postgresql://evil.example/db"}}}},
        {"execution": {"config": {"start_method": {"forkserver": {"preload_modules": ["os"]}}}}},
    ],
)
def test_launch_config_cannot_set_endpoints_secrets_paths_or_guards(run_config: dict[str, Any]) -> None:
    from dagster._config import process_config

    job = build_definitions(PipelineSettings()).resolve_job_def("short_pipeline_job")
    checked = process_config(job.run_config_schema.config_type, run_config)
    assert not checked.success
    assert "Received unexpected config entr" in (checked.errors or [])[0].message


def test_launch_config_keeps_its_safe_choices() -> None:
    from dagster._config import process_config

    job = build_definitions(PipelineSettings()).resolve_job_def("short_pipeline_job")
    choices = {
        "ops": {"source_video": {"config": {"source": "https://www.tiktok.com/@a/video/1"}},
                "short_video": {"config": {"layout": "split_screen"}}},
        "loggers": {"json": {"config": {"log_level": "INFO"}}},
    }  # fmt: skip
    assert process_config(job.run_config_schema.config_type, choices).success


def test_the_paid_attempts_bound_comes_from_the_settings() -> None:
    from tests.graph import assets_named

    (transcript,) = assets_named("transcript", settings=PipelineSettings.from_env({"SHORTS_MAX_PAID_ATTEMPTS": "2"}))
    assert transcript.metadata_by_key[transcript.key]["max_paid_attempts"] == 2
