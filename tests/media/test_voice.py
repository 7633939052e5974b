"""The offline voice: real Piper audio, cue timings from sample counts, words inside their cues."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

from resources.errors import ConfigurationError, InputRejected
from resources.media.probe import probe
from resources.voice import Speaker
from resources.voice.timing import distribute_words, voiced_span

LINES = ["Stop scrolling for one second.", "This tiny habit changes your mornings.", "Follow for more."]


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Speaker]:
    out = tmp_path_factory.mktemp("voice") / "voice.wav"
    return out, Speaker()


def test_piper_writes_real_audio_whose_length_matches_the_reported_duration(
    spoken: tuple[Path, Speaker],
) -> None:
    out, speaker = spoken
    synthesis = speaker.speak(LINES, out)
    facts = probe(out)
    assert synthesis.provider == "piper"
    assert facts.audio_codec == "pcm_s16le"
    assert abs(facts.duration_s - synthesis.duration_s) < 0.05
    assert 3.0 < synthesis.duration_s < 12.0


def test_cues_are_in_order_without_overlap_and_words_stay_inside_them(spoken: tuple[Path, Speaker]) -> None:
    out, speaker = spoken
    cues = speaker.speak(LINES, out).cues
    assert [cue.text for cue in cues] == LINES
    for previous, current in itertools.pairwise(cues):
        assert previous.end <= current.start
    for cue in cues:
        assert cue.words[0].start == pytest.approx(cue.start, abs=0.002)
        assert cue.words[-1].end == pytest.approx(cue.end, abs=0.002)
        assert [w.text for w in cue.words] == cue.text.split()


def test_cue_span_is_where_the_audio_is_loud(spoken: tuple[Path, Speaker]) -> None:
    import wave

    out, speaker = spoken
    synthesis = speaker.speak(LINES, out)
    with wave.open(str(out)) as handle:
        samples = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
    rate = synthesis.sample_rate
    for cue in synthesis.cues:
        inside = np.abs(samples[int(cue.start * rate) : int(cue.end * rate)]).max()
        assert inside > 3000  # speech
    gap = samples[int((synthesis.cues[0].end + 0.02) * rate) : int((synthesis.cues[1].start - 0.02) * rate)]
    assert gap.size == 0 or np.abs(gap).max() < 700  # silence between cues


def test_empty_script_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputRejected, match="no lines"):
        Speaker().speak(["  ", ""], tmp_path / "x.wav")


def test_missing_piper_voice_without_espeak_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigurationError, match="SHORTS_PIPER_VOICE"):
        Speaker(voice_model=str(tmp_path / "nope.onnx")).speak(["hello"], tmp_path / "x.wav")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make system-test-deps)")
def test_missing_piper_voice_falls_back_to_espeak(tmp_path: Path) -> None:
    synthesis = Speaker(voice_model=str(tmp_path / "nope.onnx")).speak(["hello there"], tmp_path / "x.wav")
    assert synthesis.provider == "espeak-ng" and "Piper unavailable" in synthesis.fallback_reason
    assert probe(tmp_path / "x.wav").duration_s > 0.3


def test_voiced_span_trims_silence() -> None:
    rate = 1000
    samples = np.zeros(3000, dtype=np.int16)
    samples[1000:2000] = 10000
    start, end = voiced_span(samples, rate)
    assert start == pytest.approx(1.0, abs=0.011) and end == pytest.approx(2.0, abs=0.011)


def test_longer_words_get_longer_time() -> None:
    words = distribute_words("a extraordinarily b", 0.0, 3.0)
    assert words[1].end - words[1].start > 3 * (words[0].end - words[0].start)
    assert words[-1].end == pytest.approx(3.0)
