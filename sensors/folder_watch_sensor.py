"""Watch a local folder: every new video file becomes a partition and a run of the whole chain."""

import json

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from pipeline_assets.jobs import short_pipeline_job
from pipeline_assets.partitions import source_videos
from resources.catalog import PARTITIONS_NAME, run_key
from resources.discovery.configured import WatchFolder
from resources.ingest.downloader import VIDEO_SUFFIXES
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.partition_keys import key_for_file, same_content_key
from resources.records import SourceRequest

MAX_NEW_PER_TICK = 10


@sensor(
    job=short_pipeline_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,  # acts only on files someone drops into the folder
    description="New video files in the watch folder ($SHORTS_WATCH_DIR, default var/inbox) become shorts.",
)
def folder_watch_sensor(
    context: SensorEvaluationContext, media_store: MediaStore, watch_folder: WatchFolder
) -> SensorResult | SkipReason:
    folder = watch_folder.folder
    if not folder.is_dir():
        return SkipReason(f"watch folder {folder} does not exist; create it and drop videos in")
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    existing = set(context.instance.get_dynamic_partitions(PARTITIONS_NAME))
    new_keys: list[str] = []
    for path in sorted(folder.iterdir()):
        if len(new_keys) >= MAX_NEW_PER_TICK:
            break
        if path.suffix.lower() not in VIDEO_SUFFIXES or not path.is_file():
            continue
        stat = path.stat()
        marker = f"{stat.st_size}:{int(stat.st_mtime)}"
        if seen.get(path.name) == marker or stat.st_size == 0:
            continue
        seen[path.name] = marker
        key = key_for_file(path)
        if key in existing:
            continue
        copy_of = same_content_key(key, [*existing, *new_keys])
        if copy_of:  # the same video under another name: one short, one post per platform
            context.log.info(f"{path.name} has the same content as partition {copy_of}; not started again")
            continue
        register_source(
            media_store, SourceRequest(partition_key=key, source=str(path.resolve()), reason="watch folder")
        )
        new_keys.append(key)
    return SensorResult(
        run_requests=[RunRequest(partition_key=key, run_key=run_key(key)) for key in new_keys],
        dynamic_partitions_requests=[source_videos.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps(seen),
    )
