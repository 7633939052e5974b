"""Transcribe: speech of the source video with word timestamps."""

from resources.transcribe.transcriber import Transcriber

__all__ = ["Transcriber"]
