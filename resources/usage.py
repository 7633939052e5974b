"""Usage and estimated cost of provider calls, from a price table in configuration."""

from __future__ import annotations

import json
import os

from pydantic import BaseModel, Field

from resources.errors import ConfigurationError

# USD per unit; the operator overrides them with $SHORTS_PRICES_JSON. Offline engines are free.
DEFAULT_PRICES: dict[str, float] = {
    "openai:audio_minutes": 0.006,
    "openai:input_tokens": 0.15 / 1_000_000,
    "openai:output_tokens": 0.60 / 1_000_000,
    "elevenlabs:characters": 0.30 / 1000,
    "d-id:video_seconds": 0.05,
    "synthesia:video_seconds": 0.10,
    "heygen:video_seconds": 0.05,
}


class Usage(BaseModel):
    """What one provider call consumed and what it is estimated to cost."""

    provider: str
    units: dict[str, float] = Field(default_factory=dict, description="e.g. {'audio_minutes': 0.5}")
    cost_usd: float = 0.0


PRICES_ENV = "SHORTS_PRICES_JSON"


def price_table(overrides: dict[str, float] | None = None) -> dict[str, float]:
    """Default prices, overridden by $SHORTS_PRICES_JSON (e.g. {"openai:audio_minutes": 0.006}), then `overrides`."""
    configured = os.environ.get(PRICES_ENV, "").strip()
    try:
        from_env = {str(k): float(v) for k, v in json.loads(configured).items()} if configured else {}
    except (ValueError, AttributeError) as exc:
        raise ConfigurationError(f"{PRICES_ENV} must be a JSON object of unit prices: {exc}") from exc
    return {**DEFAULT_PRICES, **from_env, **(overrides or {})}


def priced(provider: str, units: dict[str, float], prices: dict[str, float] | None = None) -> Usage:
    """A Usage whose cost is the units times the price table's entries for `provider`."""
    table = price_table(prices)
    cost = sum(amount * table.get(f"{provider}:{unit}", 0.0) for unit, amount in units.items())
    return Usage(provider=provider, units=units, cost_usd=round(cost, 6))


def total_cost(usages: list[Usage]) -> float:
    return round(sum(usage.cost_usd for usage in usages), 6)


def cost_by_provider(usages: list[Usage]) -> dict[str, float]:
    """Estimated cost per provider, for the per-video total in the UI."""
    totals: dict[str, float] = {}
    for usage in usages:
        totals[usage.provider] = round(totals.get(usage.provider, 0.0) + usage.cost_usd, 6)
    return totals
