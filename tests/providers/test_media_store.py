"""The MediaStore on its local folder, on a real S3 protocol server (moto's ThreadedMotoServer) and on a GCS
emulator (gcp-storage-emulator), both on 127.0.0.1: the bucket backends pass the same tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from gcp_storage_emulator.server import create_server
from google.cloud import storage
from moto.server import ThreadedMotoServer

from definitions import build_resources
from resources.errors import ConfigurationError
from resources.media.store import MediaStore, MediaStoreError
from resources.settings import PipelineSettings
from tests.graph import materialize_partition
from tests.system.local_servers import free_port

REMOTE = ["s3", "gcs"]


@dataclass
class Bucket:
    """A store on a real protocol server, and a raw view of its bucket (by full object name) that bypasses it."""

    store: MediaStore
    scheme: str
    read: Callable[[str], bytes]
    names: Callable[[], set[str]]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def gcs_emulator() -> Iterator[str]:
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _bucket_name(tmp_path: Path) -> str:
    return f"media-{tmp_path.name.lower().replace('_', '-')}"[:60].rstrip("-")


@pytest.fixture
def s3_bucket(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    name = _bucket_name(tmp_path)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    return Bucket(
        store=MediaStore(backend="s3", bucket=name, prefix="shorts", endpoint_url=s3_endpoint, root=str(tmp_path)),
        scheme="s3",
        read=lambda key: bytes(client.get_object(Bucket=name, Key=key)["Body"].read()),
        names=lambda: {item["Key"] for item in client.list_objects_v2(Bucket=name).get("Contents", [])},
    )


@pytest.fixture
def gcs_bucket(gcs_emulator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    # The client reads the emulator from the environment and then needs no credentials, as in production it
    # reads GOOGLE_APPLICATION_CREDENTIALS; the store is never given either.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    name = _bucket_name(tmp_path)
    client = storage.Client(project="test")
    client.create_bucket(name)
    return Bucket(
        store=MediaStore(backend="gcs", bucket=name, prefix="shorts", project="test", root=str(tmp_path)),
        scheme="gs",
        read=lambda key: bytes(client.bucket(name).blob(key).download_as_bytes()),
        names=lambda: {blob.name for blob in client.list_blobs(name)},
    )


@pytest.fixture(params=REMOTE)
def bucket(request: pytest.FixtureRequest) -> Bucket:
    """The same test on S3 and on GCS."""
    fixture: Bucket = request.getfixturevalue(f"{request.param}_bucket")
    return fixture


@pytest.fixture(params=["local", *REMOTE])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStore:
    """The same test on every backend."""
    if request.param == "local":
        return MediaStore(root=str(tmp_path / "media"))
    return request.getfixturevalue(f"{request.param}_bucket").store  # type: ignore[no-any-return]


# ---- local folder -----------------------------------------------------------------------------
def test_local_put_then_read_back(tmp_path: Path) -> None:
    store = MediaStore(root=str(tmp_path / "media"))
    source = tmp_path / "clip.bin"
    source.write_bytes(b"\x00\x01video")
    uri = store.put_file(source, "media/file-1/source_video/abc/source.mp4")
    assert uri.startswith("file://")
    assert store.local_path(uri).read_bytes() == b"\x00\x01video"
    assert store.exists("media/file-1/source_video/abc/source.mp4")


def test_uri_outside_root_is_refused(tmp_path: Path) -> None:
    store = MediaStore(root=str(tmp_path / "media"))
    with pytest.raises(MediaStoreError, match="outside the media root"):
        store.local_path((tmp_path / "elsewhere.mp4").as_uri())


def test_missing_text_reads_as_none(tmp_path: Path) -> None:
    assert MediaStore(root=str(tmp_path)).read_text("records/none.json") is None


# ---- every backend ----------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["../outside.txt", "/etc/passwd", "a/../../b", "", ".", "a\\..\\b", "a\nb", "a\x00b"])
def test_keys_that_escape_the_root_are_refused(any_store: MediaStore, tmp_path: Path, key: str) -> None:
    source = tmp_path / "x.bin"
    source.write_bytes(b"x")
    for attempt in (
        lambda: any_store.write_text(key, "x"),
        lambda: any_store.put_file(source, key),
        lambda: any_store.read_text(key),
        lambda: any_store.exists(key),
        lambda: any_store.delete(key),
    ):
        with pytest.raises(MediaStoreError, match="unsafe media key"):
            attempt()


@pytest.mark.parametrize("key", ["media/k/stage/h/my clip #1?.mp4", "records/ü/100%.json", "media/k/a+b&c=d.wav"])
def test_keys_with_url_characters_round_trip_through_their_uri(any_store: MediaStore, tmp_path: Path, key: str) -> None:
    source = tmp_path / "odd.bin"
    source.write_bytes(b"odd bytes")
    uri = any_store.put_file(source, key)
    assert any_store.exists_uri(uri)
    assert any_store.local_path(uri).read_bytes() == b"odd bytes"


def test_concurrent_writers_of_one_key_never_leave_half_a_record(any_store: MediaStore, tmp_path: Path) -> None:
    texts = ["a" * 200_000, "b" * 200_000]
    seen: set[str] = set()

    def write(text: str) -> None:
        for _ in range(20):
            any_store.write_text("records/x/file-k.json", text)

    writers = [threading.Thread(target=write, args=(text,)) for text in texts]
    for writer in writers:
        writer.start()
    while any(writer.is_alive() for writer in writers):
        seen.add(any_store.read_text("records/x/file-k.json") or texts[0])
    for writer in writers:
        writer.join()
    assert seen <= set(texts)  # every read saw one whole record, never a mix or a truncated one
    assert not list(tmp_path.rglob("*.tmp"))


def test_delete_removes_the_object_and_tolerates_absence(any_store: MediaStore, tmp_path: Path) -> None:
    source = tmp_path / "gone.mp4"
    source.write_bytes(b"soon gone")
    uri = any_store.put_file(source, "media/k/stage/h/gone.mp4")
    any_store.delete("media/k/stage/h/gone.mp4")
    any_store.delete("media/k/stage/h/gone.mp4")
    assert not any_store.exists("media/k/stage/h/gone.mp4")
    with pytest.raises(MediaStoreError, match="re-materialize"):
        any_store.local_path(uri)


# ---- buckets (S3, GCS) ------------------------------------------------------------------------
def test_put_file_lands_in_the_bucket_under_the_prefix(bucket: Bucket, tmp_path: Path) -> None:
    source = tmp_path / "voice.wav"
    source.write_bytes(b"RIFF....WAVE")
    uri = bucket.store.put_file(source, "media/file-2/voiceover/h/voiceover.wav")
    assert uri == f"{bucket.scheme}://{bucket.store.bucket}/shorts/media/file-2/voiceover/h/voiceover.wav"
    assert bucket.read("shorts/media/file-2/voiceover/h/voiceover.wav") == b"RIFF....WAVE"


def test_local_path_downloads_into_the_cache(bucket: Bucket, tmp_path: Path) -> None:
    source = tmp_path / "a.mp4"
    source.write_bytes(b"abc")
    uri = bucket.store.put_file(source, "media/k/stage/h/a.mp4")
    cache = tmp_path / f"{bucket.store.backend}-cache" / bucket.store.bucket
    assert (cache / "media/k/stage/h/a.mp4").read_bytes() == b"abc"  # the writer keeps its copy
    (cache / "media/k/stage/h/a.mp4").unlink()  # force a real download
    path = bucket.store.local_path(uri)
    assert path == cache / "media/k/stage/h/a.mp4"
    assert path.read_bytes() == b"abc"


def test_text_round_trip_and_missing(bucket: Bucket) -> None:
    bucket.store.write_text("records/script/k.json", '{"a": 1}')
    assert bucket.store.read_text("records/script/k.json") == '{"a": 1}'
    assert bucket.store.read_text("records/script/missing.json") is None
    assert bucket.store.exists("records/script/k.json")
    assert not bucket.store.exists("records/script/missing.json")
    assert bucket.read("shorts/records/script/k.json") == b'{"a": 1}'


def test_missing_object_names_the_uri_and_says_what_to_do(bucket: Bucket, tmp_path: Path) -> None:
    uri = f"{bucket.scheme}://{bucket.store.bucket}/shorts/media/k/none.mp4"
    with pytest.raises(MediaStoreError, match=f"{uri} is missing from the bucket; re-materialize its asset"):
        bucket.store.local_path(uri)
    assert not list(tmp_path.rglob("*none.mp4*"))  # no empty or partial file left in the cache
    assert not bucket.store.exists_uri(uri)


@pytest.mark.parametrize(
    "tail", ["shorts/../../../etc/passwd", "shorts/media/../../../../outside.mp4", "shorts//etc/passwd"]
)
def test_uris_that_escape_the_cache_are_refused(bucket: Bucket, tmp_path: Path, tail: str) -> None:
    with pytest.raises(MediaStoreError, match="unsafe media key"):
        bucket.store.local_path(f"{bucket.scheme}://{bucket.store.bucket}/{tail}")
    assert not list(tmp_path.parent.glob("etc")) and not (tmp_path.parent / "outside.mp4").exists()


@pytest.mark.parametrize(
    "uri",
    [
        "{scheme}://other-bucket/shorts/media/k/a.mp4",
        "{scheme}://{bucket}/elsewhere/media/k/a.mp4",
        "{other}://{bucket}/shorts/media/k/a.mp4",
        "file:///etc/passwd",
    ],
)
def test_uris_of_another_store_are_refused(bucket: Bucket, uri: str) -> None:
    other = "gs" if bucket.scheme == "s3" else "s3"
    uri = uri.format(scheme=bucket.scheme, bucket=bucket.store.bucket, other=other)
    with pytest.raises(MediaStoreError, match="does not belong to this"):
        bucket.store.local_path(uri)
    assert not bucket.store.exists_uri(uri)


@pytest.mark.parametrize(("backend", "variable"), [("s3", "SHORTS_S3_BUCKET"), ("gcs", "SHORTS_GCS_BUCKET")])
def test_without_bucket_names_the_variable(tmp_path: Path, backend: str, variable: str) -> None:
    store = MediaStore(backend=backend, root=str(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=variable):
        store.read_text("records/x.json")


def test_gcs_without_credentials_says_where_they_come_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    store = MediaStore(backend="gcs", bucket="shorts-media", root=str(tmp_path))
    with pytest.raises(ConfigurationError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        store.read_text("records/x.json")


def test_settings_choose_the_gcs_bucket_prefix_and_project() -> None:
    settings = PipelineSettings.from_env(
        {"SHORTS_MEDIA_BACKEND": "gcs", "SHORTS_GCS_BUCKET": "g", "SHORTS_GCS_PREFIX": "p", "SHORTS_GCS_PROJECT": "j"}
    )
    store = build_resources(settings)["media_store"]
    assert (store.backend, store.bucket, store.prefix, store.project) == ("gcs", "g", "p", "j")
    assert store.uri("records/a.json") == "gs://g/p/records/a.json"


def test_stages_run_on_the_bucket_with_records_and_media_in_it(bucket: Bucket, sample_video: Path) -> None:
    result = materialize_partition(["source_video", "transcript"], "file-b", bucket.store, source=str(sample_video))
    assert result.success
    names = bucket.names()
    assert "shorts/records/transcript/file-b.json" in names
    assert any(name.startswith("shorts/media/file-b/source_video/") and name.endswith("source.mp4") for name in names)
