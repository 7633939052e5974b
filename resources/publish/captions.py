"""Per-platform captions: text limits, hashtags, source credit and AI disclosure."""

from __future__ import annotations

from pydantic import BaseModel

from resources.records import Script

# Caption limits in characters (titles where the platform has them separately).
CAPTION_LIMITS: dict[str, int] = {
    "youtube": 5000,
    "tiktok": 2200,
    "instagram": 2200,
    "facebook": 2200,
    "x": 280,
    "linkedin": 3000,
}
TITLE_LIMITS: dict[str, int] = {"youtube": 100}
AI_DISCLOSURE = "Narration and presenter are AI-generated."


class Caption(BaseModel):
    title: str
    text: str
    hashtags: list[str]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def compose_caption(platform: str, script: Script, *, credit: str = "", template: str = "") -> Caption:
    """The title and caption for `platform`, within its limits; hashtags and disclosure kept when they fit.

    `template` (from configuration) may use {title} {description} {credit} {disclosure} {hashtags}.
    """
    tags = " ".join(f"#{tag}" for tag in script.hashtags)
    limit = CAPTION_LIMITS.get(platform, 2200)
    credit_line = f"Inspired by {credit}." if credit else ""
    if template:
        values = {"title": script.title, "description": script.description, "credit": credit_line,
                  "disclosure": AI_DISCLOSURE, "hashtags": tags}  # fmt: skip
        text = _fill(template, values).strip()
        title = _clip(script.title, TITLE_LIMITS.get(platform, 150))
        return Caption(title=title, text=_clip(text, limit), hashtags=list(script.hashtags))
    parts = [script.description, credit_line, AI_DISCLOSURE, tags]
    if platform == "x":
        parts = [script.title, AI_DISCLOSURE, tags]
    text = "\n\n".join(part for part in parts if part)
    if len(text) > limit:
        # Keep disclosure and tags; shorten the prose.
        tail = "\n\n".join(part for part in (AI_DISCLOSURE, tags) if part)
        text = _clip(parts[0], limit - len(tail) - 2) + "\n\n" + tail
        text = _clip(text, limit)
    title = _clip(script.title, TITLE_LIMITS.get(platform, 150))
    return Caption(title=title, text=text, hashtags=list(script.hashtags))


def _fill(template: str, values: dict[str, str]) -> str:
    """Replace the known {placeholders}; leave any other braces alone (captions may contain them)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template
