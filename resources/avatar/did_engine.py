"""D-ID Talks: animate a portrait with our own voice (`/images`, `/audios`, `/talks`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from resources.avatar.cloud import CloudAvatarEngine, CloudSettings, JobState, ProviderClient, field_of
from resources.errors import ConfigurationError, ProviderError

# D-ID's documented limit for `POST /audios`.
MAX_AUDIO_BYTES = 6 * 1024 * 1024
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_FAILED = {"error", "rejected"}


class DIdEngine(CloudAvatarEngine):
    """`POST /talks` with an uploaded portrait and the uploaded voice; poll until `done`."""

    provider = "d-id"

    def __init__(self, settings: CloudSettings, *, presenter_image: str, portrait: Callable[[], np.ndarray]) -> None:
        super().__init__(settings)
        self.presenter_image = presenter_image
        self.portrait = portrait  # draws the offline presenter when no image is configured

    def auth_headers(self) -> dict[str, str]:
        # The key from D-ID Studio is already "base64(user):password": sent as-is, not re-encoded.
        return {"Authorization": f"Basic {self.settings.api_key}"}

    def create_and_wait(self, client: ProviderClient, voice_mp3: Path, workdir: Path) -> str:
        api = self.settings.api_base_url
        source_url = self._source_url(client, workdir)
        audio = voice_mp3.read_bytes()
        if len(audio) > MAX_AUDIO_BYTES:
            raise ProviderError(
                f"d-id: the voice is {len(audio) / 1e6:.1f} MB as MP3, over D-ID's 6 MB upload limit; "
                "shorten the script or use provider=local"
            )
        audio_url = client.json_field(
            "POST",
            f"{api}/audios",
            "url",
            doing="uploading the voice",
            files={"audio": ("voice.mp3", audio, "audio/mpeg")},
        )
        talk_id = client.json_field(
            "POST",
            f"{api}/talks",
            "id",
            doing="creating the talk",
            json={
                "source_url": source_url,
                "script": {"type": "audio", "audio_url": audio_url},
                "config": {"result_format": "mp4"},
            },
        )
        return client.poll(
            lambda: _state(client.json("GET", f"{api}/talks/{talk_id}", doing=f"reading talk {talk_id}")),
            doing=f"talk {talk_id}",
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
