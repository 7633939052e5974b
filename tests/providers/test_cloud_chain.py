"""The whole chain with every AI stage on its cloud provider, against local fakes of their real protocols.

Also proves that no secret reaches a log line, an event's metadata or a stored record.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, ExecuteInProcessResult
from dagster._serdes import serialize_value

from definitions import build_definitions, build_resources
from pipeline_assets.jobs import short_pipeline_job
from pipeline_assets.partitions import source_videos
from resources.avatar import AvatarRenderer
from resources.media.probe import probe
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.records import AvatarVideo, Script, ShortVideo, SourceRequest, Transcript, Voiceover
from resources.settings import PipelineSettings
from tests.providers.fakes.avatar_servers import FakeDId
from tests.providers.fakes.elevenlabs_server import FakeElevenLabs
from tests.providers.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.slow
KEY = "file-cloud"
SECRETS = {
    "OPENAI_API_KEY": "sk-cloudtest-SECRET-0001",
    "ELEVENLABS_API_KEY": "xi-cloudtest-SECRET-0002",
    "DID_API_KEY": "ZGlkQHRlc3Q6SECRET-0003",
}


class CloudRun:
    def __init__(
        self, result: ExecuteInProcessResult, instance: DagsterInstance, data: Path, did: FakeDId, logs: list[str]
    ) -> None:
        self.result, self.instance, self.data, self.did, self.logs = result, instance, data, did, logs


class Collect(logging.Handler):
    """Every log line emitted anywhere during the run, formatted as a handler would write it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def cloud_run(tmp_path_factory: pytest.TempPathFactory, sample_video: Path) -> Iterator[CloudRun]:
    data = tmp_path_factory.mktemp("cloud") / "data"
    with (
        pytest.MonkeyPatch.context() as env,
        FakeOpenAI(api_key=SECRETS["OPENAI_API_KEY"]) as openai_fake,
        FakeElevenLabs(api_key=SECRETS["ELEVENLABS_API_KEY"]) as voice_fake,
        FakeDId(api_key=SECRETS["DID_API_KEY"]) as did_fake,
    ):
        for name, value in SECRETS.items():
            env.setenv(name, value)
        settings = PipelineSettings(
            data_dir=str(data),
            local_source_roots=str(sample_video.parent),
            transcribe_provider="openai",
            rewrite_provider="openai",
            voice_provider="elevenlabs",
            avatar_provider="d-id",
            openai_base_url=openai_fake.base_url,
            elevenlabs_base_url=voice_fake.base_url,
            avatar_api_base_url=did_fake.base_url,
        )
        resources = build_resources(settings)
        fast_avatar = resources["avatar_renderer"].model_copy(update={"poll_interval_s": 0.05, "timeout_s": 30})
        resources["avatar_renderer"] = AvatarRenderer(**fast_avatar.model_dump())
        register_source(resources["media_store"], SourceRequest(partition_key=KEY, source=str(sample_video)))
        instance = DagsterInstance.ephemeral()
        instance.add_dynamic_partitions(source_videos.name or "source_videos", [KEY])
        job = build_definitions(settings, resources)
        collect = Collect()
        console = io.StringIO()
        logging.getLogger().addHandler(collect)
        try:
            # Dagster's console logger writes to the stderr it finds when the run starts: capture that too.
            with contextlib.redirect_stderr(console), contextlib.redirect_stdout(console):
                result = job.resolve_job_def(short_pipeline_job.name).execute_in_process(
                    instance=instance, partition_key=KEY, raise_on_error=False
                )
        finally:
            logging.getLogger().removeHandler(collect)
        yield CloudRun(result, instance, data, did_fake, [*collect.lines, *console.getvalue().splitlines()])


def test_chain_succeeds_with_every_stage_on_its_cloud_provider(cloud_run: CloudRun) -> None:
    failures = [e.message for e in cloud_run.result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert cloud_run.result.success, failures
    transcript = cloud_run.result.output_for_node("transcript")
    script = cloud_run.result.output_for_node("script")
    voice = cloud_run.result.output_for_node("voiceover")
    avatar = cloud_run.result.output_for_node("avatar_video")
    assert isinstance(transcript, Transcript) and transcript.provider == "openai"
    assert isinstance(script, Script) and script.provider == "openai"
    assert isinstance(voice, Voiceover) and voice.provider == "elevenlabs"
    assert isinstance(avatar, AvatarVideo) and avatar.provider == "d-id" and not avatar.fallback_reason


def test_cloud_short_is_still_a_valid_vertical_short(cloud_run: CloudRun) -> None:
    short = cloud_run.result.output_for_node("short_video")
    voice = cloud_run.result.output_for_node("voiceover")
    assert isinstance(short, ShortVideo)
    facts = probe(MediaStore(root=str(cloud_run.data / "media")).local_path(short.uri))
    assert (facts.width, facts.height, facts.video_codec, facts.audio_codec) == (1080, 1920, "h264", "aac")
    assert abs(facts.duration_s - voice.duration_s) <= 0.5


def test_every_cloud_stage_records_usage_and_the_short_totals_it(cloud_run: CloudRun) -> None:
    costs = {}
    for node in ["transcript", "script", "voiceover", "avatar_video"]:
        (mat,) = cloud_run.result.asset_materializations_for_node(node)
        costs[node] = float(mat.metadata["cost_usd"].value)  # type: ignore[arg-type]
        assert costs[node] > 0, node
    (short_mat,) = cloud_run.result.asset_materializations_for_node("short_video")
    assert float(short_mat.metadata["video_cost_usd"].value) == pytest.approx(sum(costs.values()), abs=1e-5)  # type: ignore[arg-type]


def test_every_cloud_stage_reports_its_paid_attempts_and_the_avatar_its_job(cloud_run: CloudRun) -> None:
    def metadata(node: str) -> dict[str, object]:
        (mat,) = cloud_run.result.asset_materializations_for_node(node)
        return {key: value.value for key, value in mat.metadata.items()}

    voice = cloud_run.result.output_for_node("voiceover")
    assert metadata("transcript")["paid_attempts"] == 1  # one upload, answered the first time
    assert metadata("script")["paid_attempts"] == 1
    assert metadata("voiceover")["paid_attempts"] == len(voice.cues)  # one request per line
    avatar = metadata("avatar_video")
    assert avatar["paid_attempts"] == 1 and avatar["provider_jobs"] == "d-id talk tlk_3"
    assert "paid_attempts" not in metadata("short_video")  # ffmpeg is free
    checkpoints = sorted(path.parent.parent.name for path in cloud_run.data.rglob("checkpoint.json"))
    assert checkpoints == ["avatar_video", "script", "transcript", "voiceover"]


def test_no_secret_in_logs_event_metadata_or_stored_records(
    cloud_run: CloudRun, capfd: pytest.CaptureFixture[str]
) -> None:
    events = cloud_run.instance.all_logs(cloud_run.result.run_id)
    haystacks = [serialize_value(event) for event in events]
    haystacks += [p.read_text(errors="ignore") for p in cloud_run.data.rglob("*") if p.suffix in {".json", ".ass"}]
    haystacks += cloud_run.logs
    assert len(events) > 50
    assert any('Started execution of step "avatar_video"' in line for line in cloud_run.logs)  # capture works
    for name, secret in SECRETS.items():
        leaks = [text[:200] for text in haystacks if secret in text]
        assert not leaks, f"{name} leaked: {leaks[:1]}"


def test_d_id_received_our_voice_and_the_right_auth(cloud_run: CloudRun) -> None:
    paths = [request.path for request in cloud_run.did.requests]
    assert "/audios" in paths and "/talks" in paths
    auth = {request.headers.get("Authorization") for request in cloud_run.did.requests if request.path == "/talks"}
    assert auth == {f"Basic {SECRETS['DID_API_KEY']}"}
