"""Where the speaker's face is over time: sampled detections → a smoothed horizontal crop centre.

The detector is OpenCV's Haar frontal-face cascade, whose model file ships inside the `opencv-python-headless`
wheel (`cv2.data.haarcascades`): nothing is downloaded at run time. Detection runs on a few downscaled frames
per second, not on every frame: the crop centre moves slowly anyway, and the render stays one ffmpeg command.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from resources.media.probe import open_media

CENTRE = 0.5
SAMPLE_FPS = 2.0
DETECT_WIDTH = 480  # frames are downscaled to this width before detection (speed; faces stay ≥ 40 px)
MIN_FACE_FRACTION = 0.4  # `auto` frames around the face when at least this share of samples has one


@dataclass(frozen=True)
class FaceSamples:
    """Detections at sampled times: `centres[i]` is the face's centre x (0..1 of the width) at `times[i]`, or None."""

    times: tuple[float, ...]
    centres: tuple[float | None, ...]
    duration_s: float

    @property
    def found_fraction(self) -> float:
        """Share of sampled frames in which a face was found (0 when nothing was sampled)."""
        if not self.centres:
            return 0.0
        return sum(c is not None for c in self.centres) / len(self.centres)


@lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(f"face_track: cannot load {path}; reinstall opencv-python-headless 4.x")
    return cascade


@dataclass(frozen=True)
class FaceBox:
    """One detected face, in fractions (0..1) of the image's width and height."""

    x: float
    y: float
    w: float
    h: float

    @property
    def centre_x(self) -> float:
        return self.x + self.w / 2


def speaker_face(gray: np.ndarray) -> FaceBox | None:
    """The most confident frontal face in a grayscale image, or None.

    Most confident, not largest: on a real portrait the cascade also fires, weakly, on larger face-like
    patches beside the speaker (a shoulder, a helmet ring, a model rocket), and picking the biggest box made
    the crop jump to them in a quarter of the samples.
    """
    min_side = max(24, gray.shape[0] // 12)
    boxes, _levels, weights = _cascade().detectMultiScale3(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side), outputRejectLevels=True
    )
    if len(boxes) == 0:
        return None
    best = int(np.argmax(np.asarray(weights, dtype=float).reshape(-1)))
    x, y, w, h = (int(v) for v in boxes[best])
    height, width = gray.shape[:2]
    return FaceBox(x=x / width, y=y / height, w=w / width, h=h / height)


def speaker_face_centre(gray: np.ndarray) -> float | None:
    """Centre x (0..1 of the width) of the speaker's face (`speaker_face`) in a grayscale image, or None."""
    face = speaker_face(gray)
    return None if face is None else face.centre_x


def sample_faces(
    path: Path, *, sample_fps: float = SAMPLE_FPS, max_samples: int = 240, stop_below: float | None = None
) -> FaceSamples:
    """Decode `path`, detect the speaker's face in about `sample_fps` frames per second, return the detections.

    Only reference frames are decoded (B-frames are skipped: a sample lands at most a frame or two later), which
    halves the decoding of a typical upload. With `stop_below` (a share, e.g. MIN_FACE_FRACTION) sampling stops
    as soon as the samples still to come could no longer lift the found share to it: `auto` on a clip without a
    face then decodes about 60% of it, and chooses what it would have chosen after all of it.
    """
    times: list[float] = []
    centres: list[float | None] = []
    duration = 0.0
    with open_media(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.skip_frame = "NONREF"
        expected = max_samples
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        if duration > 0:
            expected = min(max_samples, math.floor(duration * sample_fps) + 1)
        misses = 0
        next_t = 0.0
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            duration = max(duration, float(frame.time))
            if frame.time + 1e-6 < next_t:
                continue
            next_t = float(frame.time) + 1.0 / sample_fps
            scale = min(1.0, DETECT_WIDTH / frame.width)
            small = frame.reformat(
                width=max(2, round(frame.width * scale)), height=max(2, round(frame.height * scale)), format="gray"
            )
            times.append(float(frame.time))
            centres.append(speaker_face_centre(small.to_ndarray()))
            misses += centres[-1] is None
            if len(times) >= max_samples:
                break
            if stop_below is not None and expected - misses < stop_below * expected:
                break
    return FaceSamples(times=tuple(times), centres=tuple(centres), duration_s=duration)


def smooth_track(
    samples: FaceSamples, *, window: int = 5, dead_zone: float = 0.06, hold_s: float = 1.5
) -> list[tuple[float, float]]:
    """Keyframes `(time, centre x 0..1)` of a steady crop centre, ready for linear interpolation.

    Gaps shorter than `hold_s` keep the nearest detection (a blink or a turned head must not jerk the frame);
    longer gaps fall back to the centre. A running median over `window` samples removes single false
    detections, and the centre only moves when the target leaves a `dead_zone` around it, so a speaker's small
    sways do not shake the picture.
    """
    if not samples.times:
        return [(0.0, CENTRE)]
    filled: list[float] = []
    known = [(t, c) for t, c in zip(samples.times, samples.centres, strict=True) if c is not None]
    for t, c in zip(samples.times, samples.centres, strict=True):
        if c is not None:
            filled.append(c)
            continue
        near = min(known, key=lambda k: abs(k[0] - t), default=None)
        filled.append(near[1] if near is not None and abs(near[0] - t) <= hold_s else CENTRE)
    half = window // 2
    medians = [statistics.median(filled[max(0, i - half) : i + half + 1]) for i in range(len(filled))]
    keys: list[tuple[float, float]] = []
    current = medians[0]
    for t, m in zip(samples.times, medians, strict=True):
        if abs(m - current) > dead_zone:
            current = m
        # Compare what is stored (rounded): comparing the raw median made every sample a keyframe.
        if not keys or keys[-1][1] != round(current, 4):
            keys.append((round(t, 3), round(current, 4)))
    if keys[0][0] > 0:
        keys[0] = (0.0, keys[0][1])
    return keys


def centre_expression(keys: list[tuple[float, float]], *, period_s: float, time_var: str = "t") -> str:
    """An ffmpeg expression of the crop centre (0..1) at time `time_var`, piecewise linear between keyframes.

    The source loops under a longer voice, so time is taken modulo `period_s` (when positive). Each change
    of centre is eased over at most 0.5 s up to the keyframe instead of jumping.
    """
    if len(keys) == 1:
        return f"{keys[0][1]:g}"
    tt = f"mod({time_var},{period_s:g})" if period_s > 0 else time_var
    expr = f"{keys[-1][1]:g}"
    # Build from the last keyframe backwards: if(lt(T,t_i), <before t_i>, <from t_i on>).
    for (t0, c0), (t1, c1) in reversed(list(itertools.pairwise(keys))):
        ramp_start = max(t0, t1 - 0.5)
        ramp = f"{c0:g}+({c1 - c0:g})*({tt}-{ramp_start:g})/{max(t1 - ramp_start, 1e-3):g}"
        expr = f"if(lt({tt},{ramp_start:g}),{c0:g},if(lt({tt},{t1:g}),{ramp},{expr}))"
    return expr
