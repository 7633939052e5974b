"""MediaStore: where every media file and stage record lives. A local folder by default, S3 in production."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import urlparse

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
    """Refuse keys that could escape the store root."""
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts or "\\" in key or "\x00" in key:
        raise MediaStoreError(f"unsafe media key {key!r}: keys are relative paths without '..'")
    return str(path)


class MediaStore(ConfigurableResource):
    """Stores media files and JSON records under keys like `media/<partition>/<stage>/<file>`."""

    backend: Literal["local", "s3"] = Field(default="local", description="local folder or S3 bucket")
    root: str = Field(default="var/media", description="Local folder (backend=local) or local cache (s3).")
    bucket: str = Field(default="", description="S3 bucket (backend=s3).")
    prefix: str = Field(default="", description="Key prefix inside the bucket.")
    endpoint_url: str = Field(default="", description="S3-compatible endpoint (MinIO, moto); empty for AWS.")
    region_name: str = Field(default="us-east-1")

    _client: object = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: PipelineSettings) -> MediaStore:
        """The store `settings` configure: `<data dir>/media`, or the S3 bucket."""
        return cls(
            backend=settings.media_backend,
            root=str(settings.data_path / "media"),
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
        )

    # ---- URIs ---------------------------------------------------------------------------------
    @property
    def root_path(self) -> Path:
        return Path(self.root).expanduser().resolve()

    def uri(self, key: str) -> str:
        key = _safe_key(key)
        if self.backend == "local":
            return (self.root_path / key).as_uri()
        return f"s3://{self.bucket}/{self._s3_key(key)}"

    def _s3_key(self, key: str) -> str:
        return f"{self.prefix.strip('/')}/{key}" if self.prefix.strip("/") else key

    def _key_of(self, uri: str) -> str:
        parsed = urlparse(uri)
        if parsed.scheme == "file" and self.backend == "local":
            path = Path(parsed.path).resolve()
            if not path.is_relative_to(self.root_path):
                raise MediaStoreError(f"{uri} is outside the media root {self.root_path}")
            return str(path.relative_to(self.root_path))
        if parsed.scheme == "s3" and self.backend == "s3" and parsed.netloc == self.bucket:
            key = parsed.path.lstrip("/")
            prefix = self.prefix.strip("/")
            return key[len(prefix) + 1 :] if prefix and key.startswith(prefix + "/") else key
        raise MediaStoreError(f"{uri} does not belong to this {self.backend} MediaStore")

    # ---- files --------------------------------------------------------------------------------
    def put_file(self, local_path: Path, key: str) -> str:
        """Store a local file under `key` and return its URI."""
        key = _safe_key(key)
        if self.backend == "local":
            target = self.root_path / key
            if local_path.resolve() != target.resolve():
                _replace_atomically(target, lambda tmp: shutil.copyfile(local_path, tmp))
        else:
            self._s3().upload_file(str(local_path), self.bucket, self._s3_key(key))
            cached = self._cache_path(key)
            if local_path.resolve() != cached.resolve():
                _replace_atomically(cached, lambda tmp: shutil.copyfile(local_path, tmp))
        return self.uri(key)

    def exists(self, key: str) -> bool:
        key = _safe_key(key)
        if self.backend == "local":
            return (self.root_path / key).is_file()
        try:
            self._s3().head_object(Bucket=self.bucket, Key=self._s3_key(key))
            return True
        except Exception as exc:
            if _is_not_found(exc):
                return False
            raise

    def exists_uri(self, uri: str) -> bool:
        """True when the object behind `uri` (of this store) exists."""
        try:
            return self.exists(self._key_of(uri))
        except MediaStoreError:
            return False

    def local_path(self, uri: str) -> Path:
        """A local path holding the bytes of `uri` (downloaded to the cache for S3)."""
        key = self._key_of(uri)
        if self.backend == "local":
            path = self.root_path / key
            if not path.is_file():
                raise MediaStoreError(f"{uri} is missing from the media store; re-materialize its asset")
            return path
        cached = self._cache_path(key)
        if not cached.is_file():
            try:
                _replace_atomically(
                    cached, lambda tmp: self._s3().download_file(self.bucket, self._s3_key(key), str(tmp))
                )
            except Exception as exc:
                if _is_not_found(exc):
                    raise MediaStoreError(f"{uri} is missing from the bucket; re-materialize its asset") from exc
                raise
        return cached

    def _cache_path(self, key: str) -> Path:
        return self.root_path / "s3-cache" / self.bucket / key

    # ---- text records -------------------------------------------------------------------------
    def write_text(self, key: str, text: str) -> str:
        key = _safe_key(key)
        if self.backend == "local":
            _replace_atomically(self.root_path / key, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        else:
            self._s3().put_object(
                Bucket=self.bucket, Key=self._s3_key(key), Body=text.encode(), ContentType="application/json"
            )
        return self.uri(key)

    def read_text(self, key: str) -> str | None:
        """The text stored under `key`, or None when there is none."""
        key = _safe_key(key)
        if self.backend == "local":
            path = self.root_path / key
            return path.read_text(encoding="utf-8") if path.is_file() else None
        try:
            body = self._s3().get_object(Bucket=self.bucket, Key=self._s3_key(key))["Body"].read()
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise
        return str(body.decode("utf-8"))

    # ---- scratch space ------------------------------------------------------------------------
    def scratch_dir(self, label: str) -> Path:
        """A fresh local working folder for one step; callers remove it (or leave it to the OS)."""
        base = self.root_path / "tmp"
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=base))

    # ---- S3 -----------------------------------------------------------------------------------
    def _s3(self):  # type: ignore[no-untyped-def]
        if self._client is None:
            if not self.bucket:
                raise ConfigurationError("MediaStore backend=s3 needs a bucket: set SHORTS_S3_BUCKET")
            import boto3

            self._client = boto3.client("s3", endpoint_url=self.endpoint_url or None, region_name=self.region_name)
        return self._client


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
