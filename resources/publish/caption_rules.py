"""Each platform's caption and metadata limits, counted the way the platform counts them.

`caption_problems` says what is too long (and by how much) before a single byte is uploaded: X counts weighted
characters, YouTube's description counts UTF-8 bytes, TikTok counts UTF-16 code units. `measure` and `clip`
let `compose_caption` cut by the same rule, so a composed caption always passes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# --- X: twitter-text's weighted length, configuration v3 ---------------------------------------------------------
# https://docs.x.com/fundamentals/counting-characters and twitter-text `config/v3.json`: scale 100, default weight
# 200, the four ranges below weigh 100, URLs count transformedURLLength 23, an emoji sequence counts as one
# default-weight character (emojiParsingEnabled), text is NFC-normalized first. The `twitter-text-parser` package
# implements it but imports `pkg_resources`, which current setuptools no longer ships, so the rule lives here.
X_MAX_WEIGHTED = 280
X_URL_WEIGHT = 23
_X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
# twitter-text parses these as emoji although they sit in the light range: counting them 2 is never too little.
_X_HEAVY_IN_LIGHT = frozenset({0x00A9, 0x00AE})
# A URL with a scheme always counts 23. A bare `name.tld` counts 23 only if its TLD is one twitter-text knows, so
# it is counted as the larger of 23 and its own weight: never less than X counts it.
_SCHEME_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_BARE_DOMAIN = re.compile(r"(?<![\w@.#/])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}(?:/[^\s<>\"]*)?", re.I)
_EMOJI_BASE = r"[\U0001F000-\U0001FAFF\u2300-\u23FF\u2600-\u27BF\u2B00-\u2BFF\u2190-\u21FF\u3030\u303D\u3297\u3299]"
_EMOJI_MODIFIER = r"[\uFE0E\uFE0F\u20E3\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F]"
_EMOJI = re.compile(
    rf"[\U0001F1E6-\U0001F1FF]{{2}}"  # a flag: two regional indicators
    rf"|{_EMOJI_BASE}{_EMOJI_MODIFIER}*(?:\u200D{_EMOJI_BASE}{_EMOJI_MODIFIER}*)*"
)


def _x_char_weight(char: str) -> int:
    point = ord(char)
    if point in _X_HEAVY_IN_LIGHT:
        return 2
    return 1 if any(first <= point <= last for first, last in _X_LIGHT_RANGES) else 2


def _x_plain_weight(text: str) -> int:
    """Weighted length of text with no URL in it: emoji sequences 2, the light ranges 1, everything else 2."""
    weight, position = 0, 0
    for match in _EMOJI.finditer(text):
        weight += sum(_x_char_weight(char) for char in text[position : match.start()]) + 2
        position = match.end()
    return weight + sum(_x_char_weight(char) for char in text[position:])


def x_weighted_length(text: str) -> int:
    """The length X counts for a post's text (280 at most): URLs 23, emoji and CJK 2, after NFC."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n")
    weight, position = 0, 0
    for match in _SCHEME_URL.finditer(text):
        weight += _x_bare_weight(text[position : match.start()]) + X_URL_WEIGHT
        position = match.end()
    return weight + _x_bare_weight(text[position:])


def _x_bare_weight(text: str) -> int:
    weight, position = 0, 0
    for match in _BARE_DOMAIN.finditer(text):
        weight += _x_plain_weight(text[position : match.start()]) + max(X_URL_WEIGHT, _x_plain_weight(match[0]))
        position = match.end()
    return weight + _x_plain_weight(text[position:])


# --- the other units -----------------------------------------------------------------------------------------------
def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def characters(text: str) -> int:
    return len(text)


_HASHTAG = re.compile(r"(?<![\w&#])#(\w+)")
_MENTION = re.compile(r"(?<![\w@])@([\w.]+)")


def hashtags_in(text: str) -> list[str]:
    return _HASHTAG.findall(text)


def mentions_in(text: str) -> list[str]:
    return _MENTION.findall(text)


def youtube_tags_length(tags: Sequence[str]) -> int:
    """YouTube's count for `snippet.tags`: commas between tags count, and a tag with a space counts its quotes."""
    return len(",".join(f'"{tag}"' if " " in tag else tag for tag in tags))


@dataclass(frozen=True)
class TextLimit:
    """At most `limit` of `unit` in one field, as `measure` counts it; `source` is the page that says so."""

    field: str
    limit: int
    unit: str
    measure: Callable[[str], int]
    source: str


@dataclass(frozen=True)
class PlatformRules:
    """What one platform accepts in a post's text fields."""

    platform: str
    caption: TextLimit
    title: TextLimit | None = None
    max_hashtags: int | None = None
    max_mentions: int | None = None
    tags_limit: int | None = None  # YouTube `snippet.tags`, counted by youtube_tags_length
    forbidden: str = ""  # characters refused in the title and caption
    source: str = ""  # where the hashtag, mention, tag and character rules come from


YOUTUBE_VIDEOS = (
    "https://developers.google.com/youtube/v3/docs/videos (snippet.title, snippet.description, snippet.tags)"
)
TIKTOK_DIRECT_POST = "https://developers.tiktok.com/doc/content-posting-api-reference-direct-post (post_info.title)"
IG_MEDIA = (
    "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media (caption)"
)
FB_REELS = (
    "https://developers.facebook.com/documentation/video-api/guides/reels-publishing names no description limit; "
    "2,200 as Instagram's, so a reel's text also fits a crosspost [unconfirmed]"
)
LINKEDIN_POSTS = (
    "https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api (commentary); "
    "3,000 characters per LinkedIn's share box and integrators' docs [number unconfirmed on that page]"
)
X_COUNTING = "https://docs.x.com/fundamentals/counting-characters (twitter-text config v3)"

RULES: dict[str, PlatformRules] = {
    "youtube": PlatformRules(
        "youtube",
        caption=TextLimit("description", 5000, "bytes (UTF-8)", utf8_bytes, YOUTUBE_VIDEOS),
        title=TextLimit("title", 100, "characters", characters, YOUTUBE_VIDEOS),
        tags_limit=500,
        forbidden="<>",
        source=YOUTUBE_VIDEOS,
    ),
    "tiktok": PlatformRules(
        "tiktok", caption=TextLimit("caption", 2200, "UTF-16 code units", utf16_units, TIKTOK_DIRECT_POST)
    ),
    "instagram": PlatformRules(
        "instagram",
        caption=TextLimit("caption", 2200, "characters", characters, IG_MEDIA),
        max_hashtags=30,
        max_mentions=20,
        source=IG_MEDIA,
    ),
    "facebook": PlatformRules("facebook", caption=TextLimit("description", 2200, "characters", characters, FB_REELS)),
    "x": PlatformRules(
        "x", caption=TextLimit("post text", X_MAX_WEIGHTED, "weighted characters", x_weighted_length, X_COUNTING)
    ),
    "linkedin": PlatformRules(
        "linkedin", caption=TextLimit("commentary", 3000, "characters", characters, LINKEDIN_POSTS)
    ),
}
# Titles where the platform shows none (LinkedIn's media title, manifests) stay short all the same.
DEFAULT_TITLE = TextLimit("title", 150, "characters", characters, "our own limit")


def rules_for(platform: str) -> PlatformRules:
    return RULES.get(platform) or PlatformRules(platform, TextLimit("caption", 2200, "characters", characters, ""))


def title_limit(platform: str) -> TextLimit:
    return rules_for(platform).title or DEFAULT_TITLE


def clip(text: str, rule: TextLimit, limit: int | None = None) -> str:
    """`text` itself when it fits `rule` (or `limit` of its unit), else its longest prefix that fits with "…"."""
    limit = rule.limit if limit is None else limit
    if rule.measure(text) <= limit:
        return text
    if limit <= 0:
        return ""

    def fits(count: int) -> bool:
        return rule.measure(_cut(text, count)) <= limit

    low, high = 0, len(text)  # fits(low) holds (the ellipsis alone fits any limit of 2 or more)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    while low > 0 and not fits(low):  # URL and emoji grouping can make the count step back: settle for less
        low -= 1
    return _cut(text, low) if fits(low) else ""


def _cut(text: str, count: int) -> str:
    # Never end on half an emoji sequence (a joiner, a variation selector or a skin tone left dangling).
    head = text[:count].rstrip().rstrip("\u200d\ufe0f\ufe0e")
    return head + "…"


def caption_usage(platform: str, text: str) -> str:
    """`187 of 280 weighted characters`: how much of its limit a caption uses, in the platform's unit."""
    rule = rules_for(platform).caption
    return f"{rule.measure(text)} of {rule.limit} {rule.unit}"


def caption_problems(
    platform: str, *, title: str, text: str, tags: Sequence[str] = (), template: bool = False
) -> list[str]:
    """What the platform would refuse in this title, caption and tag list: one sentence per problem, saying what
    to shorten and by how much. Empty when everything passes."""
    rules = rules_for(platform)
    source = "the caption template's output" if template else "the caption"
    problems: list[str] = []
    fields = [(rules.caption, text)] + ([(rules.title, title)] if rules.title is not None else [])
    for rule, value in fields:
        size = rule.measure(value)
        if size > rule.limit:
            problems.append(
                f"the {rule.field} has {size} {rule.unit}; {platform} allows {rule.limit}: shorten "
                f"{source if rule is rules.caption else 'the title'} by {size - rule.limit} {rule.unit}"
            )
        bad = sorted({char for char in value if char in rules.forbidden})
        if bad:
            problems.append(f"the {rule.field} contains {' '.join(bad)}, which {platform} refuses; remove them")
    if platform == "x" and not text.strip():
        problems.append("the post text is empty; X needs at least one character")
    if rules.max_hashtags is not None and len(hashtags_in(text)) > rules.max_hashtags:
        count = len(hashtags_in(text))
        problems.append(
            f"the {rules.caption.field} has {count} hashtags; {platform} allows {rules.max_hashtags}: "
            f"remove {count - rules.max_hashtags}"
        )
    if rules.max_mentions is not None and len(mentions_in(text)) > rules.max_mentions:
        count = len(mentions_in(text))
        problems.append(
            f"the {rules.caption.field} has {count} @mentions; {platform} allows {rules.max_mentions}: "
            f"remove {count - rules.max_mentions}"
        )
    if rules.tags_limit is not None and youtube_tags_length(tags) > rules.tags_limit:
        size = youtube_tags_length(tags)
        problems.append(
            f"the tags add up to {size} characters (commas and quotes included); {platform} allows "
            f"{rules.tags_limit}: drop hashtags worth {size - rules.tags_limit} characters"
        )
    return problems
