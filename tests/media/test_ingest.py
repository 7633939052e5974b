"""`source_video` on real inputs: local files, a yt-dlp download from a local HTTP server, and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resources.ingest import Downloader
from resources.media.ffmpeg import run_ffmpeg
from resources.media.store import MediaStore
from resources.records import SourceVideo
from tests.graph import TEST_SOURCE_ROOTS, materialize_partition
from tests.system.local_servers import serving_folder


@pytest.fixture(scope="module")
def http_root(tmp_path_factory: pytest.TempPathFactory, sample_video: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server (127.0.0.1) serving a folder with a real video and an HTML page."""
    root = tmp_path_factory.mktemp("www")
    (root / "clip.mp4").write_bytes(sample_video.read_bytes())
    (root / "page.html").write_text("<html><body>no video here</body></html>")
    with serving_folder(root) as url:
        yield url, root


def run_ingest(tmp_path: Path, key: str, source: str, **downloader: Any) -> tuple[bool, str, MediaStore]:
    store = MediaStore(root=str(tmp_path / "media"))
    result = materialize_partition(
        ["source_video"],
        key,
        store,
        source=source,
        resources={"downloader": Downloader(local_source_roots=TEST_SOURCE_ROOTS, **downloader)},
        raise_on_error=False,
    )
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failures[0].step_failure_data.error.message if failures and failures[0].step_failure_data.error else ""
    return result.success, message, store


def test_local_file_is_copied_and_probed(tmp_path: Path, sample_video: Path) -> None:
    ok, message, store = run_ingest(tmp_path, "file-sample", str(sample_video))
    assert ok, message
    record = SourceVideo.model_validate_json(store.read_text("records/source_video/file-sample.json") or "")
    assert (record.facts.width, record.facts.height) == (1280, 720)
    assert record.facts.video_codec == "h264" and record.facts.audio_codec == "aac"
    assert store.local_path(record.uri).stat().st_size == sample_video.stat().st_size


def test_rematerializing_is_cached(tmp_path: Path, sample_video: Path) -> None:
    run_ingest(tmp_path, "file-sample", str(sample_video))
    result = materialize_partition(["source_video"], "file-sample", MediaStore(root=str(tmp_path / "media")))
    mat = result.asset_materializations_for_node("source_video")[0]
    assert mat.metadata["cached"].value is True


def test_yt_dlp_downloads_a_video_url_from_an_allowed_server(tmp_path: Path, http_root: tuple[str, Path]) -> None:
    base, _ = http_root
    ok, message, store = run_ingest(tmp_path, "url-clip", f"{base}/clip.mp4", allow_private_networks=True)
    assert ok, message
    record = SourceVideo.model_validate_json(store.read_text("records/source_video/url-clip.json") or "")
    assert record.provider.startswith("yt-dlp") and record.facts.duration_s > 5


def test_loopback_url_is_refused_as_ssrf_by_default(tmp_path: Path, http_root: tuple[str, Path]) -> None:
    base, _ = http_root
    ok, message, _ = run_ingest(tmp_path, "url-ssrf", f"{base}/clip.mp4")
    assert not ok
    assert "source_video[url-ssrf]" in message and "non-public address" in message


def test_page_without_video_is_an_unsupported_url(tmp_path: Path, http_root: tuple[str, Path]) -> None:
    base, _ = http_root
    ok, message, _ = run_ingest(tmp_path, "url-page", f"{base}/page.html", allow_private_networks=True)
    assert not ok
    assert "source_video[url-page]" in message and "does not support" in message


def test_invalid_url_scheme_is_refused(tmp_path: Path) -> None:
    ok, message, _ = run_ingest(tmp_path, "url-ftp", "ftp://example.com/v.mp4")
    assert not ok and "scheme" in message


def test_zero_byte_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    ok, message, _ = run_ingest(tmp_path, "file-empty", str(empty))
    assert not ok and "0 bytes" in message and "source_video[file-empty]" in message


def test_corrupt_file_is_refused(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)
    ok, message, _ = run_ingest(tmp_path, "file-corrupt", str(corrupt))
    assert not ok and "not readable media" in message


def test_missing_file_is_refused(tmp_path: Path) -> None:
    ok, message, _ = run_ingest(tmp_path, "file-missing", str(tmp_path / "nope.mp4"))
    assert not ok and "does not exist" in message


def test_audio_only_file_is_refused(tmp_path: Path) -> None:
    audio = tmp_path / "talk.m4a"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac", str(audio)], what="making audio")
    ok, message, _ = run_ingest(tmp_path, "file-audio", str(audio))
    assert not ok and "no video stream" in message


def test_video_over_the_length_limit_is_refused(tmp_path: Path, sample_video: Path) -> None:
    ok, message, _ = run_ingest(tmp_path, "file-long", str(sample_video), max_duration_s=5)
    assert not ok and "over the 5 s limit" in message and "max_duration_s" in message


def test_partition_without_registered_source_says_how_to_launch(tmp_path: Path) -> None:
    store = MediaStore(root=str(tmp_path / "media"))
    result = materialize_partition(["source_video"], "file-unknown", store, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "no source is registered" in str(failure.message) or "no source is registered" in str(
        failure.step_failure_data.error.message if failure.step_failure_data.error else ""
    )


def test_unsafe_partition_key_fails_the_asset_and_writes_nothing(tmp_path: Path, sample_video: Path) -> None:
    store = MediaStore(root=str(tmp_path / "media"))
    result = materialize_partition(
        ["source_video"],
        "Bad.Key",
        store,
        run_config={"ops": {"source_video": {"config": {"source": str(sample_video)}}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error = failure.step_failure_data.error
    assert error is not None and "unsafe partition key" in error.message
    assert not (tmp_path / "media" / "media").exists()
