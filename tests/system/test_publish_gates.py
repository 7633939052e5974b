"""What stands between a short and the platforms: quality checks, operator approval, caption templates,
and the ledger on the production database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest
from dagster import DagsterInstance, materialize

from pipeline_assets.approval import short_approval
from pipeline_assets.publish import post_assets
from resources.io_manager import JsonRecordIOManager
from resources.media.store import MediaStore
from resources.publish import Publisher
from resources.publish.captions import compose_caption
from resources.publish.ledger import PublishInProgress, PublishLedger, UnconfirmedPost
from resources.records import MediaFacts, Post, ShortVideo, SourceVideo
from tests.graph import POST_UPSTREAM, SAMPLE_SCRIPT

KEY = "file-gates"
youtube_post = next(a for a in post_assets if a.key.to_user_string() == "youtube_post")
UPSTREAM, SCRIPT = POST_UPSTREAM, SAMPLE_SCRIPT


def seed(store: MediaStore, tmp_path: Path, problems: list[str], content: bytes = b"\x00" * 2048) -> None:
    """Upstream records as the pipeline would have stored them; `content` is the rendered short's bytes."""
    video = tmp_path / "short.mp4"
    video.write_bytes(content)
    facts = MediaFacts(duration_s=20, size_bytes=2048, width=1080, height=1920, video_codec="h264", audio_codec="aac")
    uri = store.put_file(video, f"media/{KEY}/short_video/h/short.mp4")
    short = ShortVideo(uri=uri, subtitles_uri=uri, facts=facts, layout="split_screen", quality_problems=problems)
    source = SourceVideo(
        partition_key=KEY, source="/x.mp4", uri=uri, sha256="0", facts=facts, provider="yt-dlp:file", uploader="@maker"
    )
    for name, record in [("short_video", short), ("script", SCRIPT), ("source_video", source)]:
        store.write_text(f"records/{name}/{KEY}.json", record.model_dump_json())


def publish(
    tmp_path: Path,
    instance: DagsterInstance,
    *,
    problems: tuple[str, ...] = (),
    content: bytes = b"\x00" * 2048,
    **publisher: object,
) -> tuple[bool, str]:
    store = MediaStore(root=str(tmp_path / "media"))
    seed(store, tmp_path, list(problems), content)
    instance.add_dynamic_partitions("source_videos", [KEY])
    result = materialize(
        [youtube_post, *UPSTREAM],
        partition_key=KEY,
        instance=instance,
        resources={
            "media_store": store,
            "io_manager": JsonRecordIOManager(media_store=store),
            "youtube_publisher": Publisher(
                platform="youtube",
                outbox_dir=str(tmp_path / "outbox"),
                ledger_path=str(tmp_path / "ledger.sqlite3"),
                **publisher,  # type: ignore[arg-type]
            ),
        },
        raise_on_error=False,
    )
    failure = next((e for e in result.all_events if e.event_type_value == "STEP_FAILURE"), None)
    error = failure.step_failure_data.error if failure is not None else None
    return result.success, error.message if error is not None else ""


def test_short_that_failed_its_quality_checks_is_not_published(tmp_path: Path) -> None:
    ok, message = publish(tmp_path, DagsterInstance.ephemeral(), problems=("loudness -30 LUFS, target -14±2",))
    assert not ok and "youtube_post[file-gates]: refusing to publish" in message and "loudness" in message
    assert not (tmp_path / "outbox").exists()


def test_unapproved_short_waits_for_the_operator_then_publishes(tmp_path: Path) -> None:
    instance = DagsterInstance.ephemeral()
    ok, message = publish(tmp_path, instance, require_approval=True)
    assert not ok and "not approved yet" in message and "approve_short_job" in message
    store = MediaStore(root=str(tmp_path / "media"))
    approved = materialize(
        [short_approval, UPSTREAM[0]],
        partition_key=KEY,
        instance=instance,
        resources={"media_store": store, "io_manager": JsonRecordIOManager(media_store=store)},
        run_config={"ops": {"short_approval": {"config": {"approved_by": "ana"}}}},
    )
    assert approved.success
    ok, message = publish(tmp_path, instance, require_approval=True)
    assert ok, message
    assert (tmp_path / "outbox" / "youtube" / KEY / "manifest.json").exists()


def test_a_re_rendered_short_needs_a_new_approval(tmp_path: Path) -> None:
    instance = DagsterInstance.ephemeral()
    store = MediaStore(root=str(tmp_path / "media"))
    seed(store, tmp_path, [])
    instance.add_dynamic_partitions("source_videos", [KEY])
    approved = materialize(
        [short_approval, UPSTREAM[0]],
        partition_key=KEY,
        instance=instance,
        resources={"media_store": store, "io_manager": JsonRecordIOManager(media_store=store)},
    )
    assert approved.success
    ok, message = publish(tmp_path, instance, require_approval=True, content=b"\x01" * 2048)  # another render
    assert not ok and "not approved yet" in message and "re-render needs a new approval" in message
    assert not (tmp_path / "outbox").exists()


def test_caption_template_from_configuration_is_used() -> None:
    caption = compose_caption("x", SCRIPT, credit="@maker", template="{title} | {credit} {hashtags} {unknown}")
    assert caption.text == "One habit that fixes your mornings | Inspired by @maker. #habits #shorts {unknown}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    name = f"ledger_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        from resources.database.engine import open_database

        open_database.cache_clear()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.postgres
def test_ledger_on_postgres_keeps_the_first_post_and_resume_state(postgres_url: str) -> None:
    ledger = PublishLedger(postgres_url)
    checkpoint = ledger.checkpoint(KEY, "youtube")
    checkpoint.set("session_uri", "https://upload/session/1")
    assert PublishLedger(postgres_url).checkpoint(KEY, "youtube").get("session_uri") == "https://upload/session/1"
    first = Post(platform="youtube", partition_key=KEY, status="published", remote_id="vid1", provider="youtube",
                 title="t", caption="c", posted_at=datetime.now(UTC), media_uri="file:///x")  # fmt: skip
    assert ledger.record(first) == first
    second = first.model_copy(update={"remote_id": "vid2"})
    assert PublishLedger(postgres_url).record(second).remote_id == "vid1"  # never two posts
    assert PublishLedger(postgres_url).checkpoint(KEY, "youtube").get("session_uri") is None


def test_a_ledger_from_before_reservations_gains_the_table_and_keeps_its_posts(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old-ledger.sqlite3"
    with sqlite3.connect(path) as db:  # the two tables as the previous version created them, one post in it
        db.execute(
            "CREATE TABLE shorts_posts (partition_key VARCHAR(64) NOT NULL, platform VARCHAR(32) NOT NULL, "
            "remote_id VARCHAR(256) NOT NULL, record_json TEXT NOT NULL, created_at DATETIME DEFAULT "
            "(CURRENT_TIMESTAMP), PRIMARY KEY (partition_key, platform))"
        )
        db.execute(
            "CREATE TABLE shorts_upload_state (partition_key VARCHAR(64) NOT NULL, platform VARCHAR(32) NOT NULL, "
            "state_json TEXT NOT NULL, PRIMARY KEY (partition_key, platform))"
        )
        old = Post(platform="x", partition_key=KEY, status="published", remote_id="t1", provider="x", title="t",
                   caption="c", posted_at=datetime.now(UTC), media_uri="file:///x")  # fmt: skip
        db.execute("INSERT INTO shorts_posts VALUES (?, ?, ?, ?, NULL)", (KEY, "x", "t1", old.model_dump_json()))

    ledger = PublishLedger(path)

    assert ledger.get(KEY, "x") == old
    with ledger.reserve(KEY, "youtube", where="youtube[k]"), pytest.raises(PublishInProgress):
        PublishLedger(path).reserve(KEY, "youtube", where="youtube[k]")
    with ledger.reserve(KEY, "youtube", where="youtube[k]"):  # released at the end of the first
        pass


@pytest.mark.postgres
def test_ledger_on_postgres_reserves_each_partition_and_platform_once(postgres_url: str) -> None:
    ledger = PublishLedger(postgres_url)
    with ledger.reserve(KEY, "tiktok", where="tiktok[k]") as held:
        with pytest.raises(PublishInProgress, match="another run is publishing"):
            PublishLedger(postgres_url).reserve(KEY, "tiktok", where="tiktok[k]")
        with PublishLedger(postgres_url).reserve(KEY, "x", where="x[k]"):  # another platform is free
            pass
        held.begin_create({"call": "POST /v2/post/publish/video/init/", "account": "a", "marker": "m"})
        held.mark_unconfirmed(held_post(), "check the TikTok account for the post")
    with pytest.raises(UnconfirmedPost, match="check the TikTok account"):
        ledger.reserve(KEY, "tiktok", where="tiktok[k]")
    resolved = ledger.resolve(KEY, "tiktok", posted="7400000000000000001")
    assert resolved is not None and resolved.status == "published"
    assert ledger.get(KEY, "tiktok") == resolved


def held_post() -> Post:
    return Post(platform="tiktok", partition_key=KEY, status="unconfirmed", remote_id="", provider="tiktok",
                title="t", caption="c", posted_at=datetime.now(UTC), media_uri="file:///x")  # fmt: skip
