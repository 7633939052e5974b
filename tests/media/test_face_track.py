"""Face tracking on a real decoded clip: a drawn face that moves, found by the Haar cascade from the wheel."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from resources.render.face_track import CENTRE, FaceSamples, centre_expression, sample_faces, smooth_track

W, H, FPS, SECONDS, FACE = 640, 360, 10, 3, 140


def drawn_face(size: int) -> np.ndarray:
    """A flat cartoon face (skin oval, brows, eyes, nose, mouth): the Haar cascade finds it reliably."""
    img = np.full((200, 200, 3), 90, np.uint8)
    cv2.ellipse(img, (100, 105), (70, 92), 0, 0, 360, (215, 175, 150), -1)
    for x in (70, 130):
        cv2.ellipse(img, (x, 58), (20, 6), 0, 0, 360, (50, 40, 40), -1)
        cv2.ellipse(img, (x, 82), (15, 9), 0, 0, 360, (250, 250, 250), -1)
        cv2.circle(img, (x, 82), 7, (30, 30, 30), -1)
    cv2.line(img, (100, 85), (92, 125), (170, 130, 110), 4)
    cv2.ellipse(img, (100, 150), (28, 10), 0, 0, 360, (150, 60, 60), -1)
    return cv2.resize(cv2.GaussianBlur(img, (5, 5), 0), (size, size))


def face_left(t: float) -> int:
    """The face's left edge at time t: it sits left for 1 s, glides right over 1 s, then sits right."""
    left, right = 40, W - FACE - 40
    k = min(max(t - 1.0, 0.0), 1.0)
    return round(left + (right - left) * k)


def write_moving_face(path: Path, *, with_face: bool = True) -> Path:
    rng = np.random.default_rng(7)
    backdrop = cv2.GaussianBlur(rng.integers(0, 255, (H, W * 2, 3), np.uint8), (41, 41), 0)
    face = drawn_face(FACE)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(FPS * SECONDS):
            shift = i * 4  # the background moves too, so nothing but the face is steady
            frame: np.ndarray = np.ascontiguousarray(backdrop[:, shift : shift + W], dtype=np.uint8)
            if with_face:
                x = face_left(i / FPS)
                frame[100 : 100 + FACE, x : x + FACE] = face
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def moving_face(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_moving_face(tmp_path_factory.mktemp("face") / "moving_face.mp4")


def expected_centre(t: float) -> float:
    return (face_left(t) + FACE / 2) / W


def test_sampled_detections_follow_the_moving_face(moving_face: Path) -> None:
    samples = sample_faces(moving_face, sample_fps=4)
    assert samples.found_fraction >= 0.8
    for t, c in zip(samples.times, samples.centres, strict=True):
        if c is not None:
            assert c == pytest.approx(expected_centre(t), abs=0.05), t


def test_a_clip_without_a_face_yields_no_detections_and_a_centred_track(tmp_path: Path) -> None:
    samples = sample_faces(write_moving_face(tmp_path / "empty.mp4", with_face=False))
    assert samples.found_fraction == 0.0
    assert smooth_track(samples) == [(0.0, CENTRE)]


def test_the_smoothed_track_starts_left_and_ends_right(moving_face: Path) -> None:
    keys = smooth_track(sample_faces(moving_face, sample_fps=4))
    assert keys[0][0] == 0.0
    assert keys[0][1] == pytest.approx(expected_centre(0), abs=0.05)
    assert keys[-1][1] == pytest.approx(expected_centre(SECONDS), abs=0.05)


def samples(*centres: float | None, step: float = 0.5) -> FaceSamples:
    return FaceSamples(times=tuple(i * step for i in range(len(centres))), centres=centres, duration_s=5)


def test_small_sways_inside_the_dead_zone_do_not_move_the_crop() -> None:
    keys = smooth_track(samples(0.30, 0.32, 0.29, 0.31, 0.33, 0.30))
    assert len(keys) == 1 and keys[0][1] == pytest.approx(0.31, abs=0.02)


def test_a_single_false_detection_is_filtered_out() -> None:
    assert smooth_track(samples(0.3, 0.3, 0.3, 0.9, 0.3, 0.3, 0.3)) == [(0.0, 0.3)]


def test_a_short_gap_holds_the_face_and_a_long_gap_falls_back_to_centre() -> None:
    short = smooth_track(samples(0.2, 0.2, 0.2, None, 0.2, 0.2, 0.2))
    assert short == [(0.0, 0.2)]
    long_gap = smooth_track(samples(0.2, 0.2, 0.2, *([None] * 10), 0.2, 0.2, 0.2))
    assert any(c == CENTRE for _t, c in long_gap)


def test_the_centre_expression_is_a_constant_for_one_keyframe_and_loops_with_the_source() -> None:
    assert centre_expression([(0.0, 0.25)], period_s=3) == "0.25"
    expr = centre_expression([(0.0, 0.2), (2.0, 0.8)], period_s=3)
    assert "mod(t,3)" in expr and expr.startswith("if(lt(mod(t,3),1.5),0.2,")
