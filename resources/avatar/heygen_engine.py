"""HeyGen v3: an avatar speaking our uploaded audio asset (`/v3/assets`, `/v3/videos`).

A video carries our request key as its `title` (and `callback_id`, which HeyGen echoes only in webhooks:
https://developers.heygen.com/reference/create-a-video); `GET /v3/videos?title=` filters the account's videos by
title (https://developers.heygen.com/reference/list-videos), which is where a video whose create answer was lost is
found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resources.avatar import cloud


class HeyGenEngine(cloud.CloudAvatarEngine):
    """Upload the voice as an asset, `POST /v3/videos` (1:1, 720p), poll until `completed`."""

    provider = "heygen"
    request_key_field = "the video titled"

    def auth_headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.settings.api_key}

    def upload(self, client: cloud.ProviderClient, voice_mp3: Path, workdir: Path) -> dict[str, str]:
        asset_id = client.json_field(
            "POST",
            f"{self.settings.api_base_url}/v3/assets",
            "data",
            "asset_id",
            doing="uploading the voice",
            files={"file": ("voice.mp3", voice_mp3.read_bytes(), "audio/mpeg")},
        )
        return {"audio_asset_id": asset_id}

    def create(self, client: cloud.ProviderClient, assets: dict[str, str], request_key: str) -> str:
        return client.create_job(
            f"{self.settings.api_base_url}/v3/videos",
            "data",
            "video_id",
            doing="creating the video",
            json={
                "type": "avatar",
                "avatar_id": self.settings.avatar_id,
                "audio_asset_id": assets["audio_asset_id"],
                "aspect_ratio": "1:1",
                "resolution": "720p",
                "title": request_key,
                "callback_id": request_key,
            },
        )

    def find(self, client: cloud.ProviderClient, request_key: str) -> str | None:
        doing = "listing the videos"

        def page(token: str) -> tuple[list[Any], str]:
            params = {"limit": cloud.LOOKUP_PAGE_SIZE, "title": request_key, **({"token": token} if token else {})}
            answer = client.json("GET", f"{self.settings.api_base_url}/v3/videos", doing=doing, params=params)
            more = isinstance(answer, dict) and answer.get("has_more") and answer.get("next_token")
            return cloud.items_of(answer, "data", provider="heygen", doing=doing), str(
                answer["next_token"]
            ) if more else ""

        video = cloud.search_pages(page, lambda v: v.get("title") == request_key, provider="heygen", what="the video")
        return cloud.field_of(video, "id", provider="heygen", doing=doing) if video else None

    def read(self, client: cloud.ProviderClient, job_id: str) -> cloud.JobState:
        api = self.settings.api_base_url
        return _state(client.json("GET", f"{api}/v3/videos/{job_id}", doing=f"reading video {job_id}"))


def _state(answer: Any) -> cloud.JobState:
    data = answer.get("data") if isinstance(answer, dict) else None
    data = data if isinstance(data, dict) else {}
    status = str(data.get("status", ""))
    if status == "completed":
        return cloud.JobState(
            status, result_url=cloud.field_of(data, "video_url", provider="heygen", doing="reading the video")
        )
    if status == "failed":
        detail = ": ".join(str(data[key]) for key in ("failure_code", "failure_message") if data.get(key))
        return cloud.JobState(status, failure=detail or "HeyGen gave no reason")
    return cloud.JobState(status or "unknown")
