"""What `post_metrics` stores and shows for a partition: the short's attributes, each platform's state, the numbers."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import Field

from resources.analytics.records import PostAttributes
from resources.analytics.series import PlatformStatus
from resources.records import (
    AvatarVideo,
    Post,
    Record,
    Script,
    ShortVideo,
    SourceRequest,
    SourceVideo,
    Transcript,
    Voiceover,
)
from resources.usage import Usage, total_cost

MAX_EMBEDDED_BYTES = 200_000  # as resources.media.contact_sheet: the event log keeps what the UI embeds
_LISTED_IN = re.compile(r"listed explicitly in (\S+)")
_HASHTAG = re.compile(r"#(\w+)")
NO_AUDIENCE = "outbox"  # what the status table says for an outbox entry: its numbers come from imports


class PartitionMetrics(Record):
    """`post_metrics`'s value: per platform, the state of its readings and the latest numbers."""

    partition_key: str
    status: dict[str, str] = Field(default_factory=dict, description="Platform -> ok, deleted, revoked, outbox, ...")
    latest: dict[str, dict[str, float]] = Field(default_factory=dict, description="Platform -> metric -> value.")
    attributes: PostAttributes


def source_name_of(request: SourceRequest | None) -> str:
    """The discovery source that found the video: the request's field; for requests registered before it
    existed, the source the reason names ("listed explicitly in <source>")."""
    if request is None:
        return ""
    if request.source_name:
        return request.source_name
    found = _LISTED_IN.search(request.reason)
    return found.group(1).rstrip(".,;)") if found else ""


def attributes_of(
    partition_key: str,
    *,
    source_video: SourceVideo,
    request: SourceRequest | None,
    short_video: ShortVideo,
    voiceover: Voiceover,
    avatar_video: AvatarVideo,
    paid: Iterable[Transcript | Script | Voiceover | AvatarVideo],
) -> PostAttributes:
    """The arms a short was made with, and its estimated cost (every stage record's `usage`)."""
    usage: list[Usage] = [item for record in paid for item in record.usage]
    return PostAttributes(
        partition_key=partition_key,
        source_name=source_name_of(request),
        author=source_video.uploader,
        hashtags=sorted({tag.lower() for tag in _HASHTAG.findall(source_video.title)}),
        layout=short_video.layout,
        voice_provider=voiceover.provider,
        avatar_provider=avatar_video.provider,
        cost_usd=total_cost(usage),
    )


def metric_entries(latest: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """`<platform>_<metric>` -> the latest value: numeric metadata the UI plots over materializations."""
    return {f"{platform}_{metric}": float(value) for platform, numbers in sorted(latest.items())
            for metric, value in sorted(numbers.items())}  # fmt: skip


def status_table(posts: Iterable[Post], status: Mapping[str, PlatformStatus]) -> str:
    """A Markdown table of each platform's post and the state of its last reading."""
    lines = ["| platform | post | status | last reading | last ok | detail |", "|---|---|---|---|---|---|"]
    for post in sorted(posts, key=lambda item: item.platform):
        state = status.get(post.platform)
        if post.status != "published":
            row = [
                post.platform,
                post.status,
                NO_AUDIENCE,
                "–",
                "–",
                "numbers come from imports (shorts analytics import)",
            ]
        elif state is None:
            row = [post.platform, post.remote_id, "not read yet", "–", "–", ""]
        else:
            row = [
                post.platform,
                post.remote_id,
                state.status,
                state.attempted_at.isoformat(timespec="minutes"),
                state.last_ok_at.isoformat(timespec="minutes") if state.last_ok_at else "never",
                state.detail.replace("|", "/").replace("\n", " "),
            ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def image_markdown(png: Path, caption: str) -> str:
    """A PNG as a Markdown image the Dagster UI shows inline (a data URI), or a note when it is too big."""
    data = png.read_bytes()
    if len(data) > MAX_EMBEDDED_BYTES:
        return f"*{caption}: chart too large to embed ({len(data) // 1000} KB): {png}*"
    return f"![{caption}](data:image/png;base64,{base64.b64encode(data).decode()})"
