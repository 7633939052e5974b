"""The render stage against REAL ffmpeg: synthetic inputs in, a probed 1080x1920 short out."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from resources.media.ffmpeg import run_ffmpeg
from resources.media.probe import probe
from resources.records import Cue, MediaFacts, Word
from resources.render import Renderer, measure_lufs
from resources.render.face_track import speaker_face_centre
from resources.render.filtergraph import caption_margin_v
from tests.media.test_face_track import write_moving_face

VOICE_S = 4.0
WORD_AT = 1.0  # a word starts here: captions are on screen at 1.1 s


def lavfi(out: Path, video: str, audio: str | None, *extra: str) -> Path:
    args = ["-f", "lavfi", "-i", video]
    if audio is not None:
        args += ["-f", "lavfi", "-i", audio, "-c:a", "aac", "-shortest"]
    run_ffmpeg([*args, *extra, str(out)], what=f"making test input {out.name}")
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("render_inputs")
    x264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    return {
        # 3 s of source under 4 s of voice: the source must loop.
        "landscape": lavfi(d / "landscape.mp4", "testsrc2=s=1280x720:r=30:d=3", "sine=f=440:d=3", *x264),
        "avatar": lavfi(d / "avatar.mp4", "testsrc=s=720x720:r=25:d=4", "sine=f=220:d=4", *x264),
        "voice": lavfi(d / "voice.wav", "sine=f=300:d=4,volume='0.5+0.4*sin(2*PI*t*3)':eval=frame", None),
        "silent": lavfi(d / "silent.mp4", "testsrc2=s=640x360:r=25:d=4", None, *x264),
        "portrait": lavfi(d / "portrait.mp4", "testsrc2=s=540x960:r=24:d=4", "sine=f=500:d=4", *x264),
        # Odd width (4:4:4, since 4:2:0 needs even sizes) and irregular frame timing (VFR) in Matroska.
        "odd_vfr": lavfi(
            d / "odd_vfr.mkv",
            "testsrc=s=853x480:r=30:d=4,select='lt(mod(n\\,5)\\,3)'",
            "sine=f=600:d=4",
            "-fps_mode",
            "passthrough",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv444p",
        ),
    }


def words_cue() -> list[Cue]:
    texts = ["Captions", "must", "really", "appear", "on", "screen", "now"]
    words = [Word(text=t, start=0.3 + 0.45 * i, end=0.3 + 0.45 * i + 0.4) for i, t in enumerate(texts)]
    words[2] = Word(text="really", start=WORD_AT, end=WORD_AT + 0.4)
    return [Cue(text=" ".join(texts), start=words[0].start, end=words[-1].end, words=words)]


def render(
    inputs: dict[str, Path],
    out_dir: Path,
    *,
    source: str = "landscape",
    layout: str = "avatar_over_blur",
    cues: list[Cue] | None = None,
    renderer: Renderer | None = None,
    name: str | None = None,
) -> Path:
    out = out_dir / f"{name or source + '_' + layout}.mp4"
    (renderer or Renderer(preset="ultrafast")).render(
        source_path=inputs[source],
        avatar_path=inputs["avatar"],
        voice_path=inputs["voice"],
        cues=words_cue() if cues is None else cues,
        duration_s=VOICE_S,
        out_path=out,
        subtitles_path=out.with_suffix(".ass"),
        layout=layout,
    )
    return out


@pytest.fixture(scope="module")
def rendered(inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("rendered")
    return {layout: render(inputs, d, layout=layout) for layout in ("avatar_over_blur", "split_screen")}


def assert_is_finished_short(facts: MediaFacts) -> None:
    assert (facts.width, facts.height) == (1080, 1920)
    assert facts.video_codec == "h264" and facts.audio_codec == "aac"
    assert facts.audio_sample_rate == 48_000
    assert facts.fps == pytest.approx(30, abs=0.01)
    assert facts.duration_s == pytest.approx(VOICE_S, abs=0.3)


def frame_at(path: Path, t: float) -> np.ndarray:
    """The RGB frame shown at time `t` (seconds)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= t:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"{path.name} has no frame at {t}s")


def caption_band(frame: np.ndarray, layout: str) -> np.ndarray:
    bottom = 1920 - caption_margin_v(layout)
    return frame[bottom - 140 : bottom + 20].astype(np.int16)


@pytest.mark.parametrize("layout", ["avatar_over_blur", "split_screen"])
def test_render_is_a_1080x1920_h264_aac_short_as_long_as_the_voice(rendered: dict[str, Path], layout: str) -> None:
    assert_is_finished_short(probe(rendered[layout]))


@pytest.mark.parametrize("layout", ["avatar_over_blur", "split_screen"])
def test_render_loudness_is_normalised_to_the_target(rendered: dict[str, Path], layout: str) -> None:
    assert measure_lufs(rendered[layout]) == pytest.approx(-14.0, abs=2.0)


def test_the_ass_file_is_written_beside_the_video(rendered: dict[str, Path]) -> None:
    ass = rendered["avatar_over_blur"].with_suffix(".ass").read_text(encoding="utf-8")
    assert "Style: Caption,Lato," in ass and "really" in ass


def test_subtitles_are_visibly_burned_in(inputs: dict[str, Path], rendered: dict[str, Path], tmp_path: Path) -> None:
    """Fails if libass draws nothing (e.g. the font is missing): ffmpeg would still exit 0."""
    bare = render(inputs, tmp_path, cues=[], name="no_captions")
    t = WORD_AT + 0.1
    with_captions = caption_band(frame_at(rendered["avatar_over_blur"], t), "avatar_over_blur")
    without = caption_band(frame_at(bare, t), "avatar_over_blur")
    changed = np.abs(with_captions - without).max(axis=2) > 60
    assert changed.mean() > 0.03
    # The active word is drawn in yellow: high red and green, low blue, where the plain render had none.
    yellow = (with_captions[..., 0] > 200) & (with_captions[..., 1] > 200) & (with_captions[..., 2] < 90)
    assert (yellow & changed).sum() > 500


def test_source_without_audio_renders_with_the_voice_alone(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = render(inputs, tmp_path, source="silent", layout="split_screen")
    assert_is_finished_short(probe(out))
    assert measure_lufs(out) == pytest.approx(-14.0, abs=2.0)


def test_portrait_source_renders(inputs: dict[str, Path], tmp_path: Path) -> None:
    assert_is_finished_short(probe(render(inputs, tmp_path, source="portrait")))


@pytest.mark.parametrize("layout", ["avatar_over_blur", "split_screen"])
def test_odd_sized_variable_frame_rate_source_renders(inputs: dict[str, Path], tmp_path: Path, layout: str) -> None:
    assert_is_finished_short(probe(render(inputs, tmp_path, source="odd_vfr", layout=layout)))


def test_hostile_folder_names_and_a_logo_render(inputs: dict[str, Path], tmp_path: Path) -> None:
    hostile = tmp_path / "we:ird, 'dir' [1];x\\y"
    hostile.mkdir()
    logo = hostile / "logo.png"
    run_ffmpeg(["-f", "lavfi", "-i", "color=c=red:s=200x100", "-frames:v", "1", str(logo)], what="making a logo")
    renderer = Renderer(preset="ultrafast", logo_path=str(logo))
    out = render(inputs, hostile, layout="split_screen", renderer=renderer, name="out:put, 'x'")
    assert_is_finished_short(probe(out))
    # The 200x100 red logo, fitted into 160x160, sits 48 px from the top-right corner.
    logo_area = frame_at(out, 1.0)[48 + 4 : 48 + 76, 1080 - 48 - 156 : 1080 - 48 - 4].astype(np.int16)
    assert ((logo_area[..., 0] > 200) & (logo_area[..., 1] < 60) & (logo_area[..., 2] < 60)).mean() > 0.95


def test_unknown_layout_is_rejected(inputs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown layout"):
        render(inputs, tmp_path, layout="diagonal")


def face_centre_in(frame: np.ndarray) -> float | None:
    """Centre x (0..1) of the face the Haar cascade finds in the upper part of an output frame."""
    gray = cv2.cvtColor(cv2.resize(frame[:1200], (270, 300)), cv2.COLOR_RGB2GRAY)
    return speaker_face_centre(gray)


def test_auto_layout_frames_a_moving_face_and_follows_it(inputs: dict[str, Path], tmp_path: Path) -> None:
    inputs = {**inputs, "face": write_moving_face(tmp_path / "face.mp4")}
    out = render(inputs, tmp_path, source="face", layout="auto")
    assert_is_finished_short(probe(out))
    # The face sits left at 0.5 s and right at 2.8 s; a fixed centre crop would show neither.
    for t in (0.5, 2.8):
        centre = face_centre_in(frame_at(out, t))
        assert centre is not None, f"no face in the output at {t}s"
        assert centre == pytest.approx(0.5, abs=0.2), t


def test_auto_layout_without_a_face_keeps_the_current_default_picture(
    inputs: dict[str, Path], rendered: dict[str, Path], tmp_path: Path
) -> None:
    auto = frame_at(render(inputs, tmp_path, layout="auto"), 2.0).astype(np.int16)
    default = frame_at(rendered["avatar_over_blur"], 2.0).astype(np.int16)
    assert np.abs(auto - default).mean() < 1.0
