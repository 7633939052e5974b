"""Caption phrasing and the ASS document (pure functions)."""

from __future__ import annotations

import re

from resources.records import Cue, Word
from resources.render.fonts import FONT_FAMILY
from resources.render.subtitles import (
    HIGHLIGHT_COLOUR,
    Phrase,
    ass_document,
    ass_time,
    caption_events,
    escape_ass_text,
    phrases,
)


def make_cue(text: str, start: float = 0.0, step: float = 0.5) -> Cue:
    words = [
        Word(text=t, start=start + i * step, end=start + i * step + step * 0.8) for i, t in enumerate(text.split())
    ]
    return Cue(text=text, start=words[0].start, end=words[-1].end, words=words)


def timed_cue(*words: tuple[str, float, float]) -> Cue:
    """The cue "a b" from 0 to 1 s whose words are exactly these (text, start, end), odd timings included."""
    return Cue(text="a b", start=0, end=1, words=[Word(text=text, start=start, end=end) for text, start, end in words])


def texts(result: list[Phrase]) -> list[str]:
    return [p.text for p in result]


def dialogue_lines(document: str, style: str) -> list[str]:
    return [line for line in document.splitlines() if line.startswith("Dialogue:") and f",{style}," in line]


def test_phrases_hold_at_most_four_words() -> None:
    assert texts(phrases([make_cue("a b c d e f g h i")])) == ["a b c d", "e f g h", "i"]


def test_phrases_stay_within_the_character_limit() -> None:
    result = phrases([make_cue("extraordinary adventures happen tomorrow")])
    assert texts(result) == ["extraordinary", "adventures happen", "tomorrow"]
    assert all(len(p.text) <= 22 for p in result)


def test_a_single_overlong_word_is_its_own_phrase() -> None:
    assert texts(phrases([make_cue("supercalifragilisticexpialidocious yes")])) == [
        "supercalifragilisticexpialidocious",
        "yes",
    ]


def test_phrases_break_after_punctuation() -> None:
    assert texts(phrases([make_cue("Wait, what? It works. Really")])) == [
        "Wait,",
        "what?",
        "It works.",
        "Really",
    ]


def test_phrases_never_span_two_cues() -> None:
    result = phrases([make_cue("one two", start=0.0), make_cue("three four", start=2.0)])
    assert texts(result) == ["one two", "three four"]


def test_blank_words_are_skipped() -> None:
    cue = timed_cue(("a", 0, 0.4), (" ", 0.4, 0.5))
    assert texts(phrases([cue])) == ["a"]


def test_one_caption_event_per_word() -> None:
    events = caption_events(phrases([make_cue("a b c d e f")]))
    assert len(events) == 6
    assert [e.active for e in events] == [0, 1, 2, 3, 0, 1]


def test_a_word_event_lasts_until_the_next_word_of_its_phrase_starts() -> None:
    events = caption_events(phrases([make_cue("a b c", step=0.5)]))
    assert [(e.start, e.end) for e in events] == [(0.0, 0.5), (0.5, 1.0), (1.0, 1.4)]


def test_overlapping_word_timings_still_give_positive_durations() -> None:
    cue = timed_cue(("a", 0.5, 0.6), ("b", 0.2, 1))
    assert all(e.end > e.start for e in caption_events(phrases([cue])))


def test_the_active_word_is_highlighted_and_the_others_are_not() -> None:
    document = ass_document([make_cue("one two three")], duration_s=3, watermark="", margin_v=700)
    lines = dialogue_lines(document, "Caption")
    assert len(lines) == 3
    assert lines[1].endswith(f"one {{\\c{HIGHLIGHT_COLOUR}}}two{{\\r}} three")


def test_caption_events_carry_ass_timestamps() -> None:
    document = ass_document([make_cue("one two", start=1.0)], duration_s=3, watermark="", margin_v=700)
    assert dialogue_lines(document, "Caption")[0].startswith("Dialogue: 0,0:00:01.00,0:00:01.50,Caption,")


def test_events_after_the_end_of_the_video_are_dropped_and_clipped() -> None:
    document = ass_document([make_cue("a b c d", step=1.0)], duration_s=2.5, watermark="", margin_v=700)
    lines = dialogue_lines(document, "Caption")
    assert len(lines) == 3
    assert ",0:00:02.00,0:00:02.50," in lines[-1]


def test_watermark_is_one_event_for_the_whole_duration() -> None:
    document = ass_document([make_cue("hi")], duration_s=12.345, watermark="@viral{shorts}", margin_v=700)
    assert dialogue_lines(document, "Watermark") == [
        "Dialogue: 1,0:00:00.00,0:00:12.35,Watermark,,0,0,0,,@viral\\{shorts\\}"
    ]


def test_empty_watermark_adds_no_event() -> None:
    assert dialogue_lines(ass_document([], duration_s=5, watermark=" ", margin_v=700), "Watermark") == []


def test_document_targets_a_1080x1920_frame_with_the_bundled_font_and_given_margin() -> None:
    document = ass_document([], duration_s=5, watermark="w", margin_v=732)
    assert "PlayResX: 1080" in document and "PlayResY: 1920" in document
    caption_style = next(line for line in document.splitlines() if line.startswith("Style: Caption,"))
    fields = caption_style.removeprefix("Style: ").split(",")
    assert fields[1] == FONT_FAMILY
    assert fields[-2] == "732"


def test_escape_ass_text_makes_braces_literal() -> None:
    assert escape_ass_text("{\\b1}bold") == "\\{\\\u2060b1\\}bold"


def test_escape_ass_text_stops_backslash_sequences_from_breaking_lines() -> None:
    escaped = escape_ass_text("C:\\New\\h")
    assert not re.search(r"\\[Nnh]", escaped)
    assert escaped.replace("\u2060", "") == "C:\\New\\h"


def test_escape_ass_text_turns_newlines_into_spaces() -> None:
    assert escape_ass_text("one\ntwo\r\nthree") == "one two three"


def test_ass_time_formats_hours_minutes_seconds_centiseconds() -> None:
    assert ass_time(3723.45) == "1:02:03.45"


def test_ass_time_rounds_to_the_nearest_centisecond() -> None:
    assert ass_time(1.006) == "0:00:01.01"
    assert ass_time(59.996) == "0:01:00.00"


def test_ass_time_clamps_negative_times_to_zero() -> None:
    assert ass_time(-0.2) == "0:00:00.00"
