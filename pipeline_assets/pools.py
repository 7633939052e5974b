"""Concurrency pools: one per external API, so a backfill of hundreds of videos never exceeds a rate limit.

Dagster reads per-pool limits from the instance (not dagster.yaml, which only holds `default_limit`);
`shorts pools` (run by `make dev` and the demo) writes these into it.
"""

from __future__ import annotations

from dagster import DagsterInstance

from resources.settings import PipelineSettings

# Pool name per provider. Local engines share the machine's CPU.
PROVIDER_POOLS: dict[str, str] = {
    "local": "local_cpu",
    "piper": "local_cpu",
    "espeak": "local_cpu",
    "ffmpeg": "local_cpu",
    "openai": "openai",
    "elevenlabs": "elevenlabs",
    "d-id": "d_id",
    "synthesia": "synthesia",
    "heygen": "heygen",
    "yt-dlp": "download",
}

# Concurrent steps per pool: the providers' documented concurrency (ElevenLabs Creator: 5; Synthesia: 60
# writes/min, slow renders) kept low enough for their rate limits; publishing one upload per platform.
POOL_LIMITS: dict[str, int] = {
    "local_cpu": 2,
    "download": 4,
    "openai": 4,
    "elevenlabs": 3,
    "d_id": 2,
    "synthesia": 2,
    "heygen": 2,
    "youtube_api": 1,
    "tiktok_api": 1,
    "instagram_api": 1,
    "facebook_api": 1,
    "x_api": 1,
    "linkedin_api": 1,
}


def pool_for(provider: str) -> str:
    """The pool of a stage whose resource uses `provider`."""
    return PROVIDER_POOLS.get(provider, provider.replace("-", "_"))


def stage_pools(settings: PipelineSettings) -> dict[str, str]:
    """The pool of every stage, named after the API its configured provider calls."""
    return {stage: pool_for(provider) for stage, provider in settings.stage_providers().items()}


def apply_pool_limits(instance: DagsterInstance, limits: dict[str, int] | None = None) -> dict[str, int]:
    """Write the pool limits into the instance's concurrency store; returns what was set."""
    limits = POOL_LIMITS if limits is None else limits
    for pool, limit in limits.items():
        instance.event_log_storage.set_concurrency_slots(pool, limit)
    return limits
