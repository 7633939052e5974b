"""Every connection a download makes goes through the egress guard: redirects, DNS answers, URLs in the page and
HLS segments that lead to loopback, private or metadata addresses are refused, and no request reaches them.

All servers listen on 127.0.0.0/8. The one standing in for a public site is allowed by its exact endpoint
(`AddressPolicy.allowed_endpoints`); every other hop meets the checks production uses, in the same code path.
Names other than IP literals are answered by an injected resolver. A fence fails any test in which the guard
would connect outside 127.0.0.0/8.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from yt_dlp.networking import Request
from yt_dlp.networking.exceptions import HTTPError

from resources.errors import InputRejected, RetryableError
from resources.ingest import Downloader
from resources.ingest.downloader import guarded_youtube_dl
from resources.ingest.egress_guard import Connection, EgressGuard
from resources.ingest.url_safety import AddressPolicy, system_resolver
from resources.media.ffmpeg import run_ffmpeg
from resources.media.probe import probe
from resources.media.store import MediaStore
from tests.graph import materialize_partition
from tests.system.local_servers import QuietFolderHandler

# ---- servers ----------------------------------------------------------------------------------------------


@dataclass
class Site:
    """A folder served on one loopback address, with scripted redirects and a log of what reached it."""

    host: str
    port: int = 0
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (request line, User-Agent)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}/{path.lstrip('/')}"

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.host, self.port


class SiteHandler(QuietFolderHandler):
    site: ClassVar[Site]

    def send_head(self) -> Any:
        self.site.requests.append((self.requestline, self.headers.get("User-Agent", "")))
        target = self.site.redirects.get(self.path)
        if target is None:
            return super().send_head()
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None


@contextlib.contextmanager
def serving(root: Path, host: str, port: int = 0) -> Iterator[Site]:
    site = Site(host)
    handler = type("Handler", (SiteHandler,), {"site": site})
    server = ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(root)))
    server.daemon_threads = True
    site.port = int(server.server_address[1])
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


# ---- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s 160x120 clip with sound, and the same as a one-segment HLS stream (index.m3u8, seg0.ts)."""
    root = tmp_path_factory.mktemp("egress-media")
    clip = root / "clip.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=2", "-f", "lavfi", "-i", "sine=d=2",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip)],
        what="making the test clip",
    )  # fmt: skip
    run_ffmpeg(
        ["-i", str(clip), "-c", "copy", "-f", "hls", "-hls_time", "2", "-hls_list_size", "0",
         "-hls_segment_filename", str(root / "seg%d.ts"), str(root / "index.m3u8")],
        what="making the test HLS stream",
    )  # fmt: skip
    return root


@pytest.fixture
def www(tmp_path: Path, media: Path) -> Path:
    """This test's copy of the media, to which it may add pages and playlists."""
    return Path(shutil.copytree(media, tmp_path / "www"))


@pytest.fixture
def public(www: Path) -> Iterator[Site]:
    """The server standing in for a public video site."""
    with serving(www, "127.0.0.1") as site:
        yield site


@pytest.fixture
def internal(www: Path) -> Iterator[Site]:
    """A service inside the network (the webserver, MinIO): it serves the same video, so reaching it would work."""
    with serving(www, "127.0.0.2") as site:
        yield site


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def loopback_fence(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Refuse, and fail the test for, any connection the guard would open outside 127.0.0.0/8."""
    crossed: list[tuple[str, int]] = []
    connect = socket.create_connection

    def fenced(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        if not ipaddress.ip_address(address[0]).is_loopback:
            crossed.append(address)
            raise ConnectionRefusedError(f"test fence: {address} is outside 127.0.0.0/8")
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", fenced)
    yield crossed
    assert not crossed, f"the guard connected outside 127.0.0.0/8: {crossed}"


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Connection]:
    """Every upstream connection any egress guard opened during the test (host asked for, address reached)."""
    connections: list[Connection] = []
    open_upstream = EgressGuard.open_upstream

    def spy(guard: EgressGuard, host: str, port: int) -> socket.socket:
        upstream = open_upstream(guard, host, port)
        connections.append(Connection(host, port, str(upstream.getpeername()[0])))
        return upstream

    monkeypatch.setattr(EgressGuard, "open_upstream", spy)
    return connections


def all_through_guard(site: Site, opened: list[Connection]) -> bool:
    """Whether every request `site` received came over a connection the guard checked (one request each)."""
    return len(site.requests) == sum((c.address, c.port) == site.endpoint for c in opened)


# ---- helpers ----------------------------------------------------------------------------------------------


class Resolver:
    """Answers names from a table (a list of answers is given out one lookup at a time, the last one repeated);
    IP literals resolve as the system resolves them. Logs every lookup."""

    def __init__(self, table: dict[str, list[list[str]]] | None = None) -> None:
        self.table = table or {}
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if host in self.table:
            answers = self.table[host]
            return answers.pop(0) if len(answers) > 1 else answers[0]
        return system_resolver(host, port)


def policy_for(public: Site, resolver: Callable[[str, int], list[str]] = system_resolver) -> AddressPolicy:
    """Production's policy, except that `public`'s exact endpoint counts as public."""
    return AddressPolicy(resolver=resolver, allowed_endpoints=frozenset({public.endpoint}))


def downloader_with(policy: AddressPolicy, **fields: Any) -> Downloader:
    """A Downloader whose egress guard applies `policy`; everything else is the production resource."""

    class StandInDownloader(Downloader):
        def address_policy(self) -> AddressPolicy:
            return policy

    return StandInDownloader(**fields)


def playlist(www: Path, name: str, segment_url: str) -> str:
    """Write the test stream's playlist with its segment at `segment_url`; return the playlist's path."""
    text = (www / "index.m3u8").read_text().replace("seg0.ts", segment_url)
    (www / name).write_text(text)
    return name


def refused(host: str, address: str, kind: str) -> str:
    return rf"refused: {host} resolves to the non-public address {address} \({kind}\)"


# ---- the normal case --------------------------------------------------------------------------------------


def test_a_video_from_a_public_server_downloads_through_the_guard(
    public: Site, workdir: Path, opened: list[Connection]
) -> None:
    resolver = Resolver()
    fetched = downloader_with(policy_for(public, resolver)).fetch(public.url("clip.mp4"), workdir)
    facts = probe(fetched.path)
    assert facts.has_video and (facts.width, facts.height) == (160, 120)
    assert public.requests and all_through_guard(public, opened)
    assert resolver.asked == [public.endpoint] * len(opened), "one lookup per connection"


def test_an_hls_stream_with_public_segments_downloads_through_the_guard(
    public: Site, workdir: Path, opened: list[Connection]
) -> None:
    fetched = downloader_with(policy_for(public)).fetch(public.url("index.m3u8"), workdir)
    assert probe(fetched.path).has_video
    assert any("/seg0.ts" in line for line, _ in public.requests)
    assert all_through_guard(public, opened)


def test_allowing_private_networks_still_downloads_from_a_local_server(internal: Site, workdir: Path) -> None:
    fetched = Downloader(allow_private_networks=True).fetch(internal.url("clip.mp4"), workdir)
    assert probe(fetched.path).has_video


# ---- redirects --------------------------------------------------------------------------------------------


def test_a_redirect_to_another_loopback_port_is_refused(public: Site, www: Path, workdir: Path) -> None:
    with serving(www, "127.0.0.1") as other:
        public.redirects["/go"] = other.url("clip.mp4")
        with pytest.raises(InputRejected, match=refused("127.0.0.1", "127.0.0.1", "loopback")):
            downloader_with(policy_for(public)).fetch(public.url("go"), workdir)
        assert other.requests == []
    assert not any(workdir.iterdir()), "nothing of a refused download is kept"


def test_a_redirect_to_an_internal_https_service_is_refused_at_connect(
    public: Site, internal: Site, workdir: Path
) -> None:
    public.redirects["/go"] = f"https://{internal.host}:{internal.port}/graphql"
    with pytest.raises(InputRejected, match=refused("127.0.0.2", "127.0.0.2", "loopback")):
        downloader_with(policy_for(public)).fetch(public.url("go"), workdir)
    assert internal.requests == []


def test_no_proxy_in_the_environment_does_not_bypass_the_guard(
    public: Site, internal: Site, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "*")
    public.redirects["/go"] = internal.url("clip.mp4")
    with pytest.raises(InputRejected, match=refused("127.0.0.2", "127.0.0.2", "loopback")):
        downloader_with(policy_for(public)).fetch(public.url("go"), workdir)
    assert internal.requests == []


# ---- DNS --------------------------------------------------------------------------------------------------


def test_a_name_that_resolves_to_loopback_is_refused(public: Site, internal: Site, workdir: Path) -> None:
    resolver = Resolver({"videos.example": [[internal.host]]})
    url = f"http://videos.example:{internal.port}/clip.mp4"
    with pytest.raises(InputRejected, match=refused("videos.example", "127.0.0.2", "loopback")):
        downloader_with(policy_for(public, resolver)).fetch(url, workdir)
    assert internal.requests == []


def test_a_name_with_one_private_answer_among_public_ones_is_refused(
    public: Site, internal: Site, workdir: Path
) -> None:
    resolver = Resolver({"videos.example": [[public.host, internal.host]]})
    url = f"http://videos.example:{public.port}/clip.mp4"
    with pytest.raises(InputRejected, match=refused("videos.example", "127.0.0.2", "loopback")):
        downloader_with(policy_for(public, resolver)).fetch(url, workdir)
    assert public.requests == [] and internal.requests == []


def test_a_name_that_rebinds_to_a_private_address_cannot_reach_it(public: Site, www: Path, workdir: Path) -> None:
    # The second answer points at a private service on the same port: only an address not checked would reach it.
    with serving(www, "127.0.0.2", public.port) as private:
        resolver = Resolver({"cdn.example": [[public.host], [private.host]]})
        url = f"http://cdn.example:{public.port}/clip.mp4"
        with pytest.raises(InputRejected, match=refused("cdn.example", "127.0.0.2", "loopback")):
            downloader_with(policy_for(public, resolver)).fetch(url, workdir)
        assert private.requests == []
    assert len(public.requests) == 1, "the first answer was used, for the connection it was checked for"
    assert len(resolver.asked) >= 2 and set(resolver.asked) == {("cdn.example", public.port)}


def test_a_name_that_does_not_resolve_is_retried(public: Site, workdir: Path) -> None:
    resolver = Resolver({"gone.example": [[]]})
    with pytest.raises(RetryableError, match=r"cannot resolve host 'gone\.example'"):
        downloader_with(policy_for(public, resolver)).fetch("http://gone.example/clip.mp4", workdir)


def test_the_guard_connects_to_the_address_it_checked(public: Site, www: Path) -> None:
    with serving(www, "127.0.0.2", public.port) as private:
        resolver = Resolver({"cdn.example": [[public.host], [private.host]]})
        with EgressGuard(policy_for(public, resolver)) as guard, httpx.Client(proxy=guard.url) as client:
            answer = client.get(f"http://cdn.example:{public.port}/clip.mp4")
        assert answer.status_code == 200 and answer.content == (www / "clip.mp4").read_bytes()
        assert guard.connections == [Connection("cdn.example", public.port, public.host)]
        assert resolver.asked == [("cdn.example", public.port)]
        assert private.requests == []


def test_a_kept_alive_proxy_connection_cannot_carry_a_request_to_another_host(public: Site, internal: Site) -> None:
    with EgressGuard(policy_for(public)) as guard, httpx.Client(proxy=guard.url) as client:
        assert client.get(public.url("clip.mp4")).headers["connection"] == "close"
        second = client.get(internal.url("clip.mp4"))
    assert second.status_code == 403 and "127.0.0.2 resolves to the non-public address" in second.text
    assert internal.requests == []


def test_a_connect_tunnel_is_opened_only_to_a_checked_host(public: Site, internal: Site) -> None:
    with EgressGuard(policy_for(public)) as guard:
        with socket.create_connection(("127.0.0.1", int(guard.url.rsplit(":", 1)[1]))) as sock:
            sock.sendall(f"CONNECT {public.host}:{public.port} HTTP/1.1\r\n\r\n".encode())
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            sock.sendall(f"GET /clip.mp4 HTTP/1.0\r\nHost: {public.host}\r\n\r\n".encode())
            assert sock.recv(4096).startswith(b"HTTP/1.0 200")
        with socket.create_connection(("127.0.0.1", int(guard.url.rsplit(":", 1)[1]))) as sock:
            sock.sendall(f"CONNECT {internal.host}:{internal.port} HTTP/1.1\r\n\r\n".encode())
            assert sock.recv(4096).startswith(b"HTTP/1.1 403")
        assert [r.address for r in guard.refusals] == ["127.0.0.2"]
    assert internal.requests == []


@pytest.mark.parametrize(
    "asks",
    [{"headers": {"Ytdl-Request-Proxy": "__noproxy__"}}, {"proxies": {"all": None}}],
    ids=["by-header", "by-request-proxies"],
)
def test_a_request_asking_for_no_proxy_still_goes_through_the_guard(internal: Site, asks: dict[str, Any]) -> None:
    with EgressGuard(AddressPolicy()) as guard, guarded_youtube_dl({"quiet": True}, guard.url) as ydl:
        with pytest.raises(HTTPError, match="403"):
            ydl.urlopen(Request(internal.url("clip.mp4"), **asks))
        assert [refusal.address for refusal in guard.refusals] == ["127.0.0.2"]
    assert internal.requests == []


# ---- URLs inside the page and stream segments -------------------------------------------------------------


def test_a_video_url_inside_the_page_pointing_inside_is_refused(
    public: Site, internal: Site, www: Path, workdir: Path
) -> None:
    (www / "page.html").write_text(
        f'<html><head><title>clip</title></head><body><video src="{internal.url("clip.mp4")}"></video></body></html>'
    )
    with pytest.raises(InputRejected, match=refused("127.0.0.2", "127.0.0.2", "loopback")):
        downloader_with(policy_for(public)).fetch(public.url("page.html"), workdir)
    assert internal.requests == []


def test_hls_segments_on_a_private_address_are_refused(public: Site, internal: Site, www: Path, workdir: Path) -> None:
    name = playlist(www, "inside.m3u8", internal.url("seg0.ts"))
    with pytest.raises(InputRejected, match=refused("127.0.0.2", "127.0.0.2", "loopback")):
        downloader_with(policy_for(public)).fetch(public.url(name), workdir)
    assert internal.requests == []
    assert not any(workdir.iterdir()), "no partial stream is kept"


@pytest.mark.parametrize("allow_private_networks", [False, True], ids=["default", "private-networks-allowed"])
def test_hls_segments_on_the_metadata_address_are_refused(
    public: Site, www: Path, workdir: Path, allow_private_networks: bool
) -> None:
    name = playlist(www, "metadata.m3u8", "http://169.254.169.254/latest/meta-data/seg0.ts")
    policy = AddressPolicy(
        allow_private_networks=allow_private_networks, allowed_endpoints=frozenset({public.endpoint})
    )
    with pytest.raises(InputRejected, match=refused("169.254.169.254", "169.254.169.254", "cloud metadata")):
        downloader_with(policy).fetch(public.url(name), workdir)
    assert not any(workdir.iterdir())


def test_a_stream_yt_dlp_would_hand_to_ffmpeg_is_refused_without_ffmpeg_fetching(
    public: Site, www: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch, opened: list[Connection]
) -> None:
    # SAMPLE-AES is beyond yt-dlp's native HLS downloader, which then delegates the stream to ffmpeg.
    text = (www / "index.m3u8").read_text().replace("#EXTINF", '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="key.bin"\n#EXTINF')
    (www / "sample-aes.m3u8").write_text(text)
    monkeypatch.setenv("no_proxy", "*")  # would send ffmpeg around the guard, if it could fetch at all
    with pytest.raises(InputRejected, match="ffmpeg may not open network connections"):
        downloader_with(policy_for(public)).fetch(public.url("sample-aes.m3u8"), workdir)
    assert all_through_guard(public, opened), "ffmpeg fetched around the guard"


# ---- through the asset ------------------------------------------------------------------------------------


def test_a_refused_download_fails_source_video_once_with_the_reason(
    tmp_path: Path, public: Site, internal: Site
) -> None:
    public.redirects["/go"] = internal.url("clip.mp4")
    store = MediaStore(root=str(tmp_path / "media"))
    result = materialize_partition(
        ["source_video"],
        "url-redirect",
        store,
        source=public.url("go"),
        resources={"downloader": downloader_with(policy_for(public))},
        raise_on_error=False,
    )
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failures[0].step_failure_data.error if failures else None
    assert error is not None
    assert (
        f"source_video[url-redirect]: download of {public.url('go')} refused: 127.0.0.2 resolves to the non-public "
        "address 127.0.0.2 (loopback); "
    ) in error.message
    assert "allow_private_networks" in error.message
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events), "refusals are not retried"
    assert internal.requests == []
    assert store.read_text("records/source_video/url-redirect.json") is None
