"""Discovery sources as configuration: a YAML/JSON file lists the places to look, one entry per source.

Each entry is tagged by `kind`; a new kind is one model here, one reader module and one registry line.

```yaml
sources:
  - kind: tiktok_account
    account: "@scout2015"
    min_views: 10000
  - kind: feed
    location: https://trends.example.com/today.json
  - kind: folder
    path: var/inbox
```
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from resources.errors import ConfigurationError


class _SourceEntry(BaseModel):
    """Fields every source entry shares."""

    # Typos such as `acount:` must fail loudly, not silently fall back to a default.
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", description="Shown in candidate reasons and error counts; derived if empty.")

    def default_name(self) -> str:
        """The name used when the entry gives none."""
        raise NotImplementedError

    @model_validator(mode="after")
    def _fill_name(self) -> _SourceEntry:
        if not self.name:
            self.name = self.default_name()
        return self


class TikTokAccountSource(_SourceEntry):
    """A TikTok account to watch, read with yt-dlp's TikTok user extractor."""

    kind: Literal["tiktok_account"] = "tiktok_account"
    account: str = Field(description='The handle, with or without "@" (e.g. "@scout2015").')
    max_videos: int = Field(default=20, ge=1, le=500, description="Newest videos to read per tick.")
    min_views: int | None = Field(default=None, ge=0, description="Drop videos with fewer views than this.")
    min_score: float | None = Field(default=None, description="Per-account virality threshold for the scorer.")

    @field_validator("account")
    @classmethod
    def _normalise_account(cls, value: str) -> str:
        handle = value.strip().removeprefix("https://www.tiktok.com/").lstrip("@").strip("/")
        if not handle or any(char in handle for char in "/?# "):
            raise ValueError(f'{value!r} is not a TikTok handle; write it like "@scout2015"')
        return f"@{handle}"

    def default_name(self) -> str:
        return f"tiktok:{self.account}"


class UrlListSource(_SourceEntry):
    """Video URLs listed by hand."""

    kind: Literal["url_list"] = "url_list"
    urls: list[str] = Field(min_length=1, description="http(s) video URLs.")

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ValueError(f"{url!r} is not an http(s) URL")
        return urls

    def default_name(self) -> str:
        return f"urls:{len(self.urls)}"


class FeedSource(_SourceEntry):
    """A JSON, CSV or RSS feed that a trend service or another tool emits, as a file or an http(s) URL."""

    kind: Literal["feed"] = "feed"
    location: str = Field(description="A file path or an http(s) URL.")
    format: Literal["auto", "json", "csv", "rss"] = "auto"
    timeout_s: float = Field(default=20.0, gt=0, description="HTTP feeds: seconds before giving up this tick.")
    max_bytes: int = Field(default=5_000_000, gt=0, description="Larger feeds are refused, not truncated.")

    def default_name(self) -> str:
        return f"feed:{self.location}"


class FolderSource(_SourceEntry):
    """A local folder: each complete video file in it is a candidate (the offline demo's source)."""

    kind: Literal["folder"] = "folder"
    path: str
    settle_s: float = Field(default=2.0, ge=0, description="Files modified more recently are still being written.")

    def default_name(self) -> str:
        return f"folder:{self.path}"


SourceConfig = Annotated[
    TikTokAccountSource | UrlListSource | FeedSource | FolderSource,
    Field(discriminator="kind"),
]


class YtDlpSettings(BaseModel):
    """How yt-dlp reaches the platforms (a proxy, a test server, extractor arguments)."""

    model_config = ConfigDict(extra="forbid")

    proxy: str | None = Field(default=None, description='e.g. "http://127.0.0.1:8080"; None uses the environment.')
    nocheckcertificate: bool = Field(default=False, description="Only for a trusted intercepting proxy.")
    options: dict[str, Any] = Field(default_factory=dict, description="Extra YoutubeDL options, passed as is.")


class DiscoveryConfig(BaseModel):
    """Every configured source, and the settings they share."""

    model_config = ConfigDict(extra="forbid")

    sources: list[SourceConfig] = Field(default_factory=list)
    allow_private_networks: bool = Field(
        default=False, description="Let HTTP feeds live on loopback/private addresses (a trusted local tool)."
    )
    ytdlp: YtDlpSettings = Field(default_factory=YtDlpSettings)
    max_new_per_tick: int = Field(default=10, ge=1, description="Most new partitions the sensor adds per tick.")
    # Validated by the scorer (resources.discovery.virality.ViralityRules), which owns those fields.
    virality: dict[str, Any] = Field(default_factory=dict, description="Virality scoring rules for the sensor.")

    def min_score_for(self, source_name: str) -> float | None:
        """The per-source virality threshold, if the named source sets one."""
        for source in self.sources:
            if source.name == source_name and isinstance(source, TikTokAccountSource):
                return source.min_score
        return None


def load_discovery_config(path: str | Path) -> DiscoveryConfig:
    """Read a YAML or JSON discovery file; ConfigurationError naming the file and the bad entry otherwise."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"discovery config {file}: cannot read it ({exc.strerror or exc})") from exc
    try:
        raw = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(
            f"discovery config {file}: not valid {file.suffix.lstrip('.') or 'YAML'}: {exc}"
        ) from exc
    if raw is None:
        raw = {}
    if isinstance(raw, list):  # a bare list is the sources, the most common file
        raw = {"sources": raw}
    if not isinstance(raw, dict):
        raise ConfigurationError(f"discovery config {file}: expected a mapping with a `sources:` list")
    try:
        return DiscoveryConfig.model_validate(raw)
    except ValidationError as exc:
        grouped: dict[str, list[str]] = {}
        for error in exc.errors():
            where, problem = _describe(error, raw)
            grouped.setdefault(where, []).append(problem)
        problems = "; ".join(f"{where}: {', '.join(items)}" for where, items in grouped.items())
        raise ConfigurationError(f"discovery config {file}: {problems}") from None


def _describe(error: Any, raw: dict[str, Any]) -> tuple[str, str]:
    """(`sources[2] {"kind": "feed", ...}`, `location: Field required`) for one pydantic error."""
    location = list(error["loc"])
    if len(location) >= 2 and location[0] == "sources" and isinstance(location[1], int):
        index = location[1]
        entries = raw.get("sources") or []
        entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
        # loc[2] is the discriminator tag (e.g. "feed") when pydantic got that far; the field comes after it.
        rest = [str(part) for part in location[2:]]
        if isinstance(entry, dict) and rest and rest[0] == entry.get("kind"):
            rest = rest[1:]
        field = ".".join(rest)
        return f"sources[{index}] {_preview(entry)}", f"{field + ': ' if field else ''}{error['msg']}"
    return ".".join(str(part) for part in location) or "top level", error["msg"]


def _preview(entry: Any) -> str:
    text = json.dumps(entry, default=str)
    return text if len(text) <= 120 else text[:117] + "..."
