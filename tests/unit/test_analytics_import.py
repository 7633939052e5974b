"""CSV exports from YouTube Studio and TikTok Studio become readings of the posts they are about."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from resources.analytics.file_import import import_export, parse_duration
from resources.analytics.series import MetricsSeries
from resources.errors import InputRejected
from resources.publish.ledger import PublishLedger
from resources.records import Post, PostStatus

DATA = Path(__file__).resolve().parents[1] / "data" / "analytics"
AT = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def post(platform: str, key: str, remote_id: str, title: str, status: PostStatus = "outbox") -> Post:
    return Post(platform=platform, partition_key=key, status=status, remote_id=remote_id, provider="outbox",
                title=title, caption="", posted_at=datetime(2025, 3, 3, tzinfo=UTC),
                media_uri="file:///x.mp4")  # fmt: skip


@pytest.fixture
def series(tmp_path: Path) -> MetricsSeries:
    location = tmp_path / "ledger.sqlite3"
    ledger = PublishLedger(location)
    # YouTube: one post matched by its video id, one by title (an outbox entry has no platform id).
    ledger.record(post("youtube", "file-aaa", "dQw4w9WgXcQ", "Some other title", status="published"))
    ledger.record(post("youtube", "file-bbb", "outbox-123", "freeze  HERBS in olive oil"))
    # TikTok: one by the id in the video link, one by title.
    ledger.record(post("tiktok", "file-bbb", "7301234567890123456", "x", status="published"))
    ledger.record(post("tiktok", "file-aaa", "outbox-456", "One habit that fixes your mornings"))
    return MetricsSeries(location)


def test_youtube_studio_export_skips_the_total_row_and_converts_units(series: MetricsSeries) -> None:
    result = import_export(DATA / "youtube_studio_table_data.csv", series, observed_at=AT)
    assert (result.platform, result.rows, result.matched) == ("youtube", 3, 2)
    by_id = series.latest("file-aaa")["youtube"]
    assert by_id["views"] == 1204 and by_id["likes"] == 81 and by_id["comments"] == 7 and by_id["shares"] == 10
    assert by_id["impressions"] == 15300
    assert by_id["watch_time_s"] == pytest.approx(4.0133 * 3600)
    assert by_id["avg_view_duration_s"] == 12
    assert series.latest("file-bbb")["youtube"]["views"] == 356  # matched by title, case and spaces aside
    assert series.history("file-aaa")[0].observed_at == AT


def test_tiktok_export_matches_the_id_in_the_video_link_then_the_title(series: MetricsSeries) -> None:
    result = import_export(DATA / "tiktok_studio_posts.csv", series, observed_at=AT)
    assert (result.platform, result.matched) == ("tiktok", 2)
    linked = series.latest("file-bbb")["tiktok"]
    assert linked == {"views": 18945, "likes": 1310, "comments": 42, "shares": 77, "saves": 260,
                      "watch_time_s": 42 * 3600 + 10 * 60 + 5, "avg_view_duration_s": 8.0}  # fmt: skip
    assert series.latest("file-aaa")["tiktok"]["views"] == 6120


def test_header_variants_and_case_are_accepted(series: MetricsSeries) -> None:
    result = import_export(DATA / "tiktok_legacy_variant.csv", series, platform="tiktok", observed_at=AT)
    assert result.matched == 1
    assert series.latest("file-bbb")["tiktok"] == {"views": 20001, "likes": 1400, "comments": 45, "shares": 80,
                                                    "saves": 270}  # fmt: skip


def test_rows_matching_no_post_are_reported_with_their_titles(series: MetricsSeries) -> None:
    youtube = import_export(DATA / "youtube_studio_table_data.csv", series, observed_at=AT)
    tiktok = import_export(DATA / "tiktok_studio_posts.csv", series, observed_at=AT)
    assert youtube.unmatched == ["A video this pipeline did not make"]
    assert tiktok.unmatched == ["Someone else's dance"]
    assert '1 rows matched no post: "Someone else\'s dance"' in tiktok.summary()


def test_reimporting_the_same_file_adds_nothing(series: MetricsSeries, tmp_path: Path) -> None:
    export = tmp_path / "Table data.csv"
    shutil.copyfile(DATA / "youtube_studio_table_data.csv", export)
    first = import_export(export, series)
    again = import_export(export, series)
    assert first.added == 2 * 7 and again.added == 0  # 7 metrics on each of the two matched posts
    assert first.observed_at == datetime.fromtimestamp(export.stat().st_mtime, UTC)
    assert len(series.history("file-aaa")) == 7


def test_a_file_without_a_views_column_names_the_file_the_line_and_the_accepted_headers(
    series: MetricsSeries, tmp_path: Path
) -> None:
    export = tmp_path / "broken.csv"
    export.write_text("Content,Video title,Likes\nabc,Title,3\n", encoding="utf-8")
    with pytest.raises(InputRejected) as caught:
        import_export(export, series)
    message = str(caught.value)
    assert str(export) in message and "line 1" in message and "a views column (views)" in message
    assert "Accepted youtube headers" in message and "comments added" in message


def test_a_bad_number_names_the_line_and_the_column(series: MetricsSeries, tmp_path: Path) -> None:
    export = tmp_path / "bad.csv"
    export.write_text(
        "Video title,Video link,Total views\nA,https://www.tiktok.com/@a/video/1,lots\n", encoding="utf-8"
    )
    with pytest.raises(InputRejected, match=r"bad.csv: line 2, column 'Total views': 'lots' is not a number"):
        import_export(export, series)


def test_an_unknown_export_is_refused_with_both_header_lists(series: MetricsSeries, tmp_path: Path) -> None:
    export = tmp_path / "other.csv"
    export.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputRejected, match=r"neither a YouTube Studio nor a TikTok export.*youtube.*tiktok"):
        import_export(export, series)


@pytest.mark.parametrize(("text", "seconds"), [("0:00:12", 12), ("1:02:03", 3723), ("1h 2m 3s", 3723),
                                               ("8.5s", 8.5), ("42", 42)])  # fmt: skip
def test_durations_in_every_export_format(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
