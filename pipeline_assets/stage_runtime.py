"""What every stage asset shares: failure mapping, retries, input fingerprints, cached records, metadata."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Backoff,
    Failure,
    Jitter,
    MetadataValue,
    RetryPolicy,
    asset,
)
from pydantic import BaseModel

from pipeline_assets.partitions import source_videos
from pipeline_assets.pools import pool_for
from pipeline_assets.settings import PipelineSettings
from resources.errors import PipelineError, RetryableError
from resources.media.store import MediaStore
from resources.records import MediaFacts
from resources.usage import Usage, total_cost

RecordT = TypeVar("RecordT", bound=BaseModel)

# Transient failures (RetryableError, crashes) retry with exponential backoff and jitter; permanent ones
# raise Failure(allow_retries=False) and stop at once.
STAGE_RETRY_POLICY = RetryPolicy(max_retries=3, delay=5, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


def asset_label(context: AssetExecutionContext) -> str:
    """`asset[partition]`, the prefix of every error message."""
    return f"{context.asset_key.to_user_string()}[{context.partition_key}]"


@contextmanager
def stage_failures(context: AssetExecutionContext) -> Iterator[None]:
    """Turn pipeline errors into Dagster failures that name the asset, the partition and the fix."""
    try:
        yield
    except RetryableError as exc:
        context.log.warning(f"{asset_label(context)}: {exc} (will retry)")
        raise
    except PipelineError as exc:
        raise Failure(
            description=f"{asset_label(context)}: {exc}",
            metadata={"error kind": type(exc).__name__, "partition": context.partition_key},
            allow_retries=False,
        ) from exc


def fingerprint(*parts: BaseModel | str | dict[str, Any]) -> str:
    """A short stable hash of a stage's inputs and settings: same inputs, same media key, cheap re-runs."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, BaseModel):
            text = part.model_dump_json()
        elif isinstance(part, dict):
            text = json.dumps(part, sort_keys=True, default=str)
        else:
            text = part
        digest.update(text.encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def stage_prefix(partition_key: str, stage: str, input_hash: str) -> str:
    """The MediaStore folder of one stage output: `media/<partition>/<stage>/<input hash>`."""
    return f"media/{partition_key}/{stage}/{input_hash}"


def load_cached(store: MediaStore, prefix: str, model: type[RecordT]) -> RecordT | None:
    """The record saved by an earlier run with the same inputs, if its media is still there."""
    text = store.read_text(f"{prefix}/record.json")
    return model.model_validate_json(text) if text else None


def save_cached(store: MediaStore, prefix: str, record: BaseModel) -> None:
    store.write_text(f"{prefix}/record.json", record.model_dump_json(indent=2))


def reuse_or_build(
    store: MediaStore,
    prefix: str,
    model: type[RecordT],
    build: Callable[[], RecordT],
    media_of: Callable[[RecordT], list[str]] = lambda record: [],
) -> tuple[RecordT, bool]:
    """The record an earlier run stored under `prefix` if its media still exists, else `build()`'s (stored).

    Returns (record, cached). This is what makes re-execution and backfills cheap and idempotent.
    """
    cached = load_cached(store, prefix, model)
    if cached is not None and all(store.exists_uri(uri) for uri in media_of(cached)):
        return cached, True
    record = build()
    save_cached(store, prefix, record)
    return record, False


def stage_pool(stage: str) -> str:
    """The pool of a stage: named after the API its configured provider calls (read from SHORTS_* at load)."""
    settings = PipelineSettings.from_env()
    providers = {
        "transcript": settings.transcribe_provider,
        "script": settings.rewrite_provider,
        "voiceover": settings.voice_provider,
        "avatar_video": settings.avatar_provider,
        "short_video": "ffmpeg",
        "source_video": "yt-dlp",
    }
    return pool_for(providers[stage])


def stage_asset(*, pool: str, description: str, **kwargs: Any) -> Callable[..., AssetsDefinition]:
    """`@asset` with what every pipeline stage shares: the partitions, group, retry policy and a pool."""
    return asset(
        partitions_def=source_videos,
        group_name=kwargs.pop("group_name", "pipeline"),
        kinds={"python"},
        retry_policy=STAGE_RETRY_POLICY,
        pool=pool,
        description=description,
        **kwargs,
    )


class Stopwatch:
    """Elapsed seconds since creation, for the UI's `elapsed_s` metadata."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return round(time.perf_counter() - self.started, 2)


def media_metadata(facts: MediaFacts, uri: str) -> dict[str, Any]:
    """UI metadata for one media file: where it is and what it is."""
    meta: dict[str, Any] = {
        "uri": MetadataValue.url(uri) if uri.startswith(("http", "s3")) else MetadataValue.path(_path(uri)),
        "duration_s": facts.duration_s,
        "size_mb": round(facts.size_bytes / 1_048_576, 2),
    }
    if facts.has_video:
        meta["resolution"] = f"{facts.width}x{facts.height}"
        meta["fps"] = facts.fps
        meta["video_codec"] = facts.video_codec
    meta["audio_codec"] = facts.audio_codec or "none"
    return meta


def usage_metadata(usage: list[Usage]) -> dict[str, Any]:
    """UI metadata for provider usage: the estimated cost and each unit consumed."""
    meta: dict[str, Any] = {"cost_usd": total_cost(usage)}
    for item in usage:
        for unit, amount in item.units.items():
            meta[f"usage_{unit}"] = round(amount, 3)
    return meta


def _path(uri: str) -> str:
    return uri.removeprefix("file://") if uri.startswith("file://") else uri
