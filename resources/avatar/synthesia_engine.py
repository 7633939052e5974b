"""Synthesia v2: a stock or custom avatar speaking our uploaded script audio (`/v2/scriptAudio`, `/v2/videos`).

A video carries our request key as `callbackId`, which Synthesia documents for linking videos "from e.g. list video
endpoint back to the initial request" (https://docs.synthesia.io/reference/create-video-1); `GET /v2/videos`
(https://docs.synthesia.io/reference/list-videos, `limit`/`offset`) is where a video whose create answer was lost
is found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resources.avatar import cloud
from resources.errors import ProviderError

_FAILED = {"error", "rejected", "deleted"}
AUDIO_UPLOAD_DISABLED = "FEATURES_AUDIO_UPLOAD_DISABLED"


class SynthesiaEngine(cloud.CloudAvatarEngine):
    """Upload the voice to the upload host, `POST /v2/videos` (1:1), poll until `complete`."""

    provider = "synthesia"
    request_key_field = "the video whose callbackId is"

    def __init__(self, settings: cloud.CloudSettings, *, background: str, script_language: str, test: bool) -> None:
        super().__init__(settings)
        self.background = background
        self.script_language = script_language
        self.test = test

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self.settings.api_key}  # the raw key: Synthesia rejects "Bearer <key>"

    def upload(self, client: cloud.ProviderClient, voice_mp3: Path, workdir: Path) -> dict[str, str]:
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
        return {"script_audio": audio_id}

    def create(self, client: cloud.ProviderClient, assets: dict[str, str], request_key: str) -> str:
        return client.create_job(
            f"{self.settings.api_base_url}/v2/videos",
            "id",
            doing="creating the video",
            json={
                "test": self.test,
                "title": "avatar",
                "visibility": "private",
                "aspectRatio": "1:1",  # our avatar slot is square; outside 16:9 only "center" places it right
                "callbackId": request_key,
                "input": [
                    {
                        "avatar": self.settings.avatar_id,
                        "background": self.background,
                        "scriptAudio": assets["script_audio"],
                        "scriptLanguage": self.script_language,
                        "avatarSettings": {"style": "rectangular", "horizontalAlign": "center"},
                    }
                ],
            },
        )

    def find(self, client: cloud.ProviderClient, request_key: str) -> str | None:
        doing = "listing the videos"

        def page(offset: str) -> tuple[list[Any], str]:
            params = {"limit": cloud.LOOKUP_PAGE_SIZE, "offset": int(offset or 0)}
            answer = client.json("GET", f"{self.settings.api_base_url}/v2/videos", doing=doing, params=params)
            next_offset = answer.get("nextOffset") if isinstance(answer, dict) else None
            return cloud.items_of(answer, "videos", provider="synthesia", doing=doing), str(next_offset or "")

        video = cloud.search_pages(
            page, lambda v: v.get("callbackId") == request_key, provider="synthesia", what="the video"
        )
        return cloud.field_of(video, "id", provider="synthesia", doing=doing) if video else None

    def read(self, client: cloud.ProviderClient, job_id: str) -> cloud.JobState:
        api = self.settings.api_base_url
        return _state(client.json("GET", f"{api}/v2/videos/{job_id}", doing=f"reading video {job_id}"))


def _state(video: Any) -> cloud.JobState:
    status = str(video.get("status", "")) if isinstance(video, dict) else ""
    if status == "complete":
        return cloud.JobState(
            status, result_url=cloud.field_of(video, "download", provider="synthesia", doing="reading the video")
        )
    if status in _FAILED:
        return cloud.JobState(status, failure=str(video.get("error") or "Synthesia gave no reason"))
    return cloud.JobState(status or "unknown")
