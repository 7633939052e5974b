"""OpenAI transcription and rewrite providers: the real `openai` SDK against a local fake OpenAI server."""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import openai
import pytest

from resources.errors import ConfigurationError, ProviderError, RetryableError
from resources.http.checkpoint import Checkpoint, PaidAttemptsExhausted, checkpoint_scope
from resources.http.openai_api import call_openai, openai_client
from resources.media.ffmpeg import run_ffmpeg
from resources.records import Transcript, Word
from resources.rewrite import Rewriter
from resources.transcribe import Transcriber
from resources.transcribe.lifecycle import check_model
from resources.transcribe.openai_engine import OpenAITranscriptionEngine
from tests.providers.fakes.openai_server import DEFAULT_SCRIPT, FakeOpenAI

SOURCE_TEXT = (
    "Okay so here is the thing about pasta water. Most people do not salt it nearly enough. "
    "You want it to taste like the sea, so for a big pot that is about two tablespoons of salt. "
    "The salt is the only chance you get to season the pasta itself, because it gets absorbed while it cooks. "
    "Save a cup of the pasta water before you drain it, that starchy water is liquid gold for your sauce. "
    "Toss the pasta with the sauce and a splash of the water over the heat until it turns glossy."
)
SENTENCES = [s.strip() + "." for s in SOURCE_TEXT.split(".") if s.strip()]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
        yield server


@pytest.fixture
def checkpoint() -> Iterator[Checkpoint]:
    """The checkpoint a stage would give its paid calls: kept across the calls of one test, as across retries."""
    with checkpoint_scope(Checkpoint.in_memory()) as kept:
        yield kept


def fail_always(fake: FakeOpenAI, path: str, times: int = 12) -> None:
    """500s on `path`; `retry-after: 0` so the retries do not wait (the bound, not the clock, is under test)."""
    for _ in range(times):
        fake.fail_next(500, headers={"retry-after": "0"}, path=path)


def transcriber(fake: FakeOpenAI, **overrides: object) -> Transcriber:
    return Transcriber(provider="openai", base_url=fake.base_url, **overrides)  # type: ignore[arg-type]


def rewriter(fake: FakeOpenAI, **overrides: object) -> Rewriter:
    return Rewriter(provider="openai", base_url=fake.base_url, **overrides)  # type: ignore[arg-type]


def source_transcript() -> Transcript:
    words = [Word(text=w, start=i * 0.4, end=i * 0.4 + 0.35) for i, w in enumerate(SOURCE_TEXT.split())]
    return Transcript(
        language="en", text=SOURCE_TEXT, words=words, duration_s=len(words) * 0.4, provider="test", model="test"
    )


def copied_script() -> dict[str, object]:
    return {**DEFAULT_SCRIPT, "hook": SENTENCES[1], "body": SENTENCES[2:5], "call_to_action": SENTENCES[5]}


# ---- transcription --------------------------------------------------------------------------------------


def test_transcription_returns_word_timed_transcript_with_audio_minutes(fake: FakeOpenAI, sample_video: Path) -> None:
    transcript = transcriber(fake).transcribe(sample_video)

    assert transcript.provider == "openai" and transcript.model == "gpt-transcribe"
    assert transcript.language == "en"  # gpt-transcribe's detected `languages: [{"code": "en"}]`
    assert [w.text for w in transcript.words][:4] == ["Here", "is", "a", "quick"]
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts) and starts[0] >= 0 and transcript.words[-1].end <= transcript.duration_s
    assert transcript.duration_s == pytest.approx(12, abs=4)
    [usage] = transcript.usage
    assert usage.provider == "openai"
    assert usage.units["audio_minutes"] == pytest.approx(transcript.duration_s / 60, abs=0.001)
    assert usage.cost_usd == pytest.approx(usage.units["audio_minutes"] * 0.006, abs=1e-6)


def test_the_default_model_is_gpt_transcribe_asked_for_json_with_a_small_mp3(
    fake: FakeOpenAI, sample_video: Path
) -> None:
    transcriber(fake, language="en").transcribe(sample_video)

    [request] = fake.requests_to("/audio/transcriptions")
    assert request.headers["authorization"] == f"Bearer {fake.api_key}"
    assert request.form["model"] == ["gpt-transcribe"]
    assert request.form["response_format"] == ["json"] and "timestamp_granularities[]" not in request.form
    # The new-model hint: a `languages` list, never together with the legacy `language`.
    assert request.form["languages[]"] == ["en"] and "language" not in request.form
    filename, content_type, size = request.files["file"]
    assert filename.endswith(".mp3") and content_type == "audio/mpeg"
    assert 0 < size < sample_video.stat().st_size / 3  # mono 16 kHz 64 kbps, not the video


def test_whisper_1_before_its_shutdown_asks_for_verbose_json_word_timestamps(
    fake: FakeOpenAI, sample_video: Path
) -> None:
    engine = transcriber(fake, openai_model="whisper-1", language="en").engine(today=lambda: date(2027, 2, 25))

    transcript = engine.transcribe(sample_video)

    [request] = fake.requests_to("/audio/transcriptions")
    assert request.form["model"] == ["whisper-1"] and request.form["language"] == ["en"]
    assert request.form["response_format"] == ["verbose_json"]
    assert request.form["timestamp_granularities[]"] == ["word", "segment"]
    assert transcript.model == "whisper-1" and transcript.language == "en"
    assert [w.text for w in transcript.words][:4] == ["Here", "is", "a", "quick"]


@pytest.mark.parametrize("model", ["whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"])
def test_a_model_past_its_shutdown_fails_before_any_upload_naming_the_replacement(model: str, tmp_path: Path) -> None:
    engine = OpenAITranscriptionEngine(
        model=model, language="", base_url="", api_key_env="OPENAI_API_KEY", timeout_s=5,
        max_upload_bytes=26_214_400, today=lambda: date(2027, 2, 26),
    )  # fmt: skip

    with pytest.raises(ConfigurationError, match=rf"shut {model} down on 2027-02-26; set "
                       r"SHORTS_OPENAI_TRANSCRIBE_MODEL=gpt-transcribe"):  # fmt: skip
        engine.transcribe(tmp_path / "never-read.mp4")


def test_shutdown_dates_apply_to_openai_only_not_to_compatible_servers() -> None:
    check_model("whisper-1", today=date(2027, 2, 25))  # the day before: still served
    check_model("whisper-1", today=date(2030, 1, 1), base_url="http://whisper.local:8000/v1")
    with pytest.raises(ConfigurationError, match="gpt-transcribe"):
        check_model("whisper-1", today=date(2027, 3, 1), base_url="https://api.openai.com/v1")
    check_model("gpt-transcribe", today=date(2030, 1, 1))


def test_a_model_the_server_says_is_gone_fails_naming_the_replacement_and_the_setting(
    monkeypatch: pytest.MonkeyPatch, sample_video: Path
) -> None:
    # The fake shuts whisper-1 down on its own date; the client's table is not asked (a compatible base URL).
    with FakeOpenAI(today=date(2027, 3, 1)) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        engine = transcriber(fake, openai_model="whisper-1").engine(today=lambda: date(2027, 3, 1))

        with pytest.raises(ConfigurationError, match=r"set SHORTS_OPENAI_TRANSCRIBE_MODEL=gpt-transcribe"):
            engine.transcribe(sample_video)

        assert len(fake.requests_to("/audio/transcriptions")) == 1  # refused once, not retried


def test_the_fake_refuses_a_shut_down_model_as_openai_does(sample_video: Path, tmp_path: Path) -> None:
    audio = tmp_path / "a.mp3"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=1", str(audio)], what="a test tone")
    with FakeOpenAI(today=date(2027, 2, 26)) as fake:
        client = openai.OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)

        with pytest.raises(openai.NotFoundError) as raised:
            client.audio.transcriptions.create(file=audio.open("rb"), model="whisper-1")

    assert raised.value.status_code == 404 and raised.value.code == "model_not_found"
    assert raised.value.body == {
        "message": "The model `whisper-1` has been deprecated, learn more here: https://platform.openai.com/docs/deprecations",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }


def test_a_request_outside_openais_spec_is_refused_and_fails_the_test(tmp_path: Path) -> None:
    audio = tmp_path / "a.mp3"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=1", str(audio)], what="a test tone")
    with FakeOpenAI() as fake:
        client = openai.OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)

        with pytest.raises(openai.BadRequestError, match="response_format"):
            client.audio.transcriptions.create(  # type: ignore[call-overload]
                file=audio.open("rb"), model="whisper-1", response_format="xml"
            )
        with pytest.raises(openai.BadRequestError, match="speed"):
            client.audio.transcriptions.create(file=audio.open("rb"), model="whisper-1", extra_body={"speed": "2"})

        violations = fake.take_spec_violations()
        assert len(violations) == 2 and all(v.startswith("POST /audio/transcriptions: ") for v in violations)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "wizard", "content": "hi"}],  # type: ignore[list-item,misc]
            )
        [violation] = fake.take_spec_violations()
        assert violation.startswith("POST /chat/completions: messages/0")

    broken = pytest.raises(AssertionError, match=r"requests that break openai.json:\n  POST /chat/completions")
    with broken, FakeOpenAI() as fake:
        client = openai.OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="gpt-4o-mini", messages=[], temperature=9)


def test_rate_limit_waits_for_retry_after_then_succeeds(fake: FakeOpenAI, sample_video: Path) -> None:
    fake.fail_next(429, message="Rate limit reached", type="requests", headers={"retry-after": "1"})

    transcript = transcriber(fake).transcribe(sample_video)

    first, second = fake.requests_to("/audio/transcriptions")
    assert transcript.words
    assert 0.9 <= second.at - first.at < 1.8


def test_server_error_is_retried_then_succeeds(fake: FakeOpenAI, sample_video: Path) -> None:
    fake.fail_next(500)

    transcript = transcriber(fake).transcribe(sample_video)

    assert transcript.words and len(fake.requests_to("/audio/transcriptions")) == 2


def test_slow_answer_times_out_and_is_retried(fake: FakeOpenAI, sample_video: Path) -> None:
    fake.hold_next()  # answered only after the retry arrived: the client must have timed out first

    transcript = transcriber(fake, timeout_s=2.0).transcribe(sample_video)

    assert transcript.words and len(fake.requests_to("/audio/transcriptions")) == 2


def test_a_rate_limited_transcription_is_one_paid_attempt(
    fake: FakeOpenAI, sample_video: Path, checkpoint: Checkpoint
) -> None:
    fake.fail_next(429, message="Rate limit reached", type="requests", headers={"retry-after": "0"})

    transcriber(fake).transcribe(sample_video)

    assert len(fake.requests_to("/audio/transcriptions")) == 2
    assert checkpoint.total_attempts == 1  # the 429 was turned away before any work: not billed


def test_transcription_attempts_are_bounded_across_http_and_step_retries(
    fake: FakeOpenAI, sample_video: Path, checkpoint: Checkpoint
) -> None:
    fail_always(fake, "/audio/transcriptions")

    with pytest.raises(RetryableError, match="gave up after 4 attempts"):
        transcriber(fake).transcribe(sample_video)
    with pytest.raises(PaidAttemptsExhausted, match=r"transcribe: .*already sent 4 times.*max_paid_attempts=4"):
        transcriber(fake).transcribe(sample_video)  # what a Dagster retry of the step would do

    assert len(fake.requests_to("/audio/transcriptions")) == 4
    assert checkpoint.total_attempts == 4


def test_bad_request_fails_at_once_with_the_providers_message(fake: FakeOpenAI, sample_video: Path) -> None:
    fake.fail_next(400, message="Language 'xx' is not supported.", type="invalid_request_error")

    with pytest.raises(ProviderError, match=r"transcribe: .*HTTP 400: Language 'xx' is not supported\."):
        transcriber(fake, language="xx").transcribe(sample_video)
    assert len(fake.requests) == 1


def test_insufficient_quota_fails_at_once_saying_what_to_do(fake: FakeOpenAI, sample_video: Path) -> None:
    fake.quota_exhausted_next()

    with pytest.raises(ProviderError, match=r"quota exhausted \(insufficient_quota\).*provider=local"):
        transcriber(fake).transcribe(sample_video)
    assert len(fake.requests) == 1


def test_missing_api_key_names_the_variable_and_the_offline_provider(
    fake: FakeOpenAI, sample_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")

    with pytest.raises(ConfigurationError, match=r"OPENAI_API_KEY is not set.*provider=local"):
        transcriber(fake).transcribe(sample_video)
    assert fake.requests == []


def test_long_audio_is_sent_in_pieces_and_stitched_with_increasing_times(fake: FakeOpenAI, sample_video: Path) -> None:
    transcript = transcriber(fake, max_upload_bytes=40_000).transcribe(sample_video)

    requests = fake.requests_to("/audio/transcriptions")
    assert len(requests) >= 3 and all(r.files["file"][2] <= 40_000 for r in requests)
    per_piece = len(fake.transcript_text.split())
    assert len(transcript.words) == per_piece * len(requests)  # the fake says its text once per piece
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts)
    assert transcript.words[per_piece].start > transcript.duration_s / len(requests) * 0.99  # offset applied
    assert transcript.words[-1].end <= transcript.duration_s + 0.1


def test_model_without_word_timestamps_gets_word_times_from_the_audio(fake: FakeOpenAI, sample_video: Path) -> None:
    transcript = (
        transcriber(fake, openai_model="gpt-4o-transcribe")
        .engine(today=lambda: date(2026, 12, 1))
        .transcribe(sample_video)
    )

    [request] = fake.requests_to("/audio/transcriptions")
    assert request.form["response_format"] == ["json"] and "timestamp_granularities[]" not in request.form
    assert [w.text for w in transcript.words] == fake.transcript_text.split()
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts)
    assert all(w.end > w.start for w in transcript.words)
    assert transcript.words[0].start > 0.05  # the leading silence is skipped, not spoken over
    assert transcript.words[-1].end <= transcript.duration_s


# ---- rewrite --------------------------------------------------------------------------------------------


def test_structured_output_becomes_a_script_with_token_usage(fake: FakeOpenAI) -> None:
    script = rewriter(fake).rewrite(source_transcript(), source_title="Pasta water", source_uploader="@chef")

    assert script.provider == "openai" and script.model == "gpt-4o-mini"
    assert script.hook == DEFAULT_SCRIPT["hook"] and script.body == DEFAULT_SCRIPT["body"]
    assert script.hashtags == ["cooking", "kitchenhacks", "herbs"]  # '#', case and punctuation normalised
    assert script.description.endswith('Credit: inspired by "Pasta water" by @chef.')
    [usage] = script.usage
    assert usage.units["input_tokens"] > 0 and usage.units["output_tokens"] > 0 and usage.cost_usd > 0
    [request] = fake.requests_to("/chat/completions")
    assert request.json is not None
    schema = request.json["response_format"]["json_schema"]
    assert schema["strict"] is True
    assert set(schema["schema"]["required"]) == {"title", "hook", "body", "call_to_action", "description", "hashtags"}


def test_refusal_is_asked_again_once_with_the_reason_then_succeeds(fake: FakeOpenAI) -> None:
    fake.chat_next(refusal="I can't help with that request.")

    script = rewriter(fake).rewrite(source_transcript())

    assert script.hook == DEFAULT_SCRIPT["hook"]
    _, second = fake.requests_to("/chat/completions")
    assert second.json is not None
    assert "the model refused: I can't help with that request." in second.json["messages"][-1]["content"]
    assert len(script.usage) == 2


def test_each_rewrite_answer_is_counted_as_its_own_paid_request(fake: FakeOpenAI, checkpoint: Checkpoint) -> None:
    fake.chat_next(refusal="I can't help with that request.")

    rewriter(fake).rewrite(source_transcript())

    assert checkpoint.data.attempts == {"chat answer 1/2": 1, "chat answer 2/2": 1}


def test_the_paid_attempt_bound_cuts_the_rewrite_retries_short(fake: FakeOpenAI) -> None:
    fail_always(fake, "/chat/completions")

    with (
        checkpoint_scope(Checkpoint.in_memory(max_paid_attempts=2)),
        pytest.raises(PaidAttemptsExhausted, match=r"rewrite: .*already sent 2 times.*delete "),
    ):
        rewriter(fake).rewrite(source_transcript())

    assert len(fake.requests_to("/chat/completions")) == 2


def test_invalid_answer_twice_fails_naming_what_was_wrong(fake: FakeOpenAI) -> None:
    fake.chat_next(content='{"title": "cut off')
    fake.chat_next(content={"title": "No body"})

    with pytest.raises(ProviderError, match=r"rewrite: OpenAI gpt-4o-mini gave no usable script in 2 tries: .*JSON"):
        rewriter(fake).rewrite(source_transcript())
    assert len(fake.requests_to("/chat/completions")) == 2


def test_copy_of_the_transcript_counts_as_invalid(fake: FakeOpenAI) -> None:
    fake.chat_next(content=copied_script())
    fake.chat_next(content=copied_script())

    with pytest.raises(ProviderError, match=r"3-word phrases are copied from the transcript"):
        rewriter(fake).rewrite(source_transcript())


def test_too_long_answer_is_corrected_once(fake: FakeOpenAI) -> None:
    fake.chat_next(content={**DEFAULT_SCRIPT, "body": [f"Fresh idea number {i} keeps dinner easy." for i in range(9)]})

    script = rewriter(fake, max_body_lines=4).rewrite(source_transcript())

    assert len(script.body) == 3
    second = fake.requests_to("/chat/completions")[1]
    assert second.json is not None and "the body has 9 lines; at most 4" in second.json["messages"][-1]["content"]


def test_prompt_templates_from_a_custom_prompt_dir_are_used(fake: FakeOpenAI, tmp_path: Path) -> None:
    (tmp_path / "system.md").write_text("You are PIRATE-NARRATOR. Answer in the schema.")
    (tmp_path / "user.md").write_text('Retell "{source_title}" in {max_words} words, JSON like {"x": 1}:\n{transcript}')

    rewriter(fake, prompt_dir=str(tmp_path), max_words=80).rewrite(source_transcript(), source_title="Pasta")

    [request] = fake.requests_to("/chat/completions")
    assert request.json is not None
    system, user = request.json["messages"]
    assert system["content"] == "You are PIRATE-NARRATOR. Answer in the schema."
    assert user["content"].startswith('Retell "Pasta" in 80 words, JSON like {"x": 1}:\nOkay so here is the thing')


def test_prompt_dir_without_templates_is_a_configuration_error(fake: FakeOpenAI, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"prompt_dir .* has no system\.md"):
        rewriter(fake, prompt_dir=str(tmp_path)).rewrite(source_transcript())


def test_api_key_never_appears_in_errors_or_records(
    fake: FakeOpenAI, sample_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transcript = transcriber(fake).transcribe(sample_video)
    script = rewriter(fake).rewrite(source_transcript())
    assert fake.api_key not in transcript.model_dump_json() + script.model_dump_json()

    wrong_key = "sk-wrong-but-still-secret-424242"
    monkeypatch.setenv("OPENAI_API_KEY", wrong_key)  # the fake echoes a wrong key in its 401 message
    for call in (lambda: transcriber(fake).transcribe(sample_video), lambda: rewriter(fake).rewrite(transcript)):
        with pytest.raises(ProviderError, match="HTTP 401") as caught:
            call()
        assert wrong_key not in "".join(traceback.format_exception(caught.value))
    assert any(wrong_key in json.dumps(r.headers) for r in fake.requests)  # it was really sent


def test_connection_refused_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-anything")
    with FakeOpenAI() as server:
        base_url = server.base_url  # a port that is closed once the server stops

    client, key = openai_client(api_key_env="OPENAI_API_KEY", base_url=base_url, timeout_s=2, stage="rewrite")

    with pytest.raises(RetryableError, match="could not reach the OpenAI endpoint"):
        call_openai(lambda: client.models.list(), what="test", api_key=key)


def test_a_refused_connection_is_not_counted_as_a_paid_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-anything")
    with FakeOpenAI() as server:
        base_url = server.base_url  # a port that is closed once the server stops
    client, key = openai_client(api_key_env="OPENAI_API_KEY", base_url=base_url, timeout_s=2, stage="rewrite")
    checkpoint = Checkpoint.in_memory()

    with pytest.raises(RetryableError):
        call_openai(lambda: checkpoint.paid("list", "test", lambda: client.models.list()), what="test", api_key=key)

    assert checkpoint.total_attempts == 0  # nothing left this machine
