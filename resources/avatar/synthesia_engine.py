"""Synthesia v2: a stock or custom avatar speaking our uploaded script audio (`/v2/scriptAudio`, `/v2/videos`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resources.avatar.cloud import CloudAvatarEngine, CloudSettings, JobState, ProviderClient, field_of
from resources.errors import ProviderError

_FAILED = {"error", "rejected", "deleted"}
AUDIO_UPLOAD_DISABLED = "FEATURES_AUDIO_UPLOAD_DISABLED"


class SynthesiaEngine(CloudAvatarEngine):
    """Upload the voice to the upload host, `POST /v2/videos` (1:1), poll until `complete`."""

    provider = "synthesia"

    def __init__(self, settings: CloudSettings, *, background: str, script_language: str, test: bool) -> None:
        super().__init__(settings)
        self.background = background
        self.script_language = script_language
        self.test = test

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self.settings.api_key}  # the raw key: Synthesia rejects "Bearer <key>"

    def create_and_wait(self, client: ProviderClient, voice_mp3: Path, workdir: Path) -> str:
        api = self.settings.api_base_url
        try:
            audio_id = client.json_field(
                "POST",
                f"{self.settings.upload_base_url}/v2/scriptAudio",
                "id",
                doing="uploading the script audio",
                content=voice_mp3.read_bytes(),
                headers={"Content-Type": "audio/mpeg"},
            )
        except ProviderError as exc:
            if AUDIO_UPLOAD_DISABLED in str(exc):
                raise ProviderError(
                    f"synthesia: this Synthesia plan refuses our own audio ({AUDIO_UPLOAD_DISABLED}); "
                    "enable script-audio upload on the plan or use provider=d-id, heygen or local"
                ) from exc
            raise
        video_id = client.json_field(
            "POST",
            f"{api}/v2/videos",
            "id",
            doing="creating the video",
            json={
                "test": self.test,
                "title": "avatar",
                "visibility": "private",
                "aspectRatio": "1:1",  # our avatar slot is square; outside 16:9 only "center" places it right
                "input": [
                    {
                        "avatar": self.settings.avatar_id,
                        "background": self.background,
                        "scriptAudio": audio_id,
                        "scriptLanguage": self.script_language,
                        "avatarSettings": {"style": "rectangular", "horizontalAlign": "center"},
                    }
                ],
            },
        )
        return client.poll(
            lambda: _state(client.json("GET", f"{api}/v2/videos/{video_id}", doing=f"reading video {video_id}")),
            doing=f"video {video_id}",
        )


def _state(video: Any) -> JobState:
    status = str(video.get("status", "")) if isinstance(video, dict) else ""
    if status == "complete":
        return JobState(status, result_url=field_of(video, "download", provider="synthesia", doing="reading the video"))
    if status in _FAILED:
        return JobState(status, failure=str(video.get("error") or "Synthesia gave no reason"))
    return JobState(status or "unknown")
