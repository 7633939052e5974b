"""Caption limits counted as each platform counts: X weighted characters, YouTube bytes and tags, TikTok UTF-16,
Instagram hashtags and mentions; composed captions always pass, a template's output that does not is refused."""

from __future__ import annotations

import pytest

from resources.publish.caption_rules import (
    caption_problems,
    clip,
    rules_for,
    utf16_units,
    x_weighted_length,
    youtube_tags_length,
)
from resources.publish.captions import AI_DISCLOSURE, compose_caption
from resources.records import Script
from tests.graph import SAMPLE_SCRIPT

PLATFORMS = ("youtube", "tiktok", "instagram", "facebook", "x", "linkedin")


@pytest.mark.parametrize(
    ("text", "weight"),
    [
        ("Hello, world! 👋", 16),  # the docs' own example
        ("👾", 2),
        ("🙋🏽", 2),  # skin tone modifier
        ("👨‍🎤", 2),  # ZWJ sequence
        ("👨‍👩‍👧‍👦", 2),  # family: 4 emoji + 3 ZWJ
        ("🇯🇵", 2),  # flag: two regional indicators
        ("日本語", 6),  # CJK counts 2
        ("cafe\u0301", 4),  # NFD is normalized to NFC first
        ("https://example.com", 23),
        ("https://example.com/very/long/path/that/goes/on/and/on?q=1", 23),
        ("read example.com now", 5 + 23 + 4),  # a bare domain counts at least 23
        ("“quoted” – dash", 15),  # general punctuation weighs 1
    ],
)
def test_x_counts_weighted_characters(text: str, weight: int) -> None:
    assert x_weighted_length(text) == weight


def test_an_emoji_heavy_caption_that_len_accepts_is_over_x_limit() -> None:
    text = "Morning routine " + "🔥" * 140  # 156 code points, 296 weighted
    assert len(text) <= 280
    (problem,) = caption_problems("x", title="t", text=text)
    assert "296 weighted characters; x allows 280: shorten the caption by 16 weighted characters" in problem


def test_a_long_url_counts_23_on_x() -> None:
    text = "a" * 250 + " https://example.com/" + "p" * 100
    assert caption_problems("x", title="t", text=text) == []


def test_youtube_description_limit_is_bytes() -> None:
    text = "é" * 2600  # 2,600 characters, 5,200 bytes
    (problem,) = caption_problems("youtube", title="t", text=text)
    assert "5200 bytes (UTF-8); youtube allows 5000: shorten the caption by 200" in problem


def test_youtube_refuses_angle_brackets_and_long_titles() -> None:
    problems = caption_problems("youtube", title="a <b> " + "x" * 100, text="ok")
    assert any("title has 106 characters; youtube allows 100: shorten the title by 6" in p for p in problems)
    assert any("contains < >" in p for p in problems)


def test_youtube_tags_count_commas_and_quotes() -> None:
    assert youtube_tags_length(["cooking", "kitchen hacks"]) == len('cooking,"kitchen hacks"')
    tags = ["tag with space"] * 30  # 30 × 16 + 29 commas = 509
    (problem,) = caption_problems("youtube", title="t", text="ok", tags=tags)
    assert "the tags add up to 509 characters (commas and quotes included); youtube allows 500" in problem


def test_tiktok_counts_utf16_units() -> None:
    assert utf16_units("😀") == 2
    (problem,) = caption_problems("tiktok", title="t", text="😀" * 1101)
    assert "2202 UTF-16 code units; tiktok allows 2200" in problem


def test_instagram_counts_hashtags_and_mentions() -> None:
    text = " ".join(f"#tag{i}" for i in range(31)) + " " + " ".join(f"@user{i}" for i in range(21))
    problems = caption_problems("instagram", title="t", text=text)
    assert any("31 hashtags; instagram allows 30: remove 1" in p for p in problems)
    assert any("21 @mentions; instagram allows 20: remove 1" in p for p in problems)


def test_linkedin_allows_3000_characters() -> None:
    assert caption_problems("linkedin", title="t", text="a" * 3000) == []
    assert "shorten the caption by 1 characters" in caption_problems("linkedin", title="t", text="a" * 3001)[0]


def test_clip_cuts_by_the_platform_rule_and_never_splits_an_emoji() -> None:
    rule = rules_for("x").caption
    clipped = clip("👨‍👩‍👧‍👦 " * 200, rule)
    assert x_weighted_length(clipped) <= 280 and clipped.endswith("…")
    assert not clipped[:-1].endswith("\u200d")


def heavy_script() -> Script:
    return SAMPLE_SCRIPT.model_copy(
        update={
            "title": "🔥 <Mornings> " + "🔥" * 200,
            "description": "日本語のテキスト " * 700 + "<b>",
            "hashtags": [f"tag number {i}" for i in range(60)],
        }
    )


@pytest.mark.parametrize("platform", PLATFORMS)
def test_composed_captions_pass_their_platform_rules(platform: str) -> None:
    caption = compose_caption(platform, heavy_script(), credit="@maker")

    tags = [tag.lstrip("#") for tag in caption.hashtags]
    assert caption_problems(platform, title=caption.title, text=caption.text, tags=tags) == []
    assert AI_DISCLOSURE in caption.text


def test_a_template_output_that_does_not_fit_is_refused_not_clipped() -> None:
    caption = compose_caption("x", heavy_script(), template="{title} {hashtags}")

    problems = caption_problems("x", title=caption.title, text=caption.text, template=True)
    assert problems and "shorten the caption template's output by" in problems[0]
