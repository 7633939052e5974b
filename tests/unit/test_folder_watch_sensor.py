"""folder_watch_sensor: one SensorResult with add-partition requests, run requests and a cursor."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from resources.discovery.configured import WatchFolder
from resources.media.store import MediaStore
from resources.partition_keys import key_for_file
from sensors.folder_watch_sensor import folder_watch_sensor


def tick(instance: DagsterInstance, store: MediaStore, cursor: str | None, folder: Path) -> SensorResult | SkipReason:
    resources = {"media_store": store, "watch_folder": WatchFolder(path=str(folder))}
    context = build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    result = folder_watch_sensor(context)
    assert isinstance(result, SensorResult | SkipReason)
    return result


def test_new_file_becomes_a_partition_and_one_run_then_is_not_seen_again(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    video = inbox / "clip.mp4"
    video.write_bytes(b"not really a video but a file")
    (inbox / "notes.txt").write_text("ignored")
    store = MediaStore(root=str(tmp_path / "media"))
    instance = DagsterInstance.ephemeral()

    first = tick(instance, store, None, inbox)
    assert isinstance(first, SensorResult)
    key = key_for_file(video)
    assert [r.partition_key for r in first.run_requests or []] == [key]
    assert [r.run_key for r in first.run_requests or []] == [f"video:{key}"]
    assert first.dynamic_partitions_requests and list(first.dynamic_partitions_requests[0].partition_keys) == [key]
    assert store.read_text(f"sources/{key}.json") is not None

    second = tick(instance, store, first.cursor, inbox)
    assert isinstance(second, SensorResult) and not second.run_requests


def test_missing_watch_folder_skips_with_a_reason(tmp_path: Path) -> None:
    result = tick(DagsterInstance.ephemeral(), MediaStore(root=str(tmp_path)), None, tmp_path / "nope")
    assert isinstance(result, SkipReason) and "does not exist" in (result.skip_message or "")


def test_a_copy_under_another_name_is_not_started_again(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "holiday recipe.mp4").write_bytes(b"the same bytes")
    store, instance = MediaStore(root=str(tmp_path / "media")), DagsterInstance.ephemeral()
    first = tick(instance, store, None, inbox)
    assert isinstance(first, SensorResult) and len(first.run_requests or []) == 1
    instance.add_dynamic_partitions("source_videos", [r.partition_key or "" for r in first.run_requests or []])

    (inbox / "holiday recipe (copy).mp4").write_bytes(b"the same bytes")
    (inbox / "other.mp4").write_bytes(b"other bytes")
    second = tick(instance, store, first.cursor, inbox)
    assert isinstance(second, SensorResult)
    assert [r.partition_key for r in second.run_requests or []] == [key_for_file(inbox / "other.mp4")]
