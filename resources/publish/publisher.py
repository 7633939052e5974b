"""The Publisher resource (one per platform). `provider=outbox` writes the post to a local folder."""

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from dagster import ConfigurableResource
from pydantic import BaseModel, Field

from resources.partition_keys import validate_partition_key
from resources.publish.captions import Caption
from resources.publish.ledger import PublishLedger
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
        folder.mkdir(parents=True, exist_ok=True)
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


class Publisher(ConfigurableResource):
    """Publishes shorts to one platform; the ledger makes every publish idempotent."""

    platform: str
    provider: Literal["outbox"] = "outbox"
    outbox_dir: str = Field(default="var/outbox", description="Folder of the local outbox.")
    ledger_path: str = Field(default="var/publish_ledger.sqlite3", description="SQLite publish ledger.")
    dry_run: bool = Field(default=False, description="Go through everything except the final publish call.")

    def engine(self) -> PublishEngine:
        engines = {"outbox": lambda: OutboxEngine(Path(self.outbox_dir).expanduser().resolve(), self.dry_run)}
        return engines[self.provider]()

    def ledger(self) -> PublishLedger:
        return PublishLedger(Path(self.ledger_path).expanduser().resolve())

    def publish(self, request: PostRequest) -> PublishOutcome:
        """Publish unless the ledger already holds a post for (partition, platform)."""
        ledger = self.ledger()
        existing = ledger.get(request.partition_key, request.platform)
        if existing is not None:
            return PublishOutcome(post=existing, already_published=True)
        post = self.engine().publish(request)
        if post.status == "dry_run":
            return PublishOutcome(post=post, already_published=False)
        return PublishOutcome(post=ledger.record(post), already_published=False)
