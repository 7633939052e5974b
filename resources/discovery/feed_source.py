"""Feeds as a source: JSON, CSV or RSS/Atom that trend services and other tools emit, from a file or HTTP.

Field names vary between tools, so each candidate field accepts the usual spellings (`views`, `view_count`,
`playCount`, ...). Items without a URL are skipped; a feed that is HTML or garbage is a SourceError.

A feed is someone else's server, so it is read defensively: XML through defusedxml with DTDs refused (no entity
bombs, no external entities), at most `max_bytes`, and within `timeout_s` for the whole fetch, every redirect hop,
connect, headers and body together, so one slow or trickling feed costs its own source this tick, not the tick.
"""

from __future__ import annotations

import contextlib
import csv
import email.utils
import io
import json
import logging
import re
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urljoin, urlparse

import defusedxml
import defusedxml.ElementTree as SafeET
import httpx

from resources.discovery.candidates import Candidate, SourceError
from resources.discovery.sources_config import FeedSource
from resources.discovery.url_list_source import candidate_for_url
from resources.errors import InputRejected, RetryableError
from resources.ingest.url_safety import check_remote_url

logger = logging.getLogger(__name__)

FeedFormat = Literal["json", "csv", "rss"]
MAX_REDIRECTS = 5

# Candidate field -> accepted item keys, compared lower-case without "_" or "-".
_ALIASES: dict[str, tuple[str, ...]] = {
    "url": ("url", "link", "webpageurl", "videourl", "href", "permalink"),
    "caption": ("caption", "title", "description", "desc", "text"),
    "author": ("author", "uploader", "creator", "username", "channel", "dccreator"),
    "uploaded_at": ("uploadedat", "published", "pubdate", "createdat", "timestamp", "uploaddate", "createtime"),
    "duration_s": ("durations", "duration"),
    "language": ("language", "lang"),
    "views": ("views", "viewcount", "plays", "playcount"),
    "likes": ("likes", "likecount", "diggcount"),
    "comments": ("comments", "commentcount"),
    "shares": ("shares", "sharecount", "repostcount", "reposts"),
    "saves": ("saves", "savecount", "collectcount", "bookmarks"),
}
_COUNT_FIELDS = ("views", "likes", "comments", "shares", "saves")


class FeedReader:
    """Reads a feed file or URL each tick and maps its items to candidates."""

    def __init__(self, config: FeedSource, *, allow_private_networks: bool = False) -> None:
        self.config = config
        self.name = config.name
        self.allow_private_networks = allow_private_networks

    @property
    def is_remote(self) -> bool:
        """True for http(s) feeds."""
        return urlparse(self.config.location).scheme.lower() in ("http", "https")

    def fetch(self) -> list[Candidate]:
        """Every item with a usable URL, in feed order, first occurrence of each URL only."""
        body, content_type = self._read_remote() if self.is_remote else self._read_file()
        feed_format = detect_format(body, content_type, self.config.location, self.config.format)
        items = parse_feed(body, feed_format, self.config.location)
        candidates: dict[str, Candidate] = {}
        for item in items:
            candidate = self._candidate(item)
            if candidate is not None and candidate.url not in candidates:
                candidates[candidate.url] = candidate
        if items and not candidates:
            raise SourceError(
                f"feed {self.config.location}: none of its {len(items)} items has an http(s) url/link field"
            )
        return list(candidates.values())

    def _read_file(self) -> tuple[bytes, str | None]:
        path = Path(self.config.location.removeprefix("file://")).expanduser()
        try:
            if path.exists() and not path.is_file():  # a FIFO or a device would block or never end
                raise SourceError(f"feed {path} is not a regular file; point `location` at a file")
            size = path.stat().st_size
            if size > self.config.max_bytes:
                raise SourceError(f"feed {path} is {size} bytes, over max_bytes={self.config.max_bytes}")
            return path.read_bytes(), None
        except FileNotFoundError:
            raise SourceError(f"feed file {path} does not exist; check `location`") from None
        except OSError as exc:
            raise SourceError(f"feed file {path} cannot be read: {exc.strerror or exc}") from None

    def _read_remote(self) -> tuple[bytes, str | None]:
        url = self.config.location
        # Redirects are followed by hand so every hop passes the SSRF guard, not just the first.
        with (
            FetchDeadline(self.config.timeout_s) as deadline,
            httpx.Client(follow_redirects=False) as client,
        ):
            for _ in range(MAX_REDIRECTS + 1):
                self._check(url)
                try:
                    with client.stream(
                        "GET",
                        url,
                        headers={"Accept": _ACCEPT},
                        timeout=deadline.timeout(url),
                        extensions={"trace": deadline.trace},
                    ) as response:
                        if response.is_redirect and "location" in response.headers:
                            url = urljoin(url, response.headers["location"])
                            continue
                        if response.status_code >= 400:
                            raise SourceError(f"feed {url} answered HTTP {response.status_code}")
                        return self._read_capped(response, url, deadline), response.headers.get("content-type")
                except httpx.HTTPError as exc:
                    deadline.check(url)  # a read the deadline cut short says so, not "RemoteProtocolError"
                    raise SourceError(f"could not read feed {url}: {type(exc).__name__}: {exc}") from None
        raise SourceError(f"feed {self.config.location} redirected more than {MAX_REDIRECTS} times")

    def _check(self, url: str) -> None:
        try:
            check_remote_url(url, allow_private_networks=self.allow_private_networks)
        except (InputRejected, RetryableError) as exc:
            hint = (
                "" if self.allow_private_networks else "; in the discovery config it is `allow_private_networks: true`"
            )
            raise SourceError(f"feed {url} refused: {exc}{hint}") from exc

    def _read_capped(self, response: httpx.Response, url: str, deadline: FetchDeadline) -> bytes:
        chunks: list[bytes] = []
        total = 0
        for chunk in response.iter_bytes():
            deadline.check(url)
            total += len(chunk)
            if total > self.config.max_bytes:
                raise SourceError(f"feed {url} is larger than max_bytes={self.config.max_bytes}; raise it if expected")
            chunks.append(chunk)
        # A body that ends with the connection ends "cleanly" when the deadline's shutdown closes it: still cut.
        deadline.check(url)
        return b"".join(chunks)

    def _candidate(self, item: dict[str, Any]) -> Candidate | None:
        facts = normalise_item(item)
        url = str(facts.pop("url", "") or "").strip()
        if urlparse(url).scheme not in ("http", "https"):
            return None
        try:
            return candidate_for_url(url, self.name, **facts)
        except ValueError as exc:  # pydantic: one odd item must not cost the whole feed
            logger.info("feed %s: skipped item %s: %s", self.config.location, url, exc)
            return None


class FetchDeadline:
    """One wall-clock deadline over a whole feed fetch: every hop's connect, headers and body together.

    httpx's timeouts bound each connect and each read, not their sum: a server that sends a byte just before
    every read timeout holds the fetch (and the sensor tick) for as long as it likes. So each request's timeouts
    are what is left of the deadline, and when it passes a timer shuts the open socket down, which wakes a read
    blocked on a silent or trickling server at once. The socket comes from httpx's `trace` extension.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends_at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> FetchDeadline:
        self._timer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._timer.cancel()

    @property
    def expired(self) -> bool:
        return self._expired or time.monotonic() >= self._ends_at

    def check(self, url: str) -> None:
        """SourceError once the deadline has passed."""
        if self.expired:
            raise SourceError(
                f"feed {url}: no complete answer within timeout_s={self.seconds:g} s (the server is slow, silent "
                "or trickling); skipped this tick, raise `timeout_s` if the feed is just large"
            )

    def timeout(self, url: str) -> httpx.Timeout:
        """The time left, as the next request's connect/read/write/pool timeout."""
        self.check(url)
        return httpx.Timeout(max(0.001, self._ends_at - time.monotonic()))

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpx trace hook: remember the socket of each new connection (TLS wraps it in a new one)."""
        if event not in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with self._lock:
                self._socket = sock
                if self._expired:
                    self._shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            if self._socket is not None:
                self._shutdown(self._socket)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        # The plain socket's shutdown, also for an SSLSocket: its own would unwrap TLS under a running read.
        with contextlib.suppress(OSError):  # already closed
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


_ACCEPT = "application/json, text/csv, application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.1"


def detect_format(body: bytes, content_type: str | None, location: str, requested: str = "auto") -> FeedFormat:
    """The feed's format from the request, content type, extension or first bytes; HTML is always refused."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in ("text/html", "application/xhtml+xml") or head.startswith((b"<!doctype html", b"<html")):
        raise SourceError(
            f"feed {location} returned HTML, not JSON/CSV/RSS (a login wall, an error page or a moved feed?)"
        )
    if requested in ("json", "csv", "rss"):
        return requested  # type: ignore[return-value]
    if "json" in mime or head.startswith((b"{", b"[")):
        return "json"
    if mime.endswith("xml") or head.startswith((b"<?xml", b"<rss", b"<feed")):
        return "rss"
    suffix = Path(urlparse(location).path).suffix.lower()
    if mime in ("text/csv", "application/csv") or suffix == ".csv":
        return "csv"
    first_line = head.split(b"\n", 1)[0]
    if re.search(rb"\b(url|link)\b", first_line) and re.search(rb"[,;\t]", first_line):
        return "csv"
    preview = body[:40].decode("utf-8", "replace").strip()
    raise SourceError(f"feed {location} is neither JSON, CSV nor RSS (it starts with {preview!r}); set `format`")


def parse_feed(body: bytes, feed_format: FeedFormat, location: str) -> list[dict[str, Any]]:
    """The feed's items as flat dictionaries."""
    text = body.decode("utf-8-sig", errors="replace")
    try:
        if feed_format == "json":
            return _json_items(json.loads(text), location)
        if feed_format == "csv":
            return [dict(row) for row in csv.DictReader(io.StringIO(text), dialect=_csv_dialect(text))]
        return list(_rss_items(parse_xml(body, location)))
    except (json.JSONDecodeError, ET.ParseError, csv.Error) as exc:
        raise SourceError(f"feed {location} is not valid {feed_format.upper()}: {exc}") from None


def parse_xml(body: bytes, location: str) -> ET.Element:
    """The feed's XML root; a SourceError for any DTD, entity declaration or external reference.

    RSS and Atom need none of them, and they are how XML attacks work: nested entities that expand a few KB into
    gigabytes ("billion laughs"), external entities that read local files or URLs.
    """
    try:
        root: ET.Element = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        what = "declares a DTD (<!DOCTYPE ...>)"
    except defusedxml.EntitiesForbidden:
        what = "declares entities"
    except defusedxml.ExternalReferenceForbidden:
        what = "references an external entity"
    else:
        return root
    raise SourceError(
        f"feed {location} refused: its XML {what}, which RSS/Atom never need and XML bombs and file-reading "
        "attacks do; ask its publisher for a plain feed"
    )


def _csv_dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """Comma, semicolon (European spreadsheets) or tab, judged from the header row."""
    try:
        return csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:  # a single-column file has no delimiter to find
        return csv.excel


def _json_items(data: Any, location: str) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        for key in ("items", "videos", "data", "results", "itemList"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise SourceError(f'feed {location}: expected a JSON list of items or {{"items": [...]}}')
    return [item for item in data if isinstance(item, dict)]


def _local(tag: str) -> str:
    """`{http://search.yahoo.com/mrss/}content` -> `content`."""
    return tag.rsplit("}", 1)[-1].lower()


def _rss_items(root: ET.Element) -> Iterator[dict[str, Any]]:
    """RSS 2.0 `<item>` and Atom `<entry>`, with Media RSS extras (`media:content`, `media:statistics`)."""
    for element in root.iter():
        if _local(element.tag) not in ("item", "entry"):
            continue
        item: dict[str, Any] = {}
        for child in element.iter():
            name = _local(child.tag)
            text = (child.text or "").strip()
            if name == "link":
                # Atom puts the URL in href; prefer rel="alternate" (the page) over other relations.
                href = child.get("href")
                if href and child.get("rel", "alternate") == "alternate":
                    item.setdefault("url", href)
                elif text:
                    item.setdefault("url", text)
            elif name == "content" and child.get("url"):
                item.setdefault("media_url", child.get("url"))
                if child.get("duration"):
                    item.setdefault("duration", child.get("duration"))
            elif name == "statistics":
                item.setdefault("views", child.get("views"))
            elif name == "starrating" and child.get("count"):
                item.setdefault("likes", child.get("count"))
            elif name in ("title", "description", "pubdate", "published", "updated", "creator", "language") and text:
                item.setdefault({"updated": "published", "creator": "dccreator"}.get(name, name), text)
            elif name in ("author", "name") and text:
                item.setdefault("author", text)
        if "url" not in item and "media_url" in item:
            item["url"] = item["media_url"]
        yield item


def normalise_item(item: dict[str, Any]) -> dict[str, Any]:
    """Candidate fields from one feed item, whatever the tool called them; unparseable values are dropped."""
    by_key = {re.sub(r"[_\-\s:]", "", str(key).lower()): value for key, value in item.items()}
    facts: dict[str, Any] = {}
    for field, aliases in _ALIASES.items():
        value = next((by_key[alias] for alias in aliases if by_key.get(alias) not in (None, "")), None)
        if value is None:
            continue
        if field in _COUNT_FIELDS:
            parsed: Any = parse_count(value)
        elif field == "duration_s":
            parsed = parse_duration(value)
        elif field == "uploaded_at":
            parsed = parse_time(value)
        else:
            parsed = str(value).strip()
        if parsed is not None:
            facts[field] = parsed
    return facts


def parse_count(value: Any) -> int | None:
    """`1234`, `"12,345"`, `"1.2M"` -> an int; None when it is not a count."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if value >= 0 else None
    match = re.fullmatch(r"([\d.]+)\s*([kmb]?)", str(value).strip().lower().replace(",", "").replace("_", ""))
    if not match:
        return None
    try:
        number = float(match.group(1))
    except ValueError:
        return None
    return int(number * {"": 1, "k": 1e3, "m": 1e6, "b": 1e9}[match.group(2)])


def parse_duration(value: Any) -> float | None:
    """Seconds from `34`, `"34.5"` or `"1:02"`."""
    try:
        parts = [float(part) for part in str(value).strip().split(":")]
    except ValueError:
        return None
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds if seconds > 0 else None


def parse_time(value: Any) -> datetime | None:
    """UTC time from epoch seconds/ms, ISO 8601, RFC 2822 (RSS) or yt-dlp's YYYYMMDD."""
    text = str(value).strip()
    moment: datetime | None = None
    if re.fullmatch(r"\d{8}", text):
        moment = datetime.strptime(text, "%Y%m%d")
    elif re.fullmatch(r"\d+(\.\d+)?", text):
        number = float(text)
        moment = datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError):
                return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
