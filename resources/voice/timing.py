"""Pure timing helpers: where speech sits in a cue's samples and how its words share that span."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence

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


def _aligned_word_spans(
    characters: Sequence[str], starts: Sequence[float], ends: Sequence[float]
) -> list[tuple[float, float]] | None:
    """(start, end) per whitespace-separated word of a character alignment; None when the alignment is unusable."""
    if not characters or not len(characters) == len(starts) == len(ends):
        return None
    if not all(math.isfinite(t) and t >= 0 for t in (*starts, *ends)):
        return None
    spans: list[tuple[float, float]] = []
    current: tuple[float, float] | None = None
    for char, start, end in zip(characters, starts, ends, strict=True):
        if not char.strip():
            if current is not None:
                spans.append(current)
                current = None
            continue
        current = (start, max(start, end)) if current is None else (current[0], max(current[1], end))
    if current is not None:
        spans.append(current)
    # A provider clock that runs backwards means the arrays do not describe this audio.
    if any(later[0] < earlier[0] for earlier, later in itertools.pairwise(spans)):
        return None
    return spans


def words_from_alignment(
    text: str,
    characters: Sequence[str] | None,
    starts: Sequence[float] | None,
    ends: Sequence[float] | None,
    offset: float = 0.0,
    *,
    fallback_span: tuple[float, float] | None = None,
) -> list[Word]:
    """Words of `text` timed by a character alignment (e.g. ElevenLabs), shifted by `offset` seconds.

    Characters are grouped into whitespace-separated words; a word runs from its first character's start to its
    last character's end. The provider may align a normalized text ("5" spoken as "five"): as long as it has as
    many words as `text`, the input's words keep the provider's times. When the alignment is missing or does not
    fit (lengths differ, word counts differ, times go backwards), the words are spread over `fallback_span`
    (default: the span the alignment's times cover) with `distribute_words`.
    """
    tokens = text.split()
    spans = _aligned_word_spans(characters or [], starts or [], ends or [])
    if spans is not None and len(spans) == len(tokens):
        return [
            Word(text=token, start=round(offset + start, 3), end=round(offset + end, 3))
            for token, (start, end) in zip(tokens, spans, strict=True)
        ]
    if fallback_span is None:
        times = [t for t in (*(starts or []), *(ends or [])) if math.isfinite(t) and t >= 0]
        fallback_span = (min(times), max(times)) if times else (0.0, 0.0)
    return distribute_words(text, offset + fallback_span[0], offset + fallback_span[1])


def shift_words(words: Sequence[Word], offset: float) -> list[Word]:
    """`words` moved `offset` seconds later (a line's timings placed in the whole voiceover)."""
    return [Word(text=w.text, start=round(w.start + offset, 3), end=round(w.end + offset, 3)) for w in words]
