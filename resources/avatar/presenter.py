"""Draw the offline presenter, one RGB frame at a time.

Everything that does not change is drawn once: the background with the body is a full frame, the head
(face, hair, ears, brows, nose) is one sprite, and the eyes and mouth are small sprites cached per quantised
state (blink level, gaze, mouth opening). A frame is then a handful of alpha blits inside the head's bounding
box into one reused buffer, which is what keeps a 30 s avatar at a few seconds of CPU.

Geometry is written for a 720×720 canvas and scaled, so any even size works.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from resources.errors import ConfigurationError

_BASE = 720.0
# Quantisation of the dynamic parts: finer than the eye can tell at 25 fps, coarse enough to cache.
_MOUTH_LEVELS = 32
_BLINK_LEVELS = 10

_INK = (44.0, 30.0, 32.0)
_EYE_WHITE = (250.0, 250.0, 247.0)
_IRIS = (84.0, 58.0, 40.0)
_PUPIL = (20.0, 16.0, 18.0)
_MOUTH_INSIDE = (92.0, 30.0, 42.0)
_TEETH = (248.0, 246.0, 240.0)
_TONGUE = (214.0, 104.0, 112.0)
_LIP = (190.0, 92.0, 92.0)


def hex_to_rgb(value: str) -> tuple[float, float, float]:
    """Parse "#rrggbb"; raise ConfigurationError naming the bad value."""
    text = value.strip().lstrip("#")
    if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ConfigurationError(f"avatar colour {value!r} is not of the form #rrggbb (e.g. #f2c29b)")
    return (float(int(text[0:2], 16)), float(int(text[2:4], 16)), float(int(text[4:6], 16)))


@dataclass(frozen=True)
class PresenterLook:
    """The presenter "template": colours as #rrggbb."""

    skin: str = "#f0c8a0"
    hair: str = "#3b2a22"
    shirt: str = "#2f6fde"
    background: str = "#1f3b5c"


@dataclass(frozen=True)
class _Sprite:
    """Premultiplied colour and inverse alpha of a drawn part, ready to be blended onto the frame."""

    premultiplied: np.ndarray  # (h, w, 3) float32
    transparency: np.ndarray  # (h, w, 1) float32, 1 - alpha
    x0: int  # top-left corner on the canvas when the head is at rest
    y0: int


class _Layer:
    """A small RGBA canvas painted with anti-aliased coverage masks (premultiplied, "over" compositing)."""

    def __init__(self, x0: int, y0: int, width: int, height: int) -> None:
        self.x0, self.y0 = x0, y0
        self.colour = np.zeros((height, width, 3), np.float32)
        self.alpha = np.zeros((height, width), np.float32)
        # Pixel-centre coordinates in canvas space, so shapes are described where they appear.
        ys, xs = np.mgrid[y0 : y0 + height, x0 : x0 + width].astype(np.float32)
        self.xs, self.ys = xs + 0.5, ys + 0.5

    def paint(self, coverage: np.ndarray, colour: tuple[float, float, float] | np.ndarray) -> None:
        cover = coverage[..., None]
        self.colour *= 1.0 - cover
        self.colour += np.asarray(colour, np.float32) * cover
        self.alpha += (1.0 - self.alpha) * coverage

    def sprite(self) -> _Sprite:
        return _Sprite(self.colour.copy(), (1.0 - self.alpha)[..., None].copy(), self.x0, self.y0)


def _ellipse(
    layer: _Layer,
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    ry_below: float | None = None,
    bend: float = 0.0,
) -> np.ndarray:
    """Anti-aliased coverage of an ellipse; `ry_below` makes a D shape, `bend` lifts its ends (a smile)."""
    dx = layer.xs - cx
    dy = layer.ys - cy + bend * (dx / rx) ** 2
    ry_map = ry if ry_below is None else np.where(dy < 0, ry, ry_below)
    u, v = dx / rx, dy / ry_map
    d = np.sqrt(u * u + v * v)
    # Signed distance ≈ (d - 1) / |∇d|: one pixel of soft edge regardless of the ellipse's size.
    grad = np.sqrt((u / rx) ** 2 + (v / ry_map) ** 2) / np.maximum(d, 1e-6)
    return np.clip(0.5 - (d - 1.0) / np.maximum(grad, 1e-6), 0.0, 1.0).astype(np.float32)


def _superellipse(layer: _Layer, cx: float, cy: float, rx: float, ry: float, power: float) -> np.ndarray:
    """Anti-aliased coverage of |x/rx|^p + |y/ry|^p <= 1 (drawn once, so a numeric gradient is fine)."""
    u, v = np.abs(layer.xs - cx) / rx, np.abs(layer.ys - cy) / ry
    d = (u**power + v**power) ** (1.0 / power)
    gy, gx = np.gradient(d)
    return np.clip(0.5 - (d - 1.0) / np.maximum(np.hypot(gx, gy), 1e-6), 0.0, 1.0).astype(np.float32)


def _below(layer: _Layer, edge: np.ndarray | float) -> np.ndarray:
    """Anti-aliased coverage of the pixels below a curve y = edge(x)."""
    return np.clip(layer.ys - edge + 0.5, 0.0, 1.0).astype(np.float32)


def _convex_polygon(layer: _Layer, points: list[tuple[float, float]]) -> np.ndarray:
    """Anti-aliased coverage of a convex polygon given clockwise on screen (y down)."""
    inside = np.full(layer.xs.shape, np.inf, np.float32)
    for (ax, ay), (bx, by) in zip(points, points[1:] + points[:1], strict=True):
        length = math.hypot(bx - ax, by - ay)
        distance = ((bx - ax) * (layer.ys - ay) - (by - ay) * (layer.xs - ax)) / length
        np.minimum(inside, distance, out=inside)
    return np.clip(inside + 0.5, 0.0, 1.0)


def _shade(colour: tuple[float, float, float], amount: float) -> tuple[float, float, float]:
    """Lighten (amount > 0) towards white or darken (amount < 0) towards black."""
    if amount >= 0:
        r, g, b = (c + (255.0 - c) * amount for c in colour)
    else:
        r, g, b = (c * (1.0 + amount) for c in colour)
    return (r, g, b)


def _mix(a: tuple[float, float, float], b: tuple[float, float, float], t: float) -> tuple[float, float, float]:
    r, g, bl = (x + (y - x) * t for x, y in zip(a, b, strict=True))
    return (r, g, bl)


class PresenterDrawer:
    """A friendly stylised presenter; `draw` returns the same reused H×W×3 uint8 buffer every call."""

    def __init__(self, size: int = 720, fps: int = 25, look: PresenterLook | None = None, seed: int = 7) -> None:
        if size < 128 or size % 2:
            raise ConfigurationError(f"avatar size {size} must be an even number of pixels ≥ 128 (e.g. 720)")
        look = look or PresenterLook()
        self.size, self.fps, self.seed = size, fps, seed
        self._k = size / _BASE
        self._skin = hex_to_rgb(look.skin)
        self._hair = hex_to_rgb(look.hair)
        self._shirt = hex_to_rgb(look.shirt)
        self._bg = hex_to_rgb(look.background)

        self._background = self._draw_background()
        self._frame = self._background.copy()
        self._head = self._draw_head()
        # The head never travels further than this, so only this box is ever restored and redrawn.
        margin = self._px(14)
        h, w = self._head.transparency.shape[:2]
        self._dirty = (
            slice(max(0, self._head.y0 - margin), min(size, self._head.y0 + h + margin)),
            slice(max(0, self._head.x0 - margin), min(size, self._head.x0 + w + margin)),
        )
        self._eye_sprite = lru_cache(maxsize=512)(self._draw_eye)
        self._mouth_sprite = lru_cache(maxsize=_MOUTH_LEVELS + 1)(self._draw_mouth)

    # ---- per frame -------------------------------------------------------------------------------------

    def draw(self, frame_index: int, mouth_open: float, blink: float) -> np.ndarray:
        """Frame `frame_index` with the mouth `mouth_open` (0..1) and eyelids `blink` (0 open .. 1 shut)."""
        mouth_open = min(max(mouth_open, 0.0), 1.0)
        blink = min(max(blink, 0.0), 1.0)
        dx, dy = self.head_offset(frame_index, mouth_open)
        self._frame[self._dirty] = self._background[self._dirty]
        self._blit(self._head, dx, dy)
        gx, gy = self._gaze(frame_index // (2 * self.fps))
        level = round(blink * _BLINK_LEVELS)
        for side in (-1, 1):
            self._blit(self._eye_sprite(side, level, gx, gy), dx, dy)
        self._blit(self._mouth_sprite(round(mouth_open * _MOUTH_LEVELS)), dx, dy)
        return self._frame

    def head_offset(self, frame_index: int, mouth_open: float) -> tuple[int, int]:
        """Head displacement in pixels: a slow sway and breathing bob plus a small nod on loud syllables."""
        t = frame_index / self.fps
        sway = 5.0 * math.sin(2 * math.pi * t / 4.7) + 2.0 * math.sin(2 * math.pi * t / 1.9 + 1.0)
        bob = 2.5 * math.sin(2 * math.pi * t / 3.3) + 3.0 * mouth_open
        return round(sway * self._k), round(bob * self._k)

    def _blit(self, sprite: _Sprite, dx: int, dy: int) -> None:
        h, w = sprite.transparency.shape[:2]
        y, x = sprite.y0 + dy, sprite.x0 + dx
        region = self._frame[y : y + h, x : x + w]
        blended = region * sprite.transparency
        blended += sprite.premultiplied
        np.copyto(region, blended, casting="unsafe")

    def _gaze(self, segment: int) -> tuple[int, int]:
        """Where the pupils look during a 2 s segment: mostly at the camera, sometimes a glance aside."""
        rng = np.random.default_rng((self.seed, segment))
        if rng.random() < 0.6:
            return (0, 0)
        return (int(rng.integers(-3, 4)), int(rng.integers(-1, 2)))

    # ---- drawn once ------------------------------------------------------------------------------------

    def _px(self, value: float) -> int:
        return round(value * self._k)

    def _layer(self, x0: float, y0: float, x1: float, y1: float) -> _Layer:
        """A layer over the canvas box given in 720-space, clamped to the canvas."""
        left, top = max(0, self._px(x0)), max(0, self._px(y0))
        right, bottom = min(self.size, self._px(x1)), min(self.size, self._px(y1))
        return _Layer(left, top, right - left, bottom - top)

    def _e(
        self,
        layer: _Layer,
        cx: float,
        cy: float,
        rx: float,
        ry: float,
        ry_below: float | None = None,
        bend: float = 0.0,
    ) -> np.ndarray:
        """`_ellipse` with its geometry given in 720-space."""
        k = self._k
        below = None if ry_below is None else ry_below * k
        return _ellipse(layer, cx * k, cy * k, rx * k, ry * k, below, bend * k)

    def _draw_background(self) -> np.ndarray:
        """Gradient, a soft halo behind the head, two faint discs, and the (static) neck and shirt."""
        layer = self._layer(0, 0, _BASE, _BASE)
        top, bottom = (
            np.array(_shade(self._bg, 0.22), np.float32),
            np.array(_shade(self._bg, -0.25), np.float32),
        )
        t = (layer.ys / self.size)[..., None]
        layer.paint(np.ones_like(layer.xs), top * (1 - t) + bottom * t)
        layer.paint(self._e(layer, 360, 330, 265, 265) * 0.10, _shade(self._bg, 0.6))
        layer.paint(self._e(layer, 360, 330, 215, 215) * 0.08, _shade(self._bg, 0.7))
        layer.paint(self._e(layer, 640, 110, 95, 95) * 0.06, _shade(self._bg, 0.8))
        layer.paint(self._e(layer, 70, 610, 130, 130) * 0.05, _shade(self._bg, 0.8))

        k = self._k
        neck = _convex_polygon(layer, [(322 * k, 380 * k), (398 * k, 380 * k), (410 * k, 640 * k), (310 * k, 640 * k)])
        neck_rgb = np.array(self._skin, np.float32) * (1.0 - 0.1 * np.clip((layer.ys / k - 420) / 120, 0, 1))[..., None]
        layer.paint(neck, neck_rgb)
        layer.paint(neck * self._e(layer, 360, 440, 70, 40) * 0.5, _shade(self._skin, -0.3))  # the chin's shadow

        # Squarish shoulders: a superellipse reads as a torso where an ellipse reads as a dome.
        shirt = _superellipse(layer, 360 * k, 795 * k, 305 * k, 285 * k, 2.6)
        shirt *= 1.0 - _convex_polygon(layer, [(318 * k, 500 * k), (402 * k, 500 * k), (360 * k, 598 * k)])
        shading = np.clip((layer.xs / self.size - 0.5) * 1.2, -0.5, 0.5)[..., None]
        shirt_rgb = np.array(self._shirt, np.float32) * (1.0 - 0.18 * shading) - 12.0 * shading
        layer.paint(shirt, np.clip(shirt_rgb, 0, 255))
        trim = _shade(self._shirt, 0.3)
        for points in (
            [(308 * k, 512 * k), (320 * k, 510 * k), (362 * k, 600 * k), (356 * k, 614 * k)],
            [(400 * k, 510 * k), (412 * k, 512 * k), (364 * k, 614 * k), (358 * k, 600 * k)],
        ):
            layer.paint(_convex_polygon(layer, points) * shirt, trim)
        return np.clip(layer.colour, 0, 255).astype(np.uint8)

    def _draw_head(self) -> _Sprite:
        """Back hair, ears, face, cheeks, nose, fringe and brows: all of the head that never changes."""
        layer = self._layer(200, 100, 520, 470)
        skin, hair = self._skin, self._hair
        skin_dark = _shade(skin, -0.12)

        back_hair = self._e(layer, 360, 268, 136, 150) * (1.0 - _below(layer, 330 * self._k))
        layer.paint(back_hair, _shade(hair, -0.15))
        for cx in (244, 476):
            layer.paint(self._e(layer, cx, 318, 20, 31), skin_dark)
            layer.paint(self._e(layer, cx, 318, 11, 19) * 0.6, _shade(skin, -0.25))

        layer.paint(self._e(layer, 360, 305, 118, 132, ry_below=145), self._face_rgb(layer))

        blush = _mix(skin, (232.0, 110.0, 110.0), 0.55)
        for cx in (296, 424):
            layer.paint(self._e(layer, cx, 368, 24, 14) * 0.35, blush)
        layer.paint(self._e(layer, 360, 350, 13, 8) * 0.45, _shade(skin, -0.3))  # nose tip shadow
        layer.paint(self._e(layer, 356, 346, 6, 4) * 0.5, _shade(skin, 0.35))  # nose highlight

        # A side-swept fringe: the hair cap clipped above a curve that dips towards the viewer's right.
        xs = (layer.xs / self._k - 360) / 120
        fringe_edge = (228 + 26 * xs + 22 * np.clip(xs, 0, None) ** 2 - 14 * np.cos(xs * 3.0)) * self._k
        fringe = self._e(layer, 360, 276, 124, 142) * (1.0 - _below(layer, fringe_edge))
        layer.paint(fringe, hair)
        sheen = self._e(layer, 322, 186, 48, 16) * (1.0 - self._e(layer, 322, 194, 52, 16)) * fringe * 0.3
        layer.paint(sheen, _shade(hair, 0.45))

        for side in (-1, 1):
            brow = self._e(layer, 360 + side * 44, 270, 30, 14) * (1.0 - self._e(layer, 360 + side * 44, 277, 32, 13))
            layer.paint(brow, _shade(hair, -0.1))
        return layer.sprite()

    def _face_rgb(self, layer: _Layer) -> np.ndarray:
        """Skin lit from the top left: the face and the eyelids share it so a closed lid leaves no seam."""
        k = self._k
        light = np.clip((layer.xs - 300 * k) / (160 * k), 0, 1) * 0.4
        light += np.clip((layer.ys - 250 * k) / (200 * k), 0, 1) * 0.6
        lit, shaded = (
            np.array(_shade(self._skin, 0.06), np.float32),
            np.array(_shade(self._skin, -0.11), np.float32),
        )
        return lit * (1 - light[..., None]) + shaded * light[..., None]

    def _draw_eye(self, side: int, blink_level: int, gaze_x: int, gaze_y: int) -> _Sprite:
        """One eye (side -1 viewer's left, 1 right) with its upper lid closed by blink_level/_BLINK_LEVELS."""
        cx, cy, rx, ry = 360 + side * 42, 304.0, 23.0, 15.0
        layer = self._layer(cx - rx - 6, cy - ry - 6, cx + rx + 6, cy + ry + 6)
        outline = self._e(layer, cx, cy - 0.5, rx + 2.5, ry + 2.5)
        white = self._e(layer, cx, cy, rx, ry)
        layer.paint(outline, _INK)
        layer.paint(white, _EYE_WHITE)
        ix, iy = cx + gaze_x, cy + gaze_y + 1
        layer.paint(self._e(layer, ix, iy, 12, 12) * white, _IRIS)
        layer.paint(self._e(layer, ix, iy, 9, 9) * white * 0.35, _shade(_IRIS, 0.25))
        layer.paint(self._e(layer, ix, iy, 5.5, 5.5) * white, _PUPIL)
        layer.paint(self._e(layer, ix - 4, iy - 4, 3, 3) * white, (255.0, 255.0, 255.0))

        # The lid edge sweeps from the upper rim (a relaxed lid already covers a little) to just below the
        # lower rim, following the eye's curve so a shut eye reads as a smiling ∪ lash line.
        closure = 0.16 + 0.84 * blink_level / _BLINK_LEVELS
        k = self._k
        dx = (layer.xs - cx * k) / (rx * k)
        half_height = ry * k * np.sqrt(np.clip(1.0 - dx * dx, 0.0, 1.0))
        lid_edge = cy * k - half_height + closure * (2 * half_height + 3.0 * k)
        lid = self._e(layer, cx, cy, rx + 4, ry + 4) * (1.0 - _below(layer, lid_edge))
        layer.paint(lid, self._face_rgb(layer))
        across = np.clip((rx + 2.5) * k - np.abs(layer.xs - cx * k), 0.0, 1.0)
        lash = across * np.clip(2.2 * k - np.abs(layer.ys - lid_edge), 0.0, 1.0)
        layer.paint(lash, _INK)
        return layer.sprite()

    def _draw_mouth(self, level: int) -> _Sprite:
        """The mouth opened to level/_MOUTH_LEVELS: a smiling D shape with lips, teeth and tongue."""
        amount = level / _MOUTH_LEVELS
        cx, top = 360.0, 392.0
        rx = 36.0 - 7.0 * amount
        upper, lower = 3.0 + 4.0 * amount, 3.0 + 27.0 * amount
        layer = self._layer(cx - 50, top - 22, cx + 50, top + 44)
        bend = 6.0 * (1.0 - 0.5 * amount)
        lips = self._e(layer, cx, top, rx + 4, upper + 3, ry_below=lower + 4, bend=bend)
        inside = self._e(layer, cx, top, rx, upper, ry_below=lower, bend=bend)
        layer.paint(lips, _mix(_LIP, self._skin, 0.25))
        layer.paint(inside, _MOUTH_INSIDE)
        teeth = inside * (1.0 - _below(layer, (top + 1.0 + 5.0 * amount) * self._k))
        layer.paint(teeth * min(1.0, amount * 4), _TEETH)
        tongue = self._e(layer, cx, top + lower + 2, rx * 0.6, lower * 0.55) * inside
        layer.paint(tongue * min(1.0, amount * 3), _TONGUE)
        return layer.sprite()
