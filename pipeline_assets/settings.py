"""One settings model: which provider each stage uses and where data lives, read from SHORTS_* variables.

Switching local -> cloud is a change of environment, never of code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENV_PREFIX = "SHORTS_"


class PipelineSettings(BaseModel):
    """Every field can be set as SHORTS_<FIELD_NAME_UPPERCASE>."""

    data_dir: str = Field(default=str(PROJECT_ROOT / "var"), description="Media, outbox and ledger live here.")
    media_backend: Literal["local", "s3"] = "local"
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str = ""
    max_source_duration_s: float = 600.0
    allow_private_networks: bool = False
    whisper_model: str = Field(default="", description="Name or folder; empty = bundled tiny.en.")
    voice_provider: Literal["piper", "espeak"] = "piper"
    piper_voice: str = ""
    layout: Literal["avatar_over_blur", "split_screen"] = "avatar_over_blur"
    watermark_text: str = "@viralshorts"
    publish_dry_run: bool = False

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> PipelineSettings:
        environ = dict(os.environ if environ is None else environ)
        values = {
            name: environ[f"{ENV_PREFIX}{name.upper()}"]
            for name in cls.model_fields
            if f"{ENV_PREFIX}{name.upper()}" in environ
        }
        return cls.model_validate(values)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()
