"""The code location's assets by name, made as definitions.py makes them (for tests that materialize a few)."""

from __future__ import annotations

from dagster import AssetsDefinition

from definitions import build_assets
from resources.settings import PipelineSettings


def assets_named(*names: str, settings: PipelineSettings | None = None) -> list[AssetsDefinition]:
    """The assets called `names`, in that order, with the pools `settings` (default: the offline ones) give."""
    by_name = {asset.key.to_user_string(): asset for asset in build_assets(settings or PipelineSettings())}
    return [by_name[name] for name in names]
