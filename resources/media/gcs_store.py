"""The MediaStore's Google Cloud Storage backend: one bucket through the google-cloud-storage client."""

from __future__ import annotations

import contextlib
from pathlib import Path

from google.api_core.exceptions import NotFound
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from resources.errors import ConfigurationError

CREDENTIALS_HINT = (
    "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, run `gcloud auth application-default login`, "
    "or run on a host with a service account (STORAGE_EMULATOR_HOST for a local emulator)"
)


class GcsBucket:
    """The object operations the MediaStore needs, on one GCS bucket; `name` is the full object name.

    Credentials come from the environment only (Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS,
    gcloud, the metadata server), or none at all when STORAGE_EMULATOR_HOST points the client at an emulator.
    An upload becomes visible only once complete, so readers see the old object or the new one, never part of one;
    the last writer of a name wins, as on S3.
    """

    def __init__(self, bucket: str, project: str = "") -> None:
        try:
            client = storage.Client(project=project or None)
        except DefaultCredentialsError as exc:
            raise ConfigurationError(
                f"MediaStore backend=gcs found no Google credentials ({exc}); {CREDENTIALS_HINT}"
            ) from exc
        except OSError as exc:  # no project passed and none in the credentials
            raise ConfigurationError(f"MediaStore backend=gcs: {exc}; set SHORTS_GCS_PROJECT") from exc
        self._bucket = client.bucket(bucket)

    # Uploads overwrite whole objects (same bytes for the same content-addressed key, or the newer record), so
    # retrying one is safe even without a generation precondition; the client retries only those by default.
    def upload_file(self, local_path: Path, name: str) -> None:
        self._bucket.blob(name).upload_from_filename(str(local_path), retry=DEFAULT_RETRY)

    def put_text(self, name: str, text: str) -> None:
        self._bucket.blob(name).upload_from_string(
            text.encode("utf-8"), content_type="application/json", retry=DEFAULT_RETRY
        )

    def download_file(self, name: str, local_path: Path) -> bool:
        """Download into `local_path`; False when there is no such object."""
        try:
            self._bucket.blob(name).download_to_filename(str(local_path))
        except NotFound:
            return False
        return True

    def get_text(self, name: str) -> str | None:
        try:
            return str(self._bucket.blob(name).download_as_bytes().decode("utf-8"))
        except NotFound:
            return None

    def exists(self, name: str) -> bool:
        return bool(self._bucket.blob(name).exists())

    def delete(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self._bucket.blob(name).delete()
