"""The candidate record every source produces, and the interface a source implements."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class Candidate(BaseModel):
    """One video a source found, with the engagement metrics the virality score needs (None = unknown)."""

    model_config = ConfigDict(frozen=True)

    platform: str = Field(description="tiktok, youtube, file, ... (first part of the partition key)")
    video_id: str = Field(description="The platform's id, or a content hash for files.")
    url: str = Field(description="What the pipeline downloads: a video URL or an absolute file path.")
    source_name: str = Field(description="The configured source that found it (for reasons and error counts).")
    caption: str = ""
    author: str = ""
    uploaded_at: datetime | None = None
    duration_s: float | None = None
    language: str = ""
    views: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None


class SourceError(Exception):
    """A source could not be read this tick (account gone private, extractor broken, feed returned HTML)."""


class CandidateSource(Protocol):
    """A configured place to look for videos."""

    name: str

    def fetch(self) -> list[Candidate]:
        """Current candidates; raise SourceError when the source cannot be read now."""
        ...
