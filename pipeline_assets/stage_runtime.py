"""What every stage asset shares: failure mapping, retries, input fingerprints, cached records, metadata."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
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


@contextmanager
def scratch(store: MediaStore, name: str) -> Iterator[Path]:
    """A private working folder for one build, removed afterwards whatever happens."""
    workdir = store.scratch_dir(name)
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


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


@dataclass(frozen=True)
class Stage:
    """A stage's asset function and its `@asset` options; `asset(...)` makes the AssetsDefinition.

    Its pool and kind depend on the configured provider, which only the definitions module knows (settings are
    read once, there), so the asset is made there rather than when this module is imported.
    """

    name: str
    compute: Callable[..., Any]
    local_kind: str
    options: dict[str, Any]

    def asset(self, *, pool: str, provider: str) -> AssetsDefinition:
        """The asset in `pool`; the UI shows what runs it (`provider`, or `local_kind` for the offline engine)."""
        return asset(
            name=self.name,
            partitions_def=source_videos,
            retry_policy=STAGE_RETRY_POLICY,
            pool=pool,
            kinds={self.local_kind if provider == "local" else provider},
            **self.options,
        )(self.compute)


def stage(
    *, description: str, local_kind: str = "python", group_name: str = "pipeline", **options: Any
) -> Callable[[Callable[..., Any]], Stage]:
    """Declare a stage: the function becomes the asset of its name (or `name=`) when `Stage.asset` is called."""

    def declare(compute: Callable[..., Any]) -> Stage:
        name = options.pop("name", compute.__name__)
        return Stage(name, compute, local_kind, {"description": description, "group_name": group_name, **options})

    return declare


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
