"""The Publisher resource (one per platform). `provider=outbox` writes the post to a local folder."""

import hashlib
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from dagster import ConfigurableResource
from pydantic import BaseModel, Field

from resources.errors import ConfigurationError
from resources.partition_keys import validate_partition_key
from resources.publish.captions import Caption
from resources.publish.ledger import PublishLedger, UploadCheckpoint
from resources.publish.oauth import AccessTokens
from resources.records import Post

PLATFORMS: tuple[str, ...] = ("youtube", "tiktok", "instagram", "facebook", "x", "linkedin")


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


class PublishEngine(Protocol):
    name: str

    def publish(self, request: PostRequest) -> Post: ...


class OutboxEngine:
    """Writes `<outbox>/<platform>/<partition>/` with the video and a manifest.json a person can review."""

    name = "outbox"

    def __init__(self, outbox_dir: Path, dry_run: bool) -> None:
        self.outbox_dir = outbox_dir
        self.dry_run = dry_run

    def publish(self, request: PostRequest) -> Post:
        folder = self.outbox_dir / request.platform / validate_partition_key(request.partition_key)
        remote_id = "outbox-" + hashlib.sha1(f"{request.platform}/{request.partition_key}".encode()).hexdigest()[:12]
        post = Post(
            platform=request.platform,
            partition_key=request.partition_key,
            status="dry_run" if self.dry_run else "outbox",
            remote_id=remote_id,
            url=(folder / "manifest.json").as_uri(),
            provider=self.name,
            title=request.caption.title,
            caption=request.caption.text,
            posted_at=datetime.now(UTC),
            media_uri=request.media_uri,
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


EngineFactory = Callable[["Publisher", UploadCheckpoint], PublishEngine]


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
    poll_interval_s: float = 5.0
    timeout_s: float = 1800.0

    def engine(self, checkpoint: UploadCheckpoint) -> PublishEngine:
        if self.provider == "outbox":
            return OutboxEngine(Path(self.outbox_dir).expanduser().resolve(), self.dry_run)
        engines = _api_engines()
        if self.platform not in engines:
            raise ConfigurationError(f"{self.platform}: no API publisher is available; use provider=outbox")
        return engines[self.platform](self, checkpoint)

    def ledger(self) -> PublishLedger:
        return PublishLedger(self.ledger_path)

    def tokens(self) -> AccessTokens:
        """OAuth access tokens for this platform (refreshed automatically)."""
        return AccessTokens(self.platform, token_url=self.token_url)

    def publish(self, request: PostRequest) -> PublishOutcome:
        """Publish unless the ledger already holds a post for (partition, platform)."""
        ledger = self.ledger()
        existing = ledger.get(request.partition_key, request.platform)
        if existing is not None:
            return PublishOutcome(post=existing, already_published=True)
        checkpoint = ledger.checkpoint(request.partition_key, request.platform)
        post = self.engine(checkpoint).publish(request)
        if post.status == "dry_run":
            return PublishOutcome(post=post, already_published=False)
        return PublishOutcome(post=ledger.record(post), already_published=False)
