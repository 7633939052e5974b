"""The ElevenLabs voice: the real SDK against a local fake, timings from the character alignment, failures mapped."""

from __future__ import annotations

import time
import wave
from collections.abc import Iterator
from pathlib import Path

import elevenlabs  # imported before the key is set: the Speaker must read the key at call time, not the SDK
import httpx
import numpy as np
import pytest

from resources.errors import ConfigurationError, ProviderError, RetryableError
from resources.http.checkpoint import Checkpoint, PaidAttemptsExhausted, checkpoint_scope
from resources.http.retry import RetrySettings
from resources.media.probe import probe
from resources.voice import Speaker
from resources.voice.timing import distribute_words, words_from_alignment
from tests.providers.fakes.elevenlabs_server import QUOTA_EXCEEDED, FakeElevenLabs, fake_alignment, fake_pcm

KEY = "xi-test-key-do-not-leak"
LINES = ["Stop scrolling, right now.", "This tiny  habit changes mornings!", "Follow for more."]
RATE = 22050


@pytest.fixture(scope="module")
def server() -> Iterator[FakeElevenLabs]:
    with FakeElevenLabs(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeElevenLabs, monkeypatch: pytest.MonkeyPatch) -> FakeElevenLabs:
    """The shared server with a clean record and script, and the key in the environment."""
    server.requests.clear()
    server._script.clear()
    server.with_alignment = True
    monkeypatch.setenv("ELEVENLABS_API_KEY", KEY)
    return server


@pytest.fixture
def checkpoint() -> Iterator[Checkpoint]:
    """The checkpoint a stage would give its paid calls: kept across the calls of one test, as across retries."""
    with checkpoint_scope(Checkpoint.in_memory()) as kept:
        yield kept


def speaker(fake: FakeElevenLabs, **overrides: object) -> Speaker:
    return Speaker(provider="elevenlabs", elevenlabs_base_url=fake.base_url, **overrides)  # type: ignore[arg-type]


def cue_offsets(lines: list[str], lead_in_s: float = 0.15, gap_s: float = 0.25) -> list[float]:
    """Where each line's audio starts in the WAV, counted in samples as the Speaker lays them out."""
    cursor = int(lead_in_s * RATE)
    offsets = []
    for line in lines:
        offsets.append(cursor / RATE)
        cursor += fake_pcm(line, RATE).size + int(gap_s * RATE)
    return offsets


def test_writes_a_wav_whose_probed_length_matches_the_synthesis(fake: FakeElevenLabs, tmp_path: Path) -> None:
    out = tmp_path / "voice.wav"
    synthesis = speaker(fake).speak(LINES, out)
    facts = probe(out)
    assert synthesis.provider == "elevenlabs" and synthesis.voice == "21m00Tcm4TlvDq8ikWAM"
    assert synthesis.sample_rate == RATE == facts.audio_sample_rate
    assert facts.audio_codec == "pcm_s16le"
    assert abs(facts.duration_s - synthesis.duration_s) < 0.01
    expected = cue_offsets(LINES)[-1] + fake_pcm(LINES[-1], RATE).size / RATE + 0.25
    assert synthesis.duration_s == pytest.approx(expected, abs=0.002)


def test_word_times_are_the_fakes_character_times_plus_the_cue_offset(fake: FakeElevenLabs, tmp_path: Path) -> None:
    synthesis = speaker(fake).speak(LINES, tmp_path / "voice.wav")
    for line, cue, offset in zip(LINES, synthesis.cues, cue_offsets(LINES), strict=True):
        alignment = fake_alignment(line)
        starts, ends = alignment["character_start_times_seconds"], alignment["character_end_times_seconds"]
        first_chars = [i for i, c in enumerate(line) if c != " " and (i == 0 or line[i - 1] == " ")]
        last_chars = [i for i, c in enumerate(line) if c != " " and (i + 1 == len(line) or line[i + 1] == " ")]
        assert [w.text for w in cue.words] == line.split()
        assert [w.start for w in cue.words] == pytest.approx([offset + starts[i] for i in first_chars], abs=0.0015)
        assert [w.end for w in cue.words] == pytest.approx([offset + ends[i] for i in last_chars], abs=0.0015)
        assert (cue.start, cue.end) == (cue.words[0].start, cue.words[-1].end)


def test_words_sit_where_the_audio_is_loud_and_cue_gaps_are_silent(fake: FakeElevenLabs, tmp_path: Path) -> None:
    out = tmp_path / "voice.wav"
    synthesis = speaker(fake).speak(LINES, out)
    with wave.open(str(out)) as handle:
        samples = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
    for word in [w for cue in synthesis.cues for w in cue.words]:
        assert np.abs(samples[int(word.start * RATE) : int(word.end * RATE)]).max() > 8000, word
    for previous, current in zip(synthesis.cues, synthesis.cues[1:], strict=False):
        assert previous.end < current.start
        assert np.abs(samples[int(previous.end * RATE) + 1 : int(current.start * RATE) - 1]).max() == 0


def test_request_has_voice_in_path_format_in_query_settings_in_body_and_key_in_header(
    fake: FakeElevenLabs, tmp_path: Path
) -> None:
    speaker(fake, elevenlabs_voice_id="VOICE123", stability=0.3, speed=1.1).speak(LINES, tmp_path / "v.wav")
    requests = fake.tts_requests()
    assert [r.json["text"] for r in requests] == LINES
    first, middle = requests[0], requests[1]
    assert first.method == "POST" and first.path == "/v1/text-to-speech/VOICE123/with-timestamps"
    assert first.query == {"output_format": "pcm_22050"}
    assert first.headers["xi-api-key"] == KEY
    assert first.json["model_id"] == "eleven_multilingual_v2"
    assert first.json["voice_settings"] == {"stability": 0.3, "similarity_boost": 0.75, "style": 0.0, "speed": 1.1}
    # Neighbouring lines travel as context so the cues join with natural prosody.
    assert "previous_text" not in first.json and first.json["next_text"] == LINES[1]
    assert middle.json["previous_text"] == LINES[0] and middle.json["next_text"] == LINES[2]


def test_the_fake_refuses_requests_outside_elevenlabs_openapi_document(fake: FakeElevenLabs) -> None:
    url = f"{fake.base_url}/v1/text-to-speech/voice-1/with-timestamps"
    answer = httpx.post(
        url,
        params={"output_format": "pcm_11025", "stream": "true"},
        json={"text": "Hi.", "apply_text_normalization": "sometimes"},
        headers={"xi-api-key": KEY},
    )

    assert answer.status_code == 422 and answer.json()["detail"][0]["type"] == "value_error"
    assert [v.split(": ", 1)[1].split(":")[0] for v in fake.take_spec_violations()] == [
        "query parameter 'stream' is not in the spec",
        "query output_format",
        "apply_text_normalization",
    ]


def test_429_with_retry_after_is_waited_out_then_succeeds(fake: FakeElevenLabs, tmp_path: Path) -> None:
    fake.fail_next(429, {"Retry-After": "1"}, {"detail": {"status": "too_many_concurrent_requests", "message": "busy"}})
    started = time.monotonic()
    synthesis = speaker(fake).speak(LINES[:1], tmp_path / "v.wav")
    assert time.monotonic() - started >= 0.95
    assert len(fake.tts_requests()) == 2 and len(synthesis.cues) == 1


def test_500_is_retried_then_succeeds(fake: FakeElevenLabs, tmp_path: Path) -> None:
    fake.fail_next(500, body={"detail": "internal error"})
    synthesis = speaker(fake).speak(LINES[:1], tmp_path / "v.wav")
    assert len(fake.tts_requests()) == 2 and synthesis.cues[0].words


def test_slow_answer_times_out_and_is_retried(fake: FakeElevenLabs, tmp_path: Path) -> None:
    fake.hold_next()  # answered only after the retry arrived: the client must have timed out first
    synthesis = speaker(fake, timeout_s=2.0).speak(LINES[:1], tmp_path / "v.wav")
    assert len(fake.tts_requests()) == 2 and synthesis.cues[0].words


def test_quota_exhausted_is_reported_as_quota_not_as_a_bad_key_and_not_retried(
    fake: FakeElevenLabs, tmp_path: Path
) -> None:
    fake.fail_next(401, body=QUOTA_EXCEEDED)
    with pytest.raises(ProviderError) as caught:
        speaker(fake).speak(LINES, tmp_path / "v.wav")
    message = str(caught.value)
    assert message.startswith("ElevenLabs quota exhausted: This request exceeds your quota of 10000.")
    assert "provider=piper" in message and "API key" not in message and KEY not in message
    assert len(fake.tts_requests()) == 1


def test_rejected_key_names_the_variable_but_never_the_key(
    fake: FakeElevenLabs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELEVENLABS_API_KEY", "xi-wrong-key-secret")
    with pytest.raises(ProviderError, match="rejected the API key in ELEVENLABS_API_KEY") as caught:
        speaker(fake).speak(LINES, tmp_path / "v.wav")
    assert "xi-wrong-key-secret" not in str(caught.value) and "quota" not in str(caught.value)
    assert len(fake.tts_requests()) == 1


def test_unprocessable_request_fails_at_once_with_the_providers_message(fake: FakeElevenLabs, tmp_path: Path) -> None:
    fake.fail_next(422, body={"detail": [{"loc": ["body", "voice_settings", "speed"], "msg": "must be <= 1.2"}]})
    with pytest.raises(ProviderError, match=r"HTTP 422: body.voice_settings.speed: must be <= 1.2"):
        speaker(fake).speak(LINES, tmp_path / "v.wav")
    assert len(fake.tts_requests()) == 1


def test_missing_key_names_the_variable_and_the_offline_voice(
    fake: FakeElevenLabs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ELEVENLABS_API_KEY")
    with pytest.raises(ConfigurationError, match=r"ELEVENLABS_API_KEY is not set.*provider=piper"):
        speaker(fake).speak(LINES, tmp_path / "v.wav")
    assert fake.tts_requests() == []


def test_unreachable_host_is_retryable(fake: FakeElevenLabs) -> None:
    from resources.voice.elevenlabs_engine import ElevenLabsEngine

    engine = ElevenLabsEngine(
        voice_id="VOICE123",
        model_id="eleven_multilingual_v2",
        voice_settings=elevenlabs.VoiceSettings(stability=0.5),
        base_url="http://127.0.0.1:9",  # discard port: nothing listens
        retry=RetrySettings(attempts=1),
    )
    with pytest.raises(RetryableError, match=r"ElevenLabs unreachable at http://127\.0\.0\.1:9: ConnectError"):
        engine.synthesize("hello")


def test_every_line_is_one_paid_attempt_and_a_429_is_not_counted(
    fake: FakeElevenLabs, tmp_path: Path, checkpoint: Checkpoint
) -> None:
    fake.fail_next(429, {"Retry-After": "0"}, {"detail": {"status": "too_many_concurrent_requests", "message": "busy"}})
    speaker(fake).speak(LINES, tmp_path / "v.wav")
    assert len(fake.tts_requests()) == len(LINES) + 1
    assert checkpoint.total_attempts == len(LINES)
    assert all(count == 1 for count in checkpoint.data.attempts.values())


def test_the_paid_attempt_bound_stops_a_line_that_keeps_failing(
    fake: FakeElevenLabs, tmp_path: Path, checkpoint: Checkpoint
) -> None:
    for _ in range(12):
        fake.fail_next(500, {"Retry-After": "0"}, {"detail": "internal error"})
    with pytest.raises(RetryableError, match="gave up after 4 attempts"):
        speaker(fake).speak(LINES[:1], tmp_path / "v.wav")
    with pytest.raises(PaidAttemptsExhausted, match=r"already sent 4 times .*max_paid_attempts=4"):
        speaker(fake).speak(LINES[:1], tmp_path / "v.wav")  # what a Dagster retry of the step would do
    assert len(fake.tts_requests()) == 4


def test_an_unreachable_host_is_not_counted_as_a_paid_attempt(fake: FakeElevenLabs, checkpoint: Checkpoint) -> None:
    from resources.voice.elevenlabs_engine import ElevenLabsEngine

    engine = ElevenLabsEngine(
        voice_id="VOICE123",
        model_id="eleven_multilingual_v2",
        voice_settings=elevenlabs.VoiceSettings(stability=0.5),
        base_url="http://127.0.0.1:9",  # discard port: nothing listens
        retry=RetrySettings(attempts=2, base_delay_s=0.0),
    )
    with pytest.raises(RetryableError):
        engine.synthesize("hello")
    assert checkpoint.total_attempts == 0


def test_usage_counts_the_characters_spoken_and_their_cost(fake: FakeElevenLabs, tmp_path: Path) -> None:
    synthesis = speaker(fake).speak(LINES, tmp_path / "v.wav")
    characters = sum(len(line) for line in LINES)
    assert len(synthesis.usage) == 1
    usage = synthesis.usage[0]
    assert usage.provider == "elevenlabs" and usage.units == {"characters": characters}
    assert usage.cost_usd == pytest.approx(characters * 0.30 / 1000)


def test_the_key_never_reaches_the_synthesis_record(fake: FakeElevenLabs, tmp_path: Path) -> None:
    synthesis = speaker(fake).speak(LINES, tmp_path / "v.wav")
    assert KEY not in synthesis.model_dump_json()


def test_missing_alignment_spreads_words_over_the_voiced_audio(fake: FakeElevenLabs, tmp_path: Path) -> None:
    fake.with_alignment = False
    synthesis = speaker(fake).speak(LINES[:1], tmp_path / "v.wav")
    cue = synthesis.cues[0]
    offset = cue_offsets(LINES[:1])[0]
    assert [w.text for w in cue.words] == LINES[0].split()
    # The voiced span of the fake's audio: from its first letter to its last letter (the '.' is silent).
    assert cue.start == pytest.approx(offset + 0.1, abs=0.011)
    assert cue.end == pytest.approx(offset + 0.1 + (len(LINES[0]) - 1) * 0.06, abs=0.011)


# words_from_alignment: the pure function behind the timings


def chars(text: str, step: float = 0.1) -> tuple[list[str], list[float], list[float]]:
    return list(text), [i * step for i in range(len(text))], [(i + 1) * step for i in range(len(text))]


def test_alignment_words_keep_their_punctuation_and_span_first_to_last_character() -> None:
    words = words_from_alignment("Wait, what?!", *chars("Wait, what?!"), offset=10.0)
    assert [(w.text, w.start, w.end) for w in words] == [("Wait,", 10.0, 10.5), ("what?!", 10.6, 11.2)]


def test_alignment_tolerates_repeated_leading_and_trailing_spaces() -> None:
    text = "  a   bc  "
    words = words_from_alignment(text, *chars(text))
    assert [(w.text, w.start, w.end) for w in words] == [("a", 0.2, 0.3), ("bc", 0.6, 0.8)]


def test_normalized_alignment_with_as_many_words_keeps_the_input_words() -> None:
    words = words_from_alignment("Buy 5 now", *chars("Buy five now"))
    assert [(w.text, w.start, w.end) for w in words] == [("Buy", 0.0, 0.3), ("5", 0.4, 0.8), ("now", 0.9, 1.2)]


def test_mismatched_array_lengths_fall_back_to_distributed_words() -> None:
    characters, starts, ends = chars("hello there")
    words = words_from_alignment("hello there", characters, starts[:-1], ends, fallback_span=(1.0, 2.0))
    assert words == distribute_words("hello there", 1.0, 2.0)


def test_a_different_word_count_falls_back_over_the_alignments_own_span() -> None:
    words = words_from_alignment("$5 now", *chars("five dollars now"), offset=1.0)
    assert words == distribute_words("$5 now", 1.0, 2.6)


def test_missing_or_backwards_alignment_falls_back() -> None:
    assert words_from_alignment("a b", None, None, None, fallback_span=(0.5, 1.5)) == distribute_words("a b", 0.5, 1.5)
    backwards = words_from_alignment("a b", ["a", " ", "b"], [0.5, 0.6, 0.1], [0.6, 0.7, 0.2], fallback_span=(0, 1))
    assert backwards == distribute_words("a b", 0.0, 1.0)
