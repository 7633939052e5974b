"""faster-whisper on real speech, offline, with word timestamps; speech-free media is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from resources.errors import InputRejected
from resources.media.ffmpeg import run_ffmpeg
from resources.media.store import MediaStore
from resources.transcribe import Transcriber
from tests.graph import materialize_partition


def speech_free_video(path: Path, sound: str, *, seconds: int) -> Path:
    """An H.264/AAC test picture `seconds` long whose audio is the lavfi source `sound` (no words in it)."""
    run_ffmpeg(
        ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={seconds}", "-f", "lavfi", "-i",
         f"{sound}:duration={seconds}", "-c:v", "libx264", "-c:a", "aac", "-t", str(seconds), str(path)],
        what="making a speech-free video",
    )  # fmt: skip
    return path


def test_transcribes_real_speech_with_increasing_word_times(sample_video: Path) -> None:
    transcript = Transcriber().transcribe(sample_video)
    text = transcript.text.lower()
    assert "herbs" in text and "olive oil" in text
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts)
    assert all(w.end >= w.start for w in transcript.words)
    assert transcript.words[-1].end <= transcript.duration_s + 0.5
    assert transcript.provider == "local" and transcript.language == "en"


def test_speech_free_audio_is_refused_with_what_to_do(tmp_path: Path) -> None:
    quiet = speech_free_video(tmp_path / "tone.mp4", "anoisesrc=color=pink:amplitude=0.02", seconds=4)
    with pytest.raises(InputRejected, match="no speech"):
        Transcriber().transcribe(quiet)


def test_video_without_audio_track_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputRejected, match="no audio track"):
        Transcriber().transcribe(tmp_path / "any.mp4", has_audio=False)


def test_speech_free_source_fails_transcript_alone_and_keeps_source_video(tmp_path: Path) -> None:
    quiet = speech_free_video(tmp_path / "music-only.mp4", "sine=frequency=330", seconds=3)
    store = MediaStore(root=str(tmp_path / "media"))
    instance = DagsterInstance.ephemeral()
    result = materialize_partition(
        ["source_video", "transcript"], "file-quiet", store, source=str(quiet), instance=instance, raise_on_error=False
    )
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error = failure.step_failure_data.error
    assert failure.step_key == "transcript"
    assert error is not None and "transcript[file-quiet]: no speech found" in error.message
    assert instance.get_latest_materialization_event(AssetKey("source_video")) is not None
