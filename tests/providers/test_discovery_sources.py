"""Discovery sources: TikTok accounts read by the real yt-dlp through a local intercepting proxy, feeds from
files and a local HTTP server, a watched folder, and the configuration file that lists them."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from resources.discovery.candidates import Candidate, SourceError
from resources.discovery.feed_source import FeedReader
from resources.discovery.folder_source import FolderReader
from resources.discovery.registry import build_sources, read_all
from resources.discovery.sources_config import (
    DiscoveryConfig,
    FeedSource,
    FolderSource,
    TikTokAccountSource,
    UrlListSource,
    YtDlpSettings,
    load_discovery_config,
)
from resources.discovery.tiktok_source import TikTokAccountReader
from resources.discovery.url_list_source import UrlListReader
from resources.errors import ConfigurationError
from resources.partition_keys import key_for_file

TIKTOK_DATA = Path(__file__).parents[1] / "data" / "tiktok"
SCOUT_SEC_UID = "MS4wLjABAAAAv7iSuuXDJGDvJkmH_vz1qkDZYo1apxgzaxdBSeIuPiM"

Answer = tuple[int, str, bytes]  # status, content type, body


# --- a local HTTPS-intercepting proxy standing in for www.tiktok.com ---------------------------------------------


def _self_signed_tls_context(folder: Path) -> ssl.SSLContext:
    """A server context with a throwaway certificate for *.tiktok.com (yt-dlp runs with nocheckcertificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.tiktok.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("www.tiktok.com"), x509.DNSName("*.tiktok.com")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "proxy-cert.pem", folder / "proxy-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


@dataclass
class InterceptingProxy:
    """Answers CONNECT by terminating TLS itself, then serves recorded answers by (host, path prefix).

    Plain-HTTP proxy requests (`GET http://host/path`) are answered from the same table. Unknown paths get 404.
    """

    tls: ssl.SSLContext
    routes: dict[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    port: int = 0

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._listener.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            with client:
                method, target = _read_request(client.makefile("rb"))
                if method == "CONNECT":
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    with self.tls.wrap_socket(client, server_side=True) as tunnel:
                        _, path = _read_request(tunnel.makefile("rb"))
                        self._answer(tunnel, target.split(":")[0], path)
                else:
                    parts = urlsplit(target)
                    self._answer(client, parts.hostname or "", parts.path + (f"?{parts.query}" if parts.query else ""))
        except (OSError, ssl.SSLError, ValueError):
            pass  # a client that hung up mid-request; the test's assertions will say what went wrong

    def _answer(self, sock: socket.socket, host: str, path: str) -> None:
        self.requests.append(f"{host}{path}")
        status, content_type, body = next(
            (answer for (h, prefix), answer in self.routes.items() if h == host and path.startswith(prefix)),
            (404, "text/html", b"<html><body>Not Found</body></html>"),
        )
        head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        sock.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)


def _read_request(stream: Any) -> tuple[str, str]:
    """Method and target of one HTTP/1.1 request; headers and body are read and dropped."""
    request_line = stream.readline().decode("latin-1").split()
    length = 0
    while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length:
        stream.read(length)
    return request_line[0], request_line[1]


@pytest.fixture(scope="module")
def tiktok_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InterceptingProxy]:
    proxy = InterceptingProxy(tls=_self_signed_tls_context(tmp_path_factory.mktemp("tls")))
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def tiktok(tiktok_proxy: InterceptingProxy) -> InterceptingProxy:
    """The proxy with the recorded @scout2015 profile page and item_list API answer."""
    tiktok_proxy.requests.clear()
    tiktok_proxy.routes = {
        ("www.tiktok.com", "/@scout2015"): (200, "text/html", (TIKTOK_DATA / "user_page_scout2015.html").read_bytes()),
        ("www.tiktok.com", "/api/creator/item_list/"): (
            200,
            "application/json",
            (TIKTOK_DATA / "item_list_scout2015.json").read_bytes(),
        ),
    }
    return tiktok_proxy


def _account_reader(proxy: InterceptingProxy, account: str = "@scout2015", **settings: Any) -> TikTokAccountReader:
    return TikTokAccountReader(
        TikTokAccountSource(account=account, **settings), proxy=proxy.url, nocheckcertificate=True
    )


# --- TikTok accounts -----------------------------------------------------------------------------------------------


def test_tiktok_account_lists_newest_videos_with_stats_through_real_ytdlp(tiktok: InterceptingProxy) -> None:
    config = DiscoveryConfig(
        sources=[TikTokAccountSource(account="@scout2015")],
        ytdlp=YtDlpSettings(proxy=tiktok.url, nocheckcertificate=True),
    )
    [source] = build_sources(config)

    candidates = source.fetch()

    assert [c.video_id for c in candidates] == ["7301234567890123456", "7301234567890123457", "7301234567890123458"]
    assert candidates[0] == Candidate(
        platform="tiktok",
        video_id="7301234567890123456",
        url="https://www.tiktok.com/@scout2015/video/7301234567890123456",
        source_name="tiktok:@scout2015",
        caption="Freeze herbs in olive oil #kitchenhack",
        author="scout2015",
        uploaded_at=dt.datetime(2025, 1, 1, 12, 0, tzinfo=dt.UTC),
        duration_s=34.0,
        views=1_250_000,
        likes=98_000,
        comments=1_200,
        shares=4_300,
        saves=15_000,
    )
    # yt-dlp really walked TikTok's protocol: the profile page, then the listing API keyed by the page's secUid.
    assert tiktok.requests[0] == "www.tiktok.com/@scout2015"
    assert tiktok.requests[1].startswith("www.tiktok.com/api/creator/item_list/?")
    assert f"secUid={SCOUT_SEC_UID}" in tiktok.requests[1]


def test_tiktok_account_thresholds_and_max_videos_apply(tiktok: InterceptingProxy) -> None:
    popular = _account_reader(tiktok, min_views=50_000, min_score=0.7).fetch()
    newest = _account_reader(tiktok, max_videos=1).fetch()

    assert [c.views for c in popular] == [1_250_000, 87_000]
    assert [c.video_id for c in newest] == ["7301234567890123456"]
    assert _account_reader(tiktok, min_score=0.7).min_score == 0.7


def test_private_tiktok_account_is_a_source_error_saying_so(tiktok: InterceptingProxy) -> None:
    tiktok.routes[("www.tiktok.com", "/@hidden")] = (
        200,
        "text/html",
        (TIKTOK_DATA / "user_page_private.html").read_bytes(),
    )

    with pytest.raises(SourceError, match=r"account @hidden is private or gone"):
        _account_reader(tiktok, account="hidden").fetch()


def test_deleted_tiktok_account_is_a_source_error_saying_so(tiktok: InterceptingProxy) -> None:
    # No route: the profile and embed pages answer 404, as for a deleted handle.
    with pytest.raises(SourceError, match=r"account @gone_for_good is private or gone"):
        _account_reader(tiktok, account="@gone_for_good").fetch()


def test_unreachable_tiktok_is_not_mistaken_for_a_gone_account() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    dead_proxy = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()  # nothing listens there now: connection refused
    reader = TikTokAccountReader(TikTokAccountSource(account="@scout2015"), proxy=dead_proxy)

    with pytest.raises(SourceError, match=r"could not reach TikTok for @scout2015: .*will try again next tick"):
        reader.fetch()


def test_changed_tiktok_api_says_to_update_ytdlp(tiktok: InterceptingProxy) -> None:
    tiktok.routes[("www.tiktok.com", "/api/creator/item_list/")] = (200, "application/json", b"<html>new site</html>")

    with pytest.raises(SourceError, match=r"yt-dlp could not read @scout2015: .* update yt-dlp"):
        _account_reader(tiktok).fetch()


def test_one_broken_source_does_not_cost_the_others(tiktok: InterceptingProxy) -> None:
    sources = [_account_reader(tiktok, account="@gone_for_good"), _account_reader(tiktok)]

    candidates, errors = read_all(sources)

    assert len(candidates) == 3
    assert list(errors) == ["tiktok:@gone_for_good"]
    assert "private or gone" in errors["tiktok:@gone_for_good"]


# --- explicit URL lists --------------------------------------------------------------------------------------------


def test_url_list_candidates_take_platform_and_id_from_the_partition_key() -> None:
    reader = UrlListReader(
        UrlListSource(urls=["https://www.tiktok.com/@scout2015/video/7301234567890123456", "https://example.com/a.mp4"])
    )

    tiktok_video, other = reader.fetch()

    assert (tiktok_video.platform, tiktok_video.video_id) == ("tiktok", "7301234567890123456")
    assert other.platform == "example" and len(other.video_id) == 16
    assert tiktok_video.source_name == "urls:2" and tiktok_video.views is None


# --- feeds ---------------------------------------------------------------------------------------------------------

TREND_JSON = json.dumps(
    {
        "items": [
            {
                "url": "https://www.tiktok.com/@chef/video/7300000000000000001",
                "title": "Pasta in 60 seconds",
                "author": "chef",
                "views": "1.2M",
                "likes": 45000,
                "comment_count": "1,200",
                "shares": 800,
                "published": "2025-01-02T08:30:00Z",
                "duration": 61,
            },
            {"id": "no-url-here", "views": 10},
        ]
    }
).encode()
TREND_CSV = (
    b"url,caption,author,views,likes,comments,shares,saves,uploaded_at\n"
    b"https://www.tiktok.com/@chef/video/7300000000000000001,Pasta in 60 seconds,chef,1200000,45000,1200,800,90,"
    b"1735806600\n"
)
TREND_RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
  <channel>
    <title>Trending cooking</title>
    <item>
      <title>Pasta in 60 seconds</title>
      <link>https://www.tiktok.com/@chef/video/7300000000000000001</link>
      <pubDate>Thu, 02 Jan 2025 08:30:00 GMT</pubDate>
      <media:content url="https://cdn.example.com/pasta.mp4" duration="61"/>
      <media:community><media:statistics views="1200000"/></media:community>
    </item>
  </channel>
</rss>
"""
FEEDS = {"json": TREND_JSON, "csv": TREND_CSV, "rss": TREND_RSS}
CONTENT_TYPES = {"json": "application/json", "csv": "text/csv", "rss": "application/rss+xml", "html": "text/html"}


def _assert_pasta(candidates: list[Candidate]) -> None:
    [pasta] = candidates
    assert (pasta.platform, pasta.video_id) == ("tiktok", "7300000000000000001")
    assert pasta.url == "https://www.tiktok.com/@chef/video/7300000000000000001"
    assert pasta.caption == "Pasta in 60 seconds"
    assert pasta.views == 1_200_000
    assert pasta.uploaded_at == dt.datetime(2025, 1, 2, 8, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("kind", ["json", "csv", "rss"])
def test_feed_file_in_each_format_becomes_candidates(kind: str, tmp_path: Path) -> None:
    feed = tmp_path / f"trends.{kind}"
    feed.write_bytes(FEEDS[kind])

    _assert_pasta(FeedReader(FeedSource(location=str(feed))).fetch())


def test_feed_fields_are_read_under_their_usual_names(tmp_path: Path) -> None:
    feed = tmp_path / "trends.json"
    feed.write_bytes(TREND_JSON)

    [pasta] = FeedReader(FeedSource(location=str(feed))).fetch()

    assert (pasta.author, pasta.likes, pasta.comments, pasta.shares, pasta.duration_s) == ("chef", 45000, 1200, 800, 61)


@dataclass
class FeedServer:
    """A local HTTP server answering GET from `routes` (path -> answer); `redirects` maps path -> Location.

    `stalls` maps a path to a way of never finishing: "silent" (no answer at all), "headers" (the status line,
    then a header byte every 20 ms) or "body" (headers, then a body byte every 20 ms), until the test ends.
    Every requested path is in `requests`.
    """

    routes: dict[str, Answer] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    stalls: dict[str, str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    state = FeedServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            if self.path in state.stalls:
                self._stall(state.stalls[self.path])
                return
            if self.path in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[self.path])
                self.end_headers()
                return
            status, content_type, body = state.routes.get(self.path, (404, "text/plain", b"no such feed"))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _stall(self, how: str) -> None:
            if how == "silent":
                state.stop.wait()
                return
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            self.wfile.write(head if how == "body" else head[:17])
            self.wfile.write(b"\r\n" if how == "body" else b"")
            trickle = b" " if how == "body" else b"X"
            try:
                while not state.stop.wait(0.02):
                    self.wfile.write(trickle)
                    self.wfile.flush()
            except OSError:  # the reader gave up and hung up: what the test wants
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield state
    state.stop.set()
    server.shutdown()
    server.server_close()


def _http_feed(url: str, **settings: Any) -> FeedReader:
    return FeedReader(FeedSource(location=url, **settings), allow_private_networks=True)


@pytest.mark.parametrize("kind", ["json", "csv", "rss"])
def test_http_feed_in_each_format_is_detected_by_content_type(kind: str, feed_server: FeedServer) -> None:
    feed_server.routes["/trending"] = (200, CONTENT_TYPES[kind], FEEDS[kind])

    _assert_pasta(_http_feed(feed_server.url("/trending")).fetch())


def test_http_feed_answering_html_is_a_source_error(feed_server: FeedServer) -> None:
    feed_server.routes["/trending.json"] = (200, "text/html", b"<!DOCTYPE html><html><body>Sign in</body></html>")

    with pytest.raises(
        SourceError, match=r"feed http://127\.0\.0\.1:\d+/trending\.json returned HTML, not JSON/CSV/RSS"
    ):
        _http_feed(feed_server.url("/trending.json")).fetch()


def test_feed_of_garbage_is_a_source_error_asking_for_format(tmp_path: Path) -> None:
    feed = tmp_path / "trends.txt"
    feed.write_bytes(b"\x00\x01binary junk")

    with pytest.raises(SourceError, match=r"neither JSON, CSV nor RSS .* set `format`"):
        FeedReader(FeedSource(location=str(feed))).fetch()


def test_http_feed_error_status_and_oversize_are_source_errors(feed_server: FeedServer) -> None:
    feed_server.routes["/big.json"] = (200, "application/json", b"[" + b" " * 2000 + b"]")

    with pytest.raises(SourceError, match=r"answered HTTP 404"):
        _http_feed(feed_server.url("/missing.json")).fetch()
    with pytest.raises(SourceError, match=r"larger than max_bytes=1000"):
        _http_feed(feed_server.url("/big.json"), max_bytes=1000).fetch()


def test_http_feed_on_a_private_address_is_refused_without_the_allow_flag(feed_server: FeedServer) -> None:
    feed_server.routes["/trending.json"] = (200, "application/json", TREND_JSON)
    reader = FeedReader(FeedSource(location=feed_server.url("/trending.json")))

    with pytest.raises(SourceError, match=r"refused: .*non-public address 127\.0\.0\.1"):
        reader.fetch()


def test_http_feed_redirects_are_followed_and_each_hop_checked(feed_server: FeedServer) -> None:
    feed_server.routes["/v2/trending.json"] = (200, "application/json", TREND_JSON)
    feed_server.redirects["/trending.json"] = "/v2/trending.json"

    _assert_pasta(_http_feed(feed_server.url("/trending.json")).fetch())


# A feed that never finishes gets this long; short, because the tests wait for it, and never part of an assertion.
DEADLINE_S = 0.3


@pytest.mark.timeout(60)  # generous bound on the test itself: without a deadline the fetch would never return
@pytest.mark.parametrize("how", ["silent", "headers", "body"])
def test_a_feed_that_never_finishes_is_skipped_at_its_deadline_and_the_others_still_run(
    how: str, feed_server: FeedServer
) -> None:
    feed_server.stalls["/slow.json"] = how
    feed_server.routes["/trending.json"] = (200, "application/json", TREND_JSON)
    slow = _http_feed(feed_server.url("/slow.json"), name="slow", timeout_s=DEADLINE_S)
    good = _http_feed(feed_server.url("/trending.json"), name="good")  # the default deadline: never hurried

    candidates, errors = read_all([slow, good])

    _assert_pasta(candidates)
    assert list(errors) == ["slow"]
    assert f"no complete answer within timeout_s={DEADLINE_S:g} s" in errors["slow"]
    assert "raise `timeout_s`" in errors["slow"]


@pytest.mark.timeout(60)
def test_the_deadline_spans_every_redirect_hop(feed_server: FeedServer) -> None:
    feed_server.stalls["/v2/slow.json"] = "body"
    feed_server.redirects["/slow.json"] = "/v2/slow.json"

    with pytest.raises(SourceError, match=r"feed http://127\.0\.0\.1:\d+/v2/slow\.json: no complete answer within"):
        _http_feed(feed_server.url("/slow.json"), timeout_s=DEADLINE_S).fetch()


# Each is refused before anything in it is expanded or fetched.
HOSTILE_XML = {
    "billion laughs": b"""<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss><channel><item><title>&lol9;</title><link>https://www.tiktok.com/@a/video/1</link></item></channel></rss>
""",
    "external entity": b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss><channel><item><title>&secret;</title><link>https://www.tiktok.com/@a/video/1</link></item></channel></rss>
""",
    "external DTD": b"""<?xml version="1.0"?>
<!DOCTYPE rss SYSTEM "{base}/evil.dtd">
<rss><channel><item><title>&fromdtd;</title><link>https://www.tiktok.com/@a/video/1</link></item></channel></rss>
""",
    "parameter entity": b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY % remote SYSTEM "{base}/evil.dtd"> %remote;]>
<rss><channel><item><link>https://www.tiktok.com/@a/video/1</link></item></channel></rss>
""",
}


@pytest.mark.parametrize("attack", list(HOSTILE_XML))
def test_hostile_xml_feeds_are_refused_and_the_others_still_run(attack: str, feed_server: FeedServer) -> None:
    base = feed_server.url("").encode()
    feed_server.routes["/evil.xml"] = (200, "application/rss+xml", HOSTILE_XML[attack].replace(b"{base}", base))
    feed_server.routes["/evil.dtd"] = (200, "application/xml-dtd", b'<!ENTITY fromdtd "pwned">')
    feed_server.routes["/trending.xml"] = (200, "application/rss+xml", TREND_RSS)
    hostile = _http_feed(feed_server.url("/evil.xml"), name="hostile")
    good = _http_feed(feed_server.url("/trending.xml"), name="good")

    candidates, errors = read_all([hostile, good])

    _assert_pasta(candidates)
    assert list(errors) == ["hostile"]
    assert "refused: its XML declares a DTD (<!DOCTYPE ...>)" in errors["hostile"]
    assert "/evil.dtd" not in feed_server.requests  # nothing external was fetched


def test_a_feed_location_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "feed.json"
    os.mkfifo(fifo)  # reading it would block the tick until someone writes

    with pytest.raises(SourceError, match=r"is not a regular file"):
        FeedReader(FeedSource(location=str(fifo))).fetch()


# --- the watched folder --------------------------------------------------------------------------------------------


def _settled(path: Path, data: bytes) -> Path:
    """A file written a minute ago: complete as far as the folder source can tell."""
    path.write_bytes(data)
    old = time.time() - 60
    os.utime(path, (old, old))
    return path


def test_video_files_in_the_folder_become_candidates_with_stable_ids(tmp_path: Path) -> None:
    clip = _settled(tmp_path / "clip.mp4", b"video-bytes-1")
    other = _settled(tmp_path / "Other.MOV", b"video-bytes-2")
    _settled(tmp_path / "notes.txt", b"not a video")
    reader = FolderReader(FolderSource(path=str(tmp_path)))

    first, second = reader.fetch(), reader.fetch()

    assert first == second
    assert {(c.platform, c.video_id, c.url) for c in first} == {
        ("file", key_for_file(clip).removeprefix("file-"), str(clip)),
        ("file", key_for_file(other).removeprefix("file-"), str(other)),
    }


def test_a_copy_of_a_video_under_another_name_is_one_candidate(tmp_path: Path) -> None:
    _settled(tmp_path / "clip.mp4", b"video-bytes-1")
    _settled(tmp_path / "clip (copy).mp4", b"video-bytes-1")
    assert len(FolderReader(FolderSource(path=str(tmp_path))).fetch()) == 1


def test_a_file_still_being_written_waits_for_a_later_tick(tmp_path: Path) -> None:
    growing = tmp_path / "incoming.mp4"
    growing.write_bytes(b"half a video")
    reader = FolderReader(FolderSource(path=str(tmp_path), settle_s=30))

    assert reader.fetch() == []

    _settled(growing, b"the whole video")
    [candidate] = reader.fetch()
    assert candidate.url == str(growing)


def test_missing_folder_is_a_source_error_saying_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"watch folder .*nowhere does not exist; create it"):
        FolderReader(FolderSource(path=str(tmp_path / "nowhere"))).fetch()


# --- the configuration file ----------------------------------------------------------------------------------------


def test_yaml_config_with_every_kind_builds_one_reader_each(tmp_path: Path) -> None:
    config_file = tmp_path / "discovery.yaml"
    config_file.write_text(
        """
allow_private_networks: true
max_new_per_tick: 5
virality: {min_score: 3.5}
ytdlp: {proxy: "http://127.0.0.1:9", nocheckcertificate: true}
sources:
  - {kind: tiktok_account, account: "@scout2015", max_videos: 5, min_views: 10000, min_score: 0.6}
  - {kind: url_list, name: handpicked, urls: ["https://www.tiktok.com/@chef/video/7300000000000000001"]}
  - {kind: feed, location: "https://trends.example.com/today.json"}
  - {kind: folder, path: var/inbox, settle_s: 5}
"""
    )

    config = load_discovery_config(config_file)
    readers = build_sources(config)

    kinds: list[Callable[..., Any]] = [TikTokAccountReader, UrlListReader, FeedReader, FolderReader]
    assert [type(reader) for reader in readers] == kinds
    assert [reader.name for reader in readers] == [
        "tiktok:@scout2015",
        "handpicked",
        "feed:https://trends.example.com/today.json",
        "folder:var/inbox",
    ]
    assert config.min_score_for("tiktok:@scout2015") == 0.6
    assert (config.max_new_per_tick, config.virality) == (5, {"min_score": 3.5})
    assert isinstance(readers[2], FeedReader) and readers[2].allow_private_networks


def test_json_config_is_read_too(tmp_path: Path) -> None:
    config_file = tmp_path / "discovery.json"
    config_file.write_text(json.dumps({"sources": [{"kind": "folder", "path": "var/inbox"}]}))

    assert load_discovery_config(config_file).sources == [FolderSource(path="var/inbox")]


def test_bad_config_entry_is_named_with_its_file_and_position(tmp_path: Path) -> None:
    config_file = tmp_path / "discovery.yaml"
    config_file.write_text(
        """
sources:
  - {kind: folder, path: var/inbox}
  - {kind: tiktok_account, acount: "@typo"}
"""
    )

    with pytest.raises(ConfigurationError) as raised:
        load_discovery_config(config_file)

    message = str(raised.value)
    assert str(config_file) in message
    assert 'sources[1] {"kind": "tiktok_account", "acount": "@typo"}: account: Field required' in message
    assert "acount: Extra inputs are not permitted" in message


def test_unknown_source_kind_is_named_with_its_file(tmp_path: Path) -> None:
    config_file = tmp_path / "discovery.yaml"
    config_file.write_text("sources:\n  - {kind: instagram_account, account: '@x'}\n")

    with pytest.raises(ConfigurationError, match=r"discovery\.yaml: sources\[0\] .*instagram_account.*does not match"):
        load_discovery_config(config_file)


def test_the_shipped_example_config_is_valid() -> None:
    from resources.discovery.sources_config import load_discovery_config

    root = Path(__file__).resolve().parents[2]
    config = load_discovery_config(root / "discovery.example.yaml")
    assert {type(source).__name__ for source in config.sources} == {
        "TikTokAccountSource",
        "UrlListSource",
        "FeedSource",
        "FolderSource",
    }
