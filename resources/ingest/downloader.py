"""The Downloader resource: yt-dlp for URLs, a checked copy for local files from the allowed folders."""

import re
from pathlib import Path
from typing import Any, Literal

from dagster import ConfigurableResource
from pydantic import BaseModel, Field

from resources.errors import InputRejected, RetryableError
from resources.ingest.egress_guard import EgressGuard
from resources.ingest.local_source import copy_local_source, source_roots
from resources.ingest.url_safety import AddressPolicy, AddressRefused, check_url_form
from resources.media.ffmpeg import ffmpeg_exe

_URL_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
# `javascript:...`, `data:...`: a scheme without `//`. Two letters at least, so `C:\\clip.mp4` stays a path.
_SCHEME_ONLY_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+):")
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".flv", ".ts", ".mpg", ".mpeg"})

# Every fetch of a download is made by yt-dlp's own HTTP stack, through the egress guard: formats only on
# protocols its native downloaders handle (no rtmpdump, no external downloader), and ffmpeg, which yt-dlp runs
# to merge or fix files and would hand live or encrypted HLS, may open local files only.
_NATIVE = "[protocol~='^(https?|m3u8(_native)?|http_dash_segments(_generator)?)$']"
_GUARDED_OPTIONS: dict[str, Any] = {
    "format": f"bv*[height<=1920]{_NATIVE}+ba{_NATIVE}/b[height<=1920]{_NATIVE}/bv*{_NATIVE}+ba{_NATIVE}/b{_NATIVE}",
    "external_downloader": {"default": "native"},
    "hls_prefer_native": True,
    "external_downloader_args": {"ffmpeg_i": ["-protocol_whitelist", "file,crypto,data"]},
}


class FetchedVideo(BaseModel):
    """A source video fetched into a scratch folder."""

    path: Path
    title: str = ""
    uploader: str = ""
    webpage_url: str = ""
    extractor: str


def is_url(source: str) -> bool:
    return bool(_URL_RE.match(source))


class Downloader(ConfigurableResource):
    """Fetches source videos. `provider=yt-dlp` handles every site yt-dlp supports plus local files."""

    provider: Literal["yt-dlp"] = "yt-dlp"
    max_duration_s: float = Field(default=600.0, description="Longer sources are refused before download.")
    max_filesize_mb: int = Field(default=500, description="Larger downloads and local files are refused.")
    allow_private_networks: bool = Field(
        default=False,
        description="Allow URLs on loopback/private addresses (only for trusted local sources).",
    )
    socket_timeout_s: float = 30.0
    cookies_file: str = Field(default="", description="Netscape cookies file for sites that need a login.")
    local_source_roots: list[str] = Field(
        default=[],
        description="The only folders local files are read from (the watch folder, <data dir>/samples and "
        "SHORTS_LOCAL_SOURCE_ROOTS); empty = no local files.",
    )

    def fetch(self, source: str, workdir: Path) -> FetchedVideo:
        """Fetch `source` (URL or local path) into `workdir`."""
        if "\x00" in source:  # the OS refuses it with a bare ValueError, which would be retried
            raise InputRejected(f"the source {source[:80]!r} contains a NUL byte; give an http(s) video URL or a file")
        if is_url(source):
            return self._download(source, workdir)
        scheme = _SCHEME_ONLY_RE.match(source)
        if scheme and not Path(source).expanduser().exists():
            raise InputRejected(
                f"unsupported source {source[:80]!r}: {scheme.group(1)!r} is not an http(s) URL and no such file "
                "exists; give an http(s) video URL or a local file path"
            )
        return self._copy_local(source, workdir)

    def _copy_local(self, source: str, workdir: Path) -> FetchedVideo:
        """Copy a file from an allowed folder, sniffed as a video container (rules: `local_source`)."""
        roots = source_roots(self.local_source_roots)
        copied = copy_local_source(source, roots, workdir, max_bytes=self.max_filesize_mb * 1_048_576)
        return FetchedVideo(
            path=copied.path, title=copied.given.stem, webpage_url=copied.resolved.as_uri(), extractor="file"
        )

    def address_policy(self) -> AddressPolicy:
        """Which addresses a download may connect to; the egress guard applies it to every connection."""
        return AddressPolicy(allow_private_networks=self.allow_private_networks)

    def _download(self, url: str, workdir: Path) -> FetchedVideo:
        from yt_dlp.utils import DownloadError

        check_url_form(url)  # the addresses are checked by the guard, at each connection, the first one included
        options: dict[str, Any] = {
            "outtmpl": str(workdir / "source.%(ext)s"),
            **_GUARDED_OPTIONS,
            "merge_output_format": "mp4",
            "noplaylist": True,
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "socket_timeout": self.socket_timeout_s,
            "retries": 3,
            "max_filesize": self.max_filesize_mb * 1024 * 1024,
            "ffmpeg_location": ffmpeg_exe(),
            "match_filter": self._duration_filter,
            "restrictfilenames": True,
        }
        if self.cookies_file:
            options["cookiefile"] = self.cookies_file
        info: dict[str, Any] | None = None
        error: DownloadError | None = None
        with EgressGuard(self.address_policy(), timeout_s=self.socket_timeout_s) as guard:
            try:
                with guarded_youtube_dl(options, guard.url) as ydl:
                    info = ydl.extract_info(url, download=True)
            except DownloadError as exc:
                error = exc
        if guard.refusals:  # even if yt-dlp carried on without it: nothing half-followed is kept
            _discard_download(workdir)
            raise _refused(url, guard.refusals[0]) from error
        if error is not None:
            if guard.unresolved:
                raise guard.unresolved[0] from error
            raise _classify(url, str(error)) from error
        if info is None:
            raise InputRejected(f"yt-dlp found no video at {url}; is it a video page?")
        if info.get("_type") == "playlist":
            raise InputRejected(f"{url} is a playlist or profile; give the URL of one video")
        files = [p for p in workdir.iterdir() if p.name.startswith("source.") and p.suffix != ".part"]
        if not files:
            raise InputRejected(
                f"yt-dlp did not download {url}: it may exceed {self.max_filesize_mb} MB or "
                f"{self.max_duration_s:.0f} s; raise the downloader limits if intended"
            )
        return FetchedVideo(
            path=max(files, key=lambda p: p.stat().st_size),
            title=str(info.get("title") or ""),
            uploader=str(info.get("uploader") or info.get("channel") or ""),
            webpage_url=str(info.get("webpage_url") or url),
            extractor=str(info.get("extractor_key") or "generic").lower(),
        )

    def _duration_filter(self, info: dict[str, Any], *, incomplete: bool = False) -> str | None:
        duration = info.get("duration")
        if duration and float(duration) > self.max_duration_s:
            return f"too long ({float(duration):.0f} s > {self.max_duration_s:.0f} s)"
        return None


def guarded_youtube_dl(options: dict[str, Any], proxy_url: str) -> Any:
    """A YoutubeDL whose every request goes through the guard at `proxy_url`.

    yt-dlp lets an extractor give a request its own proxy (or none: `Ytdl-Request-Proxy: __noproxy__`, which
    could come from headers a page supplies); here each request's proxy is set to the guard, whatever it asked for.
    """
    import urllib.request

    import yt_dlp
    from yt_dlp.compat import urllib_req_to_req
    from yt_dlp.networking import Request

    class GuardedYoutubeDL(yt_dlp.YoutubeDL):  # type: ignore[misc]
        def urlopen(self, req: Any) -> Any:
            if isinstance(req, urllib.request.Request):
                req = urllib_req_to_req(req)
            elif not isinstance(req, Request):
                req = Request(req)
            req.headers.pop("Ytdl-Request-Proxy", None)
            req.proxies = {"all": proxy_url}
            return super().urlopen(req)

    return GuardedYoutubeDL({**options, "proxy": proxy_url})


def _refused(url: str, refusal: AddressRefused) -> InputRejected:
    hint = (
        "cloud metadata addresses are refused even with allow_private_networks"
        if refusal.kind == "cloud metadata"
        else "set allow_private_networks on the downloader only for a trusted local source"
    )
    return InputRejected(
        f"download of {url} refused: {refusal}; every connection of a download (redirects, URLs in the page, "
        f"stream segments) must reach a public address; {hint}"
    )


def _discard_download(workdir: Path) -> None:
    """Remove what yt-dlp wrote (whole or partial files, fragments) so nothing of a refused download remains."""
    for path in workdir.iterdir():
        if path.name.startswith("source.") and path.is_file():
            path.unlink()


def _classify(url: str, message: str) -> Exception:
    """Turn a yt-dlp error into a permanent or retryable failure with a hint."""
    text = message.removeprefix("ERROR: ")
    lowered = text.lower()
    if "ffmpeg exited" in lowered:  # a stream yt-dlp hands to ffmpeg, which may not fetch past the guard
        return InputRejected(
            f"{url} cannot be downloaded: yt-dlp would need ffmpeg to fetch this stream (live, encrypted or "
            "unusual HLS/DASH), and ffmpeg may not open network connections during a download; give the URL of "
            "a recorded video"
        )
    if "unsupported url" in lowered:
        return InputRejected(f"yt-dlp does not support {url}; give a video URL (TikTok, YouTube, ...) or a file")
    if "too long" in lowered:
        return InputRejected(f"{url} was refused: {text}; raise max_duration_s on the downloader if intended")
    permanent = ("private", "removed", "not available", "unavailable", "login", "404", "403", "copyright")
    if any(word in lowered for word in permanent):
        return InputRejected(f"{url} cannot be downloaded: {text}")
    return RetryableError(f"download of {url} failed: {text}")
