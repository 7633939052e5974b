"""`auto` on a real face: a NASA portrait (tests/data/faces) off-centre in a landscape clip is framed by face_crop.

The output frames are probed with the same Haar detector the renderer uses: in face_crop the face sits near the
horizontal centre and is a large share of the frame's width; the same source in avatar_over_blur shows it small
and to the left.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from resources.media.ffmpeg import run_ffmpeg
from resources.media.probe import probe
from resources.records import Cue, Word
from resources.render import Renderer
from resources.render.face_track import FaceBox, sample_faces, speaker_face
from tests.data.faces.make_talking_head import VIDEO

SHORT_S = 3.0
PROBE_AT = (0.5, 1.5, 2.5)
# Measured: face_crop shows the face 0.43-0.44 of the frame wide, centred at 0.51, 0.55, 0.63 at PROBE_AT (it
# drifts right inside the track's dead zone, 0.06 of the source width = 0.19 of the crop's, until the crop
# follows at 3.7 s); avatar_over_blur shows it 0.16 wide at 0.24-0.27.
MIN_CROPPED_FACE_W = 0.35
CENTRE_TOLERANCE = 0.2


@pytest.fixture(scope="module")
def talking_head() -> Path:
    """The committed clip: 1280x720, a real face left of centre swaying sideways, Piper narration."""
    return VIDEO


@pytest.fixture(scope="module")
def rendered(talking_head: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, Path]]:
    """The clip rendered as `auto` and as `avatar_over_blur`: layout used and output path for each."""
    d = tmp_path_factory.mktemp("face_crop_real")
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    avatar, voice = d / "avatar.mp4", d / "voice.wav"
    run_ffmpeg(["-f", "lavfi", "-i", f"testsrc=s=360x360:r=25:d={SHORT_S}", *x264, str(avatar)], what="avatar")
    run_ffmpeg(["-f", "lavfi", "-i", f"sine=f=300:d={SHORT_S}", str(voice)], what="voice")
    texts = ["One", "small", "habit", "changed", "everything"]
    words = [Word(text=t, start=0.2 + 0.5 * i, end=0.6 + 0.5 * i) for i, t in enumerate(texts)]
    cues = [Cue(text=" ".join(texts), start=words[0].start, end=words[-1].end, words=words)]
    renderer = Renderer(preset="ultrafast")
    out: dict[str, tuple[str, Path]] = {}
    for layout in ("auto", "avatar_over_blur"):
        path = d / f"{layout}.mp4"
        used = renderer.render(
            source_path=talking_head, avatar_path=avatar, voice_path=voice, cues=cues, duration_s=SHORT_S,
            out_path=path, subtitles_path=path.with_suffix(".ass"), layout=layout,
        )  # fmt: skip
        out[layout] = (used, path)
    return out


def faces_in(path: Path) -> list[FaceBox | None]:
    """The speaker's face (fractions of the output frame) at each time of PROBE_AT, from decoded frames."""
    found: list[FaceBox | None] = []
    wanted = list(PROBE_AT)
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            if not wanted:
                break
            if frame.time is None or frame.time < wanted[0]:
                continue
            wanted.pop(0)
            rgb = frame.to_ndarray(format="rgb24")
            found.append(speaker_face(cv2.cvtColor(cv2.resize(rgb, (540, 960)), cv2.COLOR_RGB2GRAY)))
    assert not wanted, f"{path.name} ended before {wanted}"
    return found


def test_the_clip_is_landscape_with_narration_and_its_face_left_of_a_centre_crop(talking_head: Path) -> None:
    facts = probe(talking_head)
    assert (facts.width, facts.height) == (1280, 720) and facts.has_audio
    samples = sample_faces(talking_head)
    assert samples.found_fraction == 1.0
    # A fixed 9:16 centre crop spans 0.34-0.66 of the width: during the first seconds the face is outside it.
    early = [c for t, c in zip(samples.times, samples.centres, strict=True) if t <= SHORT_S and c is not None]
    assert early and max(early) < 0.3


def test_auto_chooses_face_crop_for_a_real_face(rendered: dict[str, tuple[str, Path]]) -> None:
    used, path = rendered["auto"]
    assert used == "face_crop"
    facts = probe(path)
    assert (facts.width, facts.height) == (1080, 1920)
    assert facts.duration_s == pytest.approx(SHORT_S, abs=0.3)


def test_face_crop_centres_the_face_and_fills_the_width(rendered: dict[str, tuple[str, Path]]) -> None:
    for t, face in zip(PROBE_AT, faces_in(rendered["auto"][1]), strict=True):
        assert face is not None, f"no face in the face_crop output at {t}s"
        assert face.centre_x == pytest.approx(0.5, abs=CENTRE_TOLERANCE), t
        assert face.w >= MIN_CROPPED_FACE_W, t


def test_avatar_over_blur_shows_the_same_face_smaller_and_off_centre(
    rendered: dict[str, tuple[str, Path]],
) -> None:
    cropped = [f for f in faces_in(rendered["auto"][1]) if f is not None]
    fitted = [f for f in faces_in(rendered["avatar_over_blur"][1]) if f is not None]
    assert fitted, "the fitted source should still show the face"
    assert np.mean([f.w for f in cropped]) >= 2.5 * np.mean([f.w for f in fitted])
    assert all(f.centre_x < 0.35 for f in fitted)
