"""Local sources: which folders they may come from, and that they really are video containers.

ffmpeg and PyAV pick a demuxer from a file's name and first bytes, and some demuxers read more than video: `tty`
draws a `.txt` or `.nfo` file as frames, `hls` and `concat` follow the paths and URLs listed inside. So a local
source is read only from an allowed folder (after every symlink is resolved), opened without following links,
sniffed by its magic bytes, and copied under a suffix chosen from what it is, never from what it is called.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from resources.errors import InputRejected

ROOTS_SETTING = "SHORTS_LOCAL_SOURCE_ROOTS"
SNIFF_BYTES = 4096  # enough for the ISO box header, EBML, RIFF and five MPEG-TS packets
_TS_PACKET, _M2TS_PACKET = 188, 192
# QuickTime files from older cameras may start with any of these top-level atoms instead of `ftyp`.
_ISO_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_COPY_CHUNK = 1_048_576
CONTAINERS = "MP4/MOV, Matroska/WebM, AVI, FLV, MPEG-PS or MPEG-TS"


@dataclass(frozen=True)
class Container:
    """A video container recognised by its first bytes, and the suffix its copy gets."""

    name: str
    suffix: str


@dataclass(frozen=True)
class CopiedSource:
    """A local source copied into a scratch folder: the copy, the name it was given and the file actually read."""

    path: Path
    given: Path
    resolved: Path
    container: Container


def source_roots(folders: Iterable[str | Path]) -> list[Path]:
    """The allowed folders, each resolved (symlinks followed once, here), duplicates and empty entries dropped."""
    roots: list[Path] = []
    for folder in folders:
        if str(folder).strip():
            root = Path(folder).expanduser().resolve()
            if root not in roots:
                roots.append(root)
    return roots


def sniff_container(head: bytes) -> Container | None:
    """The video container `head` (a file's first bytes) starts, or None when it is not one."""
    if len(head) >= 12 and head[4:8] in _ISO_BOXES and _plausible_box_size(head):
        return Container("MP4/QuickTime", ".mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Container("Matroska/WebM", ".mkv")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Container("AVI", ".avi")
    if head[:4] == b"FLV\x01":
        return Container("FLV", ".flv")
    if head[:4] == b"\x00\x00\x01\xba":
        return Container("MPEG-PS", ".mpg")
    if _sync_bytes(head, _TS_PACKET, 0) or _sync_bytes(head, _M2TS_PACKET, 4):
        return Container("MPEG-TS", ".ts")
    return None


def describe_content(head: bytes) -> str:
    """What `head` looks like instead, for the refusal message."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"#EXTM3U"):
        return "an HLS playlist (#EXTM3U), whose entries ffmpeg would fetch"
    if text.startswith(b"ffconcat") or text.startswith(b"file "):
        return "an ffmpeg concat list, whose entries ffmpeg would open"
    if head[:4] == b"RIFF":
        return f"a RIFF {head[8:12].decode('latin-1').strip() or 'file'} file without video"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        return "an image"
    if head.startswith(b"ID3") or head.startswith((b"fLaC", b"OggS")):
        return "an audio file"
    decoded = head[:1024].decode("utf-8", "replace")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in decoded)
    if decoded and "\x00" not in decoded and printable >= 0.95 * len(decoded):
        return "text"
    return "unrecognised data"


def copy_local_source(source: str, roots: Sequence[Path], workdir: Path, *, max_bytes: int) -> CopiedSource:
    """Copy the local file `source` into `workdir` as `source.<suffix of its container>`.

    Refused with InputRejected: a path outside `roots` (after resolving every symlink along it), a file that
    changed into a link while being opened, anything but a regular file, an empty or oversized file, and content
    that is not a video container. The file checked is the file read: it is opened from its root's folder one
    component at a time without following links.
    """
    given = Path(source).expanduser()
    resolved = Path(os.path.abspath(given)).resolve()
    root = next((r for r in roots if resolved.is_relative_to(r)), None)
    if root is None:
        raise InputRejected(_outside_message(given, resolved, roots))
    handle = _open_below(root, resolved, given)
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise InputRejected(f"local source {given.name!r} is empty (0 bytes); provide a real video file")
        if size > max_bytes:
            raise InputRejected(_size_message(given, size, max_bytes))
        head = handle.read(SNIFF_BYTES)
        container = sniff_container(head)
        if container is None:
            raise InputRejected(
                f"local source {given.name!r} is not readable media: its content is {describe_content(head)}, "
                f"not a video container ({CONTAINERS}); give a real video file"
            )
        target = workdir / f"source{container.suffix}"
        with target.open("wb") as out:
            out.write(head)
            # Bounded: a file that grows after the size check is cut at the limit and refused, not copied whole.
            copied = len(head) + _copy_at_most(handle, out, max_bytes - len(head) + 1)
    if copied > max_bytes:
        target.unlink()
        raise InputRejected(_size_message(given, copied, max_bytes))
    return CopiedSource(path=target, given=given, resolved=resolved, container=container)


def _open_below(root: Path, resolved: Path, given: Path) -> BinaryIO:
    """Open `resolved` (inside `root`) by walking down from `root` with O_NOFOLLOW at every step."""
    parts = resolved.relative_to(root).parts
    if not parts:
        raise InputRejected(f"local source {str(given)!r} is a folder, not a file; give a video file inside it")
    nofollow = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        raise InputRejected(f"local source {str(given)!r} does not exist or is not a file") from None
    try:
        for part in parts[:-1]:
            inner = os.open(part, nofollow | os.O_DIRECTORY, dir_fd=folder)
            os.close(folder)
            folder = inner
        # O_NONBLOCK: a FIFO put in place of the file must not hang the step; it is refused below.
        fd = os.open(parts[-1], nofollow | os.O_NONBLOCK, dir_fd=folder)
    except FileNotFoundError:
        raise InputRejected(f"local source {str(given)!r} does not exist or is not a file") from None
    except PermissionError:
        raise InputRejected(
            f"local source {str(given)!r} cannot be read (permission denied); make it readable to the pipeline"
        ) from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise InputRejected(
                f"local source {str(given)!r} changed into a symlink while it was being opened; copy the file "
                "itself into the watch folder"
            ) from None
        raise InputRejected(f"local source {str(given)!r} cannot be opened ({exc.strerror})") from None
    finally:
        os.close(folder)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise InputRejected(f"local source {str(given)!r} does not exist or is not a file (not a regular file)")
    return os.fdopen(fd, "rb")


def _outside_message(given: Path, resolved: Path, roots: Sequence[Path]) -> str:
    allowed = ", ".join(str(root) for root in roots) or "none are configured"
    fix = f"put the file in the watch folder, or add its folder to {ROOTS_SETTING}"
    lexical = Path(os.path.normpath(os.path.abspath(given)))
    if any(lexical.is_relative_to(root) for root in roots) or lexical != resolved:
        return (
            f"local source {str(given)!r} is refused: a symlink along its path leads to {str(resolved)!r}, outside "
            f"the folders local sources may come from ({allowed}); copy the file itself there ({fix})"
        )
    return (
        f"local source {str(given)!r} is refused: it is outside the folders local sources may come from "
        f"({allowed}); {fix}"
    )


def _size_message(given: Path, size: int, max_bytes: int) -> str:
    return (
        f"local source {given.name!r} is {size / 1_048_576:.1f} MB, over the {max_bytes // 1_048_576} MB limit; "
        "trim it or raise max_filesize_mb on the downloader"
    )


def _copy_at_most(src: BinaryIO, dst: BinaryIO, limit: int) -> int:
    copied = 0
    while copied < limit:
        chunk = src.read(min(_COPY_CHUNK, limit - copied))
        if not chunk:
            break
        dst.write(chunk)
        copied += len(chunk)
    return copied


def _plausible_box_size(head: bytes) -> bool:
    size = int.from_bytes(head[:4], "big")
    return size in (0, 1) or size >= 8


def _sync_bytes(head: bytes, packet: int, offset: int) -> bool:
    """MPEG-TS: the sync byte 0x47 at the start of three packets in a row (one could be chance)."""
    positions = [offset + i * packet for i in range(3)]
    return len(head) > positions[-1] and all(head[p] == 0x47 for p in positions)
