"""The offline rewriter on real speech (tests/data/real_speech/clips.json): issue 14's done-when properties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from resources.errors import InputRejected
from resources.records import Script, Transcript, Word
from resources.rewrite import Rewriter
from resources.rewrite.local import NothingToSay, NotOriginal
from resources.rewrite.originality import DEFAULT_MAX_SIMILARITY, similarity
from resources.rewrite.quality import cut_off_lines, filler_lines, non_topic_hashtags

CLIPS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent.parent / "data" / "real_speech" / "clips.json").read_text()
)["clips"]
SPOKEN = [clip for clip in CLIPS if not clip.get("too_short")]
TOO_SHORT = [clip for clip in CLIPS if clip.get("too_short")]


def transcript_of(text: str) -> Transcript:
    words = [Word(text=w, start=i * 0.4, end=i * 0.4 + 0.35) for i, w in enumerate(text.split())]
    return Transcript(language="en", text=text, words=words, duration_s=len(words) * 0.4, provider="t", model="t")


def scripts() -> dict[str, Script]:
    """The script of every clip the engine does not refuse."""
    out = {}
    for clip in SPOKEN:
        try:
            out[clip["id"]] = Rewriter().rewrite(transcript_of(clip["text"]))
        except InputRejected:
            continue
    return out


SCRIPTS = scripts()
TEXT = {clip["id"]: clip["text"] for clip in CLIPS}


def test_the_set_is_real_speech_with_its_origin_and_licence() -> None:
    assert len(SPOKEN) >= 20 and TOO_SHORT
    for clip in CLIPS:
        assert clip["origin"]["repo"] and clip["origin"]["path"] and len(clip["origin"]["commit"]) == 40
        assert clip["licence"]


def test_most_real_clips_become_scripts() -> None:
    assert len(SCRIPTS) >= 20


@pytest.mark.parametrize("clip_id", sorted(SCRIPTS))
def test_no_body_line_is_filler(clip_id: str) -> None:
    assert filler_lines(SCRIPTS[clip_id], TEXT[clip_id]) == []


@pytest.mark.parametrize("clip_id", sorted(SCRIPTS))
def test_no_line_is_cut_off(clip_id: str) -> None:
    assert cut_off_lines(SCRIPTS[clip_id], TEXT[clip_id]) == []


@pytest.mark.parametrize("clip_id", sorted(SCRIPTS))
def test_every_hashtag_is_a_topic(clip_id: str) -> None:
    assert non_topic_hashtags(SCRIPTS[clip_id], TEXT[clip_id]) == []


@pytest.mark.parametrize("clip_id", sorted(SCRIPTS))
def test_every_script_passes_the_originality_check(clip_id: str) -> None:
    assert similarity(SCRIPTS[clip_id].text, TEXT[clip_id]) < DEFAULT_MAX_SIMILARITY


@pytest.mark.parametrize("clip", TOO_SHORT, ids=[clip["id"] for clip in TOO_SHORT])
def test_a_too_short_clip_is_refused_with_what_to_do(clip: dict[str, Any]) -> None:
    with pytest.raises(NothingToSay, match=r"has \d+ words of speech; at least 30 are needed.*pick a longer video or"):
        Rewriter().rewrite(transcript_of(clip["text"]))


def test_the_padding_lines_of_old_are_gone() -> None:
    body = " ".join(line for script in SCRIPTS.values() for line in script.body)
    for filler in ("most people skip this", "try it once", "small change, big payoff"):
        assert filler not in body.lower()


def test_a_draft_too_close_to_the_source_fails_with_similarity_threshold_and_provider() -> None:
    clip = SPOKEN[0]
    with pytest.raises(NotOriginal, match=r"similarity 0\.\d+, threshold 0\.01.*provider=openai") as caught:
        Rewriter(max_similarity=0.01).rewrite(transcript_of(clip["text"]))
    assert caught.value.similarity > caught.value.threshold == 0.01
