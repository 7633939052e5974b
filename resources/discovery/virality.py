"""Virality score and filters: which candidates become shorts, and a sentence saying why.

Formula (all inputs from `Candidate`; unknown counts are 0, unknown upload time is the oldest allowed age)::

    age_h        = max(1, hours since upload)                    # unknown: rules.max_age_hours
    velocity     = views / age_h                                  # views per hour, lifetime average
    engagement   = min(1, (likes + 2·comments + 3·shares + 2·saves) / max(1, views))
    recent       = (views − previous views) / hours since the previous sighting      # seen before only
    acceleration = recent / max(1, velocity)
    growth_bonus = clamp(log10(acceleration), 0, 1)               # 0 when not seen before or slowing down
    score        = log10(1 + velocity) · (1 + 10·engagement) · (1 + growth_bonus)

Why this shape:

- **Velocity, not views.** Ten million views over three years is not trending; fifty thousand in the first
  hour is. The age floor of one hour keeps a five-minute-old video with 3k views from reading as 36k views/h.
- **log10 of velocity.** Velocities span six orders of magnitude; on a log scale 10× faster is +1, so one
  mega-viral outlier does not drown every signal of quality.
- **Weighted engagement.** A share puts the video in front of a new audience (the strongest signal of
  spread), comments and saves show more intent than a like. Typical engagement of 2–10% multiplies the score
  by 1.2–2; it is capped at 100% because counts above the views mean bots or stale view counts.
- **Growth between ticks.** The lifetime average is front-loaded, so a video gaining views faster *now* than
  on average is on the way up: 10× the average rate doubles the score. Slowing down is normal decay and not
  penalised. Sightings less than a minute apart are too noisy to measure growth.

Thresholds (`ViralityRules`, defaults): at least 10k views, at most 72 h old, at most 180 s long (a Short is
at most three minutes), score ≥ 3.0 — about 1,000 views/h with no engagement or ~100 views/h at 5% engagement.
Filters run before the score, cheapest and most
important first: blocked author, blocked word, duration, language, age, views.

Candidates a person listed explicitly (a URL list, a watched folder) carry no metrics: they skip the virality
thresholds (views, age, language, score) but never the blocks or the duration limit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from resources.discovery.candidates import Candidate

MIN_GROWTH_GAP_H = 1 / 60  # sightings closer than a minute measure noise, not growth


class ViralityRules(BaseModel):
    """Thresholds and filters that decide which candidates are worth a short."""

    model_config = ConfigDict(extra="forbid")

    min_views: int = Field(default=10_000, ge=0, description="Fewer views than this are filtered.")
    min_score: float = Field(default=3.0, description="Score threshold (see the module docstring for scale).")
    max_duration_s: float = Field(default=180, gt=0, description="Longer videos are filtered (Shorts ≤ 3 min).")
    languages: list[str] = Field(
        default_factory=list, description="Allowed languages (en, es, pt-BR, ...); empty = any. Unknown passes."
    )
    blocked_authors: list[str] = Field(default_factory=list, description="Handles, with or without '@'.")
    blocked_words: list[str] = Field(default_factory=list, description="Whole words/phrases in the caption.")
    max_age_hours: float = Field(default=72, gt=0, description="Older uploads are filtered.")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a previous tick saw of a video: its view count (None = unknown) and when."""

    views: int | None
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class Scored:
    """The score and the figures it was made of."""

    score: float
    age_h: float
    velocity: float
    engagement: float
    growth_views: int | None  # views gained since the previous sighting; None when not measurable
    acceleration: float | None
    growth_bonus: float


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a candidate becomes a short, its score, and the human-readable reason."""

    accepted: bool
    score: float
    reason: str


def _hours(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600


def score(candidate: Candidate, *, now: datetime, previous: Snapshot | None, max_age_hours: float = 72) -> Scored:
    """Score a candidate with known views (see the module docstring for the formula)."""
    views = max(0, candidate.views or 0)
    raw_age = _hours(now, candidate.uploaded_at) if candidate.uploaded_at else max_age_hours
    age_h = max(1.0, raw_age)
    velocity = views / age_h
    weighted = (
        (candidate.likes or 0)
        + 2 * (candidate.comments or 0)
        + 3 * (candidate.shares or 0)
        + 2 * (candidate.saves or 0)
    )
    engagement = min(1.0, weighted / max(1, views))
    growth_views: int | None = None
    acceleration: float | None = None
    bonus = 0.0
    if previous is not None and previous.views is not None and candidate.views is not None:
        gap_h = _hours(now, previous.seen_at)
        if gap_h >= MIN_GROWTH_GAP_H:
            growth_views = candidate.views - previous.views
            acceleration = max(0, growth_views) / gap_h / max(1.0, velocity)
            bonus = min(1.0, max(0.0, math.log10(acceleration))) if acceleration > 0 else 0.0
    value = math.log10(1 + velocity) * (1 + 10 * engagement) * (1 + bonus)
    return Scored(value, age_h, velocity, engagement, growth_views, acceleration, bonus)


def human(count: float) -> str:
    """54300 → '54k', 1250000 → '1.2M', 950 → '950'."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(count) >= size:
            scaled = count / size
            return f"{scaled:.1f}{suffix}" if abs(scaled) < 10 else f"{scaled:.0f}{suffix}"
    return f"{count:.0f}"


@lru_cache(maxsize=64)
def _word_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """One case-insensitive whole-word pattern for all blocked words (compiled once per rule set)."""
    cleaned = [re.escape(word.strip()) for word in words if word.strip()]
    return re.compile(r"(?<!\w)(" + "|".join(cleaned) + r")(?!\w)", re.IGNORECASE) if cleaned else None


def _handle(author: str) -> str:
    return author.strip().lstrip("@").lower()


def _language(code: str) -> str:
    """Primary subtag, lower case: 'pt-BR' → 'pt', 'EN_us' → 'en'."""
    return re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]


def _filtered(candidate: Candidate, rules: ViralityRules, *, now: datetime, listed_explicitly: bool) -> str | None:
    """The reason a filter rejects the candidate, or None when it passes them all."""
    if candidate.author and _handle(candidate.author) in {_handle(a) for a in rules.blocked_authors}:
        return f"filtered: blocked author '@{_handle(candidate.author)}'"
    pattern = _word_pattern(tuple(rules.blocked_words))
    match = pattern.search(candidate.caption) if pattern and candidate.caption else None
    if match:
        return f"filtered: blocked word '{match.group(1).lower()}'"
    if candidate.duration_s is not None and candidate.duration_s > rules.max_duration_s:
        return f"filtered: {candidate.duration_s:.0f} s long > {rules.max_duration_s:.0f} s max"
    if listed_explicitly:
        return None
    allowed = {_language(code) for code in rules.languages}
    if allowed and candidate.language and _language(candidate.language) not in allowed:
        return f"filtered: language '{candidate.language}' not in {sorted(allowed)}"
    if candidate.uploaded_at is not None and _hours(now, candidate.uploaded_at) > rules.max_age_hours:
        return f"filtered: uploaded {_hours(now, candidate.uploaded_at):.0f} h ago > {rules.max_age_hours:.0f} h max"
    if candidate.views is None:
        return "filtered: no view count (the source gives no metrics; list the URL explicitly to force it)"
    if candidate.views < rules.min_views:
        return f"filtered: {human(candidate.views)} views < {human(rules.min_views)} min"
    return None


def _figures(scored: Scored) -> str:
    parts = [f"{human(scored.velocity)} views/h", f"engagement {scored.engagement * 100:.1f}%"]
    if scored.growth_views is not None:
        sign = "+" if scored.growth_views >= 0 else "−"
        parts.append(f"{sign}{human(abs(scored.growth_views))} views since last tick")
        if scored.growth_bonus > 0 and scored.acceleration is not None:
            parts[-1] += f" ({scored.acceleration:.1f}× the average rate)"
    return ", ".join(parts)


def evaluate(
    candidate: Candidate,
    rules: ViralityRules,
    *,
    now: datetime,
    previous: Snapshot | None = None,
    listed_explicitly: bool = False,
    min_score: float | None = None,
) -> Decision:
    """Filter, score and decide one candidate.

    `listed_explicitly`: the source is a person's list (URLs, a folder), so the virality thresholds do not
    apply. `min_score` overrides `rules.min_score` (a per-source threshold).
    """
    rejected = _filtered(candidate, rules, now=now, listed_explicitly=listed_explicitly)
    if rejected:
        return Decision(False, 0.0, rejected)
    if listed_explicitly and candidate.views is None:
        return Decision(True, 0.0, f"listed explicitly in {candidate.source_name}")
    scored = score(candidate, now=now, previous=previous, max_age_hours=rules.max_age_hours)
    if listed_explicitly:
        return Decision(True, scored.score, f"listed explicitly in {candidate.source_name} (score {scored.score:.1f})")
    threshold = rules.min_score if min_score is None else min_score
    if scored.score >= threshold:
        return Decision(True, scored.score, f"score {scored.score:.1f} ≥ {threshold:g}: {_figures(scored)}")
    return Decision(False, scored.score, f"score {scored.score:.1f} < {threshold:g}: {_figures(scored)}")
