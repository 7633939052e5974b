"""The whole chain through Dagster on the offline engines, with the finished short probed for real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult

from definitions import build_definitions, build_resources
from pipeline_assets.jobs import short_pipeline_job
from pipeline_assets.partitions import source_videos
from resources.catalog import PLATFORMS
from resources.media.probe import probe
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.records import Post, ShortVideo, SourceRequest, Voiceover
from resources.settings import PipelineSettings

pytestmark = pytest.mark.slow
KEY = "file-e2e"

Finished = tuple[PipelineSettings, DagsterInstance, ExecuteInProcessResult]
"""The first run of the chain: its settings (data folder), its instance and its result."""


def run_chain(
    settings: PipelineSettings, instance: DagsterInstance, source: Path, **overrides: Any
) -> ExecuteInProcessResult:
    resources = {**build_resources(settings), **overrides}
    register_source(resources["media_store"], SourceRequest(partition_key=KEY, source=str(source)))
    instance.add_dynamic_partitions(source_videos.name or "source_videos", [KEY])
    job = build_definitions(settings, resources).resolve_job_def(short_pipeline_job.name)
    return job.execute_in_process(instance=instance, partition_key=KEY, raise_on_error=False)


def outlined_highlight_pixels(video: Path, at_s: float) -> int:
    """Pixels of highlighted (yellow) caption text with a black outline nearby, in the frame shown at `at_s`.

    The outline requirement keeps yellow areas of the source picture from counting as captions.
    """
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= at_s:
                rgb = frame.to_ndarray(format="rgb24").astype(int)
                break
        else:
            raise AssertionError("no frame at that time")
    # The caption line of the avatar_over_blur layout sits between the source picture (y 150-1030) and the
    # avatar (from y 1228): only that band counts, so sharp yellow parts of the source picture cannot.
    rgb = rgb[1030:1228]
    yellow = (rgb[..., 0] > 200) & (rgb[..., 1] > 200) & (rgb[..., 2] < 90)
    black = (rgb.max(axis=2) < 50).astype(np.uint8)
    near_black = np.zeros_like(black)
    for dy in range(-8, 9, 2):
        for dx in range(-8, 9, 2):
            near_black |= np.roll(np.roll(black, dy, axis=0), dx, axis=1)
    return int((yellow & near_black.astype(bool)).sum())


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, sample_video: Path) -> Finished:
    settings = PipelineSettings(
        data_dir=str(tmp_path_factory.mktemp("e2e") / "data"), local_source_roots=str(sample_video.parent)
    )
    instance = DagsterInstance.ephemeral()
    result = run_chain(settings, instance, sample_video)
    return settings, instance, result


def stored_short(finished: Finished) -> tuple[Path, ShortVideo, Voiceover]:
    """The finished short's file, its record, and the voiceover record it was timed to."""
    settings, _, result = finished
    short = result.output_for_node("short_video")
    voice = result.output_for_node("voiceover")
    assert isinstance(short, ShortVideo) and isinstance(voice, Voiceover)
    return MediaStore(root=str(settings.data_path / "media")).local_path(short.uri), short, voice


def test_whole_chain_succeeds(finished: Finished) -> None:
    _, _, result = finished
    failures = [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert result.success, failures
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events() if e.asset_key}
    assert materialized == {
        "source_video", "transcript", "script", "voiceover", "avatar_video", "short_video",
        *(f"{p}_post" for p in PLATFORMS),
    }  # fmt: skip


def test_short_is_vertical_h264_aac_and_as_long_as_the_voiceover(finished: Finished) -> None:
    path, short, voice = stored_short(finished)
    facts = probe(path)
    assert (facts.width, facts.height) == (1080, 1920)
    assert facts.video_codec == "h264" and facts.audio_codec == "aac"
    assert abs(facts.duration_s - voice.duration_s) <= 0.5
    assert short.integrated_lufs is not None and abs(short.integrated_lufs + 14) <= 2


def test_active_word_is_visibly_highlighted_in_the_frames(finished: Finished) -> None:
    path, _, voice = stored_short(finished)
    word = voice.cues[1].words[1]
    during = outlined_highlight_pixels(path, (word.start + word.end) / 2)
    before_speech = outlined_highlight_pixels(path, 0.05)
    assert during > 300, "no highlighted caption pixels: subtitles were not burned in"
    assert during > 5 * max(before_speech, 1)


def test_the_short_is_seen_in_the_ui_as_a_contact_sheet_of_four_frames(finished: Finished) -> None:
    import base64
    import io

    from PIL import Image

    settings, _, result = finished
    [materialization] = result.asset_materializations_for_node("short_video")
    shown = str(materialization.metadata["contact_sheet"].value)
    assert shown.startswith(f"![{KEY} short](data:image/jpeg;base64,")
    embedded = Image.open(io.BytesIO(base64.b64decode(shown.split("base64,", 1)[1].rstrip(")"))))
    assert embedded.size == (4 * 180, 320)  # four 9:16 frames side by side
    frames = np.asarray(embedded.convert("L"), dtype=np.float32).reshape(320, 4, 180).transpose(1, 0, 2)
    assert all(frame.std() > 5 for frame in frames)  # real pictures, not four blank tiles
    short = result.output_for_node("short_video")
    assert MediaStore.from_settings(settings).local_path(short.contact_sheet_uri).read_bytes()[:2] == b"\xff\xd8"


def test_every_platform_got_one_outbox_post_with_a_manifest(finished: Finished) -> None:
    settings, _, result = finished
    for platform in PLATFORMS:
        post = result.output_for_node(f"{platform}_post")
        assert isinstance(post, Post) and post.status == "outbox"
        manifest = json.loads((settings.data_path / "outbox" / platform / KEY / "manifest.json").read_text())
        assert manifest["disclosure"]["contains_synthetic_media"] is True
        assert (settings.data_path / "outbox" / platform / KEY / "short.mp4").stat().st_size > 100_000


def test_rerun_is_cached_and_posts_nothing_twice(finished: Finished, sample_video: Path) -> None:
    settings, instance, _ = finished
    again = run_chain(settings, instance, sample_video)
    assert again.success
    nodes = ["source_video", "transcript", "script", "voiceover", "avatar_video", "short_video"]
    for name in [*nodes, *(f"{p}_post" for p in PLATFORMS)]:
        (mat,) = again.asset_materializations_for_node(name)
        if name.endswith("_post"):
            assert mat.metadata["already_published"].value is True, name
        else:
            assert mat.metadata["cached"].value is True, name


def test_records_are_readable_json_on_disk(finished: Finished) -> None:
    settings, _, _ = finished
    record = json.loads((settings.data_path / "media" / "records" / "script" / f"{KEY}.json").read_text())
    assert record["hook"] and record["body"] and record["provider"] == "local"


def test_failed_platform_is_red_alone_and_upstream_stays_green(
    finished: Finished, tmp_path: Path, sample_video: Path
) -> None:
    from resources.publish import Publisher

    settings = finished[0]  # the same media: upstream stages are reused from the first run, not recomputed
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the outbox folder should be")
    instance = DagsterInstance.ephemeral()
    broken = Publisher(platform="youtube", outbox_dir=str(blocked), ledger_path=str(tmp_path / "ledger.sqlite3"))
    result = run_chain(settings, instance, sample_video, youtube_publisher=broken)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert {e.step_key for e in failures} == {"youtube_post"}
    assert len(failures) == 1, "a configuration error is not retried"
    failure = failures[0].step_failure_data
    assert failure.user_failure_data is not None
    assert failure.user_failure_data.description.startswith("youtube_post[file-e2e]: the outbox folder")
    for name in ["short_video", "tiktok_post", "x_post"]:
        event = instance.get_latest_materialization_event(AssetKey(name))
        assert event is not None and event.asset_materialization is not None
        assert event.asset_materialization.partition == KEY
    assert instance.get_latest_materialization_event(AssetKey("youtube_post")) is None
