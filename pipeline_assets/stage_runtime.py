"""What every stage asset shares: failure mapping, retries, input fingerprints, cached records, metadata."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
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
    Output,
    RetryPolicy,
    asset,
)
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG
from pydantic import BaseModel

from pipeline_assets.partitions import source_videos
from resources.errors import PipelineError, RetryableError
from resources.http.checkpoint import DEFAULT_MAX_PAID_ATTEMPTS, Checkpoint, checkpoint_scope
from resources.media.store import MediaStore
from resources.records import MediaFacts
from resources.usage import Usage, total_cost

RecordT = TypeVar("RecordT", bound=BaseModel)

# Transient failures (RetryableError, crashes) retry with exponential backoff and jitter; permanent ones
# raise Failure(allow_retries=False) and stop at once.
STAGE_RETRY_POLICY = RetryPolicy(max_retries=3, delay=5, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
# Paid requests are counted in `<prefix>/checkpoint.json` across those retries (resources.http.checkpoint); each is
# sent at most this many times per stage input. A stage's asset definition may carry its own bound under this key.
MAX_PAID_ATTEMPTS_KEY = "max_paid_attempts"
CHECKPOINT_FILE = "checkpoint.json"


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


def reuse_or_build(
    store: MediaStore,
    prefix: str,
    model: type[RecordT],
    build: Callable[[], RecordT],
    media_of: Callable[[RecordT], list[str]],
) -> tuple[RecordT, bool]:
    """The record an earlier run stored under `prefix` if its media still exists, else `build()`'s (stored).

    Returns (record, cached). This is what makes re-execution and backfills cheap and idempotent.
    """
    text = store.read_text(f"{prefix}/record.json")
    cached = model.model_validate_json(text) if text else None
    if cached is not None and all(store.exists_uri(uri) for uri in media_of(cached)):
        return cached, True
    record = build()
    store.write_text(f"{prefix}/record.json", record.model_dump_json(indent=2))
    return record, False


@dataclass(frozen=True)
class Workspace:
    """Where one build works: a private scratch folder, and the MediaStore folder its outputs are stored in."""

    workdir: Path
    store: MediaStore
    prefix: str

    def put(self, path: Path, name: str) -> str:
        """Store `path` as `<prefix>/<name>`; returns its URI."""
        return self.store.put_file(path, f"{self.prefix}/{name}")


class StageRun:
    """One materialization of a stage: failures that name the asset and partition, the cache, the UI output."""

    def __init__(self, context: AssetExecutionContext, store: MediaStore) -> None:
        self.context = context
        self.store = store
        self.cached = False
        self.checkpoint: Checkpoint | None = None  # this input's paid attempts and cloud jobs, once its prefix is known
        self._started = time.perf_counter()

    @property
    def name(self) -> str:
        return self.context.asset_key.to_user_string()

    def failures(self) -> AbstractContextManager[None]:
        """Map pipeline errors raised inside to Dagster failures (see `stage_failures`)."""
        return stage_failures(self.context)

    def warn(self, message: str) -> None:
        self.context.log.warning(f"{asset_label(self.context)}: {message}")

    def reuse_or_build(
        self,
        model: type[RecordT],
        inputs: Sequence[BaseModel | str | dict[str, Any]],
        build: Callable[[Workspace], RecordT],
        media_of: Callable[[RecordT], list[str]] = lambda record: [],
    ) -> RecordT:
        """The stored record for these `inputs` (and settings) if its media still exists, else `build`'s."""
        prefix = stage_prefix(self.context.partition_key, self.name, fingerprint(*inputs))
        checkpoint = Checkpoint.in_store(
            self.store,
            f"{prefix}/{CHECKPOINT_FILE}",
            name=fingerprint(prefix),
            max_paid_attempts=self.max_paid_attempts,
        )
        self.checkpoint = checkpoint

        def build_in_scratch() -> RecordT:
            workdir = self.store.scratch_dir(f"{self.name}-{self.context.partition_key}")
            try:
                with checkpoint_scope(checkpoint):  # the paid calls inside count their attempts there
                    return build(Workspace(workdir, self.store, prefix))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)

        record, self.cached = reuse_or_build(self.store, prefix, model, build_in_scratch, media_of)
        return record

    @property
    def max_paid_attempts(self) -> int:
        """How often one paid request may be sent per input: the asset definition's bound, else the default."""
        definition = self.context.assets_def.metadata_by_key.get(self.context.asset_key, {})
        value = definition.get(MAX_PAID_ATTEMPTS_KEY)
        value = getattr(value, "value", value)  # a MetadataValue once Dagster has normalised it
        return value if isinstance(value, int) else DEFAULT_MAX_PAID_ATTEMPTS

    def output(self, record: RecordT, metadata: dict[str, Any]) -> Output[RecordT]:
        """The asset's Output, with whether it came from the cache, how long the stage took and what it paid for."""
        elapsed = round(time.perf_counter() - self._started, 2)
        return Output(
            record, metadata={**metadata, "cached": self.cached, "elapsed_s": elapsed, **self.paid_metadata()}
        )

    def paid_metadata(self) -> dict[str, Any]:
        """UI metadata for paid calls: attempts sent for this input (all retries and re-executions), the cloud jobs."""
        if self.checkpoint is None or not self.checkpoint.total_attempts:
            return {}
        meta: dict[str, Any] = {"paid_attempts": self.checkpoint.total_attempts}
        if self.checkpoint.job_ids:
            meta["provider_jobs"] = ", ".join(f"{name} {job_id}" for name, job_id in self.checkpoint.job_ids.items())
        return meta


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

    def asset(
        self, *, pool: str, provider: str, max_paid_attempts: int | None = None, queue: str | None = None
    ) -> AssetsDefinition:
        """The asset in `pool`; the UI shows what runs it (`provider`, or `local_kind` for the offline engine).

        `max_paid_attempts` bounds each paid request per input (default DEFAULT_MAX_PAID_ATTEMPTS); it is kept in the
        definition's metadata, where the UI shows it and `StageRun` reads it. `queue` is the Celery queue its step
        is sent to when steps run on Celery workers (none: the executor's default queue).
        """
        options = dict(self.options)
        if max_paid_attempts is not None:
            options["metadata"] = {**options.get("metadata", {}), MAX_PAID_ATTEMPTS_KEY: max_paid_attempts}
        if queue is not None:
            options["op_tags"] = {**options.get("op_tags", {}), DAGSTER_CELERY_QUEUE_TAG: queue}
        return asset(
            name=self.name,
            partitions_def=source_videos,
            retry_policy=STAGE_RETRY_POLICY,
            pool=pool,
            kinds={self.local_kind if provider == "local" else provider},
            **options,
        )(self.compute)


def stage(
    *, description: str, local_kind: str = "python", group_name: str = "pipeline", **options: Any
) -> Callable[[Callable[..., Any]], Stage]:
    """Declare a stage: the function becomes the asset of its name (or `name=`) when `Stage.asset` is called."""

    def declare(compute: Callable[..., Any]) -> Stage:
        name = options.pop("name", compute.__name__)
        return Stage(name, compute, local_kind, {"description": description, "group_name": group_name, **options})

    return declare


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
