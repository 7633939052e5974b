"""The discovery configuration as a resource: which sources `viral_video_sensor` reads and by which rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from resources.discovery.candidates import CandidateSource
from resources.discovery.prior import ArmOutcome
from resources.discovery.virality import ViralityRules

MAX_NEW_PER_TICK = 10
EXPLICIT_KINDS = ("url_list", "folder")  # a person chose these videos: no metrics needed


class DiscoveryNotConfigured(Exception):
    """There is no discovery file yet: the sensor skips and says how to create one."""


@dataclass(frozen=True)
class Discovery:
    """The configured sources and the rules the sensor applies to them."""

    sources: list[CandidateSource]
    rules: ViralityRules = field(default_factory=ViralityRules)
    max_new_per_tick: int = MAX_NEW_PER_TICK
    min_score_by_source: dict[str, float] = field(default_factory=dict)
    explicitly_listed: frozenset[str] = frozenset()  # source names whose videos a person chose


class DiscoverySources(ConfigurableResource):
    """Reads the discovery file (SHORTS_DISCOVERY_CONFIG) on every tick, so edits apply without a reload."""

    config_path: str = Field(description="The discovery YAML (see discovery.example.yaml).")
    database_location: str = Field(
        default="",
        description="The pipeline's database (metrics series) whose outcomes give each source its learned prior "
        "(resources.discovery.prior); empty = no prior, the virality score alone ranks.",
    )

    def history(self) -> list[ArmOutcome]:
        """Past shorts' outcomes and the arms they were made from; [] without a database."""
        from resources.discovery.performance import load_history

        return load_history(self.database_location)

    def load(self) -> Discovery:
        """The sources and rules; DiscoveryNotConfigured when the file does not exist."""
        path = Path(self.config_path).expanduser()
        if not path.is_file():
            raise DiscoveryNotConfigured(
                f"no discovery config at {path}: create it with a `sources:` list (e.g. `- kind: tiktok_account` / "
                '`account: "@scout2015"`) or point $SHORTS_DISCOVERY_CONFIG at one'
            )
        # Imported here so a broken source module cannot break loading the code location.
        from resources.discovery.registry import build_sources
        from resources.discovery.sources_config import load_discovery_config

        config = load_discovery_config(path)
        sources = list(build_sources(config))
        raw_rules = getattr(config, "virality", None)
        rules = raw_rules if isinstance(raw_rules, ViralityRules) else ViralityRules.model_validate(raw_rules or {})
        per_source: dict[str, float] = {}
        if hasattr(config, "min_score_for"):
            for source in sources:
                threshold = config.min_score_for(source.name)
                if threshold is not None:
                    per_source[source.name] = threshold
        cap = int(getattr(config, "max_new_per_tick", MAX_NEW_PER_TICK) or MAX_NEW_PER_TICK)
        explicit = frozenset(entry.name for entry in config.sources if entry.kind in EXPLICIT_KINDS)
        return Discovery(sources, rules, cap, per_source, explicit)


class WatchFolder(ConfigurableResource):
    """The folder `folder_watch_sensor` turns into shorts (SHORTS_WATCH_DIR, default <data dir>/inbox)."""

    path: str = Field(description="Absolute path of the watched folder.")

    @property
    def folder(self) -> Path:
        return Path(self.path).expanduser()


class FixedDiscovery:
    """Stands in for `DiscoverySources` with a given discovery: tests and benchmarks of the sensor's decisions
    pass it as the `discovery_sources` resource (Dagster wraps a plain object as a resource)."""

    def __init__(self, discovery: Discovery, history: list[ArmOutcome] | None = None) -> None:
        self.discovery = discovery
        self.outcomes = list(history or [])

    def load(self) -> Discovery:
        return self.discovery

    def history(self) -> list[ArmOutcome]:
        return self.outcomes
