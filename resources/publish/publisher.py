"""The Publisher resource (one per platform). `provider=outbox` writes the post to a local folder."""

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol, cast

from dagster import ConfigurableResource
from pydantic import BaseModel, Field

from resources.analytics.records import MetricsReading
from resources.errors import ConfigurationError, MetricsUnavailable, ProviderError, RetryableError
from resources.http.deadline import SYSTEM_CLOCK, Clock
from resources.http.retry import RetrySettings
from resources.http.settings import ClientSettings
from resources.partition_keys import validate_partition_key
from resources.publish.captions import Caption
from resources.publish.ledger import PublishLedger, UnconfirmedPost, UploadCheckpoint
from resources.records import Post, PostStatus


class PostRequest(BaseModel):
    """Everything a platform needs to publish one short."""

    platform: str
    partition_key: str
    video_path: Path
    media_uri: str
    caption: Caption
    contains_synthetic_media: bool = True
    made_for_kids: bool = False
    source_url: str = ""

    @property
    def where(self) -> str:
        """`platform[partition]`: how every message names this post."""
        return f"{self.platform}[{self.partition_key}]"

    def post(
        self,
        status: PostStatus,
        remote_id: str,
        url: str = "",
        *,
        provider: str = "",
        posted_at: datetime | None = None,
    ) -> Post:
        """The Post record of this request (`provider` defaults to the platform)."""
        return Post(
            platform=self.platform,
            partition_key=self.partition_key,
            status=status,
            remote_id=remote_id,
            url=url,
            provider=provider or self.platform,
            title=self.caption.title,
            caption=self.caption.text,
            posted_at=posted_at or datetime.now(UTC),
            media_uri=self.media_uri,
        )


class PublishEngine(Protocol):
    name: str

    def publish(self, request: PostRequest) -> Post: ...


class MetricsEngine(Protocol):
    """An API engine that can read a post's numbers back (the analytics loop)."""

    def metrics(self, post: Post) -> dict[str, float]:
        """Metric name (resources.analytics.records.METRICS) -> value; raise MetricsUnavailable with its status
        (deleted, revoked, missing_scope, rate_limited, failed) when the platform cannot give them."""
        ...


@dataclass(frozen=True, kw_only=True)
class PublishSettings(ClientSettings):
    """What every API engine needs from its Publisher (`Publisher.engine_settings`); a platform's own options
    (privacy, account, mode) are the engine's fields."""

    platform: str
    dry_run: bool
    token_url: str  # empty = the platform's real OAuth endpoint
    chunk_size_bytes: int


@dataclass(frozen=True)
class OutboxEngine:
    """Writes `<outbox>/<platform>/<partition>/` with the video and a manifest.json a person can review."""

    outbox_dir: Path
    dry_run: bool
    name = "outbox"

    def publish(self, request: PostRequest) -> Post:
        folder = self.outbox_dir / request.platform / validate_partition_key(request.partition_key)
        remote_id = "outbox-" + hashlib.sha1(f"{request.platform}/{request.partition_key}".encode()).hexdigest()[:12]
        post = request.post(
            "dry_run" if self.dry_run else "outbox", remote_id, (folder / "manifest.json").as_uri(), provider=self.name
        )
        if self.dry_run:
            return post
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError, PermissionError) as exc:
            # Retrying cannot help: a file sits where a folder should be, or the folder is not writable.
            raise ConfigurationError(
                f"the outbox folder {folder} cannot be created ({exc.strerror}); point SHORTS_DATA_DIR (or the "
                "publisher's outbox_dir) at a writable folder"
            ) from exc
        shutil.copyfile(request.video_path, folder / "short.mp4")
        manifest = {
            "platform": request.platform,
            "partition_key": request.partition_key,
            "title": request.caption.title,
            "description": request.caption.text,
            "hashtags": request.caption.hashtags,
            "disclosure": {
                "contains_synthetic_media": request.contains_synthetic_media,
                "made_for_kids": request.made_for_kids,
            },
            "source_url": request.source_url,
            "video": "short.mp4",
            "remote_id": remote_id,
            "created_at": post.posted_at.isoformat(),
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return post


class PublishOutcome(BaseModel):
    post: Post
    already_published: bool


EngineFactory = Callable[["Publisher", UploadCheckpoint, Clock], PublishEngine]


def _api_engines() -> dict[str, EngineFactory]:
    """Platform API engines, imported only when used (each pulls in its client library)."""
    from resources.publish.platforms import API_ENGINES

    return API_ENGINES


class Publisher(ConfigurableResource):
    """Publishes shorts to one platform; the ledger makes every publish idempotent.

    `provider=outbox` writes a reviewable folder; `provider=api` uses the platform's official API.
    """

    platform: str
    provider: Literal["outbox", "api"] = "outbox"
    outbox_dir: str = Field(default="var/outbox", description="Folder of the local outbox.")
    ledger_path: str = Field(
        default="var/publish_ledger.sqlite3", description="SQLite file or SQLAlchemy URL (PostgreSQL) of the ledger."
    )
    dry_run: bool = Field(default=False, description="Go through everything except the final publish call.")
    require_approval: bool = Field(default=False, description="Publish only partitions approved in the UI.")
    caption_template: str = Field(
        default="", description="Caption with {title} {description} {credit} {disclosure} {hashtags}; empty = default."
    )
    api_base_url: str = Field(default="", description="API host; empty = the platform's real one.")
    upload_base_url: str = Field(default="", description="Upload host (YouTube, Meta rupload); empty = real.")
    token_url: str = Field(default="", description="OAuth token endpoint; empty = the platform's real one.")
    account_id: str = Field(default="", description="Instagram user id, Facebook page id or LinkedIn author URN.")
    privacy: Literal["public", "unlisted", "private"] = "public"
    publish_at: str = Field(default="", description="RFC 3339 time to publish (YouTube; needs privacy=private).")
    made_for_kids: bool = False
    mode: Literal["direct", "inbox"] = Field(default="direct", description="TikTok: post directly or as a draft.")
    chunk_size_bytes: int = Field(default=8 * 1024 * 1024, description="Upload chunk size.")
    poll_interval_s: float = Field(default=5.0, description="Wait between two status reads while the platform works.")
    timeout_s: float = Field(default=1800.0, description="How long one publish waits for processing, then retries.")
    retry_attempts: int | None = Field(
        default=None,
        description="Attempts per API call (429, 5xx, timeouts); empty = the platform's default: 5 on YouTube, else 4.",
    )
    retry_base_delay_s: float = Field(default=1.0, description="First backoff between attempts; doubles, jittered.")
    retry_max_delay_s: float = Field(default=30.0, description="Longest backoff between attempts.")

    def engine_settings(self, clock: Clock = SYSTEM_CLOCK, *, attempts: int = 4) -> PublishSettings:
        """The settings an API engine takes: this resource's fields of the same names, the retry policy, `clock`.

        `attempts` is the platform's default when `retry_attempts` is empty.
        """
        same_names = {
            f.name: getattr(self, f.name) for f in fields(PublishSettings) if f.name not in ("retry", "clock")
        }
        retry = RetrySettings(
            attempts=self.retry_attempts or attempts,
            base_delay_s=self.retry_base_delay_s,
            max_delay_s=self.retry_max_delay_s,
        )
        return PublishSettings(**same_names, retry=retry, clock=clock)

    def engine(self, checkpoint: UploadCheckpoint, clock: Clock = SYSTEM_CLOCK) -> PublishEngine:
        if self.provider == "outbox":
            return OutboxEngine(Path(self.outbox_dir).expanduser().resolve(), self.dry_run)
        engines = _api_engines()
        if self.platform not in engines:
            raise ConfigurationError(f"{self.platform}: no API publisher is available; use provider=outbox")
        return engines[self.platform](self, checkpoint, clock)

    def ledger(self) -> PublishLedger:
        return PublishLedger(self.ledger_path)

    def fetch_metrics(self, post: Post, *, clock: Clock = SYSTEM_CLOCK) -> MetricsReading:
        """The post's numbers now, or the reason there are none; never raises for one platform's trouble."""
        observed_at = datetime.now(UTC)
        base = {
            "partition_key": post.partition_key,
            "platform": post.platform,
            "remote_id": post.remote_id,
            "observed_at": observed_at,
        }
        engine = self.engine(self.ledger().checkpoint(post.partition_key, post.platform), clock)
        if not hasattr(engine, "metrics"):
            return MetricsReading(
                **base,
                status="failed",
                detail=f"{post.platform}: the {engine.name} publisher has no audience to read; import the "
                "platform's analytics export instead (shorts analytics import)",
            )
        try:
            values = cast(MetricsEngine, engine).metrics(post)
        except MetricsUnavailable as exc:
            return MetricsReading(**base, status=exc.status, detail=str(exc))  # type: ignore[arg-type]
        except RetryableError as exc:
            return MetricsReading(**base, status="rate_limited", detail=str(exc))
        except (ProviderError, ConfigurationError) as exc:
            return MetricsReading(**base, status="failed", detail=str(exc))
        # A partial answer (YouTube: counts read, watch time refused) says in `detail` what is missing.
        return MetricsReading(**base, values=dict(values), detail=getattr(values, "detail", ""))

    def publish(self, request: PostRequest, *, clock: Clock = SYSTEM_CLOCK) -> PublishOutcome:
        """Publish unless the ledger already holds a post for (partition, platform).

        `clock` measures the waits (polls, backoff); tests pass a FakeClock so no wait depends on machine speed.
        """
        ledger = self.ledger()
        existing = ledger.get(request.partition_key, request.platform)
        if existing is not None:
            return PublishOutcome(post=existing, already_published=True)
        if self.dry_run:  # posts nothing, so it needs no reservation
            checkpoint = ledger.checkpoint(request.partition_key, request.platform)
            return PublishOutcome(post=self.engine(checkpoint, clock).publish(request), already_published=False)
        # The reservation (a unique row) makes a concurrent second publish stop here instead of posting again.
        with ledger.reserve(request.partition_key, request.platform, where=request.where) as reservation:
            existing = ledger.get(request.partition_key, request.platform)  # recorded while we were reserving
            if existing is not None:
                return PublishOutcome(post=existing, already_published=True)
            checkpoint = ledger.checkpoint(request.partition_key, request.platform, reservation)
            try:
                post = self.engine(checkpoint, clock).publish(request)
            except UnconfirmedPost as unknown:
                reservation.mark_unconfirmed(request.post("unconfirmed", ""), unknown.check)
                raise
            return PublishOutcome(post=ledger.record(post), already_published=False)
