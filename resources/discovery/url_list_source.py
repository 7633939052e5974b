"""Explicit video URLs as a source, and the one way to turn a URL into a candidate."""

from __future__ import annotations

from typing import Any

from resources.discovery.candidates import Candidate
from resources.discovery.sources_config import UrlListSource
from resources.partition_keys import key_for_url


def candidate_for_url(url: str, source_name: str, **facts: Any) -> Candidate:
    """A candidate whose platform and id are those of the URL's partition key (`tiktok-123` → tiktok, 123)."""
    platform, _, video_id = key_for_url(url).partition("-")
    return Candidate(platform=platform, video_id=video_id, url=url, source_name=source_name, **facts)


class UrlListReader:
    """The configured URLs, in order, without metrics (the scorer treats them as unknown)."""

    def __init__(self, config: UrlListSource) -> None:
        self.config = config
        self.name = config.name

    def fetch(self) -> list[Candidate]:
        """One candidate per distinct URL."""
        return [candidate_for_url(url, self.name) for url in dict.fromkeys(self.config.urls)]
