"""Bad input sweep: one table of hostile inputs, each through the entry point that would meet it in production.

Every row expects either a clear error (what is wrong and what to do) or a stated safe outcome, and nothing
may be written outside the MediaStore: the test's own temp tree is compared before and after each row, and no
`pwned` file may appear in /tmp or the working directory (the shell payloads below would create one).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from dagster import DagsterInstance

from resources.discovery.candidates import SourceError
from resources.discovery.feed_source import FeedReader
from resources.discovery.sources_config import FeedSource, load_discovery_config
from resources.errors import ConfigurationError, InputRejected
from resources.ingest import Downloader
from resources.media.ffmpeg import run_ffmpeg
from resources.media.probe import probe
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.publish.captions import AI_DISCLOSURE, CAPTION_LIMITS, TITLE_LIMITS, compose_caption
from resources.records import Cue, Script, SourceRequest, SourceVideo, Word
from resources.render import Renderer
from resources.render.subtitles import escape_ass_text
from tests.graph import materialize_partition
from tests.system.local_servers import QuietFolderHandler, serving_folder

# Shell, ffmpeg-expansion and ASS-override payloads; without a shell and with escaping they stay text.
SHELL = "'; rm -rf / # $(touch /tmp/pwned) `touch /tmp/pwned` %{pts} %{eif:1:d}"
HOSTILE_TEXT = SHELL + " {\\an1}{\\pos(0,0)}\\N [0:v];x,y:z\nsecond line"

EntryPoint = Literal["ingest", "partition_key", "feed", "discovery_config", "caption", "render", "render_source"]


@dataclass(frozen=True)
class Case:
    """One hostile input: its row id, where it enters, and the error expected (None: the stated safe outcome)."""

    id: str
    via: EntryPoint
    value: str  # `{inputs}` / `{http}` are filled in with the prepared folder / the local HTTP server
    error: str | None
    downloader: dict[str, Any] = field(default_factory=dict)


# URLs into this machine or its network (loopback, cloud metadata, private ranges, and their disguises).
SSRF_TARGETS = {
    "loopback": "http://127.0.0.1:8080/v.mp4",
    "localhost": "http://localhost/v.mp4",
    "metadata": "http://169.254.169.254/latest/meta-data/",
    "ipv6-loopback": "http://[::1]/v.mp4",
    "private-10": "http://10.0.0.7/v.mp4",
    "unspecified": "http://0.0.0.0:3000/",
    "decimal-ip": "http://2130706433/",
    "ipv4-mapped": "http://[::ffff:127.0.0.1]/",
}

# Partition keys that would escape or confuse the storage layout.
UNSAFE_KEYS = {
    "traversal": "../../etc",
    "slash": "a/b",
    "comma": "a,b",
    "65-chars": "k" * 65,
    "upper": "UPPER",
    "nul": "a\x00b",
    "newline": "file-1\n",
}


def rows_with_one_error(via: EntryPoint, error: str, *, id_prefix: str, values: dict[str, str]) -> list[Case]:
    """A row for each named value, all entering at `via` and all expecting `error`."""
    return [Case(f"{id_prefix}-{name}", via, value, error) for name, value in values.items()]


CASES = [
    # --- URL schemes (source_video, registered source) ----------------------------------------------------------
    Case("scheme-file", "ingest", "file:///etc/passwd", "unsupported URL scheme 'file'"),
    Case("scheme-ftp", "ingest", "ftp://example.com/v.mp4", "give an http(s) video URL or a local file"),
    Case("scheme-javascript", "ingest", "javascript:alert(1)", "'javascript' is not an http(s) URL"),
    Case("scheme-gopher", "ingest", "gopher://127.0.0.1:70/_x", "unsupported URL scheme 'gopher'"),
    Case("scheme-data", "ingest", "data:video/mp4;base64,AAAA", "'data' is not an http(s) URL"),
    Case("source-nul", "ingest", "{inputs}/clip\x00.mp4", "contains a NUL byte"),
    # --- SSRF targets: refused before any connection; the hint names the switch -----------------------------------
    *rows_with_one_error("ingest", "non-public address", id_prefix="ssrf", values=SSRF_TARGETS),
    Case("url-credentials", "ingest", "http://user:pw@example.com/v.mp4", "embedded credentials"),
    # --- partition keys (source given as run config) -------------------------------------------------------------
    *rows_with_one_error("partition_key", "unsafe partition key", id_prefix="key", values=UNSAFE_KEYS),
    # --- local files -------------------------------------------------------------------------------------------
    # Policy: a local source comes only from an allowed folder ({inputs} here, as SHORTS_LOCAL_SOURCE_ROOTS would
    # make it), after every symlink along its path is resolved; its bytes must be a video container, and they are
    # copied into the store under a key and a suffix the pipeline builds, so neither the name nor a link escapes.
    Case("file-path-dotdot", "ingest", "{inputs}/sub/../../outside/clip.mp4", "outside the folders local sources"),
    Case("file-name-shell", "ingest", "{inputs}/clip $(touch pwned); rm -rf ~ `id`.mp4", None),
    Case("file-symlink-outside", "ingest", "{inputs}/link-outside.mp4", "a symlink along its path leads to"),
    Case("file-symlink-etc-passwd", "ingest", "{inputs}/passwd.mp4", "leads to '/etc/passwd', outside the folders"),
    Case("file-missing", "ingest", "{inputs}/missing.mp4", "does not exist"),
    Case("file-empty", "ingest", "{inputs}/empty.mp4", "0 bytes"),
    Case("file-garbage", "ingest", "{inputs}/garbage.mp4", "not readable media"),
    Case("file-truncated", "ingest", "{inputs}/truncated.mp4", "not readable media"),
    Case("file-truncated-faststart", "ingest", "{inputs}/truncated-faststart.mp4", "not readable media"),
    Case("file-audio-only", "ingest", "{inputs}/audio.m4a", "no video stream"),
    Case(
        "file-too-long", "ingest", "{inputs}/clip.mp4", "over the 1 s limit; trim it", downloader={"max_duration_s": 1}
    ),
    Case(
        "file-over-size-limit", "ingest", "{inputs}/huge.mp4", "over the 1 MB limit", downloader={"max_filesize_mb": 1}
    ),
    # --- feeds (discovery) -------------------------------------------------------------------------------------
    Case("feed-malformed-json", "feed", "{inputs}/malformed.json", "is not valid JSON"),
    Case("feed-answers-html", "feed", "{http}/login.json", "returned HTML"),
    Case("feed-csv-1mb-field", "feed", "{inputs}/huge-field.csv", "is not valid CSV: field larger"),
    Case("feed-only-hostile-item-urls", "feed", "{inputs}/bad-urls.json", "has an http(s) url"),
    Case("feed-ssrf", "feed", "http://169.254.169.254/feed.json", "allow_private_networks"),
    Case("feed-gopher", "feed", "gopher://127.0.0.1:70/_feed", "does not exist; check `location`"),
    # --- discovery config --------------------------------------------------------------------------------------
    *rows_with_one_error(
        "discovery_config",
        "not an http(s) URL",
        id_prefix="config",
        values={
            "javascript-url": "sources:\n- kind: url_list\n  urls: ['javascript:alert(1)']\n",
            "file-url": "sources:\n- kind: url_list\n  urls: ['file:///etc/passwd']\n",
        },
    ),
    Case("config-malformed-yaml", "discovery_config", "sources: [kind: feed\n", "not valid yaml"),
    # --- captions: clipped within the platform limit, disclosure kept ---------------------------------------------
    Case("caption-10k-description", "caption", "description", None),
    Case("caption-10k-title", "caption", "title", None),
    Case("caption-500-hashtags", "caption", "hashtags", None),
    # --- ffmpeg render: shell and override payloads become literal on-screen text ----------------------------------
    Case("render-hostile-watermark", "render", "watermark", None),
    Case("render-hostile-caption-words", "render", "caption_words", None),
    # --- local files: only video containers, sniffed by content; ffmpeg's text, playlist and list demuxers off ----
    Case("file-text-txt-tty", "ingest", "{inputs}/notes.txt", "its content is text, not a video container"),
    Case("file-text-nfo-tty", "ingest", "{inputs}/release.nfo", "its content is text, not a video container"),
    Case("file-text-renamed-mp4", "ingest", "{inputs}/notes.mp4", "its content is text, not a video container"),
    Case("file-hls-playlist", "ingest", "{inputs}/playlist.m3u8", "its content is an HLS playlist"),
    Case("file-hls-renamed-mp4", "ingest", "{inputs}/playlist.mp4", "its content is an HLS playlist"),
    Case("file-ffconcat-list", "ingest", "{inputs}/list.ffconcat", "its content is an ffmpeg concat list"),
    Case("file-symlinked-folder-outside", "ingest", "{inputs}/outside-dir/clip.mp4", "a symlink along its path"),
    Case("file-fifo", "ingest", "{inputs}/pipe.mp4", "not a regular file"),
    Case("file-folder", "ingest", "{inputs}/sub", "does not exist or is not a file"),
    Case("file-outside-missing", "ingest", "{inputs}/../outside/nope.mp4", "outside the folders local sources"),
    Case("file-symlink-inside", "ingest", "{inputs}/link-inside.mp4", None),  # stays in the folder: followed
    Case("file-video-named-txt", "ingest", "{inputs}/video-named.txt", None),  # stored as source.mp4
    Case("render-text-as-source", "render_source", "{inputs}/notes.txt", "is not readable media: not a video"),
    Case("render-hls-as-source", "render_source", "{inputs}/playlist.m3u8", "is not readable media: not a video"),
]


@dataclass
class Env:
    """What the rows share: prepared inputs, one MediaStore, one ephemeral instance, a local HTTP server."""

    root: Path
    inputs: Path
    store: MediaStore
    instance: DagsterInstance
    http: str
    media: dict[str, Path]


def lavfi(out: Path, *args: str) -> Path:
    run_ffmpeg([*args, str(out)], what=f"making {out.name}")
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("hostile")
    inputs, outside = root / "inputs", root / "outside"
    for folder in (inputs / "sub", outside, root / "data" / "media"):
        folder.mkdir(parents=True)
    av_args = ("-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2", "-f", "lavfi", "-i", "sine=d=2")
    enc = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")
    clip = lavfi(inputs / "clip.mp4", *av_args, *enc)
    faststart = lavfi(root / "faststart.mp4", *av_args, *enc, "-movflags", "+faststart")
    (outside / "clip.mp4").write_bytes(clip.read_bytes())
    (inputs / "clip $(touch pwned); rm -rf ~ `id`.mp4").write_bytes(clip.read_bytes())
    (inputs / "link-outside.mp4").symlink_to(outside / "clip.mp4")
    (inputs / "passwd.mp4").symlink_to("/etc/passwd")
    (inputs / "empty.mp4").touch()
    (inputs / "garbage.mp4").write_bytes(os.urandom(64 * 1024))
    for name, full in (("truncated.mp4", clip), ("truncated-faststart.mp4", faststart)):
        data = full.read_bytes()
        (inputs / name).write_bytes(data[: len(data) // 2])
    lavfi(inputs / "audio.m4a", "-f", "lavfi", "-i", "sine=d=2", "-c:a", "aac")
    notes = "Meeting notes: ffmpeg's tty demuxer would draw these lines as video frames.\n" * 30
    for name in ("notes.txt", "release.nfo", "notes.mp4"):
        (inputs / name).write_text(notes)
    playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nclip.mp4\n#EXT-X-ENDLIST\n"
    (inputs / "playlist.m3u8").write_text(playlist)
    (inputs / "playlist.mp4").write_text(playlist)
    (inputs / "list.ffconcat").write_text("ffconcat version 1.0\nfile 'clip.mp4'\n")
    (inputs / "outside-dir").symlink_to(outside)
    (inputs / "link-inside.mp4").symlink_to(clip)
    (inputs / "video-named.txt").write_bytes(clip.read_bytes())
    os.mkfifo(inputs / "pipe.mp4")
    with (inputs / "huge.mp4").open("wb") as handle:
        handle.truncate(3 * 1_048_576)  # sparse: 3 MB on paper, nothing on disk
    (inputs / "malformed.json").write_text('{"items": [{"url": "https://www.tiktok.com/@a/video/1", "views": ')
    (inputs / "login.json").write_text("<!DOCTYPE html><html><body>Please log in</body></html>")
    (inputs / "huge-field.csv").write_text("url,title\nhttps://www.tiktok.com/@a/video/1," + "x" * 1_000_000 + "\n")
    (inputs / "bad-urls.json").write_text(
        '[{"url": "javascript:alert(1)"}, {"url": "file:///etc/passwd"}, {"link": "gopher://127.0.0.1/"}]'
    )
    media = {
        "clip": clip,
        "avatar": lavfi(root / "avatar.mp4", "-f", "lavfi", "-i", "testsrc=s=720x720:r=25:d=2", *enc[:6]),
        "voice": lavfi(root / "voice.wav", "-f", "lavfi", "-i", "sine=f=300:d=2"),
    }
    # A feed server that answers HTML for a .json URL (a login wall in front of a trend feed).
    with serving_folder(inputs, HtmlAnsweringHandler) as http_url, DagsterInstance.ephemeral() as instance:
        yield Env(
            root=root,
            inputs=inputs,
            store=MediaStore(root=str(root / "data" / "media")),
            instance=instance,
            http=http_url,
            media=media,
        )


class HtmlAnsweringHandler(QuietFolderHandler):
    """Serves the folder, with every file labelled text/html."""

    def guess_type(self, path: str | os.PathLike[str]) -> str:
        return "text/html"


def files_under(folder: Path, *, skip: Path) -> set[Path]:
    """Every file and link under `folder`, except those inside `skip`."""
    found: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        if here == skip or skip in here.parents:
            dirnames[:] = []
            continue
        found.update(here / name for name in [*filenames, *dirnames])
    return found - {skip}


def pwned_files() -> set[str]:
    return {
        str(folder / name) for folder in (Path("/tmp"), Path.cwd()) for name in os.listdir(folder) if "pwned" in name
    }


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_hostile_input_is_refused_clearly_or_handled_safely(
    case: Case, env: Env, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = tmp_path_factory.getbasetemp()
    outside_before, pwned_before = files_under(base, skip=env.store.root_path), pwned_files()
    value = case.value.replace("{inputs}", str(env.inputs)).replace("{http}", env.http)
    run = {
        "ingest": run_ingest,
        "partition_key": run_partition_key,
        "feed": run_feed,
        "discovery_config": run_discovery_config,
        "caption": run_caption,
        "render": run_render,
        "render_source": run_render_source,
    }[case.via]
    run(env, case.id, value, case)
    assert files_under(base, skip=env.store.root_path) == outside_before, "something was written outside the store"
    assert pwned_files() == pwned_before, "a shell payload was executed"
    scratch = env.store.root_path / "tmp"
    assert not scratch.exists() or not any(scratch.iterdir()), "a scratch folder was left behind"


# ---- entry points ---------------------------------------------------------------------------------------------
def materialize_source(env: Env, key: str, *, source: str = "", **downloader: Any) -> str:
    """Materialize `source_video` for `key`; the step failure's message, or '' on success."""
    result = materialize_partition(
        ["source_video"],
        key,
        env.store,
        instance=env.instance,
        resources={"downloader": Downloader(**{"local_source_roots": [str(env.inputs)], **downloader})},
        run_config={"ops": {"source_video": {"config": {"source": source}}}} if source else None,
        raise_on_error=False,
    )
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert result.success == (not failures)
    if not failures:
        return ""
    assert len(failures) == 1 and not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)
    error = failures[0].step_failure_data.error
    return error.message if error is not None else str(failures[0].message)


def run_ingest(env: Env, row_id: str, source: str, case: Case) -> None:
    key = re.sub(r"[^a-z0-9_-]", "-", f"h-{row_id}".lower())[:64]
    register_source(env.store, SourceRequest(partition_key=key, source=source))
    before = files_under(env.store.root_path, skip=env.store.root_path / "tmp")
    message = materialize_source(env, key, **case.downloader)
    added = files_under(env.store.root_path, skip=env.store.root_path / "tmp") - before
    if case.error is not None:
        assert message, f"{source!r} was accepted"
        assert f"source_video[{key}]: " in message and case.error in message, message
        assert not added, f"a refused source left files: {added}"
        return
    assert not message, message
    record = SourceVideo.model_validate_json(env.store.read_text(f"records/source_video/{key}.json") or "")
    stored = env.store.local_path(record.uri)
    assert stored.is_file() and not stored.is_symlink() and stored.name == "source.mp4"
    assert stored.resolve().is_relative_to(env.store.root_path / "media" / key / "source_video")
    assert probe(stored).has_video


def run_partition_key(env: Env, row_id: str, key: str, case: Case) -> None:
    message = materialize_source(env, key, source=str(env.media["clip"]))
    assert f"source_video[{key}]: " in message and "unsafe partition key" in message, message
    assert "use 1-64 characters of a-z, 0-9" in message
    assert not (env.store.root_path / "media").exists() or not any(
        key in str(path) for path in (env.store.root_path / "media").rglob("*")
    )


def run_feed(env: Env, row_id: str, location: str, case: Case) -> None:
    reader = FeedReader(FeedSource(location=location), allow_private_networks=location.startswith(env.http))
    with pytest.raises(SourceError) as refused:
        reader.fetch()
    assert case.error is not None and case.error in str(refused.value)


def run_discovery_config(env: Env, row_id: str, text: str, case: Case) -> None:
    path = env.store.root_path / "configs" / f"{row_id}.yaml"
    env.store.write_text(f"configs/{row_id}.yaml", text)
    with pytest.raises(ConfigurationError) as refused:
        load_discovery_config(path)
    assert case.error is not None and case.error in str(refused.value) and str(path) in str(refused.value)


def run_caption(env: Env, row_id: str, part: str, case: Case) -> None:
    long = ("A perfectly normal sentence. " * 400)[:10_000]
    script = Script(
        title=long if part == "title" else HOSTILE_TEXT,
        hook="h",
        body=["b"],
        call_to_action="c",
        description=long if part == "description" else "Short description.",
        hashtags=[f"tag{i}" for i in range(500)] if part == "hashtags" else ["cooking", "tips"],
        provider="local",
    )
    for platform, limit in CAPTION_LIMITS.items():
        caption = compose_caption(platform, script, credit="@someone")
        assert len(caption.text) <= limit, platform
        assert len(caption.title) <= TITLE_LIMITS.get(platform, 150), platform
        assert AI_DISCLOSURE in caption.text, platform
        if part == "title":
            assert caption.title.endswith("…")


def run_render(env: Env, row_id: str, part: str, case: Case) -> None:
    words = [w for w in HOSTILE_TEXT.split(" ") if w.strip()] if part == "caption_words" else ["plain", "words"]
    step = 1.8 / len(words)
    cue = Cue(
        text=" ".join(words),
        start=0.0,
        end=1.8,
        words=[Word(text=w, start=i * step, end=(i + 1) * step) for i, w in enumerate(words)],
    )
    out_dir = env.store.root_path / "render" / row_id
    renderer = Renderer(
        watermark_text=HOSTILE_TEXT if part == "watermark" else "@viralshorts",
        preset="ultrafast",
        measure_loudness_first=False,
    )
    renderer.render(
        source_path=env.media["clip"],
        avatar_path=env.media["avatar"],
        voice_path=env.media["voice"],
        cues=[cue],
        duration_s=2.0,
        out_path=out_dir / "short.mp4",
        subtitles_path=out_dir / "captions.ass",
    )
    facts = probe(out_dir / "short.mp4")
    assert (facts.width, facts.height) == (1080, 1920)
    dialogues = [line for line in (out_dir / "captions.ass").read_text().splitlines() if line.startswith("Dialogue:")]
    assert len(dialogues) == len(words) + 1, "a newline in the text started a new ASS line"
    watermark = [line.split(",", 9)[9] for line in dialogues if ",Watermark," in line]
    if part == "watermark":
        assert watermark == [escape_ass_text(HOSTILE_TEXT)]
    for line in dialogues:
        text = line.split(",", 9)[9]
        # Only the highlight tags the renderer writes itself may open an override block.
        text = text.replace("{\\c&H00FFFF&}", "").replace("{\\r}", "")
        assert re.search(r"(?<!\\)[{}]", text) is None, f"an unescaped override block: {text!r}"
        assert "\\N" not in text.replace("\\\u2060", ""), "a \\N line break survived"


def run_render_source(env: Env, row_id: str, source: str, case: Case) -> None:
    """The renderer given a file that is not a video as its source: refused before ffmpeg reads it as one."""
    out_dir = env.store.root_path / "render" / row_id
    with pytest.raises(InputRejected) as refused:
        Renderer(preset="ultrafast", measure_loudness_first=False).render(
            source_path=Path(source),
            avatar_path=env.media["avatar"],
            voice_path=env.media["voice"],
            cues=[Cue(text="plain", start=0.0, end=1.0, words=[Word(text="plain", start=0.0, end=1.0)])],
            duration_s=1.0,
            out_path=out_dir / "short.mp4",
            subtitles_path=out_dir / "captions.ass",
        )
    assert case.error is not None and case.error in str(refused.value)
    assert not (out_dir / "short.mp4").exists()
