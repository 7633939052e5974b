"""A TikTok account as a source: yt-dlp's TikTok user extractor lists its newest videos with their stats."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import yt_dlp
from yt_dlp.networking.exceptions import TransportError
from yt_dlp.utils import DownloadError, ExtractorError

from resources.discovery.candidates import Candidate, SourceError
from resources.discovery.sources_config import TikTokAccountSource

logger = logging.getLogger(__name__)

# Phrases yt-dlp uses when the profile itself cannot be listed (as opposed to the extractor breaking).
_ACCOUNT_UNAVAILABLE = ("private", "log in", "login", "secondary user id", "does not exist", "couldn't find")


class _YtDlpLogger:
    """Route yt-dlp's chatter to logging instead of the sensor's stdout, keeping warnings for diagnosis."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def debug(self, message: str) -> None:
        logger.debug(message)

    def info(self, message: str) -> None:
        logger.debug(message)

    def warning(self, message: str) -> None:
        self.warnings.append(message)
        logger.info("yt-dlp: %s", message)  # e.g. "no impersonate target": noise for flat listings

    def error(self, message: str) -> None:
        logger.debug(message)  # the exception we raise carries it


class TikTokAccountReader:
    """Lists an account's newest videos (one page of the web API, no downloads) as candidates."""

    def __init__(
        self,
        config: TikTokAccountSource,
        *,
        proxy: str | None = None,
        nocheckcertificate: bool = False,
        ytdlp_options: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.min_score = config.min_score
        self._options: dict[str, Any] = {
            # Flat: the listing API already carries every stat we need; resolving each video is N more requests.
            "extract_flat": "in_playlist",
            "playlistend": config.max_videos,
            "quiet": True,
            "noprogress": True,
            "cachedir": False,  # listing needs no signature/player cache; keep the sensor stateless
            **({"proxy": proxy} if proxy is not None else {}),
            **({"nocheckcertificate": True} if nocheckcertificate else {}),
            **(ytdlp_options or {}),
        }

    @property
    def url(self) -> str:
        """The profile URL yt-dlp reads."""
        return f"https://www.tiktok.com/{self.config.account}"

    def fetch(self) -> list[Candidate]:
        """The account's newest videos, minus those under `min_views`."""
        info = self._extract()
        candidates = [
            candidate for entry in info.get("entries") or [] if (candidate := self._candidate(entry)) is not None
        ]
        if self.config.min_views is not None:
            floor = self.config.min_views
            candidates = [c for c in candidates if c.views is not None and c.views >= floor]
        return candidates[: self.config.max_videos]

    def _extract(self) -> dict[str, Any]:
        account = self.config.account
        chatter = _YtDlpLogger()
        try:
            with yt_dlp.YoutubeDL({**self._options, "logger": chatter}) as ydl:
                info = ydl.extract_info(self.url, download=False)
                # The listing API is called while yt-dlp processes the playlist, so errors surface here too.
                return dict(ydl.sanitize_info(info) or {})
        except (DownloadError, ExtractorError) as exc:
            if "does not have any videos" in str(exc):
                return {}  # an empty account is not an error: nothing to watch yet
            raise SourceError(_explain(account, exc, chatter.warnings)) from None
        except Exception as exc:  # a yt-dlp bug must cost one source, not the tick
            raise SourceError(
                f"yt-dlp could not read {account}: {type(exc).__name__}: {exc} — update yt-dlp (pip install -U yt-dlp)"
            ) from exc

    def _candidate(self, entry: dict[str, Any]) -> Candidate | None:
        video_id = str(entry.get("id") or "")
        if not video_id.isdigit():  # not a video (e.g. a nested playlist); nothing the pipeline can use
            return None
        author = str(entry.get("uploader") or self.config.account.lstrip("@"))
        timestamp = entry.get("timestamp")
        return Candidate(
            platform="tiktok",
            video_id=video_id,
            url=f"https://www.tiktok.com/@{author}/video/{video_id}",
            source_name=self.name,
            caption=str(entry.get("description") or entry.get("title") or ""),
            author=author,
            uploaded_at=datetime.fromtimestamp(timestamp, UTC) if isinstance(timestamp, int | float) else None,
            duration_s=_number(entry.get("duration")),
            views=_count(entry.get("view_count")),
            likes=_count(entry.get("like_count")),
            comments=_count(entry.get("comment_count")),
            shares=_count(entry.get("repost_count")),
            saves=_count(entry.get("save_count")),
        )


def _explain(account: str, exc: Exception, warnings: list[str]) -> str:
    """A message that says whether the account, the network or yt-dlp is the problem."""
    # The profile page is fetched with fatal=False, so a network failure surfaces later as "cannot find the
    # account"; yt-dlp's warning about the page tells the two apart (a 4xx there means the account is gone).
    unreachable = next((w for w in warnings if "Unable to download user webpage" in w and "HTTP Error 4" not in w), "")
    if unreachable:
        reason = unreachable.split("Unable to download user webpage: ", 1)[-1]
        return f"could not reach TikTok for {account}: {reason}; will try again next tick"
    cause = exc.exc_info[1] if isinstance(exc, DownloadError) and exc.exc_info else exc
    if isinstance(cause, ExtractorError) and cause.orig_msg:
        detail = str(cause.orig_msg)
    else:  # yt-dlp's own summary names the step ("Failed to parse JSON (caused by ...)")
        detail = str(getattr(exc, "msg", None) or exc)
    # Drop yt-dlp's CLI advice and bug-report boilerplate: the operator reads this in the Dagster UI.
    detail = re.split(r"\. Use --cookies|; please report this issue", detail.removeprefix("ERROR: "), maxsplit=1)[0]
    if isinstance(cause, TransportError) or isinstance(getattr(cause, "cause", None), TransportError):
        return f"could not reach TikTok for {account}: {detail.strip()}; will try again next tick"
    if isinstance(cause, ExtractorError) and cause.expected:
        if any(phrase in detail.lower() for phrase in _ACCOUNT_UNAVAILABLE):
            return f"account {account} is private or gone (yt-dlp: {detail.strip()})"
        return f"account {account} cannot be listed: {detail.strip()}"
    return f"yt-dlp could not read {account}: {detail.strip()} — update yt-dlp (pip install -U yt-dlp)"


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and value >= 0 else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and value > 0 else None
