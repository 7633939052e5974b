"""HeyGen v3: an avatar speaking our uploaded audio asset (`/v3/assets`, `/v3/videos`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resources.avatar.cloud import CloudAvatarEngine, JobState, ProviderClient, field_of


class HeyGenEngine(CloudAvatarEngine):
    """Upload the voice as an asset, `POST /v3/videos` (1:1, 720p), poll until `completed`."""

    provider = "heygen"

    def auth_headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.settings.api_key}

    def create_and_wait(self, client: ProviderClient, voice_mp3: Path, workdir: Path) -> str:
        api = self.settings.api_base_url
        asset_id = client.json_field(
            "POST",
            f"{api}/v3/assets",
            "data",
            "asset_id",
            doing="uploading the voice",
            files={"file": ("voice.mp3", voice_mp3.read_bytes(), "audio/mpeg")},
        )
        video_id = client.json_field(
            "POST",
            f"{api}/v3/videos",
            "data",
            "video_id",
            doing="creating the video",
            json={
                "type": "avatar",
                "avatar_id": self.settings.avatar_id,
                "audio_asset_id": asset_id,
                "aspect_ratio": "1:1",
                "resolution": "720p",
            },
        )
        return client.poll(
            lambda: _state(client.json("GET", f"{api}/v3/videos/{video_id}", doing=f"reading video {video_id}")),
            doing=f"video {video_id}",
        )


def _state(answer: Any) -> JobState:
    data = answer.get("data") if isinstance(answer, dict) else None
    data = data if isinstance(data, dict) else {}
    status = str(data.get("status", ""))
    if status == "completed":
        return JobState(status, result_url=field_of(data, "video_url", provider="heygen", doing="reading the video"))
    if status == "failed":
        detail = ": ".join(str(data[key]) for key in ("failure_code", "failure_message") if data.get(key))
        return JobState(status, failure=detail or "HeyGen gave no reason")
    return JobState(status or "unknown")
