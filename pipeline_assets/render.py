"""Stage 6, render: `short_video`, the finished 1080x1920 short, in one ffmpeg pass."""

from collections.abc import Iterator
from typing import Any, Literal

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MetadataValue,
    Output,
)
from pydantic import Field

from pipeline_assets.stage_runtime import StageRun, Workspace, media_metadata, stage
from resources.media.contact_sheet import as_markdown, make_contact_sheet
from resources.media.probe import probe
from resources.media.store import MediaStore
from resources.records import AvatarVideo, Script, ShortVideo, SourceVideo, Transcript, Voiceover
from resources.render import Renderer
from resources.render.renderer import measure_lufs
from resources.usage import cost_by_provider, total_cost

SHORT_WIDTH, SHORT_HEIGHT = 1080, 1920
MAX_SHORT_S = 180.0  # YouTube Shorts' upper limit
LOUDNESS_TOLERANCE_LU = 2.0
DURATION_TOLERANCE_S = 0.5


class ShortVideoConfig(Config):
    """Launch-time choices for one render."""

    layout: Literal["", "auto", "avatar_over_blur", "split_screen", "face_crop"] = Field(
        default="", description="Empty = the renderer's configured layout."
    )


@stage(
    check_specs=[
        AssetCheckSpec(
            "short_video_quality",
            asset="short_video",
            blocking=True,
            description="1080x1920 H.264 + AAC, duration of the voiceover, loudness near the target.",
        )
    ],
    description="The finished short: 9:16, burned word-timed subtitles, branding, ducked bed, loudness-normalised.",
)
def short_video(
    context: AssetExecutionContext,
    config: ShortVideoConfig,
    source_video: SourceVideo,
    transcript: Transcript,
    script: Script,
    voiceover: Voiceover,
    avatar_video: AvatarVideo,
    media_store: MediaStore,
    renderer: Renderer,
) -> Iterator[Output[ShortVideo] | AssetCheckResult]:
    run = StageRun(context, media_store)
    layout = config.layout or renderer.layout

    def build(space: Workspace) -> ShortVideo:
        out, subs = space.workdir / "short.mp4", space.workdir / "subtitles.ass"
        used = renderer.render(
            source_path=media_store.local_path(source_video.uri),
            avatar_path=media_store.local_path(avatar_video.uri),
            voice_path=media_store.local_path(voiceover.uri),
            cues=voiceover.cues,
            duration_s=voiceover.duration_s,
            out_path=out,
            subtitles_path=subs,
            layout=layout,
        )
        facts = probe(out)
        sheet = make_contact_sheet(out, space.workdir / "contact_sheet.jpg", duration_s=facts.duration_s)
        made = ShortVideo(
            uri=space.put(out, "short.mp4"),
            subtitles_uri=space.put(subs, "subtitles.ass"),
            contact_sheet_uri=space.put(sheet, "contact_sheet.jpg"),
            facts=facts,
            layout=used,
            integrated_lufs=round(measure_lufs(out), 2),
        )
        # Kept on the record so publishing can refuse a bad short even in a later run.
        problems = quality_problems(made, expected_duration_s=voiceover.duration_s, target_lufs=renderer.target_lufs)
        return made.model_copy(update={"quality_problems": problems})

    with run.failures():
        inputs: list[Any] = [source_video.sha256, voiceover, avatar_video.uri, renderer.model_dump(), layout]
        record = run.reuse_or_build(ShortVideo, inputs, build, lambda r: [r.uri])
    # The video's whole provider bill so far, so an operator sees the cost per short in one place.
    usage = [*transcript.usage, *script.usage, *voiceover.usage, *avatar_video.usage]
    meta = {
        **media_metadata(record.facts, record.uri),
        "layout": record.layout,
        "lufs": record.integrated_lufs,
        "video_cost_usd": total_cost(usage),
        "cost_by_provider": MetadataValue.json(cost_by_provider(usage)),
    }
    if record.contact_sheet_uri and media_store.exists_uri(record.contact_sheet_uri):
        # See the short before it is posted: four frames of it, right on the materialization.
        sheet = media_store.local_path(record.contact_sheet_uri)
        meta["contact_sheet"] = MetadataValue.md(as_markdown(sheet, f"{context.partition_key} short"))
    yield run.output(record, meta)
    yield quality_check(record)


def quality_problems(record: ShortVideo, *, expected_duration_s: float, target_lufs: float) -> list[str]:
    """Everything wrong with a finished short, in words; empty when it is good to publish."""
    facts = record.facts
    problems: list[str] = []
    if (facts.width, facts.height) != (SHORT_WIDTH, SHORT_HEIGHT):
        problems.append(f"resolution {facts.width}x{facts.height}, expected {SHORT_WIDTH}x{SHORT_HEIGHT}")
    if facts.video_codec != "h264":
        problems.append(f"video codec {facts.video_codec}, expected h264")
    if facts.audio_codec != "aac":
        problems.append(f"audio {facts.audio_codec or 'missing'}, expected aac")
    if abs(facts.duration_s - expected_duration_s) > DURATION_TOLERANCE_S:
        problems.append(f"duration {facts.duration_s:.2f}s, voiceover is {expected_duration_s:.2f}s")
    if facts.duration_s > MAX_SHORT_S:
        problems.append(f"duration {facts.duration_s:.0f}s exceeds the {MAX_SHORT_S:.0f}s Shorts limit")
    if record.integrated_lufs is None or abs(record.integrated_lufs - target_lufs) > LOUDNESS_TOLERANCE_LU:
        problems.append(f"loudness {record.integrated_lufs} LUFS, target {target_lufs}±{LOUDNESS_TOLERANCE_LU}")
    return problems


def quality_check(record: ShortVideo) -> AssetCheckResult:
    problems = record.quality_problems
    metadata: dict[str, Any] = {
        "resolution": f"{record.facts.width}x{record.facts.height}",
        "duration_s": record.facts.duration_s,
        "lufs": record.integrated_lufs,
        "problems": "; ".join(problems) or "none",
    }
    return AssetCheckResult(
        check_name="short_video_quality",
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata=metadata,
        description="; ".join(problems) or None,
    )
