"""Per-platform captions: text limits, hashtags, source credit and AI disclosure.

The limits and how each platform counts them live in `caption_rules`; a composed caption is cut by the same rule
the validator applies, so it always passes. A configured template's output is not cut: when it does not fit,
`caption_problems` refuses it with what to shorten.
"""

from __future__ import annotations

from pydantic import BaseModel

from resources.publish.caption_rules import RULES, clip, rules_for, title_limit, youtube_tags_length
from resources.records import Script

# Caption limits in each platform's own unit (caption_rules says which: bytes, weighted characters, …).
CAPTION_LIMITS: dict[str, int] = {platform: rules.caption.limit for platform, rules in RULES.items()}
TITLE_LIMITS: dict[str, int] = {platform: rules.title.limit for platform, rules in RULES.items() if rules.title}
AI_DISCLOSURE = "Narration and presenter are AI-generated."
# YouTube refuses < and > in the title and description: the look-alike angle quotes read the same.
_YOUTUBE_SAFE = str.maketrans({"<": "‹", ">": "›"})


class Caption(BaseModel):
    title: str
    text: str
    hashtags: list[str]


def compose_caption(platform: str, script: Script, *, credit: str = "", template: str = "") -> Caption:
    """The title and caption for `platform`, within its limits; hashtags and disclosure kept when they fit.

    `template` (from configuration) may use {title} {description} {credit} {disclosure} {hashtags}.
    """
    rules = rules_for(platform)
    hashtags = _hashtags(platform, script.hashtags)
    tags = " ".join(f"#{tag}" for tag in hashtags)
    credit_line = f"Inspired by {credit}." if credit else ""
    title = clip(_safe(platform, script.title), title_limit(platform))
    if template:
        values = {"title": script.title, "description": script.description, "credit": credit_line,
                  "disclosure": AI_DISCLOSURE, "hashtags": tags}  # fmt: skip
        return Caption(title=title, text=_fill(template, values).strip(), hashtags=hashtags)
    parts = [script.description, credit_line, AI_DISCLOSURE, tags]
    if platform == "x":
        parts = [script.title, AI_DISCLOSURE, tags]
    parts = [_safe(platform, part) for part in parts]
    rule = rules.caption
    text = "\n\n".join(part for part in parts if part)
    if rule.measure(text) > rule.limit:
        # Keep disclosure and tags; shorten the prose.
        tail = "\n\n" + "\n\n".join(part for part in (AI_DISCLOSURE, tags) if part)
        text = clip(clip(parts[0], rule, rule.limit - rule.measure(tail)) + tail, rule)
    return Caption(title=title, text=text, hashtags=hashtags)


def _hashtags(platform: str, hashtags: list[str]) -> list[str]:
    """The script's hashtags, as many as the platform takes (Instagram's count, YouTube's tag budget)."""
    rules = rules_for(platform)
    kept = list(hashtags[: rules.max_hashtags] if rules.max_hashtags is not None else hashtags)
    while rules.tags_limit is not None and kept and youtube_tags_length(kept) > rules.tags_limit:
        kept.pop()
    return kept


def _safe(platform: str, text: str) -> str:
    return text.translate(_YOUTUBE_SAFE) if rules_for(platform).forbidden else text


def _fill(template: str, values: dict[str, str]) -> str:
    """Replace the known {placeholders}; leave any other braces alone (captions may contain them)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template
