"""The code location's assets by name, made as definitions.py makes them, and materializing a few of them for
one partition (for tests that run part of the graph in process)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetsDefinition, DagsterInstance, ExecuteInProcessResult, SourceAsset, materialize

from definitions import build_assets
from pipeline_assets.partitions import source_videos
from resources.catalog import PARTITIONS_NAME
from resources.ingest import Downloader
from resources.io_manager import JsonRecordIOManager
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.records import Script, SourceRequest
from resources.settings import PipelineSettings
from resources.transcribe import Transcriber


def assets_named(*names: str, settings: PipelineSettings | None = None) -> list[AssetsDefinition]:
    """The assets called `names`, in that order, with the pools `settings` (default: the offline ones) give."""
    by_name = {asset.key.to_user_string(): asset for asset in build_assets(settings or PipelineSettings())}
    return [by_name[name] for name in names]


# Tests make their local sources under the temporary folder (pytest's tmp_path); allowed as SHORTS_LOCAL_SOURCE_ROOTS
# would allow a folder.
TEST_SOURCE_ROOTS = [tempfile.gettempdir()]


def store_resources(store: MediaStore) -> dict[str, Any]:
    """The resources of the first stages on the offline engines, with records and media in `store`."""
    return {
        "media_store": store,
        "io_manager": JsonRecordIOManager(media_store=store),
        "downloader": Downloader(local_source_roots=TEST_SOURCE_ROOTS),
        "transcriber": Transcriber(),
    }


def materialize_partition(
    names: Sequence[str],
    key: str,
    store: MediaStore,
    *,
    source: str | None = None,
    instance: DagsterInstance | None = None,
    resources: Mapping[str, Any] | None = None,
    run_config: Mapping[str, Any] | None = None,
    raise_on_error: bool = True,
) -> ExecuteInProcessResult:
    """Materialize the assets called `names` for partition `key` and return the result.

    When `source` is given it is registered for `key` first, as the sensors and `shorts submit` do. The partition
    is added to `instance` (default: a new ephemeral one); the resources are `store_resources(store)` with
    `resources` on top.
    """
    if source is not None:
        register_source(store, SourceRequest(partition_key=key, source=source))
    instance = instance or DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PARTITIONS_NAME, [key])
    return materialize(
        assets_named(*names),
        partition_key=key,
        instance=instance,
        resources={**store_resources(store), **(resources or {})},
        run_config=dict(run_config) if run_config is not None else None,
        raise_on_error=raise_on_error,
    )


# A post's upstream stages as already-materialized sources: their records are loaded from the store by the IO manager.
POST_UPSTREAM = [SourceAsset(name, partitions_def=source_videos) for name in ["short_video", "script", "source_video"]]
# A finished script, as the rewrite stage would store it, for tests that publish.
SAMPLE_SCRIPT = Script(
    title="One habit that fixes your mornings",
    hook="Stop scrolling.",
    body=["Put the phone in another room.", "Drink water first."],
    call_to_action="Follow for more.",
    description="A tiny habit with a big effect.",
    hashtags=["habits", "shorts"],
    provider="local",
)
