"""How much of a script is copied from its source: word 3-gram containment.

Why this measure: platforms flag "reused content" when a new upload repeats the source's phrasing, and a
phrase is what survives a copy-paste with light edits. Single shared words prove nothing (any two texts
on the same topic share "pasta" and "salt"), but a run of three words in the same order rarely recurs by
chance. So we count, among the distinct word 3-grams of the script, the fraction that also occur anywhere in
the transcript (Broder's *containment* of the script in the source):

    similarity = |3grams(script) ∩ 3grams(transcript)| / |3grams(script)|

It is asymmetric on purpose: a short script that condenses a long transcript is not penalised for what it
leaves out, only for what it copies. A verbatim copy (or a copy of any part) scores 1.0; a fresh text on the
same topic scores near 0. `DEFAULT_MAX_SIMILARITY = 0.5` means at most half of the script's phrases may be
found verbatim in the source: a paraphrase that keeps names, numbers and a few set phrases passes, while a
trimmed or lightly edited copy does not.

Texts are compared lowercased with punctuation (including apostrophes) removed, so "Don't!" equals "dont".
"""

from __future__ import annotations

import re

DEFAULT_MAX_SIMILARITY = 0.5
"""Highest containment a script may have and still count as original."""

NGRAM = 3

# Letters and digits of any script; apostrophes are deleted first so contractions stay one word.
_WORD = re.compile(r"[^\W_]+")
_APOSTROPHES = re.compile(r"['’‘`]")


def words(text: str) -> list[str]:
    """Lowercased words of `text`, punctuation stripped ("Don't stop!" -> ["dont", "stop"])."""
    return _WORD.findall(_APOSTROPHES.sub("", text.lower()))


def ngrams(tokens: list[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    """Distinct n-grams of a token list (empty when it has fewer than `n` tokens)."""
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def similarity(script_text: str, transcript_text: str) -> float:
    """Fraction of the script's distinct word 3-grams that also occur in the transcript, in 0..1.

    A script shorter than three words has no phrase that could be copied and scores 0.0.
    """
    script_grams = ngrams(words(script_text))
    if not script_grams:
        return 0.0
    source_grams = ngrams(words(transcript_text))
    return len(script_grams & source_grams) / len(script_grams)


def is_original(script_text: str, transcript_text: str, threshold: float = DEFAULT_MAX_SIMILARITY) -> bool:
    """True when the script's similarity to the transcript is at most `threshold`."""
    return similarity(script_text, transcript_text) <= threshold
