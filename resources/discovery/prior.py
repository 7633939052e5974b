"""A learned prior on the virality score: sources whose shorts did well get more of the next picks.

Every published short is credited to the *arms* it was made from:

- content arms, known for a candidate before it becomes a short: ``source:<configured name>``,
  ``author:@handle`` and ``hashtag:#tag`` (one per hashtag of the source video's caption);
- format arms, how the short was made: ``layout:<x>``, ``voice:<provider>``, ``avatar:<provider>``.

Outcome of a short: on each platform, did it beat that account's usual reach at the same age
(`resources.analytics.outcomes`: ``relative >= 1.0``)? A short on several platforms counts as the *share* of its
platforms where it did (beat it on two of three: 0.67 success + 0.33 failure, a fractional Bernoulli). Platforms
without a baseline yet say nothing; a short none of whose platforms has one is left out.

Posterior per arm: Beta(1 + Σ w·success, 1 + Σ w·(1 − success)), from the uniform prior Beta(1, 1). The weight
``w = 0.5 ** (age in days / HALF_LIFE_DAYS)`` forgets: a short from a month ago counts half, so one early hit
fades and an account that stopped working stops being favoured.

Thompson sampling per tick: every arm a candidate touches draws ONE sample from its posterior (the same draw for
every candidate of that arm in the tick, so a tick favours a source as a whole), from an injected
``random.Random``. The candidate's combined sample is the weighted mean of:

- its source arm, weight 2 (the arm with the most data, and what an operator configures),
- its author arm, weight 1 (when the candidate names its author),
- the mean of its hashtag arms, weight 1, counting only hashtags that already have outcomes: captions carry
  many one-off tags whose uniform draws would only add noise.

``multiplier = 0.5 + combined`` lies in 0.5–1.5. A never-tried arm draws from Beta(1, 1), mean 0.5, so an
untried source has an expected multiplier of 1.0: neither favoured nor buried, and it beats a proven source in
some ticks (a quarter of them against one at 8/10), which is the exploration. An 8/10 source beats a 1/10 one in
nearly every tick. With no history at all the multiplier is exactly 1 and nothing is drawn.

Format arms do not reorder candidates (every candidate is rendered with the configured format); their
posteriors are computed alike and `choose_arm` draws among them for a stage that picks its format.
"""

from __future__ import annotations

import random
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

HALF_LIFE_DAYS = 30.0
BEAT_BASELINE = 1.0  # `relative` at or above: the post beat its account's usual reach at that age
SOURCE_WEIGHT = 2.0
AUTHOR_WEIGHT = 1.0
HASHTAGS_WEIGHT = 1.0
NO_HISTORY = "no performance history yet"

_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")


# ---- arm names ------------------------------------------------------------------------------------------
def source_arm(name: str) -> str:
    return f"source:{name.strip()}"


def author_arm(handle: str) -> str | None:
    cleaned = handle.strip().lstrip("@").lower()
    return f"author:@{cleaned}" if cleaned else None


def hashtag_arm(tag: str) -> str | None:
    cleaned = tag.strip().lstrip("#").lower()
    return f"hashtag:#{cleaned}" if cleaned else None


def hashtags_in(caption: str) -> list[str]:
    """The caption's hashtags, lower case, without '#', each once, in order."""
    return list(dict.fromkeys(match.lower() for match in _HASHTAG.findall(caption)))


def short_label(arm: str) -> str:
    """How an arm reads in a reason: 'source:foryou', '@alice', '#cats'."""
    kind, _, name = arm.partition(":")
    return name if kind in ("author", "hashtag") else arm


# ---- outcomes and posteriors ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ArmOutcome:
    """One published short's result, credited to every arm it was made from."""

    arms: tuple[str, ...]
    success: float  # 0..1: the share of its platforms where it beat the account's usual reach at that age
    at: datetime  # when it was first posted: forgetting counts from here


def success_share(relatives: Iterable[float | None]) -> float | None:
    """The share of platforms whose `relative` is at least `BEAT_BASELINE`; None when none has a baseline."""
    known = [value for value in relatives if value is not None]
    return sum(value >= BEAT_BASELINE for value in known) / len(known) if known else None


@dataclass(frozen=True, slots=True)
class ArmPosterior:
    """Beta(alpha, beta) of an arm's success rate, and the raw counts it came from (for the reason)."""

    alpha: float
    beta: float
    successes: float  # unweighted: what a person reads ("7/9 beat their baseline")
    trials: int

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def counts(self) -> str:
        return f"{self.successes:.3g}/{self.trials}"


UNTRIED = ArmPosterior(1.0, 1.0, 0.0, 0)


def forgetting_weight(at: datetime, now: datetime, half_life_days: float = HALF_LIFE_DAYS) -> float:
    """0.5 per half-life of age; an outcome dated after `now` (clock skew) counts fully."""
    age_days = max(0.0, (now - at).total_seconds() / 86_400)
    return float(0.5 ** (age_days / half_life_days))


def posteriors(
    outcomes: Iterable[ArmOutcome], *, now: datetime, half_life_days: float = HALF_LIFE_DAYS
) -> dict[str, ArmPosterior]:
    """Each arm's Beta posterior from the prior Beta(1, 1) and the outcomes discounted by their age."""
    sums: dict[str, list[float]] = {}  # arm -> [weighted successes, weighted failures, successes, trials]
    for outcome in outcomes:
        share = min(1.0, max(0.0, outcome.success))
        weight = forgetting_weight(outcome.at, now, half_life_days)
        for arm in dict.fromkeys(outcome.arms):
            totals = sums.setdefault(arm, [0.0, 0.0, 0.0, 0.0])
            totals[0] += weight * share
            totals[1] += weight * (1 - share)
            totals[2] += share
            totals[3] += 1
    return {arm: ArmPosterior(1 + s, 1 + f, raw, int(n)) for arm, (s, f, raw, n) in sums.items()}


# ---- Thompson sampling ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Prior:
    """What the learned prior does to one candidate's score, and the clause its reason gets."""

    multiplier: float
    clause: str


class ThompsonPrior:
    """One tick's draws: each arm is sampled once, the first time a candidate touches it."""

    def __init__(self, known: Mapping[str, ArmPosterior], rng: random.Random) -> None:
        self.known = known
        self.rng = rng
        self._samples: dict[str, float] = {}

    def sample(self, arm: str) -> float:
        if arm not in self._samples:
            posterior = self.known.get(arm, UNTRIED)
            self._samples[arm] = self.rng.betavariate(posterior.alpha, posterior.beta)
        return self._samples[arm]

    def for_candidate(self, source_name: str, author: str = "", caption: str = "") -> Prior:
        """The multiplier on the candidate's virality score and the reason's clause (module docstring)."""
        if not self.known:
            return Prior(1.0, NO_HISTORY)
        source = source_arm(source_name)
        author_key = author_arm(author)
        tags = [arm for arm in map(hashtag_arm, hashtags_in(caption)) if arm is not None and arm in self.known]
        parts: list[tuple[float, float]] = [(SOURCE_WEIGHT, self.sample(source))]
        shown = [source]
        if author_key is not None:
            parts.append((AUTHOR_WEIGHT, self.sample(author_key)))
            shown.append(author_key)
        if tags:
            parts.append((HASHTAGS_WEIGHT, statistics.fmean(self.sample(arm) for arm in tags)))
            shown.extend(tags[:2])  # the reason stays short; the multiplier uses them all
        combined = sum(weight * value for weight, value in parts) / sum(weight for weight, _ in parts)
        multiplier = 0.5 + combined
        facts = ", ".join(f"{short_label(arm)} {self._counts(arm)}" for arm in shown)
        more = f" +{len(tags) - 2} tags" if len(tags) > 2 else ""
        return Prior(multiplier, f"prior ×{multiplier:.2f} (beat baseline: {facts}{more}; sampled)")

    def _counts(self, arm: str) -> str:
        posterior = self.known.get(arm)
        return posterior.counts() if posterior else "untried"


def choose_arm(options: Sequence[str], known: Mapping[str, ArmPosterior], rng: random.Random) -> str:
    """Thompson sampling among `options` (format arms such as 'layout:split'): the arm with the highest draw."""
    if not options:
        raise ValueError("choose_arm: no options to choose from")
    draws = [(rng.betavariate(known.get(o, UNTRIED).alpha, known.get(o, UNTRIED).beta), o) for o in options]
    return max(draws, key=lambda item: item[0])[1]
