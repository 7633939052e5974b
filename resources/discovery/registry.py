"""Configured sources → readers. A new kind is one reader module plus one line in `_READERS`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from resources.discovery.candidates import Candidate, CandidateSource, SourceError
from resources.discovery.feed_source import FeedReader
from resources.discovery.folder_source import FolderReader
from resources.discovery.sources_config import DiscoveryConfig
from resources.discovery.tiktok_source import TikTokAccountReader
from resources.discovery.url_list_source import UrlListReader

logger = logging.getLogger(__name__)

_READERS: dict[str, Callable[[Any, DiscoveryConfig], CandidateSource]] = {
    "tiktok_account": lambda entry, config: TikTokAccountReader(
        entry,
        proxy=config.ytdlp.proxy,
        nocheckcertificate=config.ytdlp.nocheckcertificate,
        ytdlp_options=config.ytdlp.options,
    ),
    "url_list": lambda entry, config: UrlListReader(entry),
    "feed": lambda entry, config: FeedReader(entry, allow_private_networks=config.allow_private_networks),
    "folder": lambda entry, config: FolderReader(entry),
}


def build_sources(config: DiscoveryConfig) -> list[CandidateSource]:
    """One reader per configured source, in file order."""
    return [_READERS[entry.kind](entry, config) for entry in config.sources]


def read_all(sources: Sequence[CandidateSource]) -> tuple[list[Candidate], dict[str, str]]:
    """Every source's candidates, and `{source name: message}` for the sources that failed this tick.

    A failing source is skipped, never the tick: SourceError carries its own message; anything else is a bug
    in a reader, reported with its type so it is not mistaken for a platform problem.
    """
    candidates: list[Candidate] = []
    errors: dict[str, str] = {}
    for source in sources:
        try:
            candidates.extend(source.fetch())
        except SourceError as exc:
            errors[source.name] = str(exc)
        except Exception as exc:
            logger.exception("discovery source %s crashed", source.name)
            errors[source.name] = f"source {source.name} failed unexpectedly: {type(exc).__name__}: {exc}"
    return candidates, errors
