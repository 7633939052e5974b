"""The originality measure: containment of the script's word 3-grams in the transcript."""

from __future__ import annotations

import pytest

from resources.rewrite.originality import (
    DEFAULT_MAX_SIMILARITY,
    is_original,
    ngrams,
    similarity,
    words,
)

SOURCE = "Salt your pasta water until it tastes like the sea, because that is your only chance to season it."


def test_words_are_lowercased_without_punctuation() -> None:
    assert words("Don't STOP, it's 10% off!") == ["dont", "stop", "its", "10", "off"]


def test_ngrams_are_distinct_and_need_three_words() -> None:
    assert ngrams(["a", "b", "c", "a", "b", "c"]) == {("a", "b", "c"), ("b", "c", "a"), ("c", "a", "b")}
    assert ngrams(["a", "b"]) == set()


def test_a_verbatim_copy_scores_one() -> None:
    assert similarity(SOURCE, SOURCE) == 1.0


def test_case_and_punctuation_do_not_hide_a_copy() -> None:
    assert similarity(SOURCE.upper().replace(",", "").replace(".", "!"), SOURCE) == 1.0


def test_a_copied_excerpt_scores_one_however_short_against_a_long_source() -> None:
    # Containment, not overlap: condensing a long source does not dilute a copy.
    assert similarity("your only chance to season it", SOURCE * 20) == 1.0


def test_unrelated_text_scores_zero() -> None:
    assert similarity("Budget apps track every dollar you spend each month.", SOURCE) == 0.0


def test_same_topic_in_new_words_scores_low() -> None:
    rewrite = "Season the cooking water heavily; it should taste of the ocean, since the noodles absorb it."
    assert similarity(rewrite, SOURCE) < 0.2


def test_half_copied_scores_in_between() -> None:
    half = "Salt your pasta water until it tastes great. Cooks rarely think about this step at all."
    assert 0.2 < similarity(half, SOURCE) < 0.6


def test_scripts_too_short_for_a_phrase_score_zero() -> None:
    assert similarity("Salt it", SOURCE) == 0.0
    assert similarity("", SOURCE) == 0.0


def test_similarity_is_asymmetric() -> None:
    short = "your only chance to season it"
    assert similarity(short, SOURCE) == 1.0
    assert similarity(SOURCE, short) < 0.5


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (SOURCE, False),
        ("Season the cooking water heavily so it tastes of the ocean.", True),
    ],
)
def test_is_original_uses_the_default_threshold(script: str, expected: bool) -> None:
    assert is_original(script, SOURCE) is expected
    assert DEFAULT_MAX_SIMILARITY == 0.5


def test_is_original_accepts_a_custom_threshold() -> None:
    half = "Salt your pasta water until it tastes great. Cooks rarely think about this step at all."
    score = similarity(half, SOURCE)
    assert is_original(half, SOURCE, threshold=score)
    assert not is_original(half, SOURCE, threshold=score - 0.01)
