"""A local folder as a source: each complete video file in it is a candidate (the offline demo's source)."""

from __future__ import annotations

import stat
import time
from pathlib import Path

from resources.discovery.candidates import Candidate, SourceError
from resources.discovery.sources_config import FolderSource
from resources.ingest.downloader import VIDEO_SUFFIXES
from resources.partition_keys import key_for_file, same_content_key


class FolderReader:
    """Lists the folder's video files; files still being written are left for a later tick, symlinks skipped.

    Content hashes are cached by (path, size, mtime) so a long-lived reader hashes each file once.
    """

    def __init__(self, config: FolderSource, *, settle_s: float | None = None) -> None:
        self.config = config
        self.name = config.name
        self.settle_s = config.settle_s if settle_s is None else settle_s
        self._keys: dict[tuple[str, int, int], str] = {}

    @property
    def folder(self) -> Path:
        """The watched folder, absolute."""
        return Path(self.config.path).expanduser().resolve()

    def fetch(self) -> list[Candidate]:
        """Complete video files, oldest first, one candidate per distinct content."""
        folder = self.folder
        if not folder.is_dir():
            raise SourceError(f"watch folder {folder} does not exist; create it and drop videos in")
        paths = [
            path
            for path in folder.iterdir()
            if path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".") and _is_plain_file(path)
        ]
        candidates: dict[str, Candidate] = {}
        for path in sorted(paths, key=_mtime):
            key = self._settled_key(path)
            # A copy under another name has another key but the same content hash: the oldest file speaks for it.
            if key is not None and same_content_key(key, candidates) is None:
                platform, _, video_id = key.partition("-")
                candidates[key] = Candidate(
                    platform=platform, video_id=video_id, url=str(path), source_name=self.name, caption=path.stem
                )
        return list(candidates.values())

    def _settled_key(self, path: Path) -> str | None:
        """The file's partition key, or None while it is empty, recently modified or changing under us."""
        try:
            before = path.lstat()
            # A copy or download in progress keeps touching the file; wait until it has been quiet a while.
            if before.st_size == 0 or time.time() - before.st_mtime < self.settle_s:
                return None
            marker = (str(path), before.st_size, before.st_mtime_ns)
            key = self._keys.get(marker) or key_for_file(path)
            after = path.lstat()
        except OSError:  # deleted or renamed between listing and hashing
            return None
        if (after.st_size, after.st_mtime_ns, after.st_mode) != (before.st_size, before.st_mtime_ns, before.st_mode):
            return None  # it grew (or became a link) while we hashed it: the hash is of something else
        self._keys[marker] = key
        return key


def _is_plain_file(path: Path) -> bool:
    """A regular file, not a symlink: a link in the folder could point at any file the worker can read."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
