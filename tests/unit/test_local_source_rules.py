"""Local-source rules without media: allowed folders, symlinks, opening what was checked, magic bytes, and the
argv guard every ffmpeg input gets. Real containers through ffmpeg and PyAV: tests/media/test_local_sources.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from resources.discovery.folder_source import FolderReader
from resources.discovery.sources_config import FolderSource
from resources.errors import InputRejected, PipelineError
from resources.ingest.local_source import (
    _open_below,
    copy_local_source,
    describe_content,
    sniff_container,
    source_roots,
)
from resources.media.ffmpeg import INPUT_DEMUXERS, guard_inputs
from resources.settings import PipelineSettings

MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
LIMIT = 1_048_576


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """`allowed/` (the one root) with a video-looking file, and `outside/` next to it."""
    for folder in ("allowed/sub", "outside"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "allowed" / "clip.mp4").write_bytes(MP4_HEAD)
    (tmp_path / "outside" / "clip.mp4").write_bytes(MP4_HEAD)
    return tmp_path


def copy(tree: Path, source: str | Path, *, max_bytes: int = LIMIT) -> Path:
    out = tree / "work"
    out.mkdir(exist_ok=True)
    return copy_local_source(str(source), source_roots([tree / "allowed"]), out, max_bytes=max_bytes).path


def refusal(tree: Path, source: str | Path) -> str:
    with pytest.raises(InputRejected) as refused:
        copy(tree, source)
    assert not (tree / "work").exists() or not any((tree / "work").iterdir()), "a refused source left a copy"
    return str(refused.value)


# ---- folders and symlinks -------------------------------------------------------------------------------------
def test_a_file_in_an_allowed_folder_is_copied_under_the_suffix_of_its_content(tree: Path) -> None:
    (tree / "allowed" / "clip.txt").write_bytes(MP4_HEAD)
    copied = copy(tree, tree / "allowed" / "clip.txt")
    assert copied.name == "source.mp4" and copied.read_bytes() == MP4_HEAD


def test_a_file_outside_every_allowed_folder_is_refused_saying_what_to_do(tree: Path) -> None:
    message = refusal(tree, tree / "outside" / "clip.mp4")
    assert str(tree / "outside" / "clip.mp4") in message and "outside the folders" in message
    assert str(tree / "allowed") in message
    assert "put the file in the watch folder, or add its folder to SHORTS_LOCAL_SOURCE_ROOTS" in message


def test_dot_dot_out_of_an_allowed_folder_is_refused(tree: Path) -> None:
    assert "outside the folders" in refusal(tree, tree / "allowed" / "sub" / ".." / ".." / "outside" / "clip.mp4")


def test_a_symlink_in_an_allowed_folder_that_leads_out_is_refused(tree: Path) -> None:
    (tree / "allowed" / "link.mp4").symlink_to(tree / "outside" / "clip.mp4")
    message = refusal(tree, tree / "allowed" / "link.mp4")
    assert "a symlink along its path leads to" in message and str(tree / "outside" / "clip.mp4") in message


def test_a_symlinked_folder_along_the_path_that_leads_out_is_refused(tree: Path) -> None:
    (tree / "allowed" / "linkdir").symlink_to(tree / "outside")
    assert "a symlink along its path" in refusal(tree, tree / "allowed" / "linkdir" / "clip.mp4")


def test_a_symlink_to_etc_passwd_is_refused_before_anything_is_read(tree: Path) -> None:
    (tree / "allowed" / "passwd.mp4").symlink_to("/etc/passwd")
    assert "'/etc/passwd'" in refusal(tree, tree / "allowed" / "passwd.mp4")


def test_a_symlink_that_stays_inside_the_allowed_folder_is_followed(tree: Path) -> None:
    (tree / "allowed" / "alias.mp4").symlink_to(tree / "allowed" / "clip.mp4")
    assert copy(tree, tree / "allowed" / "alias.mp4").read_bytes() == MP4_HEAD


def test_no_allowed_folders_means_no_local_files(tree: Path) -> None:
    with pytest.raises(InputRejected, match="none are configured"):
        copy_local_source(str(tree / "allowed" / "clip.mp4"), [], tree, max_bytes=LIMIT)


def test_a_missing_file_inside_an_allowed_folder_does_not_exist(tree: Path) -> None:
    assert "does not exist" in refusal(tree, tree / "allowed" / "nope.mp4")


def test_a_missing_file_outside_says_outside_so_nothing_about_other_folders_leaks(tree: Path) -> None:
    message = refusal(tree, tree / "outside" / "nope.mp4")
    assert "outside the folders" in message and "does not exist" not in message


def test_a_folder_and_a_fifo_are_not_files_and_a_fifo_does_not_block(tree: Path) -> None:
    assert "is a folder" in refusal(tree, tree / "allowed")
    assert "not a file" in refusal(tree, tree / "allowed" / "sub")
    os.mkfifo(tree / "allowed" / "pipe.mp4")
    assert "not a regular file" in refusal(tree, tree / "allowed" / "pipe.mp4")


def test_the_file_checked_is_the_file_opened_a_link_swapped_in_afterwards_is_refused(tree: Path) -> None:
    """The path is resolved and checked, then replaced by a link before it is opened: the open refuses it."""
    root = source_roots([tree / "allowed"])[0]
    checked = root / "clip.mp4"
    checked.unlink()
    checked.symlink_to(tree / "outside" / "clip.mp4")
    with pytest.raises(InputRejected, match="changed into a symlink while it was being opened"):
        _open_below(root, checked, checked)
    (root / "sub").rmdir()
    (root / "sub").symlink_to(tree / "outside")
    with pytest.raises(InputRejected, match="changed into a symlink"):
        _open_below(root, root / "sub" / "clip.mp4", root / "sub" / "clip.mp4")


def test_empty_and_oversized_files_are_refused(tree: Path) -> None:
    (tree / "allowed" / "empty.mp4").touch()
    assert "0 bytes" in refusal(tree, tree / "allowed" / "empty.mp4")
    (tree / "allowed" / "big.mp4").write_bytes(MP4_HEAD + b"\x00" * LIMIT)
    assert "over the 1 MB limit" in refusal(tree, tree / "allowed" / "big.mp4")


def test_settings_allow_the_watch_folder_the_samples_and_the_extra_roots() -> None:
    settings = PipelineSettings(data_dir="/srv/data", local_source_roots=f"/media/a,/media/b{os.pathsep}/media/c, ")
    assert settings.local_source_folders == [
        Path("/srv/data/inbox"),
        Path("/srv/data/samples"),
        Path("/media/a"),
        Path("/media/b"),
        Path("/media/c"),
    ]
    assert settings.with_local_source_root(Path("/home/me/videos")).local_source_folders[-1] == Path("/home/me/videos")
    assert PipelineSettings.from_env({"SHORTS_LOCAL_SOURCE_ROOTS": "/x"}).local_source_folders[-1] == Path("/x")


# ---- content --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("head", "suffix"),
    [
        (MP4_HEAD, ".mp4"),
        (b"\x00\x00\x00\x08wide\x00\x00\x10\x00mdat" + b"\x00" * 32, ".mp4"),  # an old QuickTime camera file
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + b"\x00" * 32, ".mkv"),
        (b"RIFF\x00\x10\x00\x00AVI LIST" + b"\x00" * 32, ".avi"),
        (b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00" * 32, ".flv"),
        (b"\x00\x00\x01\xba\x44" + b"\x00" * 32, ".mpg"),
        ((b"\x47" + b"\x00" * 187) * 4, ".ts"),
        ((b"\x00\x00\x00\x00\x47" + b"\x00" * 187) * 4, ".ts"),  # M2TS: a 4-byte timecode before each packet
    ],
    ids=["mp4", "quicktime-wide", "matroska", "avi", "flv", "mpeg-ps", "mpeg-ts", "m2ts"],
)
def test_video_containers_are_recognised_by_their_first_bytes(head: bytes, suffix: str) -> None:
    container = sniff_container(head)
    assert container is not None and container.suffix == suffix


@pytest.mark.parametrize(
    ("head", "looks_like"),
    [
        (b"Just some notes, drawn as video by ffmpeg's tty demuxer.\n" * 20, "text"),
        (b"\xe2\x96\x88\xe2\x96\x88 ANSI art for an .nfo \x1b[0m\r\n" * 20, "text"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nhttp://169.254.169.254/a.ts\n", "HLS playlist"),
        (b"\xef\xbb\xbf#EXTM3U\n", "HLS playlist"),
        (b"ffconcat version 1.0\nfile '/etc/passwd'\n", "concat list"),
        (b"file 'a.mp4'\nfile 'b.mp4'\n", "concat list"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "RIFF WAVE"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "image"),
        (b"ID3\x04\x00" + b"\x00" * 32, "audio"),
        ((b"G" + b"x" * 187) * 2, "text"),  # one MPEG-TS sync byte too few
        (b"\x00\x01\x02\x03" * 16, "unrecognised"),
    ],
    ids=["text", "nfo-ansi", "hls", "hls-bom", "ffconcat", "concat", "wav", "png", "mp3", "two-ts-packets", "binary"],
)
def test_anything_else_is_not_a_video_container_and_the_message_says_what_it_is(head: bytes, looks_like: str) -> None:
    assert sniff_container(head) is None
    assert looks_like in describe_content(head)


def test_a_text_file_named_like_a_video_is_refused_by_its_content(tree: Path) -> None:
    (tree / "allowed" / "notes.mp4").write_text("These are my notes.\n" * 40)
    message = refusal(tree, tree / "allowed" / "notes.mp4")
    assert "'notes.mp4' is not readable media: its content is text, not a video container" in message


# ---- ffmpeg's inputs ------------------------------------------------------------------------------------------
def test_every_ffmpeg_input_is_limited_to_files_and_pipes_and_to_the_media_demuxers() -> None:
    guarded = guard_inputs(["-stream_loop", "-1", "-i", "a.mp4", "-i", "b.wav", "-map", "0:v", "out.mp4"])
    whitelist = ",".join(INPUT_DEMUXERS)
    assert guarded == [
        "-stream_loop", "-1",
        "-protocol_whitelist", "file,pipe", "-format_whitelist", whitelist, "-i", "a.mp4",
        "-protocol_whitelist", "file,pipe", "-format_whitelist", whitelist, "-i", "b.wav",
        "-map", "0:v", "out.mp4",
    ]  # fmt: skip
    assert not {"tty", "concat", "hls", "image2", "dash", "lavfi"} & set(INPUT_DEMUXERS)


def test_an_input_the_caller_generates_keeps_its_forced_format() -> None:
    guarded = guard_inputs(["-f", "lavfi", "-i", "sine=d=1", "-i", "voice.wav", "-f", "null", "-"])
    assert guarded[:6] == ["-f", "lavfi", "-protocol_whitelist", "file,pipe", "-i", "sine=d=1"]
    assert guarded[6:10] == ["-protocol_whitelist", "file,pipe", "-format_whitelist", ",".join(INPUT_DEMUXERS)]


@pytest.mark.parametrize("forced", ["concat", "tty", "hls", "image2"])
def test_forcing_a_demuxer_that_reads_more_than_media_is_a_programming_error(forced: str) -> None:
    with pytest.raises(PipelineError, match=f"input format '{forced}' is not allowed"):
        guard_inputs(["-f", forced, "-i", "list.txt", "out.mp4"])


# ---- the discovery folder source ------------------------------------------------------------------------------
def test_the_discovery_folder_source_skips_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"somewhere else")
    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "real.mp4").write_bytes(b"a real upload")
    (folder / "link.mp4").symlink_to(outside)
    (folder / "passwd.mp4").symlink_to("/etc/passwd")
    candidates = FolderReader(FolderSource(path=str(folder)), settle_s=0).fetch()
    assert [Path(c.url).name for c in candidates] == ["real.mp4"]
