"""Local sources against the real ffmpeg and PyAV: every real container is read, and what ffmpeg would otherwise
turn into video (text through `tty`, playlists through `hls`, file lists through `concat`, name patterns through
`image2`) is refused by the downloader, by `run_ffmpeg` and by `probe`, each with a message saying what to do.

Each hostile file is first shown to work on a bare ffmpeg, so a refusal here is the guard's doing.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import av
import pytest

from resources.errors import InputRejected
from resources.ingest import Downloader
from resources.media.ffmpeg import ffmpeg_exe, run_ffmpeg
from resources.media.probe import open_media, probe

CLIP = ("-f", "lavfi", "-i", "testsrc2=s=64x64:r=10:d=1", "-f", "lavfi", "-i", "sine=d=1", "-shortest")
# Each container with codecs it can hold; all tiny (1 s of 64x64).
CONTAINERS = {
    "clip.mp4": ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"),
    "clip.mov": ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"),
    "clip.mkv": ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"),
    "clip.webm": ("-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus"),
    "clip.avi": ("-c:v", "mpeg4", "-c:a", "libmp3lame"),
    "clip.ts": ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"),
    "clip.flv": ("-c:v", "flv", "-c:a", "libmp3lame", "-ar", "44100"),
    "clip.mpg": ("-c:v", "mpeg2video", "-c:a", "mp2"),
}
TEXT = "Meeting notes: nothing here is a video.\n" * 30


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An allowed folder with one tiny clip per container and the hostile files (made once)."""
    folder = tmp_path_factory.mktemp("inbox")
    for name, codecs in CONTAINERS.items():
        run_ffmpeg([*CLIP, *codecs, str(folder / name)], what=f"making {name}")
    (folder / "notes.txt").write_text(TEXT)
    (folder / "release.nfo").write_text("\u2588\u2588 Cool release \u2588\u2588\n" * 30)
    (folder / "notes.mp4").write_text(TEXT)  # a text file renamed to look like a video
    # A real HLS playlist whose segment is a local file: ffmpeg's hls demuxer would read (and fetch) it.
    run_ffmpeg([*CLIP, *CONTAINERS["clip.ts"], str(folder / "segment.ts")], what="making an HLS segment")
    playlist = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nsegment.ts\n#EXT-X-ENDLIST\n"
    (folder / "playlist.m3u8").write_text(playlist)
    (folder / "playlist.mp4").write_text(playlist)
    (folder / "list.ffconcat").write_text("ffconcat version 1.0\nfile 'clip.mp4'\nfile 'clip.mov'\n")
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=64x64:r=10:d=1", str(folder / "frame%03d.png")], what="frames")
    return folder


def bare_ffmpeg_reads(path: str) -> bool:
    """Whether an unguarded ffmpeg decodes `path` as media (what the guard is there to stop)."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path, "-t", "1", "-f", "null", "-"]
    return subprocess.run(cmd, capture_output=True, check=False, timeout=120).returncode == 0


def fetch(inbox: Path, name: str, workdir: Path) -> Path:
    return Downloader(local_source_roots=[str(inbox)]).fetch(str(inbox / name), workdir).path


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_every_real_video_container_is_copied_and_probed(inbox: Path, name: str, tmp_path: Path) -> None:
    copied = fetch(inbox, name, tmp_path)
    facts = probe(copied)
    assert facts.has_video and (facts.width, facts.height) == (64, 64) and facts.duration_s > 0.5
    assert copied.read_bytes() == (inbox / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "looks_like"),
    [
        ("notes.txt", "text"),
        ("release.nfo", "text"),
        ("notes.mp4", "text"),
        ("playlist.m3u8", "an HLS playlist"),
        ("playlist.mp4", "an HLS playlist"),
        ("list.ffconcat", "an ffmpeg concat list"),
        ("frame001.png", "an image"),
    ],
)
def test_a_local_source_that_is_not_a_video_container_is_refused(
    inbox: Path, name: str, looks_like: str, tmp_path: Path
) -> None:
    with pytest.raises(InputRejected) as refused:
        fetch(inbox, name, tmp_path)
    assert f"{name!r} is not readable media: its content is {looks_like}" in str(refused.value)
    assert "give a real video file" in str(refused.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "name",
    ["notes.txt", "release.nfo", "playlist.m3u8", "list.ffconcat", "frame%03d.png"],
    ids=["tty-txt", "tty-nfo", "hls", "ffconcat", "image2-pattern"],
)
def test_ffmpeg_refuses_what_the_bare_ffmpeg_would_turn_into_video(inbox: Path, name: str) -> None:
    path = str(inbox / name)
    assert bare_ffmpeg_reads(path), "the bare ffmpeg refuses it too: this case proves nothing"
    with pytest.raises(InputRejected, match="ffmpeg refused an input while checking: it is not a local video"):
        run_ffmpeg(["-i", path, "-t", "1", "-f", "null", "-"], what="checking")


@pytest.mark.parametrize("name", ["notes.txt", "release.nfo", "playlist.m3u8", "list.ffconcat"])
def test_probe_refuses_what_pyav_would_otherwise_open(inbox: Path, name: str) -> None:
    with av.open(str(inbox / name)) as container:  # unguarded PyAV: tty, hls, concat
        assert container.format.name in {"tty", "hls", "concat"}
    with pytest.raises(InputRejected, match=f"{re.escape(name)} is not readable media: not a video or audio"):
        probe(inbox / name)


@pytest.mark.parametrize(
    "url",
    ["concat:{inbox}/clip.mp4|{inbox}/clip.mov", "subfile,,start,0,end,0,,:{inbox}/clip.mp4"],
    ids=["concat-protocol", "subfile-protocol"],
)
def test_protocols_other_than_file_and_pipe_are_refused(inbox: Path, url: str) -> None:
    url = url.format(inbox=inbox)
    assert bare_ffmpeg_reads(url), "the bare ffmpeg refuses it too: this case proves nothing"
    with pytest.raises(InputRejected, match="protocols: file,pipe"):
        run_ffmpeg(["-i", url, "-t", "1", "-f", "null", "-"], what="checking")
    with pytest.raises(av.error.FFmpegError):
        open_media(Path(url))


def test_pyav_opens_the_allowed_demuxers(inbox: Path) -> None:
    with open_media(inbox / "clip.mkv") as container:
        assert container.format.name == "matroska,webm"
