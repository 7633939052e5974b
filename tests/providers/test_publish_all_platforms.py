"""All six `<platform>_post` assets through Dagster at once, each against its local fake API.

One platform down leaves the other five published; a published partition is never posted twice; an upload
that died midway is resumed by the next materialization and ends as exactly one post.

The engines retry without delay as in the per-platform tests. The assets keep their RetryPolicy (3 retries)
but without its 5/10/20 s delays (`RetryPolicy.calculate_delay` patched to 0): `materialize` always runs with
step retries enabled (its executor ignores `execution` config), so a mid-upload fault must outlast all four
step attempts × three engine attempts for the first run to fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, ExecuteInProcessResult, RetryPolicy, materialize

from pipeline_assets.publish import post_assets
from resources.catalog import PLATFORMS
from resources.io_manager import JsonRecordIOManager
from resources.media.store import MediaStore
from resources.publish import Publisher
from resources.publish.platforms import linkedin, tiktok
from resources.publish.platforms.tiktok import ChunkLimits
from resources.records import MediaFacts, ShortVideo, SourceVideo
from tests.graph import POST_UPSTREAM, SAMPLE_SCRIPT
from tests.providers.fakes.linkedin_server import FakeLinkedIn
from tests.providers.fakes.meta_server import FakeMeta
from tests.providers.fakes.tiktok_server import FakeTikTok
from tests.providers.fakes.x_server import FakeX
from tests.providers.fakes.youtube_server import FakeYouTube
from tests.providers.publishing import ENGINE_ATTEMPTS, api_publisher

KEY = "file-allplatforms"
KIB = 1024
CHUNK = 256 * KIB
VIDEO_SIZE = 1_300_000  # five 256 KiB chunks or parts on every platform
TOKENS = {
    "youtube": "ya29.all-platforms-token",
    "tiktok": "tt-all-platforms-token",
    "instagram": "meta-all-platforms-token",
    "facebook": "meta-all-platforms-page-token",  # Reels take a Page token
    "x": "x-all-platforms-token",
    "linkedin": "li-all-platforms-token",
}
LINKEDIN_AUTHOR = "urn:li:person:allplatforms"
STEP_ATTEMPTS = 4  # STAGE_RETRY_POLICY: the first try and 3 retries
UPSTREAM, SCRIPT = POST_UPSTREAM, SAMPLE_SCRIPT


@dataclass
class Fakes:
    """The six platform APIs (Instagram and Facebook each get their own Meta server, to count posts apart)."""

    youtube: FakeYouTube
    tiktok: FakeTikTok
    instagram: FakeMeta
    facebook: FakeMeta
    x: FakeX
    linkedin: FakeLinkedIn

    def posts(self) -> dict[str, int]:
        """How many posts each platform made."""
        return {
            "youtube": len(self.youtube.videos),
            "tiktok": len(self.tiktok.posts),
            "instagram": self.instagram.published,
            "facebook": self.facebook.published,
            "x": len(self.x.tweets),
            "linkedin": len(self.linkedin.posts),
        }

    def requests(self) -> dict[str, int]:
        """How many requests each platform's API received."""
        return {
            "youtube": len(self.youtube.requests),
            "tiktok": len(self.tiktok.requests),
            "instagram": len(self.instagram.requests),
            "facebook": len(self.facebook.requests),
            "x": len(self.x.requests),
            "linkedin": len(self.linkedin.requests),
        }


@dataclass
class Setup:
    """Everything a materialization needs: the fakes, the store, the instance, the video bytes."""

    fakes: Fakes
    store: MediaStore
    instance: DagsterInstance
    video: bytes
    folder: Path  # holds the ledger the six publishers share


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Setup]:
    for platform, token in TOKENS.items():
        monkeypatch.setenv(f"{platform.upper()}_ACCESS_TOKEN", token)
    monkeypatch.setenv("SHORTS_TOKEN_FILE", str(tmp_path / "tokens.json"))
    # TikTok's 5-64 MB chunk rules shrunk (engine and fake alike) so the short goes up in several chunks.
    # Dagster's step retries stay (max_retries=3) but do not wait 5 s, 10 s, 20 s between attempts.
    monkeypatch.setattr(RetryPolicy, "calculate_delay", lambda self, attempt_num: 0)
    monkeypatch.setattr(tiktok, "CHUNK_LIMITS", ChunkLimits(min_bytes=256 * KIB, max_bytes=1024 * KIB))
    with (
        FakeYouTube() as youtube,
        FakeTikTok(access_token=TOKENS["tiktok"]) as tiktok_fake,
        FakeMeta(token=TOKENS["instagram"]) as instagram,
        FakeMeta(token=TOKENS["instagram"], page_token=TOKENS["facebook"]) as facebook,
        FakeX(access_token=TOKENS["x"]) as x_fake,
        FakeLinkedIn(token=TOKENS["linkedin"], version=linkedin.LINKEDIN_VERSION, part_size=CHUNK) as linkedin_fake,
    ):
        youtube.accept_token(TOKENS["youtube"])
        linkedin_fake.member = LINKEDIN_AUTHOR  # whom the preflight's userinfo names
        tiktok_fake.min_chunk_bytes, tiktok_fake.max_chunk_bytes = 256 * KIB, 1024 * KIB
        fakes = Fakes(youtube, tiktok_fake, instagram, facebook, x_fake, linkedin_fake)
        store = MediaStore(root=str(tmp_path / "media"))
        video = seed(store, tmp_path)
        instance = DagsterInstance.ephemeral()
        instance.add_dynamic_partitions("source_videos", [KEY])
        yield Setup(fakes, store, instance, video, tmp_path)


def seed(store: MediaStore, tmp_path: Path) -> bytes:
    """Upstream records as the pipeline would have stored them; returns the short's bytes."""
    video = tmp_path / "short.mp4"
    data = os.urandom(VIDEO_SIZE)  # the fakes do not decode video
    video.write_bytes(data)
    facts = MediaFacts(
        duration_s=20, size_bytes=VIDEO_SIZE, width=1080, height=1920, video_codec="h264", audio_codec="aac"
    )
    uri = store.put_file(video, f"media/{KEY}/short_video/h/short.mp4")
    short = ShortVideo(uri=uri, subtitles_uri=uri, facts=facts, layout="split_screen", quality_problems=[])
    source = SourceVideo(
        partition_key=KEY, source="/x.mp4", uri=uri, sha256="0", facts=facts, provider="yt-dlp:file", uploader="@maker"
    )
    for name, record in [("short_video", short), ("script", SCRIPT), ("source_video", source)]:
        store.write_text(f"records/{name}/{KEY}.json", record.model_dump_json())
    return data


def publishers(setup: Setup) -> dict[str, Publisher]:
    """One API publisher per platform, pointed at its fake, all sharing one ledger."""
    fakes = setup.fakes
    hosts: dict[str, tuple[str, str]] = {
        "youtube": (fakes.youtube.base_url, ""),
        "tiktok": (fakes.tiktok.base_url, ""),
        "instagram": (fakes.instagram.base_url, fakes.instagram.ig_user),
        "facebook": (fakes.facebook.base_url, fakes.facebook.page),
        "x": (fakes.x.base_url, ""),
        "linkedin": (fakes.linkedin.base_url, LINKEDIN_AUTHOR),
    }
    # No short processing deadline: each fake says when processing is done, whatever the machine's speed.
    return {
        f"{platform}_publisher": api_publisher(
            platform,
            setup.folder,
            api_base_url=base_url,
            upload_base_url=base_url if platform in ("instagram", "facebook") else "",
            account_id=account_id,
            chunk_size_bytes=CHUNK,
        )
        for platform, (base_url, account_id) in hosts.items()
    }


def publish_all(setup: Setup) -> ExecuteInProcessResult:
    """Materialize the six post assets for KEY in one run."""
    return materialize(
        [*post_assets, *UPSTREAM],
        partition_key=KEY,
        instance=setup.instance,
        resources={
            "media_store": setup.store,
            "io_manager": JsonRecordIOManager(media_store=setup.store),
            **publishers(setup),
        },
        raise_on_error=False,
    )


def failures(result: ExecuteInProcessResult) -> dict[str, str]:
    """Step key -> error message of every failed step, followed by the messages of its causes."""
    found: dict[str, str] = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            messages: list[str] = []
            error = event.step_failure_data.error
            while error is not None:
                messages.append(error.message.strip())
                error = error.cause
            found[str(event.step_key)] = " <- ".join(messages)
    return found


def materialized(result: ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Asset name -> metadata values of every materialization."""
    found: dict[str, dict[str, Any]] = {}
    for platform in PLATFORMS:
        for materialization in result.asset_materializations_for_node(f"{platform}_post"):
            found[f"{platform}_post"] = {name: value.value for name, value in materialization.metadata.items()}
    return found


def test_one_platform_down_leaves_the_other_five_published(setup: Setup) -> None:
    fakes = setup.fakes
    fakes.youtube.fail("start", 403, times=100, reason="forbidden")  # YouTube refuses every upload

    result = publish_all(setup)

    failed = failures(result)
    assert list(failed) == ["youtube_post"]
    assert f"youtube_post[{KEY}]" in failed["youtube_post"]
    assert "YouTube answered HTTP 403: Scripted HTTP 403 (forbidden)" in failed["youtube_post"]
    assert fakes.youtube.count("start") == 1  # permanent: neither the engine nor Dagster retried it
    done = materialized(result)
    assert sorted(done) == sorted(f"{p}_post" for p in PLATFORMS if p != "youtube")
    assert all(meta["status"] == "published" and meta["already_published"] is False for meta in done.values())
    assert fakes.posts() == {"youtube": 0, "tiktok": 1, "instagram": 1, "facebook": 1, "x": 1, "linkedin": 1}


def test_rematerializing_a_published_partition_posts_nothing(setup: Setup) -> None:
    first = publish_all(setup)
    assert first.success, failures(first)
    first_ids = {name: meta["remote_id"] for name, meta in materialized(first).items()}
    fakes = setup.fakes
    assert fakes.posts() == dict.fromkeys(PLATFORMS, 1)
    requests_before = fakes.requests()

    second = publish_all(setup)

    assert second.success, failures(second)
    assert second.run_id != first.run_id
    again = materialized(second)
    assert sorted(again) == sorted(f"{p}_post" for p in PLATFORMS)
    assert all(meta["already_published"] is True for meta in again.values())
    assert {name: meta["remote_id"] for name, meta in again.items()} == first_ids
    assert fakes.posts() == dict.fromkeys(PLATFORMS, 1)
    assert fakes.requests() == requests_before  # the ledger answered: no platform was even called


def test_mid_upload_failure_then_retry_gives_exactly_one_post(setup: Setup) -> None:
    fakes = setup.fakes
    # Every platform loses the upload partway, on every engine attempt of every step attempt of the first run.
    times = STEP_ATTEMPTS * ENGINE_ATTEMPTS
    fakes.youtube.fail("chunk", 503, times=times, after=2)  # chunks 1-2 accepted, then the third answers 503
    fakes.tiktok.drop_next("upload:2", times=times)  # the third of four chunks loses its connection
    fakes.instagram.drop("upload", times=times)  # rupload's one whole-file POST is cut halfway
    fakes.facebook.drop("upload", times=times)
    fakes.x.drop_next("append:2", times=times)  # the third of five segments loses its connection
    fakes.linkedin.drop("upload", part=3, times=times)

    first = publish_all(setup)

    failed = failures(first)
    assert sorted(failed) == sorted(f"{p}_post" for p in PLATFORMS)
    for message in failed.values():  # Dagster gave up after the RetryPolicy, the engine after its own retries
        assert message.startswith("Exceeded max_retries of 3") and "gave up after 3 attempts" in message, message
    retried = [e.step_key for e in first.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert sorted(retried) == sorted(f"{p}_post" for p in PLATFORMS for _ in range(STEP_ATTEMPTS - 1))
    assert not materialized(first)
    assert fakes.posts() == dict.fromkeys(PLATFORMS, 0)
    held = {
        "youtube": len(next(iter(fakes.youtube.sessions.values())).received),
        "tiktok": len(next(iter(fakes.tiktok.uploads.values())).received),
        "instagram": len(fakes.instagram.received(next(iter(fakes.instagram.uploads)))),
        "facebook": len(fakes.facebook.received(next(iter(fakes.facebook.uploads)))),
        "x": len(next(iter(fakes.x.media.values())).received),
        "linkedin": len(next(iter(fakes.linkedin.videos.values())).data()),
    }
    assert all(0 < size < VIDEO_SIZE for size in held.values()), held  # each upload stopped partway

    second = publish_all(setup)

    assert second.success, failures(second)
    assert all(meta["already_published"] is False for meta in materialized(second).values())
    assert fakes.posts() == dict.fromkeys(PLATFORMS, 1)
    # One upload session each over both runs (every attempt resumed it), holding exactly the short's bytes.
    assert fakes.youtube.count("start") == 1 and len(fakes.youtube.sessions) == 1
    assert len(fakes.tiktok.calls("init")) == 1 and len(fakes.tiktok.uploads) == 1
    assert len(fakes.instagram.routes("media")) == 1 and len(fakes.instagram.uploads) == 1
    assert len(fakes.facebook.routes("start")) == 1 and len(fakes.facebook.uploads) == 1
    assert len(fakes.x.calls("initialize")) == 1 and len(fakes.x.media) == 1
    assert len(fakes.linkedin.routes("initialize")) == 1 and len(fakes.linkedin.videos) == 1
    assert fakes.youtube.uploaded_bytes(next(iter(fakes.youtube.videos))) == setup.video
    assert bytes(next(iter(fakes.tiktok.uploads.values())).received) == setup.video
    assert fakes.instagram.received(next(iter(fakes.instagram.uploads))) == setup.video
    assert fakes.facebook.received(next(iter(fakes.facebook.uploads))) == setup.video
    assert next(iter(fakes.x.media.values())).received == setup.video
    assert next(iter(fakes.linkedin.videos.values())).data() == setup.video
    # Resumed, not resent: the bytes before the fault went up once.
    first_chunks = [r for r in fakes.youtube.requests if r.kind == "chunk" and r.headers["content-range"][6:8] == "0-"]
    assert len(first_chunks) == 1
    assert [int(r.form["segment_index"]) for r in fakes.x.calls("append")].count(0) == 1
    assert [u.path.rsplit("/", 1)[1] for u in fakes.linkedin.routes("upload")].count("0") == 1
    assert [r.headers["content-range"] for r in fakes.tiktok.calls("upload")].count(
        f"bytes 0-{CHUNK - 1}/{VIDEO_SIZE}"
    ) == 1
