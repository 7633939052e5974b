"""D-ID Talks: animate a portrait with our own voice (`/images`, `/audios`, `/talks`).

A talk carries our request key in `user_data` ("non-sensitive custom data that will be added to the talk
response", https://docs.d-id.com/reference/createtalkstream); `GET /talks?limit=&token=` lists the account's talks
(https://docs.d-id.com/reference/talks-overview), which is where a talk whose create answer was lost is found.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from resources.avatar.cloud import (
    LOOKUP_PAGE_SIZE,
    CloudAvatarEngine,
    CloudSettings,
    JobState,
    ProviderClient,
    field_of,
    items_of,
    search_pages,
)
from resources.errors import ConfigurationError, ProviderError

# D-ID's documented limit for `POST /audios`.
MAX_AUDIO_BYTES = 6 * 1024 * 1024
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_FAILED = {"error", "rejected"}


class DIdEngine(CloudAvatarEngine):
    """`POST /talks` with an uploaded portrait and the uploaded voice; poll until `done`."""

    provider = "d-id"
    job_kind = "talk"
    request_key_field = "the talk whose user_data is"

    def __init__(self, settings: CloudSettings, *, presenter_image: str, portrait: Callable[[], np.ndarray]) -> None:
        super().__init__(settings)
        self.presenter_image = presenter_image
        self.portrait = portrait  # draws the offline presenter when no image is configured

    def auth_headers(self) -> dict[str, str]:
        # The key from D-ID Studio is already "base64(user):password": sent as-is, not re-encoded.
        return {"Authorization": f"Basic {self.settings.api_key}"}

    def upload(self, client: ProviderClient, voice_mp3: Path, workdir: Path) -> dict[str, str]:
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

    def create(self, client: ProviderClient, assets: dict[str, str], request_key: str) -> str:
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

    def find(self, client: ProviderClient, request_key: str) -> str | None:
        doing = "listing the talks"

        def page(token: str) -> tuple[list[Any], str]:
            params = {"limit": LOOKUP_PAGE_SIZE, **({"token": token} if token else {})}
            answer = client.json("GET", f"{self.settings.api_base_url}/talks", doing=doing, params=params)
            next_token = answer.get("token") if isinstance(answer, dict) else None
            return items_of(answer, "talks", provider="d-id", doing=doing), str(next_token or "")

        talk = search_pages(page, lambda t: t.get("user_data") == request_key, provider="d-id", what="the talk")
        return field_of(talk, "id", provider="d-id", doing=doing) if talk else None

    def read(self, client: ProviderClient, job_id: str) -> JobState:
        return _state(
            client.json("GET", f"{self.settings.api_base_url}/talks/{job_id}", doing=f"reading talk {job_id}")
        )

    def _source_url(self, client: ProviderClient, workdir: Path) -> str:
        """An https portrait URL as configured, else the uploaded file (or the offline presenter's first frame)."""
        configured = self.presenter_image.strip()
        if configured.startswith("https://"):
            return configured
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


def _state(talk: Any) -> JobState:
    status = str(talk.get("status", "")) if isinstance(talk, dict) else ""
    if status == "done":
        return JobState(status, result_url=field_of(talk, "result_url", provider="d-id", doing="reading the talk"))
    if status in _FAILED:
        error = talk.get("error")
        parts = [error.get("kind"), error.get("description")] if isinstance(error, dict) else []
        detail = ": ".join(str(part) for part in parts if part)
        return JobState(status, failure=detail or "D-ID gave no reason")
    return JobState(status or "unknown")
