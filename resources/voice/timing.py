"""Pure timing helpers: where speech sits in a cue's samples and how its words share that span."""

from __future__ import annotations

import re

import numpy as np

from resources.records import Word


def voiced_span(samples: np.ndarray, sample_rate: int, threshold: float = 0.02) -> tuple[float, float]:
    """(start, end) seconds of the audible part of `samples` (int16 or float), trimming silence at both ends."""
    if samples.size == 0:
        return 0.0, 0.0
    level = np.abs(samples.astype(np.float32))
    if samples.dtype == np.int16:
        level /= 32768.0
    window = max(1, sample_rate // 100)  # 10 ms frames so a click does not count as speech
    frames = level[: level.size // window * window].reshape(-1, window).max(axis=1) if level.size >= window else level
    loud = np.flatnonzero(frames > threshold)
    if loud.size == 0:
        return 0.0, samples.size / sample_rate
    return float(loud[0] * window / sample_rate), float(min(samples.size, (loud[-1] + 1) * window) / sample_rate)


def _weight(word: str) -> float:
    # Spoken length follows letters (digits are spoken long), punctuation adds a short pause.
    letters = len(re.sub(r"[^\w]", "", word))
    digits = sum(ch.isdigit() for ch in word)
    pause = 1.5 if word[-1:] in ",;:" else 2.5 if word[-1:] in ".!?" else 0.0
    return 1.0 + letters + 2.0 * digits + pause


def distribute_words(text: str, start: float, end: float) -> list[Word]:
    """Split `text` into words spread over [start, end] in proportion to their spoken length."""
    tokens = text.split()
    if not tokens:
        return []
    weights = [_weight(token) for token in tokens]
    total = sum(weights)
    span = max(0.0, end - start)
    words: list[Word] = []
    cursor = start
    for token, weight in zip(tokens, weights, strict=True):
        length = span * weight / total
        words.append(Word(text=token, start=round(cursor, 3), end=round(cursor + length, 3)))
        cursor += length
    return words
