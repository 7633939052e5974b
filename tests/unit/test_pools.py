"""Per-API concurrency pools: each stage's pool follows its provider, and the limits land in the instance."""

from __future__ import annotations

from dagster import DagsterInstance

from pipeline_assets.pools import POOL_LIMITS, apply_pool_limits, pool_for
from resources.settings import PipelineSettings
from tests.graph import assets_named


def test_limits_are_written_into_the_instance() -> None:
    instance = DagsterInstance.ephemeral()
    apply_pool_limits(instance, {"openai": 3, "youtube_api": 1})
    assert instance.event_log_storage.get_concurrency_info("openai").slot_count == 3
    assert instance.event_log_storage.get_concurrency_info("youtube_api").slot_count == 1


def test_every_provider_pool_has_a_limit() -> None:
    for provider in ["local", "openai", "elevenlabs", "d-id", "synthesia", "heygen", "yt-dlp"]:
        assert pool_for(provider) in POOL_LIMITS, provider


def test_stage_pool_follows_the_configured_provider() -> None:
    settings = PipelineSettings(transcribe_provider="openai", avatar_provider="d-id")
    transcript, avatar_video = assets_named("transcript", "avatar_video", settings=settings)
    assert transcript.op.pool == "openai"
    assert avatar_video.op.pool == "d_id"
