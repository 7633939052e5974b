"""D-ID Talks: animate a portrait with our own voice (`/images`, `/audios`, `/talks`).

A talk carries our request key in `user_data` ("non-sensitive custom data that will be added to the talk
response", https://docs.d-id.com/reference/createtalkstream); `GET /talks?limit=&token=` lists the account's talks
(https://docs.d-id.com/reference/talks-overview), which is where a talk whose create answer was lost is found.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from resources.avatar import cloud
from resources.errors import ConfigurationError, ProviderError

# D-ID's documented limit for `POST /audios`.
MAX_AUDIO_BYTES = 6 * 1024 * 1024
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_FAILED = {"error", "rejected"}
# `POST /talks` `source_url`: "The URL of the source image to be animated", pattern
# `(https|s3):.*\.(?:jpg|jpeg|png|JPG|JPEG|PNG)` (D-ID API reference, https://docs.d-id.com/reference/createtalk, as
# kept in tests/data/specs/d-id.json); D-ID answers other URLs with 400 BadRequestError "invalid actor url". The
# extension must end the URL's path (a presigned link's query may follow, as in D-ID's own answers). We refuse such a
# URL at configuration time rather than upload it for the user: `POST /images` takes the image's bytes (a file we
# have), and fetching an arbitrary URL to re-upload it would move the failure (a login page, an HTML preview) from
# configuration to the middle of a paid run.
IMAGE_URL_PATH = re.compile(r"\.(?:jpg|jpeg|png|JPG|JPEG|PNG)$")


def presenter_image_problem(configured: str) -> str | None:
    """Why D-ID cannot take `configured` as its presenter image (None when it can, or when it is a file path:
    files are checked when they are read)."""
    value = configured.strip()
    if not value.lower().startswith(("http://", "https://")):
        return None
    parts = urlsplit(value)
    if parts.scheme != "https":
        return f"avatar presenter_image={value!r}: D-ID fetches only https (or s3) image URLs; use https"
    if not IMAGE_URL_PATH.search(parts.path):
        return (
            f"avatar presenter_image={value!r}: D-ID's source_url must end in .jpg, .jpeg or .png "
            "(https://docs.d-id.com/reference/createtalk); link the image file itself, or download it and set "
            "SHORTS_PRESENTER_IMAGE to the local file (it is then uploaded through POST /images)"
        )
    return None


def check_presenter_image(configured: str) -> None:
    """ConfigurationError when D-ID would refuse the configured presenter image URL."""
    problem = presenter_image_problem(configured)
    if problem is not None:
        raise ConfigurationError(problem)


class DIdEngine(cloud.CloudAvatarEngine):
    """`POST /talks` with an uploaded portrait and the uploaded voice; poll until `done`."""

    provider = "d-id"
    job_kind = "talk"
    request_key_field = "the talk whose user_data is"

    def __init__(
        self, settings: cloud.CloudSettings, *, presenter_image: str, portrait: Callable[[], np.ndarray]
    ) -> None:
        super().__init__(settings)
        check_presenter_image(presenter_image)
        self.presenter_image = presenter_image
        self.portrait = portrait  # draws the offline presenter when no image is configured

    def auth_headers(self) -> dict[str, str]:
        # The key from D-ID Studio is already "base64(user):password": sent as-is, not re-encoded.
        return {"Authorization": f"Basic {self.settings.api_key}"}

    def upload(self, client: cloud.ProviderClient, voice_mp3: Path, workdir: Path) -> dict[str, str]:
        audio = voice_mp3.read_bytes()
        if len(audio) > MAX_AUDIO_BYTES:
            raise ProviderError(
                f"d-id: the voice is {len(audio) / 1e6:.1f} MB as MP3, over D-ID's 6 MB upload limit; "
                "shorten the script or use provider=local"
            )
        source_url = self._source_url(client, workdir)
        audio_url = client.json_field(
            "POST",
            f"{self.settings.api_base_url}/audios",
            "url",
            doing="uploading the voice",
            files={"audio": ("voice.mp3", audio, "audio/mpeg")},
        )
        return {"source_url": source_url, "audio_url": audio_url}

    def create(self, client: cloud.ProviderClient, assets: dict[str, str], request_key: str) -> str:
        return client.create_job(
            f"{self.settings.api_base_url}/talks",
            "id",
            doing="creating the talk",
            json={
                "source_url": assets["source_url"],
                "script": {"type": "audio", "audio_url": assets["audio_url"]},
                "config": {"result_format": "mp4"},
                "user_data": request_key,
            },
        )

    def find(self, client: cloud.ProviderClient, request_key: str) -> str | None:
        doing = "listing the talks"

        def page(token: str) -> tuple[list[Any], str]:
            params = {"limit": cloud.LOOKUP_PAGE_SIZE, **({"token": token} if token else {})}
            answer = client.json("GET", f"{self.settings.api_base_url}/talks", doing=doing, params=params)
            next_token = answer.get("token") if isinstance(answer, dict) else None
            return cloud.items_of(answer, "talks", provider="d-id", doing=doing), str(next_token or "")

        talk = cloud.search_pages(page, lambda t: t.get("user_data") == request_key, provider="d-id", what="the talk")
        return cloud.field_of(talk, "id", provider="d-id", doing=doing) if talk else None

    def read(self, client: cloud.ProviderClient, job_id: str) -> cloud.JobState:
        return _state(
            client.json("GET", f"{self.settings.api_base_url}/talks/{job_id}", doing=f"reading talk {job_id}")
        )

    def _source_url(self, client: cloud.ProviderClient, workdir: Path) -> str:
        """An https portrait URL as configured, else the uploaded file (or the offline presenter's first frame)."""
        configured = self.presenter_image.strip()
        if configured.startswith("https://"):
            return configured  # its extension checked with the configuration
        if configured:
            path = Path(configured).expanduser()
            mime = _IMAGE_TYPES.get(path.suffix.lower())
            if mime is None or not path.is_file():
                raise ConfigurationError(
                    f"avatar presenter_image={configured!r} is not an existing .png/.jpg file or https URL; "
                    "fix the path or leave it empty to use the offline presenter"
                )
        else:
            path = workdir / "presenter.png"
            Image.fromarray(self.portrait()).save(path)
            mime = "image/png"
        return client.json_field(
            "POST",
            f"{self.settings.api_base_url}/images",
            "url",
            doing="uploading the presenter image",
            files={"image": (f"presenter{path.suffix.lower()}", path.read_bytes(), mime)},
        )


def _state(talk: Any) -> cloud.JobState:
    status = str(talk.get("status", "")) if isinstance(talk, dict) else ""
    if status == "done":
        return cloud.JobState(
            status, result_url=cloud.field_of(talk, "result_url", provider="d-id", doing="reading the talk")
        )
    if status in _FAILED:
        error = talk.get("error")
        parts = [error.get("kind"), error.get("description")] if isinstance(error, dict) else []
        detail = ": ".join(str(part) for part in parts if part)
        return cloud.JobState(status, failure=detail or "D-ID gave no reason")
    return cloud.JobState(status or "unknown")
