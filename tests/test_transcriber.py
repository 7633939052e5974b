"""faster-whisper on real speech, offline, with word timestamps; speech-free media is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.errors import InputRejected
from resources.media.ffmpeg import run_ffmpeg
from resources.transcribe import Transcriber


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
    quiet = tmp_path / "tone.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=4", "-f", "lavfi", "-i",
         "anoisesrc=color=pink:amplitude=0.02:duration=4", "-c:v", "libx264", "-c:a", "aac", "-t", "4", str(quiet)],
        what="making a speech-free video",
    )  # fmt: skip
    with pytest.raises(InputRejected, match="no speech"):
        Transcriber().transcribe(quiet)


def test_video_without_audio_track_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputRejected, match="no audio track"):
        Transcriber().transcribe(tmp_path / "any.mp4", has_audio=False)
