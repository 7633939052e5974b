"""Watch a local folder: every new video file becomes a partition and a run of the whole chain.

A file is taken once it is complete: its size and modification time are the same on two ticks in a row (the
cursor remembers the first), so a file still being copied never starts a run, and one upload is one partition.
Symlinks are skipped (a link in the inbox could point at any file the worker can read), and so are hidden files
(partial uploads such as rsync's `.clip.mp4.XYZ`). The decision is `settle`, a plain function.

Cursor (JSON, version 2)::

    {"v": 2, "taken": {"clip.mp4": "<size>:<mtime_ns>"}, "pending": {"new.mp4": "<size>:<mtime_ns>"},
     "links": ["link.mp4"]}

- `pending`: files seen once, with the size and mtime they had; taken when the next tick sees the same.
- `taken`: files that became a partition (or were found to be a copy of one). A taken file that changes later is
  not taken again (a stalled copy that resumed would otherwise post a second, different short); the log says so.
- `links`: symlinks already reported, so the warning appears once.
Entries of files no longer in the folder are dropped, so the cursor stays as small as the folder.
A version-1 cursor (a flat `{name: marker}` of processed files) counts as `taken`.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

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
from resources.error_reporting import report_sensor_errors
from resources.ingest.downloader import VIDEO_SUFFIXES
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.partition_keys import key_for_file, same_content_key
from resources.records import SourceRequest

MAX_NEW_PER_TICK = 10
CURSOR_VERSION = 2
_UNKNOWN = ""  # a taken file's marker from a version-1 cursor (it stored whole seconds)


@dataclass
class WatchCursor:
    """What the sensor remembers between ticks (see the module docstring)."""

    taken: dict[str, str] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)
    links: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, text: str | None) -> WatchCursor:
        raw = json.loads(text) if text else {}
        if raw.get("v") != CURSOR_VERSION:
            return cls(taken=dict.fromkeys(raw, _UNKNOWN))
        return cls(taken=dict(raw["taken"]), pending=dict(raw["pending"]), links=set(raw.get("links", [])))

    def dump(self) -> str:
        return json.dumps(
            {"v": CURSOR_VERSION, "taken": self.taken, "pending": self.pending, "links": sorted(self.links)}
        )


@dataclass(frozen=True)
class Listing:
    """The folder's candidate files (name -> `<size>:<mtime_ns>`) and the symlinks that were skipped."""

    files: dict[str, str]
    links: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Settled:
    """One tick's decision: files complete enough to take, taken files that changed, new symlinks to report."""

    ready: list[str]
    changed_after_taken: list[str]
    new_links: list[str]
    cursor: WatchCursor


def marker(st: os.stat_result) -> str:
    """`<size>:<mtime_ns>` of a stat result: what must not change between two ticks."""
    return f"{st.st_size}:{st.st_mtime_ns}"


def list_folder(folder: Path) -> Listing:
    """Regular, non-empty, visible video files directly in `folder`, by name; symlinks are listed apart, unread."""
    files: dict[str, str] = {}
    links: set[str] = set()
    for path in folder.iterdir():
        if path.name.startswith(".") or path.suffix.lower() not in VIDEO_SUFFIXES:
            continue
        try:
            st = path.lstat()
        except OSError:  # removed between listing and stat
            continue
        if stat.S_ISLNK(st.st_mode):
            links.add(path.name)
        elif stat.S_ISREG(st.st_mode) and st.st_size > 0:
            files[path.name] = marker(st)
    return Listing(files, frozenset(links))


def settle(listing: Listing, previous: WatchCursor) -> Settled:
    """Which listed files are ready: not taken before, and with the size and mtime the previous tick saw."""
    cursor = WatchCursor(links=previous.links & listing.links)
    ready: list[str] = []
    changed: list[str] = []
    for name, now in sorted(listing.files.items()):
        if name in previous.taken:
            before = previous.taken[name]
            if before not in (_UNKNOWN, now):
                changed.append(name)
            cursor.taken[name] = now
        elif previous.pending.get(name) == now:
            ready.append(name)
            cursor.pending[name] = now  # taken (and moved to `taken`) by the caller, or left for the next tick
        else:
            cursor.pending[name] = now
    new_links = sorted(listing.links - previous.links)
    cursor.links |= listing.links
    return Settled(ready, changed, new_links, cursor)


@sensor(
    job=short_pipeline_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,  # acts only on files someone drops into the folder
    description="New video files in the watch folder ($SHORTS_WATCH_DIR, default var/inbox) become shorts once "
    "they stop changing (same size and mtime on two ticks); symlinks are skipped.",
)
@report_sensor_errors
def folder_watch_sensor(
    context: SensorEvaluationContext, media_store: MediaStore, watch_folder: WatchFolder
) -> SensorResult | SkipReason:
    folder = watch_folder.folder
    if not folder.is_dir():
        return SkipReason(f"watch folder {folder} does not exist; create it and drop videos in")
    folder = folder.resolve()
    decision = settle(list_folder(folder), WatchCursor.load(context.cursor))
    cursor = decision.cursor
    for name in decision.new_links:
        context.log.warning(f"{folder / name} is a symlink and is skipped; copy or move the video itself into {folder}")
    for name in decision.changed_after_taken:
        context.log.warning(
            f"{folder / name} changed after it was taken; it is not started again. To make a short of the new "
            "content, give the file a new name"
        )
    existing = set(context.instance.get_dynamic_partitions(PARTITIONS_NAME))
    new_keys: list[str] = []
    for name in decision.ready:
        if len(new_keys) >= MAX_NEW_PER_TICK:
            break  # still pending with the same marker: ready again next tick
        path = folder / name
        try:
            key = key_for_file(path)
            after = marker(path.lstat())
        except OSError:  # removed or renamed since the listing
            cursor.pending.pop(name, None)
            continue
        if after != cursor.pending[name]:  # it changed while we hashed it: wait for it to settle again
            cursor.pending[name] = after
            continue
        cursor.taken[name] = cursor.pending.pop(name)
        if key in existing:
            continue
        copy_of = same_content_key(key, [*existing, *new_keys])
        if copy_of:  # the same video under another name: one short, one post per platform
            context.log.info(f"{name} has the same content as partition {copy_of}; not started again")
            continue
        register_source(
            media_store,
            SourceRequest(partition_key=key, source=str(path), reason="watch folder", source_name="watch_folder"),
        )
        new_keys.append(key)
    return SensorResult(
        run_requests=[RunRequest(partition_key=key, run_key=run_key(key)) for key in new_keys],
        dynamic_partitions_requests=[source_videos.build_add_request(new_keys)] if new_keys else [],
        cursor=cursor.dump(),
    )
