"""The account preflight against every platform's fake: read-only calls only, ok with what was checked and what the
platform will do, or FAIL with the fix; `shorts accounts check` prints it, and a `<platform>_post` runs it (and the
caption check) before any upload."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, materialize

import definitions
from cli.__main__ import main
from pipeline_assets.publish import post_assets
from resources.io_manager import JsonRecordIOManager
from resources.media.store import MediaStore
from resources.publish import Publisher
from resources.publish.platforms import linkedin
from resources.publish.preflight import AccountCheck, check_account
from resources.records import MediaFacts, Script, ShortVideo, SourceVideo
from tests.graph import POST_UPSTREAM, SAMPLE_SCRIPT
from tests.providers import publishing
from tests.providers.fakes.linkedin_server import FakeLinkedIn
from tests.providers.fakes.meta_server import FakeMeta
from tests.providers.fakes.tiktok_server import FakeTikTok
from tests.providers.fakes.x_server import FakeX
from tests.providers.fakes.youtube_server import FakeYouTube

KEY = "file-preflight"
PERSON = "urn:li:person:fakeMember01"
ORGANIZATION = "urn:li:organization:2414183"


def check(platform: str, tmp_path: Path, base_url: str, **fields: object) -> AccountCheck:
    return check_account(publishing.api_publisher(platform, tmp_path, api_base_url=base_url, **fields))


# --- YouTube -------------------------------------------------------------------------------------------------------
@pytest.fixture
def youtube(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeYouTube]:
    publishing.use_token(monkeypatch, tmp_path, "youtube", "ya29.preflight")
    with FakeYouTube() as fake:
        fake.accept_token("ya29.preflight")
        yield fake


def test_youtube_token_scope_and_channel_are_checked(youtube: FakeYouTube, tmp_path: Path) -> None:
    result = check("youtube", tmp_path, youtube.base_url)

    assert result.ok, result.problem
    assert "scope youtube.upload" in result.line() and "channel UCfakeChannel0000000000 (Shorts Lab)" in result.line()
    assert [r.route for r in youtube.requests] == ["tokeninfo", "channels"]  # read-only: nothing else was called


def test_youtube_refused_token_names_the_auth_command(youtube: FakeYouTube, tmp_path: Path) -> None:
    youtube.revoke_token("ya29.preflight")

    result = check("youtube", tmp_path, youtube.base_url)

    assert not result.ok
    assert result.line().startswith("FAIL youtube") and "Invalid Value" in result.problem
    assert "`shorts auth youtube`" in result.problem


def test_youtube_token_without_upload_scope_fails(youtube: FakeYouTube, tmp_path: Path) -> None:
    youtube.token_scopes = "https://www.googleapis.com/auth/youtube.readonly"
    assert "lacks the youtube.upload scope" in check("youtube", tmp_path, youtube.base_url).problem


def test_youtube_account_without_channel_fails(youtube: FakeYouTube, tmp_path: Path) -> None:
    youtube.channel = None
    assert "has no YouTube channel; create one" in check("youtube", tmp_path, youtube.base_url).problem


# --- TikTok --------------------------------------------------------------------------------------------------------
@pytest.fixture
def tiktok(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeTikTok]:
    publishing.use_token(monkeypatch, tmp_path, "tiktok", "act.preflight")
    with FakeTikTok(access_token="act.preflight") as fake:
        yield fake


def test_tiktok_reports_the_creator_and_privacy(tiktok: FakeTikTok, tmp_path: Path) -> None:
    result = check("tiktok", tmp_path, tiktok.base_url)

    assert result.ok, result.problem
    assert "creator @shorts.lab" in result.line() and "post directly as PUBLIC_TO_EVERYONE" in result.line()


def test_unaudited_tiktok_app_says_posts_go_out_private(tiktok: FakeTikTok, tmp_path: Path) -> None:
    tiktok.privacy_options = ["SELF_ONLY"]

    result = check("tiktok", tmp_path, tiktok.base_url)

    assert result.ok
    (will, _) = result.will
    assert will.startswith("post as SELF_ONLY, not PUBLIC_TO_EVERYONE (an unaudited app may only post SELF_ONLY)")
    assert "audit" in will and "mode=inbox" in will


def test_tiktok_token_without_video_publish_fails_for_direct_posts(tiktok: FakeTikTok, tmp_path: Path) -> None:
    tiktok.scopes = {"user.info.basic", "video.upload"}

    direct = check("tiktok", tmp_path, tiktok.base_url)
    inbox = check("tiktok", tmp_path, tiktok.base_url, mode="inbox")

    assert not direct.ok and "lacks video.publish" in direct.problem and "`shorts auth tiktok`" in direct.problem
    assert inbox.ok and "inbox" in inbox.line()


def test_tiktok_refused_token_fails(tiktok: FakeTikTok, tmp_path: Path) -> None:
    tiktok.access_token = "another"
    assert "access_token_invalid" in check("tiktok", tmp_path, tiktok.base_url).problem


# --- Instagram and Facebook ----------------------------------------------------------------------------------------
@pytest.fixture
def meta(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeMeta]:
    with FakeMeta() as fake:
        publishing.use_token(monkeypatch, tmp_path, "instagram", fake.token)
        publishing.use_token(monkeypatch, tmp_path, "facebook", fake.page_token)
        for platform in ("INSTAGRAM", "FACEBOOK"):
            monkeypatch.setenv(f"{platform}_CLIENT_ID", fake.app_id)
            monkeypatch.setenv(f"{platform}_CLIENT_SECRET", fake.app_secret)
        yield fake


def test_instagram_token_account_link_and_quota(meta: FakeMeta, tmp_path: Path) -> None:
    result = check("instagram", tmp_path, meta.base_url, account_id=meta.ig_user)

    assert result.ok, result.problem
    assert "user token valid" in result.line() and "scopes instagram_basic, instagram_content_publish" in result.line()
    assert f"account {meta.ig_user} (@fake.ig) linked to a Page" in result.line()
    assert "0 of 50 API posts used in the last 24 h" in result.line()
    (debug,) = meta.calls("debug_token")
    assert debug.bearer == f"{meta.app_id}|{meta.app_secret}"  # read with the app token, as documented


def test_instagram_account_not_linked_to_a_page_fails(meta: FakeMeta, tmp_path: Path) -> None:
    meta.linked_ig_user = ""
    result = check("instagram", tmp_path, meta.base_url, account_id=meta.ig_user)
    assert not result.ok and "is not linked to a Page" in result.problem and "professional account" in result.problem


def test_instagram_token_missing_a_scope_fails(meta: FakeMeta, tmp_path: Path) -> None:
    meta.token_scopes = ["instagram_basic"]
    result = check("instagram", tmp_path, meta.base_url, account_id=meta.ig_user)
    assert "lacks instagram_content_publish" in result.problem and "`shorts auth instagram`" in result.problem


def test_facebook_needs_a_page_token_of_the_page(
    meta: FakeMeta, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = check("facebook", tmp_path, meta.base_url, account_id=meta.page)
    monkeypatch.setenv("FACEBOOK_ACCESS_TOKEN", meta.token)  # the user token
    user = check("facebook", tmp_path, meta.base_url, account_id=meta.page)

    assert good.ok, good.problem
    assert "page token valid, does not expire" in good.line() and f"Page {meta.page} (Fake Page)" in good.line()
    assert not user.ok and "video_reels needs a Page access token, this is a USER token" in user.problem


def test_facebook_page_id_that_the_token_is_not_for_fails(meta: FakeMeta, tmp_path: Path) -> None:
    result = check("facebook", tmp_path, meta.base_url, account_id="100000000000999")
    assert f"belongs to Page {meta.page}, not SHORTS_FACEBOOK_PAGE_ID=100000000000999" in result.problem


# --- X -------------------------------------------------------------------------------------------------------------
def test_x_token_reads_as_the_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    publishing.use_token(monkeypatch, tmp_path, "x", "x-preflight")
    with FakeX(access_token="x-preflight") as fake:
        good = check("x", tmp_path, fake.base_url)
        fake.access_token = "rotated"
        refused = check("x", tmp_path, fake.base_url)

    assert good.ok and "user @shortslab" in good.line()
    assert not refused.ok and "X refused the token; run `shorts auth x`" in refused.problem


# --- LinkedIn ------------------------------------------------------------------------------------------------------
@pytest.fixture
def linkedin_fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeLinkedIn]:
    publishing.use_token(monkeypatch, tmp_path, "linkedin", "li-preflight")
    with FakeLinkedIn(token="li-preflight", version=linkedin.LINKEDIN_VERSION) as fake:
        monkeypatch.setenv("LINKEDIN_CLIENT_ID", fake.client_id)
        monkeypatch.setenv("LINKEDIN_CLIENT_SECRET", fake.client_secret)
        yield fake


def test_linkedin_member_author_matches_the_token(linkedin_fake: FakeLinkedIn, tmp_path: Path) -> None:
    good = check("linkedin", tmp_path, linkedin_fake.base_url, account_id=PERSON)
    other = check("linkedin", tmp_path, linkedin_fake.base_url, account_id="urn:li:person:someoneElse")

    assert good.ok, good.problem
    assert f"member {PERSON}" in good.line() and "scope w_member_social" in good.line()
    assert not other.ok and f"set it to {PERSON}" in other.problem


def test_linkedin_organization_needs_the_scope_and_a_role(linkedin_fake: FakeLinkedIn, tmp_path: Path) -> None:
    no_scope = check("linkedin", tmp_path, linkedin_fake.base_url, account_id=ORGANIZATION)
    linkedin_fake.token_scopes += ["w_organization_social", "rw_organization_admin"]
    no_role = check("linkedin", tmp_path, linkedin_fake.base_url, account_id=ORGANIZATION)
    linkedin_fake.org_roles[ORGANIZATION] = "CONTENT_ADMINISTRATOR"
    good = check("linkedin", tmp_path, linkedin_fake.base_url, account_id=ORGANIZATION)

    assert "lacks w_organization_social" in no_scope.problem
    assert "has no posting role on" in no_role.problem and "Content admin" in no_role.problem
    assert good.ok and f"role CONTENT_ADMINISTRATOR on {ORGANIZATION}" in good.line()


# --- the command ---------------------------------------------------------------------------------------------------
def test_accounts_check_prints_one_line_per_platform_and_json(
    tiktok: FakeTikTok, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tiktok.privacy_options = ["SELF_ONLY"]
    real = definitions.build_resources

    def aimed_at_the_fake(settings: Any) -> dict[str, Any]:
        resources = real(settings)
        resources["tiktok_publisher"] = publishing.api_publisher("tiktok", tmp_path, api_base_url=tiktok.base_url)
        return resources

    monkeypatch.setattr(definitions, "build_resources", aimed_at_the_fake)

    assert main(["accounts", "check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["youtube", "tiktok", "instagram", "facebook", "x", "linkedin"]
    assert lines[1].startswith("ok   tiktok") and "post as SELF_ONLY" in lines[1]
    assert "provider=outbox" in lines[0]

    tiktok.access_token = "revoked"
    assert main(["accounts", "check", "--platform", "tiktok", "--json"]) == 1
    (report,) = json.loads(capsys.readouterr().out)
    assert report["platform"] == "tiktok" and report["ok"] is False and "access_token_invalid" in report["problem"]


# --- in the post asset ---------------------------------------------------------------------------------------------
def seed(store: MediaStore, tmp_path: Path, script: Script) -> None:
    video = tmp_path / "short.mp4"
    video.write_bytes(b"\x00" * 4096)
    facts = MediaFacts(duration_s=20, size_bytes=4096, width=1080, height=1920, video_codec="h264", audio_codec="aac")
    uri = store.put_file(video, f"media/{KEY}/short_video/h/short.mp4")
    short = ShortVideo(uri=uri, subtitles_uri=uri, facts=facts, layout="split_screen", quality_problems=[])
    source = SourceVideo(
        partition_key=KEY, source="/x.mp4", uri=uri, sha256="0", facts=facts, provider="yt-dlp:file", uploader="@maker"
    )
    for name, record in [("short_video", short), ("script", script), ("source_video", source)]:
        store.write_text(f"records/{name}/{KEY}.json", record.model_dump_json())


def run_post(
    platform: str, tmp_path: Path, publisher: Publisher, script: Script = SAMPLE_SCRIPT
) -> tuple[bool, str, dict[str, Any]]:
    """Materialize `<platform>_post` for KEY: (success, failure message, metadata)."""
    store = MediaStore(root=str(tmp_path / "media"))
    seed(store, tmp_path, script)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("source_videos", [KEY])
    asset = next(a for a in post_assets if a.key.to_user_string() == f"{platform}_post")
    result = materialize(
        [asset, *POST_UPSTREAM],
        partition_key=KEY,
        instance=instance,
        resources={
            "media_store": store,
            "io_manager": JsonRecordIOManager(media_store=store),
            f"{platform}_publisher": publisher,
        },
        raise_on_error=False,
    )
    failure = next((e for e in result.all_events if e.event_type_value == "STEP_FAILURE"), None)
    message = failure.step_failure_data.error.message if failure is not None and failure.step_failure_data.error else ""
    metadata: dict[str, Any] = {}
    for materialization in result.asset_materializations_for_node(f"{platform}_post"):
        metadata = {name: value.value for name, value in materialization.metadata.items()}
    return result.success, message, metadata


def test_emoji_heavy_caption_is_refused_for_x_before_any_upload(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    publishing.use_token(monkeypatch, tmp_path, "x", "x-asset")
    heavy = SAMPLE_SCRIPT.model_copy(update={"title": "Mornings " + "🔥" * 150})
    with FakeX(access_token="x-asset") as fake:
        publisher = publishing.api_publisher("x", tmp_path, api_base_url=fake.base_url, caption_template="{title}")
        ok, message, _ = run_post("x", tmp_path, publisher, heavy)

        assert not ok
        assert "x[file-preflight]: nothing was uploaded" in message
        assert "309 weighted characters; x allows 280: shorten the caption template's output by 29" in message
        assert fake.requests == []  # no preflight, no media upload, no post


def test_post_asset_fails_on_the_preflight_before_uploading(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    publishing.use_token(monkeypatch, tmp_path, "tiktok", "act.asset")
    with FakeTikTok(access_token="act.asset") as fake:
        fake.scopes = {"user.info.basic", "video.upload"}
        publisher = publishing.api_publisher("tiktok", tmp_path, api_base_url=fake.base_url)
        ok, message, _ = run_post("tiktok", tmp_path, publisher)

        assert not ok and "account preflight failed, nothing was uploaded" in message and "video.publish" in message
        assert [r.route for r in fake.requests] == ["creator_info"]


def test_post_asset_shows_the_preflight_in_its_metadata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    publishing.use_token(monkeypatch, tmp_path, "x", "x-asset")
    with FakeX(access_token="x-asset") as fake:
        publisher = publishing.api_publisher("x", tmp_path, api_base_url=fake.base_url)
        ok, message, metadata = run_post("x", tmp_path, publisher)

    assert ok, message
    assert metadata["preflight"].startswith("**ok**") and "user @shortslab" in metadata["preflight"]
    assert metadata["caption_check"].startswith("ok: ") and "of 280 weighted characters" in metadata["caption_check"]
