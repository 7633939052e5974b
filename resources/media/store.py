"""MediaStore: where every media file and stage record lives. A local folder by default, S3 or GCS in production."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol
from urllib.parse import urlparse
from urllib.request import url2pathname

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from resources.errors import ConfigurationError, PipelineError
from resources.settings import PipelineSettings


class MediaStoreError(PipelineError):
    """A key or URI the store refuses (unsafe path, unknown scheme, missing object)."""


def _replace_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """Write `target` through a temp file of its own in the same folder, then rename: a reader sees the old file
    or the new one, never half of one, and two writers at once (two runs of a partition) never share a temp file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def _safe_key(key: str) -> str:
    """Refuse keys that could escape the store root (or that a bucket cannot name: control characters)."""
    path = PurePosixPath(key)
    if not path.parts or path.is_absolute() or ".." in path.parts or "\\" in key or any(ord(c) < 32 for c in key):
        raise MediaStoreError(f"unsafe media key {key!r}: keys are relative paths without '..' or control characters")
    return str(path)


class ObjectBucket(Protocol):
    """What a bucket backend does for the store; `name` is the full object name, prefix included."""

    def upload_file(self, local_path: Path, name: str) -> None: ...
    def put_text(self, name: str, text: str) -> None: ...
    def download_file(self, name: str, local_path: Path) -> bool: ...  # False: no such object
    def get_text(self, name: str) -> str | None: ...
    def exists(self, name: str) -> bool: ...
    def delete(self, name: str) -> None: ...


SCHEMES = {"s3": "s3", "gcs": "gs"}
BUCKET_VARIABLES = {"s3": "SHORTS_S3_BUCKET", "gcs": "SHORTS_GCS_BUCKET"}


class MediaStore(ConfigurableResource):
    """Stores media files and JSON records under keys like `media/<partition>/<stage>/<file>`."""

    backend: Literal["local", "s3", "gcs"] = Field(default="local", description="local folder, S3 or GCS bucket")
    root: str = Field(default="var/media", description="Local folder (backend=local) or local cache (s3, gcs).")
    bucket: str = Field(default="", description="S3 or GCS bucket (backend=s3 or gcs).")
    prefix: str = Field(default="", description="Key prefix inside the bucket.")
    endpoint_url: str = Field(default="", description="S3-compatible endpoint (MinIO, moto); empty for AWS.")
    region_name: str = Field(default="us-east-1")
    project: str = Field(default="", description="GCP project (backend=gcs); empty = the credentials' project.")

    _client: object = PrivateAttr(default=None)
    _objects: ObjectBucket | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: PipelineSettings) -> MediaStore:
        """The store `settings` configure: `<data dir>/media`, the S3 bucket or the GCS bucket."""
        gcs = settings.media_backend == "gcs"
        return cls(
            backend=settings.media_backend,
            root=str(settings.data_path / "media"),
            bucket=settings.gcs_bucket if gcs else settings.s3_bucket,
            prefix=settings.gcs_prefix if gcs else settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            project=settings.gcs_project,
        )

    # ---- URIs ---------------------------------------------------------------------------------
    @property
    def root_path(self) -> Path:
        return Path(self.root).expanduser().resolve()

    @property
    def location(self) -> str:
        """Where the store keeps its objects, for people: the folder, or `s3://bucket/prefix`, `gs://…`."""
        if self.backend == "local":
            return str(self.root_path)
        return f"{SCHEMES[self.backend]}://{self.bucket}/{self.prefix.strip('/')}".rstrip("/")

    def uri(self, key: str) -> str:
        key = _safe_key(key)
        if self.backend == "local":
            return (self.root_path / key).as_uri()
        return f"{SCHEMES[self.backend]}://{self.bucket}/{self._object_name(key)}"

    def _object_name(self, key: str) -> str:
        return f"{self.prefix.strip('/')}/{key}" if self.prefix.strip("/") else key

    def _key_of(self, uri: str) -> str:
        """The key behind a URI of this store; URIs of other stores, other prefixes or unsafe keys are refused."""
        if self.backend == "local":
            parsed = urlparse(uri)
            if parsed.scheme != "file":
                raise MediaStoreError(f"{uri} does not belong to this local MediaStore ({self.root_path})")
            path = Path(url2pathname(parsed.path)).resolve()
            if not path.is_relative_to(self.root_path):
                raise MediaStoreError(f"{uri} is outside the media root {self.root_path}")
            return str(path.relative_to(self.root_path))
        # Object names are taken verbatim (no URL parsing): a key may hold '#', '?' or '%'.
        home = f"{SCHEMES[self.backend]}://{self.bucket}/"
        prefix = f"{self.prefix.strip('/')}/" if self.prefix.strip("/") else ""
        if not uri.startswith(home + prefix):
            raise MediaStoreError(f"{uri} does not belong to this {self.backend} MediaStore ({self.location})")
        return _safe_key(uri[len(home + prefix) :])

    # ---- files --------------------------------------------------------------------------------
    def put_file(self, local_path: Path, key: str) -> str:
        """Store a local file under `key` and return its URI."""
        key = _safe_key(key)
        if self.backend == "local":
            target = self.root_path / key
            if local_path.resolve() != target.resolve():
                _replace_atomically(target, lambda tmp: shutil.copyfile(local_path, tmp))
        else:
            self._bucket().upload_file(local_path, self._object_name(key))
            cached = self._cache_path(key)
            if local_path.resolve() != cached.resolve():
                _replace_atomically(cached, lambda tmp: shutil.copyfile(local_path, tmp))
        return self.uri(key)

    def exists(self, key: str) -> bool:
        key = _safe_key(key)
        if self.backend == "local":
            return (self.root_path / key).is_file()
        return self._bucket().exists(self._object_name(key))

    def exists_uri(self, uri: str) -> bool:
        """True when the object behind `uri` (of this store) exists."""
        try:
            return self.exists(self._key_of(uri))
        except MediaStoreError:
            return False

    def local_path(self, uri: str) -> Path:
        """A local path holding the bytes of `uri` (downloaded to the cache for a bucket)."""
        key = self._key_of(uri)
        if self.backend == "local":
            path = self.root_path / key
            if not path.is_file():
                raise MediaStoreError(f"{uri} is missing from the media store; re-materialize its asset")
            return path
        cached = self._cache_path(key)
        if not cached.is_file():

            def download(tmp: Path) -> None:
                if not self._bucket().download_file(self._object_name(key), tmp):
                    raise MediaStoreError(f"{uri} is missing from the bucket; re-materialize its asset")

            _replace_atomically(cached, download)
        return cached

    def _cache_path(self, key: str) -> Path:
        return self.root_path / f"{self.backend}-cache" / self.bucket / key

    # ---- text records -------------------------------------------------------------------------
    def write_text(self, key: str, text: str) -> str:
        key = _safe_key(key)
        if self.backend == "local":
            _replace_atomically(self.root_path / key, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        else:
            self._bucket().put_text(self._object_name(key), text)
        return self.uri(key)

    def read_text(self, key: str) -> str | None:
        """The text stored under `key`, or None when there is none."""
        key = _safe_key(key)
        if self.backend == "local":
            path = self.root_path / key
            return path.read_text(encoding="utf-8") if path.is_file() else None
        return self._bucket().get_text(self._object_name(key))

    def delete(self, key: str) -> None:
        """Remove what is stored under `key` (and its cached copy); nothing to remove is fine."""
        key = _safe_key(key)
        if self.backend == "local":
            (self.root_path / key).unlink(missing_ok=True)
            return
        self._bucket().delete(self._object_name(key))
        self._cache_path(key).unlink(missing_ok=True)

    # ---- scratch space ------------------------------------------------------------------------
    def scratch_dir(self, label: str) -> Path:
        """A fresh local working folder for one step; callers remove it (or leave it to the OS)."""
        base = self.root_path / "tmp"
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=base))

    # ---- buckets ------------------------------------------------------------------------------
    def _bucket(self) -> ObjectBucket:
        if self._objects is None:
            if not self.bucket:
                raise ConfigurationError(
                    f"MediaStore backend={self.backend} needs a bucket: set {BUCKET_VARIABLES[self.backend]}"
                )
            if self.backend == "gcs":
                from resources.media.gcs_store import GcsBucket

                self._objects = GcsBucket(self.bucket, self.project)
            else:
                self._objects = S3Bucket(self._s3(), self.bucket)
        return self._objects

    def _s3(self):  # type: ignore[no-untyped-def]
        if self._client is None:
            if not self.bucket:
                raise ConfigurationError("MediaStore backend=s3 needs a bucket: set SHORTS_S3_BUCKET")
            import boto3

            self._client = boto3.client("s3", endpoint_url=self.endpoint_url or None, region_name=self.region_name)
        return self._client


class S3Bucket:
    """The object operations the MediaStore needs, on one S3 bucket (AWS, MinIO, moto) through boto3."""

    def __init__(self, client: object, bucket: str) -> None:
        self._client: Any = client
        self._bucket = bucket

    def upload_file(self, local_path: Path, name: str) -> None:
        self._client.upload_file(str(local_path), self._bucket, name)

    def put_text(self, name: str, text: str) -> None:
        self._client.put_object(Bucket=self._bucket, Key=name, Body=text.encode(), ContentType="application/json")

    def download_file(self, name: str, local_path: Path) -> bool:
        try:
            self._client.download_file(self._bucket, name, str(local_path))
        except Exception as exc:
            if _is_not_found(exc):
                return False
            raise
        return True

    def get_text(self, name: str) -> str | None:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=name)["Body"].read()
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise
        return str(body.decode("utf-8"))

    def exists(self, name: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=name)
            return True
        except Exception as exc:
            if _is_not_found(exc):
                return False
            raise

    def delete(self, name: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=name)


def _is_not_found(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    code = str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    return code in {"404", "NoSuchKey", "NotFound"}


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
