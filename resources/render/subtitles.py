"""Word-timed captions as an ASS document (pure functions, no I/O).

Words are grouped into short phrases; each word gets one Dialogue event that shows its whole phrase with that
word highlighted, lasting until the next word of the phrase starts, so the caption never flickers off between
words. The watermark is one more event spanning the whole video.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from resources.records import Cue, Word
from resources.render.fonts import FONT_FAMILY

PLAY_RES_X = 1080
PLAY_RES_Y = 1920
MAX_PHRASE_WORDS = 4
MAX_PHRASE_CHARS = 22
HIGHLIGHT_COLOUR = "&H00FFFF&"  # ASS colours are &HBBGGRR&: this is yellow
_PHRASE_BREAK_AFTER = (".", ",", "!", "?", ";", ":", "…", "—", "–")
_WORD_JOINER = "\u2060"  # zero-width and invisible in libass: breaks `\N`, `\h` without showing anything


@dataclass(frozen=True)
class Phrase:
    """A few consecutive words of one cue that are shown together."""

    words: tuple[Word, ...]

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return self.words[-1].end

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass(frozen=True)
class CaptionEvent:
    """One Dialogue line: the phrase shown from `start` to `end` with word `active` highlighted."""

    start: float
    end: float
    phrase: Phrase
    active: int


def phrases(
    cues: Iterable[Cue], *, max_words: int = MAX_PHRASE_WORDS, max_chars: int = MAX_PHRASE_CHARS
) -> list[Phrase]:
    """Group each cue's words into phrases of at most `max_words` words / `max_chars` characters.

    A phrase never spans two cues and ends after a word carrying punctuation. A single word longer than
    `max_chars` forms its own phrase. Words with blank text are skipped.
    """
    result: list[Phrase] = []
    for cue in cues:
        current: list[Word] = []
        for word in cue.words:
            text = word.text.strip()
            if not text:
                continue
            if current and (
                len(current) >= max_words or len(" ".join(w.text.strip() for w in current)) + 1 + len(text) > max_chars
            ):
                result.append(Phrase(tuple(current)))
                current = []
            current.append(word)
            if text.endswith(_PHRASE_BREAK_AFTER):
                result.append(Phrase(tuple(current)))
                current = []
        if current:
            result.append(Phrase(tuple(current)))
    return result


def caption_events(phrase_list: Sequence[Phrase]) -> list[CaptionEvent]:
    """One event per word: from its start until the next word of the phrase starts (the last: its own end)."""
    events: list[CaptionEvent] = []
    for phrase in phrase_list:
        for i, word in enumerate(phrase.words):
            end = phrase.words[i + 1].start if i + 1 < len(phrase.words) else word.end
            # Guard against overlapping or zero-length timings from upstream: keep at least one centisecond.
            events.append(CaptionEvent(start=word.start, end=max(end, word.start + 0.01), phrase=phrase, active=i))
    return events


def ass_time(seconds: float) -> str:
    """Format seconds as an ASS timestamp `H:MM:SS.cc`, rounded half up to centiseconds (never negative)."""
    # The epsilon absorbs binary float error: 12.345 * 100 is 1234.4999..., which must still round up.
    centis = max(0, math.floor(seconds * 100 + 0.5 + 1e-6))
    hours, centis = divmod(centis, 360_000)
    minutes, centis = divmod(centis, 6_000)
    secs, centis = divmod(centis, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{centis:02d}"


def escape_ass_text(text: str) -> str:
    """Make `text` display literally in an ASS Dialogue: braces, backslashes, newlines lose their meaning."""
    # Backslash first, so the escapes added for braces below stay intact. libass reads `\{` / `\}` as
    # literal braces; a word joiner after a backslash stops `\N`, `\n`, `\h` acting as breaks/spaces.
    text = text.replace("\\", "\\" + _WORD_JOINER)
    text = text.replace("{", "\\{").replace("}", "\\}")
    return " ".join(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def event_text(event: CaptionEvent, *, highlight_colour: str = HIGHLIGHT_COLOUR) -> str:
    """The phrase as ASS text with the active word in `highlight_colour` (colour only: no layout jitter)."""
    parts = []
    for i, word in enumerate(event.phrase.words):
        text = escape_ass_text(word.text.strip())
        parts.append(f"{{\\c{highlight_colour}}}{text}{{\\r}}" if i == event.active else text)
    return " ".join(parts)


def ass_document(
    cues: Sequence[Cue],
    *,
    duration_s: float,
    watermark: str,
    margin_v: int,
    font_size: int = 80,
    watermark_alignment: int = 7,
) -> str:
    """A complete ASS script for a 1080x1920 frame: word-highlighted captions plus a persistent watermark.

    `margin_v` is the distance in pixels from the bottom edge to the caption baseline area (the layout
    chooses it so captions do not cover the avatar). `watermark_alignment` is an ASS numpad position
    (7 = top left, 9 = top right). An empty `watermark` adds no watermark event.
    """
    styles = [
        # Bold=-1 makes libass pick Lato-Bold.ttf; a thick black outline keeps white text readable anywhere.
        f"Style: Caption,{FONT_FAMILY},{font_size},&H00FFFFFF,&H0000FFFF,&H00000000,&H80000000,"
        f"-1,0,0,0,100,100,0,0,1,6,2,2,60,60,{margin_v},1",
        f"Style: Watermark,{FONT_FAMILY},44,&H60FFFFFF,&H60FFFFFF,&H80000000,&H00000000,"
        f"-1,0,0,0,100,100,0,0,1,2,0,{watermark_alignment},48,48,64,1",
    ]
    lines = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {PLAY_RES_X}",
        f"PlayResY: {PLAY_RES_Y}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "YCbCr Matrix: None",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
        "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
        "Alignment, MarginL, MarginR, MarginV, Encoding",
        *styles,
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    if watermark.strip():
        lines.append(f"Dialogue: 1,{ass_time(0)},{ass_time(duration_s)},Watermark,,0,0,0,,{escape_ass_text(watermark)}")
    for event in caption_events(phrases(cues)):
        if event.start >= duration_s:
            continue
        end = min(event.end, duration_s)
        lines.append(f"Dialogue: 0,{ass_time(event.start)},{ass_time(end)},Caption,,0,0,0,,{event_text(event)}")
    return "\n".join(lines) + "\n"
