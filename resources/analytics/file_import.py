"""The offline metrics source: the CSV exports creators download from YouTube Studio and TikTok Studio.

YouTube Studio: Analytics → Advanced mode → Export current view → Comma-separated values; the zip holds
`Table data.csv` (one row per video; its first data row is the channel's "Total", which is skipped).
TikTok Studio: Analytics → Content → download the posts' data as CSV. Column names are matched
case-insensitively with whitespace normalised; the variants each export has used are accepted (`HEADERS`).

A row is matched to a post by the platform's id (YouTube `Content` is the video id; TikTok's id is taken from
`Video link`) against the ledger's `Post.remote_id`, else by title (the ledger's `Post.title`, or the outbox
manifest's), exactly after case-folding and whitespace normalisation. Rows that match no post are reported
(count and first titles), never silently dropped. Every number is recorded as one reading observed at the
file's modification time (or `observed_at`); the series' primary key makes a second import of the same file
add nothing.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

import sqlalchemy as sa

from resources.analytics.records import MetricsReading
from resources.analytics.series import MetricsSeries
from resources.database.tables import posts as posts_table
from resources.errors import InputRejected
from resources.records import Post

ExportPlatform = Literal["youtube", "tiktok"]
SOURCES: dict[str, str] = {"youtube": "youtube_studio_csv", "tiktok": "tiktok_csv"}
UNMATCHED_SHOWN = 5  # titles named in the summary of rows that matched no post

# Column role -> the header names the exports use for it (normalised: lower case, single spaces).
# Roles: `id`, `link`, `title` identify the post; the others are METRICS names.
HEADERS: dict[str, dict[str, tuple[str, ...]]] = {
    "youtube": {
        "id": ("content", "video id"),
        "title": ("video title", "title"),
        "views": ("views",),
        "watch_time_s": ("watch time (hours)",),
        "avg_view_duration_s": ("average view duration",),
        "likes": ("likes",),
        "comments": ("comments added", "comments"),
        "shares": ("shares",),
        "impressions": ("impressions",),
    },
    "tiktok": {
        "id": ("video id", "post id"),
        "link": ("video link", "post link", "link"),
        "title": ("video title", "title", "video description", "description"),
        "views": ("total views", "video views", "views"),
        "likes": ("total likes", "likes"),
        "comments": ("total comments", "comments"),
        "shares": ("total shares", "shares"),
        "saves": ("add to favorites", "saves", "favorites"),
        "reach": ("reached audience", "reach"),
        "watch_time_s": ("total play time", "total time watched"),
        "avg_view_duration_s": ("average watch time", "average time watched"),
    },
}
# YouTube reports watch time in hours; every other duration is H:MM:SS, "1h 2m 3s", "12.5s" or plain seconds.
_SCALE = {("youtube", "watch_time_s"): 3600.0}
_IDENTITY = ("id", "link", "title")
_TIKTOK_VIDEO_ID = re.compile(r"/(?:video|photo)/(\d+)")


@dataclass
class ImportResult:
    """What one import did: rows read, posts matched, observations added, rows that matched no post."""

    path: Path
    platform: str
    observed_at: datetime
    rows: int = 0
    matched: int = 0
    added: int = 0
    unmatched: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{self.path.name} ({self.platform}, observed {self.observed_at.isoformat(timespec='seconds')}): "
            f"{self.rows} rows, {self.matched} matched a post, {self.added} new observations"
        )
        if self.unmatched:
            shown = "; ".join(repr(title) for title in self.unmatched[:UNMATCHED_SHOWN])
            more = f" and {len(self.unmatched) - UNMATCHED_SHOWN} more" if len(self.unmatched) > UNMATCHED_SHOWN else ""
            text += f"; {len(self.unmatched)} rows matched no post: {shown}{more}"
        return text


def normalise(text: str) -> str:
    """Case-folded, whitespace collapsed: how headers and titles are compared."""
    return " ".join(text.replace("\ufeff", "").split()).casefold()


def accepted_headers(platform: str) -> str:
    """The accepted header names of `platform`'s export, for error messages and the README."""
    return "; ".join(f"{role}: {' | '.join(names)}" for role, names in HEADERS[platform].items())


def detect_platform(header: Sequence[str]) -> ExportPlatform | None:
    """Which export a header row belongs to: YouTube Studio's has `Content`, TikTok's a views/link column."""
    names = {normalise(name) for name in header}
    if "content" in names or "watch time (hours)" in names or "comments added" in names:
        return "youtube"
    if names & {"video link", "post link", "total views", "video views", "add to favorites", "post time"}:
        return "tiktok"
    return None


def parse_duration(text: str) -> float:
    """Seconds from `H:MM:SS`, `M:SS`, `1h 2m 3s`, `12.5s` or a plain number; ValueError otherwise."""
    value = text.strip().lower()
    if ":" in value:
        total = 0.0
        for part in value.split(":"):
            total = total * 60 + float(part)
        return total
    units = re.fullmatch(
        r"(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?:in)?)?\s*(?:(\d+(?:\.\d+)?)\s*s)?", value
    )
    if units and any(units.groups()):
        hours, minutes, seconds = (float(group or 0) for group in units.groups())
        return hours * 3600 + minutes * 60 + seconds
    return float(value)


def parse_number(text: str) -> float:
    """A count as the exports write it: `1,234`, `1 234`, `12.5`, `1.2K`/`3M` (TikTok's UI shorthand)."""
    value = text.strip().replace(",", "").replace("\u00a0", "").replace(" ", "")
    multiplier = 1.0
    if value[-1:].lower() in ("k", "m", "b"):
        multiplier = {"k": 1e3, "m": 1e6, "b": 1e9}[value[-1].lower()]
        value = value[:-1]
    return float(value.rstrip("%")) * multiplier


def tiktok_video_id(link: str) -> str:
    """The video id of a TikTok post link (`https://www.tiktok.com/@user/video/7301234567890123456`)."""
    found = _TIKTOK_VIDEO_ID.search(link)
    return found.group(1) if found else ""


def ledger_posts(series: MetricsSeries, platform: str | None = None) -> list[Post]:
    """Every post the ledger holds (for `platform`), outbox entries included: an import is their only audience."""
    query = sa.select(posts_table.c.record_json)
    if platform is not None:
        query = query.where(posts_table.c.platform == platform)
    with series.engine.connect() as db:
        return [Post.model_validate_json(row[0]) for row in db.execute(query)]


def _manifest_title(post: Post) -> str:
    """The title in the post's outbox manifest, when the post is an outbox entry whose manifest is on disk."""
    if not post.url.startswith("file://"):
        return ""
    path = Path(unquote(urlparse(post.url).path))
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("title", ""))
    except (OSError, ValueError):
        return ""


class _PostIndex:
    """The posts of one platform, by remote id and by normalised title."""

    def __init__(self, posts: Iterable[Post]) -> None:
        self.by_id: dict[str, Post] = {}
        self.by_title: dict[str, Post] = {}
        for post in posts:
            self.by_id[post.remote_id] = post
            for title in (post.title, _manifest_title(post)):
                if title:
                    self.by_title.setdefault(normalise(title), post)

    def find(self, remote_id: str, title: str) -> Post | None:
        return (
            self.by_id.get(remote_id) if remote_id and remote_id in self.by_id else self.by_title.get(normalise(title))
        )


def _columns(path: Path, platform: str, header: Sequence[str]) -> dict[str, int]:
    """Role -> column index; refuses a header without views or without any column identifying the post."""
    positions = {normalise(name): index for index, name in enumerate(header)}
    found: dict[str, int] = {}
    for role, names in HEADERS[platform].items():
        for name in names:
            if name in positions:
                found[role] = positions[name]
                break
    missing = []
    if "views" not in found:
        missing.append("a views column (" + " | ".join(HEADERS[platform]["views"]) + ")")
    if not any(role in found for role in _IDENTITY):
        missing.append("a column naming the post (" + ", ".join(f"{role}" for role in _IDENTITY) + ")")
    if missing:
        raise InputRejected(
            f"{path}: line 1 (the header) lacks {' and '.join(missing)}; it has: {', '.join(header) or 'nothing'}. "
            f"Accepted {platform} headers (case-insensitive): {accepted_headers(platform)}"
        )
    return found


def _observed_at(path: Path, observed_at: datetime | None) -> datetime:
    if observed_at is None:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return observed_at if observed_at.tzinfo else observed_at.replace(tzinfo=UTC)


def import_export(
    path: Path,
    series: MetricsSeries,
    *,
    platform: ExportPlatform | None = None,
    observed_at: datetime | None = None,
) -> ImportResult:
    """Record the numbers of a YouTube Studio or TikTok export; `platform` is detected from the header if None."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputRejected(f"{path}: not a UTF-8 CSV file ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise InputRejected(f"{path}: cannot be read ({exc.strerror})") from exc
    lines = list(csv.reader(text.splitlines()))
    header = lines[0] if lines else []
    chosen = platform or detect_platform(header)
    if chosen is None:
        raise InputRejected(
            f"{path}: line 1 (the header) is neither a YouTube Studio nor a TikTok export "
            f"({', '.join(header) or 'empty'}); "
            f"pass --platform youtube|tiktok if it is one. Accepted youtube headers: {accepted_headers('youtube')}. "
            f"Accepted tiktok headers: {accepted_headers('tiktok')}"
        )
    columns = _columns(path, chosen, header)
    moment = _observed_at(path, observed_at)
    index = _PostIndex(ledger_posts(series, chosen))
    result = ImportResult(path=path, platform=chosen, observed_at=moment)
    readings: list[MetricsReading] = []
    for line_number, row in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue

        def cell(role: str, row: list[str] = row) -> str:
            position = columns.get(role)
            return row[position].strip() if position is not None and position < len(row) else ""

        if chosen == "youtube" and normalise(cell("id")) == "total":
            continue  # the channel's total over every video
        result.rows += 1
        remote_id = cell("id") or tiktok_video_id(cell("link"))
        title = cell("title")
        values: dict[str, float] = {}
        for role, position in columns.items():
            if role in _IDENTITY:
                continue
            raw = cell(role)
            if not raw or raw in ("-", "—"):
                continue
            try:
                number = parse_duration(raw) if role.endswith("_s") else parse_number(raw)
            except ValueError:
                raise InputRejected(
                    f"{path}: line {line_number}, column {header[position]!r}: {raw!r} is not a number"
                    + (" or a duration (H:MM:SS)" if role.endswith("_s") else "")
                ) from None
            values[role] = number * _SCALE.get((chosen, role), 1.0)
        if "views" not in values:
            raise InputRejected(
                f"{path}: line {line_number}: the views column ({header[columns['views']]!r}) is empty; "
                f"accepted {chosen} headers: {accepted_headers(chosen)}"
            )
        post = index.find(remote_id, title)
        if post is None:
            result.unmatched.append(title or remote_id or f"line {line_number}")
            continue
        result.matched += 1
        readings.append(
            MetricsReading(
                partition_key=post.partition_key,
                platform=chosen,
                remote_id=post.remote_id,
                observed_at=moment,
                values=values,
                source=SOURCES[chosen],
            )
        )
    result.added = series.record_many(readings)
    return result
