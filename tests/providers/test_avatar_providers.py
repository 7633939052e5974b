"""Cloud avatar providers (D-ID, Synthesia, HeyGen) against local fake servers: requests, retries, fallback,
and paid jobs made once per input (saved, resumed, looked up, bounded).

The cloud engines wait on a FakeClock, which moves only when they sleep: a deadline passes after the same
polls and backoffs on every machine, and uploads that are slow under coverage cannot eat into it.
"""

from __future__ import annotations

import dataclasses
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from dagster import AssetsDefinition, DagsterInstance, ExecuteInProcessResult, RetryPolicy, SourceAsset, materialize

from pipeline_assets import stage_runtime
from pipeline_assets.avatar import avatar_video
from pipeline_assets.partitions import source_videos
from resources.avatar import AvatarRenderer
from resources.avatar.cloud import CloudAvatarEngine
from resources.avatar.renderer import ENGINES, AvatarEngine
from resources.catalog import PARTITIONS_NAME
from resources.errors import ConfigurationError, ProviderError, RetryableError
from resources.http.checkpoint import (
    Checkpoint,
    CheckpointData,
    PaidAttemptsExhausted,
    UnconfirmedJob,
    checkpoint_scope,
)
from resources.http.deadline import FakeClock
from resources.io_manager import JsonRecordIOManager
from resources.media.probe import probe
from resources.media.store import MediaStore
from resources.records import Voiceover
from tests.graph import assets_named
from tests.providers.fakes.avatar_servers import FakeAvatarApi, FakeDId, FakeHeyGen, FakeSynthesia

VOICE_SECONDS = 2.0
KEYS = {"d-id": "ZGlkQGV4YW1wbGUuY29t:did-SECRET-4f1c", "synthesia": "syn-SECRET-77aa", "heygen": "hey-SECRET-19bd"}
ENVS = {"d-id": "DID_API_KEY", "synthesia": "SYNTHESIA_API_KEY", "heygen": "HEYGEN_API_KEY"}
FAKES: dict[str, type[FakeAvatarApi]] = {"d-id": FakeDId, "synthesia": FakeSynthesia, "heygen": FakeHeyGen}
# Per provider: the job's name in the checkpoint, the fake's create / list / upload routes, and its job paths.
JOB_NAMES = {"d-id": "d-id talk", "synthesia": "synthesia video", "heygen": "heygen video"}
CREATE = {"d-id": "talks", "synthesia": "videos", "heygen": "videos"}
LIST = {"d-id": "talks_list", "synthesia": "videos_list", "heygen": "videos_list"}
UPLOADS = {"d-id": ["images", "audios"], "synthesia": ["script_audio"], "heygen": ["assets"]}
JOBS_PATH = {"d-id": "/talks", "synthesia": "/v2/videos", "heygen": "/v3/videos"}


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s speech-like WAV: a 220 Hz tone pulsing like syllables."""
    rate = 22050
    t = np.arange(int(VOICE_SECONDS * rate)) / rate
    samples = 0.5 * np.sin(2 * np.pi * 220 * t) * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t))
    path = tmp_path_factory.mktemp("voice") / "voice.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(autouse=True)
def api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for provider, env in ENVS.items():
        monkeypatch.setenv(env, KEYS[provider])


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The clock every cloud engine built by the renderer waits on (its settings' clock)."""
    fake_clock = FakeClock()

    def on_fake_clock(build: Callable[[AvatarRenderer], AvatarEngine]) -> Callable[[AvatarRenderer], AvatarEngine]:
        def build_on_clock(settings: AvatarRenderer) -> AvatarEngine:
            engine = build(settings)
            assert isinstance(engine, CloudAvatarEngine)
            engine.settings = dataclasses.replace(engine.settings, clock=fake_clock)
            return engine

        return build_on_clock

    for provider in FAKES:
        monkeypatch.setitem(ENGINES, provider, on_fake_clock(ENGINES[provider]))
    return fake_clock


def serve(provider: str, **kwargs: Any) -> FakeAvatarApi:
    return FAKES[provider](KEYS[provider], **kwargs)


def renderer(provider: str, fake: FakeAvatarApi, **overrides: Any) -> AvatarRenderer:
    """A renderer pointed at `fake`, polling fast."""
    settings: dict[str, Any] = {
        "provider": provider,
        "api_base_url": fake.base_url,
        "avatar_id": "anna_costume1_cameraA",
        "poll_interval_s": 0.05,
        "timeout_s": 20.0,
    }
    if isinstance(fake, FakeSynthesia):
        settings["upload_base_url"] = fake.upload_base_url
    return AvatarRenderer(**{**settings, **overrides})


@pytest.fixture
def did() -> Iterator[FakeAvatarApi]:
    with serve("d-id") as fake:
        yield fake


@pytest.fixture
def checkpoint() -> Iterator[Checkpoint]:
    """The checkpoint a stage would give its paid calls: kept across the renders of one test, as across retries."""
    with checkpoint_scope(Checkpoint.in_memory()) as kept:
        yield kept


def assert_square_h264_aac_as_long_as_voice(path: Path) -> None:
    facts = probe(path)
    assert (facts.width, facts.height, facts.fps) == (720, 720, 25.0)
    assert (facts.video_codec, facts.audio_codec) == ("h264", "aac")
    assert facts.duration_s == pytest.approx(VOICE_SECONDS, abs=0.1)


# -- happy paths --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["d-id", "synthesia", "heygen"])
def test_provider_video_becomes_720px_h264_aac_as_long_as_the_voice(provider: str, voice: Path, tmp_path: Path) -> None:
    out = tmp_path / "avatar.mp4"
    with serve(provider) as fake:
        result = renderer(provider, fake).render(voice_path=voice, out_path=out)
    assert (result.provider, result.fallback_reason) == (provider, "")
    assert [(u.provider, u.units) for u in result.usage] == [(provider, {"video_seconds": VOICE_SECONDS})]
    assert result.usage[0].cost_usd > 0
    assert_square_h264_aac_as_long_as_voice(out)
    assert [p.name for p in tmp_path.iterdir()] == ["avatar.mp4"]


def test_did_uploads_portrait_and_voice_then_creates_and_polls_a_talk(voice: Path, tmp_path: Path) -> None:
    with serve("d-id") as fake:
        renderer("d-id", fake).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    api = [r for r in fake.requests if not r.path.startswith("/results/")]
    assert fake.lines() == [
        "POST /images", "POST /audios", "POST /talks", "GET /talks/tlk_3", "GET /talks/tlk_3", "GET /results/tlk_3.mp4"
    ]  # fmt: skip
    assert all(r.headers["Authorization"] == f"Basic {KEYS['d-id']}" for r in api)
    assert (api[0].fields, api[1].fields) == (["image"], ["audio"])
    assert api[2].json["script"] == {"type": "audio", "audio_url": "s3://d-id-audios-prod/fake/voice.mp3"}
    assert api[2].json["source_url"] == "s3://d-id-images-prod/fake/presenter.png"
    assert api[2].json["user_data"].startswith("viral-shorts-")  # the talk can be found again in GET /talks
    assert "Authorization" not in fake.requests[-1].headers  # the presigned download never gets our key


def test_did_uses_an_https_portrait_url_as_is_without_uploading(voice: Path, tmp_path: Path, did: FakeDId) -> None:
    portrait = "https://cdn.example.com/presenter.jpg"
    renderer("d-id", did, presenter_image=portrait).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert "POST /images" not in did.lines()
    assert next(r for r in did.requests if r.line == "POST /talks").json["source_url"] == portrait


@pytest.mark.parametrize(
    "url", ["https://cdn.example.com/portrait", "https://cdn.example.com/portrait.webp", "https://x.com/a.png/view"]
)
def test_did_refuses_an_https_portrait_without_a_jpg_or_png_path_at_configuration(url: str) -> None:
    with pytest.raises(
        ConfigurationError, match=r"source_url must end in \.jpg, \.jpeg or \.png .*SHORTS_PRESENTER_IMAGE"
    ):
        AvatarRenderer(provider="d-id", presenter_image=url)


def test_did_refuses_a_plain_http_portrait_at_configuration() -> None:
    with pytest.raises(ConfigurationError, match="only https"):
        AvatarRenderer(provider="d-id", presenter_image="http://cdn.example.com/portrait.jpg")


def test_did_takes_a_presigned_portrait_link_whose_query_follows_the_extension(
    voice: Path, tmp_path: Path, did: FakeDId
) -> None:
    portrait = "https://bucket.s3.amazonaws.com/face.JPEG?X-Amz-Signature=abc&X-Amz-Expires=600"
    renderer("d-id", did, presenter_image=portrait).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert next(r for r in did.requests if r.line == "POST /talks").json["source_url"] == portrait


def test_other_providers_ignore_the_d_id_portrait_rule() -> None:
    AvatarRenderer(provider="heygen", presenter_image="https://cdn.example.com/portrait")


def test_the_did_fake_refuses_a_source_url_outside_the_documented_pattern(did: FakeDId) -> None:
    talk = {"source_url": "https://cdn.example.com/portrait", "script": {"type": "audio", "audio_url": "s3://a/b.mp3"}}
    answer = httpx.post(f"{did.base_url}/talks", json=talk, headers={"Authorization": f"Basic {did.api_key}"})

    assert answer.status_code == 400
    assert answer.json()["kind"] == "BadRequestError" and answer.json()["description"] == "invalid actor url"
    [violation] = did.take_spec_violations()
    assert violation.startswith("POST /talks: source_url: 'https://cdn.example.com/portrait' does not match")


def test_the_did_fake_refuses_requests_outside_its_spec(did: FakeDId) -> None:
    auth = {"Authorization": f"Basic {did.api_key}"}
    unknown = httpx.post(f"{did.base_url}/talks", json={"script": {}, "driver": "x"}, headers=auth)
    bad_query = httpx.get(f"{did.base_url}/talks", params={"limit": "many"}, headers=auth)

    assert unknown.status_code == bad_query.status_code == 400
    assert unknown.json()["kind"] == "ValidationError"
    assert [v.split(":")[0] for v in did.take_spec_violations()] == ["POST /talks", "GET /talks"]


def test_the_heygen_fake_refuses_requests_outside_its_spec() -> None:
    with serve("heygen") as heygen:
        auth = {"X-Api-Key": KEYS["heygen"]}
        video = {"type": "avatar", "avatar_id": "a", "audio_asset_id": "b", "aspect_ratio": "2:1"}
        create = httpx.post(f"{heygen.base_url}/v3/videos", json=video, headers=auth)
        listing = httpx.get(f"{heygen.base_url}/v3/videos", params={"limit": "500"}, headers=auth)

        assert create.status_code == listing.status_code == 400
        assert create.json()["error"]["code"] == "invalid_parameter"
        first, second = heygen.take_spec_violations()
        assert first.startswith("POST /v3/videos: aspect_ratio: '2:1' is not one of")
        assert second.startswith("GET /v3/videos: query limit: 500 is greater than the maximum of 100")


def test_synthesia_uploads_raw_mp3_to_the_upload_host_and_asks_for_a_square_video(voice: Path, tmp_path: Path) -> None:
    with serve("synthesia") as fake:
        renderer("synthesia", fake, test_video=True).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert fake.lines("upload") == ["POST /v2/scriptAudio"]
    assert fake.lines("api") == [
        "POST /v2/videos", "GET /v2/videos/vid-2", "GET /v2/videos/vid-2", "GET /results/vid-2.mp4"
    ]  # fmt: skip
    upload = fake.requests[0]
    assert upload.headers["Content-Type"] == "audio/mpeg"
    assert upload.body[:3] == b"ID3" or upload.body[:2] == b"\xff\xfb"  # an MP3, sent raw
    assert all(r.headers["Authorization"] == KEYS["synthesia"] for r in fake.requests[:-1])  # no "Bearer"
    video = fake.requests[1].json
    assert (video["aspectRatio"], video["test"]) == ("1:1", True)
    assert video["callbackId"].startswith("viral-shorts-")  # the video can be found again in GET /v2/videos
    scene = video["input"][0]
    assert scene["scriptAudio"] == "audio-1"
    assert scene["avatar"] == "anna_costume1_cameraA"
    assert scene["avatarSettings"]["horizontalAlign"] == "center"


def test_heygen_uploads_an_asset_then_creates_a_square_720p_video(voice: Path, tmp_path: Path) -> None:
    with serve("heygen") as fake:
        renderer("heygen", fake).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert fake.lines() == [
        "POST /v3/assets", "POST /v3/videos", "GET /v3/videos/video_2", "GET /v3/videos/video_2",
        "GET /results/video_2.mp4",
    ]  # fmt: skip
    assert all(r.headers["X-Api-Key"] == KEYS["heygen"] for r in fake.requests[:-1])
    assert fake.requests[0].fields == ["file"]
    video = fake.requests[1].json
    request_key = video.pop("title")
    assert request_key.startswith("viral-shorts-") and video.pop("callback_id") == request_key  # found by title
    assert video == {
        "type": "avatar",
        "avatar_id": "anna_costume1_cameraA",
        "audio_asset_id": "asset_1",
        "aspect_ratio": "1:1",
        "resolution": "720p",
    }


# -- retries ------------------------------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out_then_succeeds_and_counts_as_one_paid_attempt(
    voice: Path, tmp_path: Path, did: FakeDId, clock: FakeClock, checkpoint: Checkpoint
) -> None:
    did.fail_next(429, {"Retry-After": "1"}, {"kind": "TooManyRequests", "description": "slow down"}, path="/talks")
    started = clock.now()
    result = renderer("d-id", did).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert result.provider == "d-id"
    assert did.lines().count("POST /talks") == 2
    assert clock.now() - started >= 1.0
    assert checkpoint.attempts("d-id talk") == 1  # the 429 was refused before any work: not paid for
    assert "GET /talks" not in did.lines()  # a refusal is certain: nothing to look up


def test_500_on_create_is_looked_up_then_created_again(voice: Path, tmp_path: Path, checkpoint: Checkpoint) -> None:
    with serve("heygen") as fake:
        fake.fail_next(500, path="/v3/videos", method="POST")
        result = renderer("heygen", fake).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert result.provider == "heygen"
    # A 500 may hide a job made before the error: the list is asked first, and has none.
    assert fake.lines().count("POST /v3/videos") == 2 and len(fake.calls("videos_list")) == 1
    assert checkpoint.attempts("heygen video") == 2


# -- fallback to the offline presenter -----------------------------------------------------------------------


def test_did_out_of_credits_402_falls_back_to_local_with_the_reason(
    voice: Path, tmp_path: Path, did: FakeDId, checkpoint: Checkpoint
) -> None:
    did.fail_next(402, body={"kind": "InsufficientCreditsError", "description": "not enough credits"}, path="/talks")
    out = tmp_path / "a.mp4"
    result = renderer("d-id", did).render(voice_path=voice, out_path=out)
    assert (result.provider, result.usage) == ("local", [])
    assert result.fallback_reason.startswith("d-id: ")
    assert "402" in result.fallback_reason and "InsufficientCreditsError" in result.fallback_reason
    assert did.lines().count("POST /talks") == 1  # permanent: not retried
    assert checkpoint.total_attempts == 0  # refused, and the offline presenter is free
    assert_square_h264_aac_as_long_as_voice(out)


def test_did_451_moderation_falls_back_to_local(voice: Path, tmp_path: Path, did: FakeDId) -> None:
    did.fail_next(451, body={"kind": "AudioModerationError", "description": "audio was flagged"}, path="/audios")
    result = renderer("d-id", did).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert result.provider == "local"
    assert "451" in result.fallback_reason and "AudioModerationError" in result.fallback_reason
    assert "POST /talks" not in did.lines()


def test_synthesia_plan_without_audio_upload_falls_back_with_a_clear_reason(voice: Path, tmp_path: Path) -> None:
    with serve("synthesia") as fake:
        fake.fail_next(400, body={"error": "FEATURES_AUDIO_UPLOAD_DISABLED"}, path="/v2/scriptAudio")
        result = renderer("synthesia", fake).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert result.provider == "local"
    assert result.fallback_reason.startswith("synthesia: this Synthesia plan refuses our own audio")
    assert "FEATURES_AUDIO_UPLOAD_DISABLED" in result.fallback_reason
    assert fake.lines("api") == []


@pytest.mark.parametrize(
    ("provider", "outcome", "expected"),
    [
        ("d-id", "error", "status 'error': FaceError"),
        ("d-id", "rejected", "status 'rejected'"),
        ("synthesia", "rejected", "status 'rejected'"),
        ("heygen", "error", "status 'failed': AVATAR_NOT_FOUND"),
    ],
)
def test_a_job_the_provider_fails_falls_back_to_local(
    provider: str, outcome: str, expected: str, voice: Path, tmp_path: Path
) -> None:
    with serve(provider) as fake:
        fake.outcome = outcome
        result = renderer(provider, fake).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert result.provider == "local"
    assert result.fallback_reason.startswith(f"{provider}: ")
    assert expected in result.fallback_reason
    assert not any(line.startswith("GET /results/") for line in fake.lines())


def test_a_job_that_never_finishes_times_out_and_falls_back(
    voice: Path, tmp_path: Path, did: FakeDId, clock: FakeClock
) -> None:
    did.outcome = "never"
    started = clock.now()
    result = renderer("d-id", did, timeout_s=1.0).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    elapsed = clock.now() - started  # on the engine's clock: only its waits count, not how fast this machine is
    assert result.provider == "local"
    assert "timeout_s=1 s" in result.fallback_reason
    assert did.lines().count("GET /talks/tlk_3") >= 3  # it kept polling, with growing waits
    assert 1.0 <= elapsed < 6.0  # the deadline, not forever


def test_without_fallback_a_provider_refusal_raises_provider_error(voice: Path, tmp_path: Path, did: FakeDId) -> None:
    did.fail_next(402, body={"kind": "InsufficientCreditsError", "description": "not enough credits"}, path="/talks")
    with pytest.raises(ProviderError, match=r"402.*InsufficientCreditsError"):
        renderer("d-id", did, fallback_to_local=False).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert not (tmp_path / "a.mp4").exists()


# -- configuration and secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["d-id", "synthesia", "heygen"])
def test_missing_key_is_a_configuration_error_naming_the_variable_without_fallback(
    provider: str, voice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENVS[provider])
    with (
        serve(provider) as fake,
        pytest.raises(ConfigurationError, match=rf"{ENVS[provider]} is not set.*provider=local"),
    ):
        renderer(provider, fake).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert fake.requests == []
    assert not (tmp_path / "a.mp4").exists()


def test_the_key_never_appears_in_messages_or_in_the_result(voice: Path, tmp_path: Path, did: FakeDId) -> None:
    key = KEYS["d-id"]
    echo = {"kind": "PermissionError", "description": f"key {key} may not use /talks"}
    did.fail_next(403, body=echo, path="/talks")
    result = renderer("d-id", did).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert "PermissionError" in result.fallback_reason
    assert key not in result.model_dump_json()

    did.fail_next(403, body=echo, path="/talks")
    with pytest.raises(ProviderError) as raised:
        renderer("d-id", did, fallback_to_local=False).render(voice_path=voice, out_path=tmp_path / "b.mp4")
    assert "PermissionError" in str(raised.value)
    assert key not in str(raised.value)


# -- paid jobs: saved the moment they exist, polled again on retry, looked up when the answer is lost, bounded ----


def fail_polls(fake: FakeAvatarApi, provider: str, times: int) -> None:
    """The next `times` status reads of any job answer 500 (the job itself is fine)."""
    fake.fail_next(500, path=f"{JOBS_PATH[provider]}/", method="GET", times=times)


@pytest.mark.parametrize("provider", ["d-id", "synthesia", "heygen"])
def test_a_retry_after_the_job_was_created_polls_that_job_and_uploads_nothing_again(
    provider: str, voice: Path, tmp_path: Path, checkpoint: Checkpoint
) -> None:
    with serve(provider) as fake:
        fail_polls(fake, provider, times=4)  # one whole round of HTTP retries: the step fails and is retried
        with pytest.raises(RetryableError, match="gave up after 4 attempts"):
            renderer(provider, fake).render(voice_path=voice, out_path=tmp_path / "a.mp4")
        result = renderer(provider, fake).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert result.provider == provider
    assert len(fake.calls(CREATE[provider])) == 1
    assert all(len(fake.calls(upload)) == 1 for upload in UPLOADS[provider])
    [job_id] = fake.jobs
    assert checkpoint.job(JOB_NAMES[provider]).job_id == job_id
    assert checkpoint.attempts(JOB_NAMES[provider]) == 1


@pytest.mark.parametrize("provider", ["d-id", "synthesia", "heygen"])
def test_a_lost_create_answer_is_found_in_the_providers_list_and_not_created_again(
    provider: str, voice: Path, tmp_path: Path, checkpoint: Checkpoint
) -> None:
    with serve(provider) as fake:
        fake.lose_next_answer(JOBS_PATH[provider])  # the job is made; the connection drops before its answer
        result = renderer(provider, fake).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert (result.provider, result.fallback_reason) == (provider, "")
    assert len(fake.calls(CREATE[provider])) == 1 and len(fake.calls(LIST[provider])) == 1
    [job_id] = fake.jobs
    assert checkpoint.job(JOB_NAMES[provider]).job_id == job_id
    assert checkpoint.attempts(JOB_NAMES[provider]) == 1  # the lost answer was paid for, once
    assert_square_h264_aac_as_long_as_voice(tmp_path / "a.mp4")


def test_a_lost_create_answer_the_list_cannot_confirm_stops_as_unconfirmed_until_it_can(
    voice: Path, tmp_path: Path, did: FakeDId, checkpoint: Checkpoint
) -> None:
    did.lose_next_answer("/talks")
    did.fail_next(403, body={"kind": "PermissionError", "description": "no list access"}, path="/talks", method="GET")
    with pytest.raises(UnconfirmedJob) as stopped:  # not hidden by the fallback: a paid talk may be running
        renderer("d-id", did).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    message = str(stopped.value)
    job = checkpoint.job("d-id talk")
    assert job.state == "unconfirmed" and job.request_key in message
    assert "dashboard" in message and "user_data" in message and checkpoint.where in message
    assert len(did.calls("talks")) == 1 and not (tmp_path / "a.mp4").exists()

    # Re-executed once the list answers again: the talk is found and used, still not created twice.
    result = renderer("d-id", did).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert result.provider == "d-id"
    assert len(did.calls("talks")) == 1
    assert checkpoint.job("d-id talk").job_id == "tlk_3"


def test_the_paid_attempt_bound_stops_a_create_that_keeps_failing_across_retries(
    voice: Path, tmp_path: Path, did: FakeDId, checkpoint: Checkpoint
) -> None:
    did.fail_next(500, path="/talks", method="POST", times=50)
    with pytest.raises(RetryableError):  # the first step attempt: 4 HTTP tries, each looked up before the next
        renderer("d-id", did).render(voice_path=voice, out_path=tmp_path / "a.mp4")
    assert len(did.calls("talks")) == 4
    with pytest.raises(PaidAttemptsExhausted, match=r"already sent 4 times .*max_paid_attempts=4.* delete "):
        renderer("d-id", did).render(voice_path=voice, out_path=tmp_path / "a.mp4")  # a Dagster retry
    assert len(did.calls("talks")) == 4
    assert checkpoint.total_attempts == 4


def test_a_job_the_provider_failed_is_forgotten_so_the_next_attempt_creates_a_new_one(
    voice: Path, tmp_path: Path, did: FakeDId, checkpoint: Checkpoint
) -> None:
    did.outcome = "error"
    assert renderer("d-id", did).render(voice_path=voice, out_path=tmp_path / "a.mp4").provider == "local"
    assert checkpoint.job("d-id talk").job_id == ""
    did.outcome = "done"
    assert renderer("d-id", did).render(voice_path=voice, out_path=tmp_path / "b.mp4").provider == "d-id"
    assert len(did.calls("talks")) == 2
    assert len(did.calls("audios")) == 1  # the upload is kept for the new talk


KEY = "file-avatar-retry"


def materialize_avatar(
    stage: AssetsDefinition, tmp_path: Path, voice: Path, avatar: AvatarRenderer
) -> tuple[ExecuteInProcessResult, Path]:
    """Materialize the avatar stage for KEY as Dagster runs it (a stored voiceover upstream); the media root."""
    store = MediaStore(root=str(tmp_path / "media"))
    voice_uri = store.put_file(voice, f"media/{KEY}/voiceover/test/voiceover.wav")
    record = Voiceover(uri=voice_uri, duration_s=VOICE_SECONDS, sample_rate=22050, cues=[], provider="test", voice="t")
    store.write_text(f"records/voiceover/{KEY}.json", record.model_dump_json())
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PARTITIONS_NAME, [KEY])
    result = materialize(
        [stage, SourceAsset("voiceover", partitions_def=source_videos)],
        partition_key=KEY,
        instance=instance,
        resources={
            "media_store": store,
            "io_manager": JsonRecordIOManager(media_store=store),
            "avatar_renderer": avatar,
        },
        raise_on_error=False,
    )
    return result, tmp_path / "media"


def event_types(result: ExecuteInProcessResult) -> list[str]:
    return [event.event_type_value for event in result.all_events]


def test_a_dagster_step_retry_polls_the_job_the_first_attempt_created(
    voice: Path, tmp_path: Path, did: FakeDId, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real thing: the avatar stage materialized by Dagster, its first attempt failing after the talk exists."""
    monkeypatch.setattr(stage_runtime, "STAGE_RETRY_POLICY", RetryPolicy(max_retries=1))  # at once, not after 5 s
    fail_polls(did, "d-id", times=4)

    [stage] = assets_named("avatar_video")
    result, media = materialize_avatar(stage, tmp_path, voice, renderer("d-id", did))

    assert result.success and event_types(result).count("STEP_UP_FOR_RETRY") == 1
    assert len(did.calls("talks")) == 1 and len(did.calls("audios")) == 1
    (materialization,) = result.asset_materializations_for_node("avatar_video")
    assert materialization.metadata["provider"].value == "d-id"
    assert materialization.metadata["paid_attempts"].value == 1
    assert materialization.metadata["provider_jobs"].value == "d-id talk tlk_3"
    [stored] = media.rglob("checkpoint.json")
    assert stored.parent.parent.name == "avatar_video"  # stored with the stage's output, under its input hash
    saved = CheckpointData.model_validate_json(stored.read_text())
    assert saved.attempts == {"d-id talk": 1} and saved.jobs["d-id talk"].job_id == "tlk_3"


def test_a_stage_defined_with_its_own_bound_stops_there_and_dagster_does_not_retry_it(
    voice: Path, tmp_path: Path, did: FakeDId, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage_runtime, "STAGE_RETRY_POLICY", RetryPolicy(max_retries=3))
    did.fail_next(500, path="/talks", method="POST", times=20)

    stage = avatar_video.asset(pool="d_id", provider="d-id", max_paid_attempts=1)
    result, _ = materialize_avatar(stage, tmp_path, voice, renderer("d-id", did))

    assert not result.success and "STEP_UP_FOR_RETRY" not in event_types(result)
    [failure] = [event.step_failure_data for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    assert failure.user_failure_data is not None  # a Failure that forbids retries, naming the stage and the bound
    assert str(failure.user_failure_data.description).startswith(
        f"avatar_video[{KEY}]: d-id: creating the talk: already sent 1 times for this input (max_paid_attempts=1"
    )
    assert len(did.calls("talks")) == 1  # one create, looked up once after its 500, and no second one
    assert stage.metadata_by_key[stage.key]["max_paid_attempts"] == 1  # the bound, as the UI shows it
