"""Partition keys: `<platform>-<id>` in [a-z0-9_-], at most 64 characters.

No commas or slashes: they break backfills (comma-separated ranges) and storage paths.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import urlparse

from resources.errors import InputRejected

PARTITION_KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_KEY_LENGTH = 64


def validate_partition_key(key: str) -> str:
    """Return `key` if it is a safe partition key; raise InputRejected saying what is allowed otherwise."""
    if not PARTITION_KEY_PATTERN.fullmatch(key or "") or len(key) > MAX_KEY_LENGTH:
        raise InputRejected(
            f"unsafe partition key {key!r}: use 1-64 characters of a-z, 0-9, '_' and '-', starting with a "
            "letter or digit (e.g. tiktok-7301234567890123456)"
        )
    return key


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")


def key_for_file(path: Path) -> str:
    """`file-<sha1 prefix>` of the file's bytes: the same file always maps to the same partition."""
    digest = hashlib.sha1()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"file-{digest.hexdigest()[:16]}"


def key_for_url(url: str) -> str:
    """`<platform>-<id>` for a video URL, using yt-dlp's extractors to find platform and id without network."""
    from yt_dlp.extractor import gen_extractor_classes

    for extractor in gen_extractor_classes():
        name = extractor.ie_key()
        if name == "Generic" or not extractor.suitable(url):
            continue
        try:
            video_id = str(extractor.get_temp_id(url) or "")
        except Exception:  # extractors whose pattern has no id group
            video_id = ""
        platform = _slug(name.split(":")[0]).replace("-", "") or "url"
        if video_id:
            key = f"{platform}-{_slug(video_id)}"
            if PARTITION_KEY_PATTERN.fullmatch(key):
                return key
        break
    host = _slug(urlparse(url).hostname or "url").split("-")[0] or "url"
    return f"{host[:20]}-{hashlib.sha1(url.encode()).hexdigest()[:16]}"


def key_for_source(source: str) -> str:
    """The partition key for a URL or a local file path."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source):
        return key_for_url(source)
    return key_for_file(Path(source).expanduser())
