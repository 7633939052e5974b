"""Platform API publishers, one module each. A new platform is one module plus one line in API_ENGINES.

Each engine is built with the platform's Publisher settings and the upload's checkpoint, and is imported
only when used, so a missing client library never breaks the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resources.publish.ledger import UploadCheckpoint
    from resources.publish.publisher import PublishEngine, Publisher


def _lazy(module: str, cls: str) -> Callable[[Publisher, UploadCheckpoint], PublishEngine]:
    def build(publisher: Publisher, checkpoint: UploadCheckpoint) -> PublishEngine:
        engine_class = getattr(importlib.import_module(f"resources.publish.platforms.{module}"), cls)
        engine: PublishEngine = engine_class(publisher, checkpoint)
        return engine

    return build


API_ENGINES: dict[str, Callable[[Publisher, UploadCheckpoint], PublishEngine]] = {
    "youtube": _lazy("youtube", "YouTubeEngine"),
    "tiktok": _lazy("tiktok", "TikTokEngine"),
    "instagram": _lazy("meta", "InstagramEngine"),
    "facebook": _lazy("meta", "FacebookEngine"),
    "x": _lazy("x", "XEngine"),
    "linkedin": _lazy("linkedin", "LinkedInEngine"),
}
