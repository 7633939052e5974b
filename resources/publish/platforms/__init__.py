"""Platform API publishers, one module each. A new platform is one module plus one factory in API_ENGINES.

A factory hands its engine the shared `PublishSettings` and the few Publisher options that platform uses,
never the resource itself. Each module is imported only when used, so a missing client library never breaks
the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resources.http.deadline import Clock
    from resources.publish.ledger import UploadCheckpoint
    from resources.publish.publisher import EngineFactory, PublishEngine, Publisher


def _youtube(publisher: Publisher, checkpoint: UploadCheckpoint, clock: Clock) -> PublishEngine:
    from resources.publish.platforms.youtube import RETRY_ATTEMPTS, YouTubeEngine

    return YouTubeEngine(
        publisher.engine_settings(clock, attempts=RETRY_ATTEMPTS),
        checkpoint,
        privacy=publisher.privacy,
        publish_at=publisher.publish_at,
        made_for_kids=publisher.made_for_kids,
    )


def _tiktok(publisher: Publisher, checkpoint: UploadCheckpoint, clock: Clock) -> PublishEngine:
    from resources.publish.platforms.tiktok import TikTokEngine

    return TikTokEngine(publisher.engine_settings(clock), checkpoint, privacy=publisher.privacy, mode=publisher.mode)


def _instagram(publisher: Publisher, checkpoint: UploadCheckpoint, clock: Clock) -> PublishEngine:
    from resources.publish.platforms.meta import InstagramEngine

    return InstagramEngine(publisher.engine_settings(clock), checkpoint, account=publisher.account_id)


def _facebook(publisher: Publisher, checkpoint: UploadCheckpoint, clock: Clock) -> PublishEngine:
    from resources.publish.platforms.meta import FacebookEngine

    return FacebookEngine(publisher.engine_settings(clock), checkpoint, account=publisher.account_id)


def _x(publisher: Publisher, checkpoint: UploadCheckpoint, clock: Clock) -> PublishEngine:
    from resources.publish.platforms.x import XEngine

    return XEngine(publisher.engine_settings(clock), checkpoint)


def _linkedin(publisher: Publisher, checkpoint: UploadCheckpoint, clock: Clock) -> PublishEngine:
    from resources.publish.platforms.linkedin import LinkedInEngine

    return LinkedInEngine(publisher.engine_settings(clock), checkpoint, author=publisher.account_id)


API_ENGINES: dict[str, EngineFactory] = {
    "youtube": _youtube,
    "tiktok": _tiktok,
    "instagram": _instagram,
    "facebook": _facebook,
    "x": _x,
    "linkedin": _linkedin,
}
