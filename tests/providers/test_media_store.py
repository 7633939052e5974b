"""The MediaStore on its local folder and on a real S3 protocol server (moto's ThreadedMotoServer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from resources.media.store import MediaStore, MediaStoreError
from tests.graph import materialize_partition


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_store(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MediaStore:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    bucket = f"media-{tmp_path.name.lower().replace('_', '-')}"[:60]
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return MediaStore(backend="s3", bucket=bucket, prefix="shorts", endpoint_url=s3_endpoint, root=str(tmp_path))


def test_local_put_then_read_back(tmp_path: Path) -> None:
    store = MediaStore(root=str(tmp_path / "media"))
    source = tmp_path / "clip.bin"
    source.write_bytes(b"\x00\x01video")
    uri = store.put_file(source, "media/file-1/source_video/abc/source.mp4")
    assert uri.startswith("file://")
    assert store.local_path(uri).read_bytes() == b"\x00\x01video"
    assert store.exists("media/file-1/source_video/abc/source.mp4")


@pytest.mark.parametrize("key", ["../outside.txt", "/etc/passwd", "a/../../b", ""])
def test_keys_that_escape_the_root_are_refused(tmp_path: Path, key: str) -> None:
    store = MediaStore(root=str(tmp_path))
    with pytest.raises(MediaStoreError, match="unsafe media key"):
        store.write_text(key, "x")


def test_uri_outside_root_is_refused(tmp_path: Path) -> None:
    store = MediaStore(root=str(tmp_path / "media"))
    with pytest.raises(MediaStoreError, match="outside the media root"):
        store.local_path((tmp_path / "elsewhere.mp4").as_uri())


def test_missing_text_reads_as_none(tmp_path: Path) -> None:
    assert MediaStore(root=str(tmp_path)).read_text("records/none.json") is None


def test_s3_put_file_lands_in_the_bucket_under_the_prefix(
    s3_store: MediaStore, s3_endpoint: str, tmp_path: Path
) -> None:
    source = tmp_path / "voice.wav"
    source.write_bytes(b"RIFF....WAVE")
    uri = s3_store.put_file(source, "media/file-2/voiceover/h/voiceover.wav")
    assert uri == f"s3://{s3_store.bucket}/shorts/media/file-2/voiceover/h/voiceover.wav"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    body = client.get_object(Bucket=s3_store.bucket, Key="shorts/media/file-2/voiceover/h/voiceover.wav")["Body"]
    assert body.read() == b"RIFF....WAVE"


def test_s3_local_path_downloads_into_the_cache(s3_store: MediaStore, tmp_path: Path) -> None:
    source = tmp_path / "a.mp4"
    source.write_bytes(b"abc")
    uri = s3_store.put_file(source, "media/k/stage/h/a.mp4")
    for cached in (tmp_path / "s3-cache").rglob("a.mp4"):
        cached.unlink()  # force a real download
    assert s3_store.local_path(uri).read_bytes() == b"abc"


def test_s3_text_round_trip_and_missing(s3_store: MediaStore) -> None:
    s3_store.write_text("records/script/k.json", '{"a": 1}')
    assert s3_store.read_text("records/script/k.json") == '{"a": 1}'
    assert s3_store.read_text("records/script/missing.json") is None
    assert s3_store.exists("records/script/k.json")
    assert not s3_store.exists("records/script/missing.json")


def test_s3_missing_object_says_what_to_do(s3_store: MediaStore) -> None:
    with pytest.raises(MediaStoreError, match="re-materialize"):
        s3_store.local_path(f"s3://{s3_store.bucket}/shorts/media/k/none.mp4")


def test_s3_without_bucket_names_the_variable(tmp_path: Path) -> None:
    store = MediaStore(backend="s3", root=str(tmp_path))
    with pytest.raises(Exception, match="SHORTS_S3_BUCKET"):
        store.read_text("records/x.json")


def test_stages_run_on_the_s3_backend_with_records_and_media_in_the_bucket(
    s3_store: MediaStore, s3_endpoint: str, sample_video: Path
) -> None:
    result = materialize_partition(["source_video", "transcript"], "file-s3", s3_store, source=str(sample_video))
    assert result.success
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    keys = {item["Key"] for item in client.list_objects_v2(Bucket=s3_store.bucket)["Contents"]}
    assert "shorts/records/transcript/file-s3.json" in keys
    assert any(key.startswith("shorts/media/file-s3/source_video/") and key.endswith("source.mp4") for key in keys)


def test_concurrent_writers_of_one_key_never_leave_half_a_record(tmp_path: Path) -> None:
    import threading

    store = MediaStore(root=str(tmp_path / "media"))
    texts = ["a" * 200_000, "b" * 200_000]
    seen: set[str] = set()

    def write(text: str) -> None:
        for _ in range(20):
            store.write_text("records/x/file-k.json", text)

    writers = [threading.Thread(target=write, args=(text,)) for text in texts]
    for writer in writers:
        writer.start()
    while any(writer.is_alive() for writer in writers):
        seen.add(store.read_text("records/x/file-k.json") or texts[0])
    for writer in writers:
        writer.join()
    assert seen <= set(texts)  # every read saw one whole record, never a mix or a truncated one
    assert not list((tmp_path / "media" / "records" / "x").glob("*.tmp"))
