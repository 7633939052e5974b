"""Render stage: the one-pass FFmpeg post-processor that produces the finished 1080x1920 short."""

from resources.render.renderer import Renderer, measure_lufs

__all__ = ["Renderer", "measure_lufs"]
