"""folder_watch_sensor: one SensorResult with add-partition requests, run requests and a cursor.

A file is taken when two ticks in a row see the same size and mtime; the ticks are driven here one after another
with the cursor, so nothing depends on the clock or the machine's speed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from resources.discovery.configured import WatchFolder
from resources.media.store import MediaStore
from resources.partition_keys import key_for_file
from sensors.folder_watch_sensor import MAX_NEW_PER_TICK, folder_watch_sensor


class Inbox:
    """A watch folder, a store and an instance, ticked like the daemon would: each tick gets the last cursor."""

    def __init__(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "inbox"
        self.folder.mkdir()
        self.store = MediaStore(root=str(tmp_path / "media"))
        self.instance = DagsterInstance.ephemeral()
        self.cursor: str | None = None
        self.started: list[str] = []  # every partition key any tick requested, in order

    def tick(self) -> list[str]:
        """One evaluation; the partition keys it requested (its partitions are added, as the daemon does)."""
        resources = {"media_store": self.store, "watch_folder": WatchFolder(path=str(self.folder))}
        context = build_sensor_context(instance=self.instance, cursor=self.cursor, resources=resources)
        result = folder_watch_sensor(context)
        assert isinstance(result, SensorResult)
        self.cursor = result.cursor
        keys = [r.partition_key or "" for r in result.run_requests or []]
        added = [k for request in result.dynamic_partitions_requests or [] for k in request.partition_keys or []]
        assert added == keys
        if keys:
            self.instance.add_dynamic_partitions("source_videos", keys)
        self.started += keys
        return keys


def test_a_new_file_is_taken_on_the_second_tick_that_sees_it_unchanged_and_never_again(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    video = inbox.folder / "clip.mp4"
    video.write_bytes(b"not really a video but a file")
    (inbox.folder / "notes.txt").write_text("ignored")

    assert inbox.tick() == []  # first sight: it may still be being copied
    key = key_for_file(video)
    assert inbox.tick() == [key]
    assert inbox.store.read_text(f"sources/{key}.json") is not None
    assert inbox.tick() == [] and inbox.tick() == []
    assert inbox.started == [key]


def test_the_run_key_is_the_partitions_video_key(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    (inbox.folder / "clip.mp4").write_bytes(b"bytes")
    inbox.tick()
    resources = {"media_store": inbox.store, "watch_folder": WatchFolder(path=str(inbox.folder))}
    result = folder_watch_sensor(
        build_sensor_context(instance=inbox.instance, cursor=inbox.cursor, resources=resources)
    )
    assert isinstance(result, SensorResult)
    assert [r.run_key for r in result.run_requests or []] == [f"video:{key_for_file(inbox.folder / 'clip.mp4')}"]


def test_a_file_still_being_copied_becomes_one_partition_of_its_final_content(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    upload = inbox.folder / "big upload.mp4"
    with upload.open("wb") as handle:
        for part in (b"first third ", b"second third ", b"last third"):
            handle.write(part)
            handle.flush()
            assert inbox.tick() == []  # it grew since the last tick (or is seen for the first time)
    assert inbox.tick() == [key_for_file(upload)]
    assert inbox.tick() == []
    assert inbox.started == [key_for_file(upload)]


def test_a_rewrite_of_the_same_size_with_a_new_mtime_waits_again(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    video = inbox.folder / "clip.mp4"
    video.write_bytes(b"AAAA")
    os.utime(video, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    assert inbox.tick() == []
    video.write_bytes(b"BBBB")
    os.utime(video, ns=(1_700_000_000_000_000_001, 1_700_000_000_000_000_001))
    assert inbox.tick() == []
    assert inbox.tick() == [key_for_file(video)]


def test_symlinks_are_skipped_wherever_they_point(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"a file the worker can read")
    (inbox.folder / "inside.mp4").write_bytes(b"a real upload")
    (inbox.folder / "to-outside.mp4").symlink_to(outside / "secret.mp4")
    (inbox.folder / "to-inside.mp4").symlink_to(inbox.folder / "inside.mp4")
    (inbox.folder / "to-etc.mp4").symlink_to("/etc/passwd")
    (inbox.folder / "dangling.mp4").symlink_to(tmp_path / "nowhere.mp4")

    assert inbox.tick() == []
    assert inbox.tick() == [key_for_file(inbox.folder / "inside.mp4")]
    assert inbox.tick() == []
    assert inbox.started == [key_for_file(inbox.folder / "inside.mp4")]
    assert json.loads(inbox.cursor or "{}")["links"] == [
        "dangling.mp4",
        "to-etc.mp4",
        "to-inside.mp4",
        "to-outside.mp4",
    ]


def test_the_source_registered_is_the_file_in_the_folder_not_a_link_target(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    video = inbox.folder / "clip.mp4"
    video.write_bytes(b"bytes")
    inbox.tick()
    [key] = inbox.tick()
    registered = json.loads(inbox.store.read_text(f"sources/{key}.json") or "{}")
    assert registered["source"] == str(inbox.folder.resolve() / "clip.mp4")


def test_hidden_partial_uploads_and_empty_files_are_not_taken(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    (inbox.folder / ".clip.mp4").write_bytes(b"rsync writes here first")
    (inbox.folder / "empty.mp4").touch()
    (inbox.folder / "folder.mp4").mkdir()
    assert inbox.tick() == [] and inbox.tick() == []


def test_a_taken_file_that_changes_later_is_not_started_again(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    video = inbox.folder / "clip.mp4"
    video.write_bytes(b"the first part of a copy that stalled")
    inbox.tick()
    [first] = inbox.tick()
    with video.open("ab") as handle:
        handle.write(b" and then resumed")
    assert inbox.tick() == [] and inbox.tick() == [] and inbox.tick() == []
    assert inbox.started == [first]


def test_a_file_removed_and_dropped_in_again_under_the_same_name_is_new(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    video = inbox.folder / "clip.mp4"
    video.write_bytes(b"first video")
    inbox.tick()
    inbox.tick()
    video.unlink()
    assert inbox.tick() == []
    video.write_bytes(b"second video")
    inbox.tick()
    assert inbox.tick() == [key_for_file(video)]
    assert len(inbox.started) == 2


def test_a_copy_under_another_name_is_not_started_again(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    (inbox.folder / "holiday recipe.mp4").write_bytes(b"the same bytes")
    inbox.tick()
    assert len(inbox.tick()) == 1

    (inbox.folder / "holiday recipe (copy).mp4").write_bytes(b"the same bytes")
    (inbox.folder / "other.mp4").write_bytes(b"other bytes")
    inbox.tick()
    assert inbox.tick() == [key_for_file(inbox.folder / "other.mp4")]


def test_more_ready_files_than_the_cap_are_taken_on_the_next_tick(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    for i in range(MAX_NEW_PER_TICK + 2):
        (inbox.folder / f"clip{i:02}.mp4").write_bytes(f"video {i}".encode())
    inbox.tick()
    assert len(inbox.tick()) == MAX_NEW_PER_TICK
    assert len(inbox.tick()) == 2
    assert len(set(inbox.started)) == MAX_NEW_PER_TICK + 2


def test_files_a_version_1_cursor_had_processed_are_not_started_again(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    (inbox.folder / "old.mp4").write_bytes(b"processed before the upgrade")
    (inbox.folder / "new.mp4").write_bytes(b"dropped in after it")
    inbox.cursor = json.dumps({"old.mp4": "28:1700000000"})
    inbox.tick()
    assert inbox.tick() == [key_for_file(inbox.folder / "new.mp4")]
    assert inbox.tick() == []


def test_missing_watch_folder_skips_with_a_reason(tmp_path: Path) -> None:
    resources = {"media_store": MediaStore(root=str(tmp_path)), "watch_folder": WatchFolder(path=str(tmp_path / "no"))}
    result = folder_watch_sensor(build_sensor_context(instance=DagsterInstance.ephemeral(), resources=resources))
    assert isinstance(result, SkipReason) and "does not exist" in (result.skip_message or "")
