"""Partition keys: `<platform>-<id>` in [a-z0-9_-], at most 64 characters.

No commas or slashes: they break backfills (comma-separated ranges) and storage paths.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlparse

from resources.errors import InputRejected

PARTITION_KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_KEY_LENGTH = 64
FILE_HASH_DIGITS = 10  # 40 bits: two different videos under one name must not share a partition


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
    """`file-<name>-<content hash>` for a local video, e.g. `file-holiday-recipe-3f9a2c1b7d`.

    The name is the file name without its suffix, lower-cased, accents dropped (`Crème` -> `creme`), every run of
    other characters made one `-`, and cut at a word boundary where it would not fit in 64 characters; a name with
    nothing usable left (`🎬.mp4`, `動画.mp4`) gives `file-<hash>`. The hash is the first 10 hex digits (40 bits)
    of the SHA-256 of the bytes, so different videos that share a name (`IMG_0001.MOV`) keep separate partitions.

    The same bytes under the same name always map to the same key. A copy under another name gets its own key,
    and so its own run: the key is computed from the file alone (sensor, CLI, backfill), with no lookup of which
    name came first, and the name is what people recognise in the UI. Copies share the hash after the last `-`,
    which is what a caller that wants one partition per content should compare.
    """
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()[:FILE_HASH_DIGITS]
    room = MAX_KEY_LENGTH - len("file--") - FILE_HASH_DIGITS
    name = _cut_at_word(_readable_slug(path.stem), room)
    return f"file-{name}-{digest}" if name else f"file-{digest}"


def same_content_key(key: str, existing: Iterable[str]) -> str | None:
    """The existing file key with the same content hash as file key `key` (a copy under another name), if any."""
    if not key.startswith("file-"):
        return None
    digest = key.rsplit("-", 1)[-1]
    return next((other for other in existing if other.startswith("file-") and other.endswith(f"-{digest}")), None)


def _readable_slug(text: str) -> str:
    """`text` in [a-z0-9_-] for people to read: accents dropped, one `-` between words."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"-{2,}", "-", _slug(ascii_text))


def _cut_at_word(slug: str, limit: int) -> str:
    """`slug` shortened to at most `limit` characters, at its last `-` or `_` when that keeps half of it."""
    if len(slug) <= limit:
        return slug
    boundary = max(slug.rfind("-", 0, limit + 1), slug.rfind("_", 0, limit + 1))
    return slug[: boundary if boundary >= limit // 2 else limit].strip("-_")


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
