"""One settings model: which provider each stage uses and where data lives, read from SHORTS_* variables.

Switching local -> cloud is a change of environment, never of code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from resources.catalog import DEFAULT_UI_URL
from resources.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENV_PREFIX = "SHORTS_"
# Step executions whose steps run on other hosts (k8s: the Helm chart's per-step Jobs).
DISTRIBUTED_EXECUTION = frozenset({"celery", "k8s"})


class PipelineSettings(BaseModel):
    """Every field can be set as SHORTS_<FIELD_NAME_UPPERCASE>."""

    data_dir: str = Field(default=str(PROJECT_ROOT / "var"), description="Media, outbox and ledger live here.")
    media_backend: Literal["local", "s3", "gcs"] = "local"
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str = ""
    gcs_bucket: str = Field(default="", description="Credentials: GOOGLE_APPLICATION_CREDENTIALS / ADC, never here.")
    gcs_prefix: str = ""
    gcs_project: str = Field(default="", description="GCP project of the GCS client; empty = the credentials'.")
    max_source_duration_s: float = 600.0
    allow_private_networks: bool = False
    # Stage providers: offline defaults, cloud engines by configuration only.
    transcribe_provider: Literal["local", "openai"] = "local"
    rewrite_provider: Literal["local", "openai"] = "local"
    voice_provider: Literal["piper", "espeak", "elevenlabs"] = "piper"
    avatar_provider: Literal["local", "d-id", "synthesia", "heygen"] = "local"
    whisper_model: str = Field(default="", description="Name or folder; empty = bundled tiny.en.")
    piper_voice: str = ""
    openai_base_url: str = Field(default="", description="Any OpenAI-compatible server (Ollama, vLLM); empty = OpenAI.")
    openai_transcribe_model: str = Field(
        default="gpt-transcribe", description="whisper-1 and gpt-4o-*-transcribe shut down on 2027-02-26."
    )
    openai_chat_model: str = "gpt-4o-mini"
    elevenlabs_base_url: str = ""
    elevenlabs_voice_id: str = "21m00Tcm4TlvDq8ikWAM"
    elevenlabs_model: str = "eleven_multilingual_v2"
    avatar_api_base_url: str = Field(default="", description="D-ID / Synthesia / HeyGen API host; empty = real.")
    avatar_upload_base_url: str = Field(default="", description="Synthesia's upload host; empty = real.")
    avatar_id: str = Field(default="", description="Synthesia / HeyGen avatar id (the presenter template).")
    presenter_image: str = Field(default="", description="D-ID portrait (file or https URL); empty = drawn.")
    avatar_timeout_s: float = 900.0
    max_paid_attempts: int = Field(
        default=4, ge=1, description="Sends of one paid request per stage input, across HTTP and Dagster retries."
    )
    step_execution: Literal["multiprocess", "in_process", "celery", "k8s"] = Field(
        default="multiprocess",
        description="multiprocess: each step in its own process (parallel publishes, crash isolation); in_process: "
        "a run's steps one after another in its run worker, ~2 s of process start saved per step on small hosts; "
        "celery: each step a task on the Celery workers of its queue (other hosts; shared instance and media); "
        "k8s: each step its own Kubernetes Job, sized by deploy/helm/step-resources.yaml (deploy/helm).",
    )
    celery_broker: str = Field(default="", description="step_execution=celery: the broker, e.g. redis://redis:6379/0.")
    celery_backend: str = Field(default="", description="Where Celery keeps step results, e.g. redis://redis:6379/1.")
    celery_cpu_queue: str = Field(default="cpu", description="Queue of the stages on local engines (CPU-bound).")
    celery_api_queue: str = Field(default="api", description="Queue of every other step (cloud APIs, publishing).")
    layout: Literal["auto", "avatar_over_blur", "split_screen", "face_crop"] = "auto"
    watermark_text: str = "@viralshorts"
    publish_dry_run: bool = False
    publish_providers: str = Field(
        default="", description="Platforms that publish through their API, e.g. 'youtube=api,x=api'; others: outbox."
    )
    ledger_url: str = Field(
        default="", description="The pipeline's database (ledger, metrics): SQLAlchemy URL; empty = SQLite."
    )
    require_approval: bool = False
    publish_privacy: Literal["public", "unlisted", "private"] = "public"
    instagram_account_id: str = ""
    facebook_page_id: str = ""
    linkedin_author_urn: str = ""
    caption_templates_json: str = Field(default="", description='Per platform, e.g. {"x": "{title} {hashtags}"}.')
    # What the sensors read (the failure webhook's URL is a secret: FailureAlerts reads it at send time).
    watch_dir: str = Field(default="", description="Folder `folder_watch_sensor` watches; empty = <data dir>/inbox.")
    local_source_roots: str = Field(
        default="",
        description="More folders local source files may come from (',' or os.pathsep separated); the watch folder "
        "and <data dir>/samples always may. A file elsewhere, or behind a symlink that leads elsewhere, is refused.",
    )
    discovery_config: str = Field(default="", description="`viral_video_sensor`'s sources; empty = ./discovery.yaml.")
    ui_base_url: str = Field(default=DEFAULT_UI_URL, description="The Dagster UI, for links in failure alerts.")

    @model_validator(mode="after")
    def _works_distributed(self) -> PipelineSettings:
        """Steps on other hosts need media, records and the ledger where every host sees them."""
        if self.step_execution not in DISTRIBUTED_EXECUTION:
            return self
        needs = []
        if self.media_backend == "local":
            needs.append("SHORTS_MEDIA_BACKEND=s3 or gcs (with its bucket) instead of the local media folder")
        if not self.ledger_url or self.ledger_url.startswith("sqlite"):
            needs.append("SHORTS_LEDGER_URL=postgresql+psycopg2://user:password@host:5432/db instead of SQLite")
        if self.step_execution == "celery" and not (self.celery_broker and self.celery_backend):
            # Both, as the workers read them (deploy/celery.yaml): a worker without a backend would answer elsewhere.
            needs.append("SHORTS_CELERY_BROKER=redis://host:6379/0 and SHORTS_CELERY_BACKEND=redis://host:6379/1")
        if needs:
            # Not a ValueError: pydantic passes it through as it is, and its message is the whole fix.
            raise ConfigurationError(
                f"SHORTS_STEP_EXECUTION={self.step_execution} runs steps on other hosts, which cannot see this "
                f"machine's files; set {'; '.join(needs)}"
            )
        return self

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> PipelineSettings:
        environ = dict(os.environ if environ is None else environ)
        values = {
            name: environ[f"{ENV_PREFIX}{name.upper()}"]
            for name in cls.model_fields
            if f"{ENV_PREFIX}{name.upper()}" in environ
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{ENV_PREFIX}{str(error['loc'][0]).upper()}={error.get('input')!r}: {error['msg']}"
                for error in exc.errors()
            )
            raise ConfigurationError(
                f"invalid setting: {problems}; fix the environment variable and restart (or reload the code location)"
            ) from None

    def publish_provider(self, platform: str) -> Literal["outbox", "api"]:
        """`api` when SHORTS_PUBLISH_PROVIDERS names the platform with `=api`, else the local outbox."""
        chosen = dict(item.split("=", 1) for item in self.publish_providers.replace(" ", "").split(",") if "=" in item)
        return "api" if chosen.get(platform) == "api" else "outbox"

    def caption_template(self, platform: str) -> str:
        return str(json.loads(self.caption_templates_json).get(platform, "")) if self.caption_templates_json else ""

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def database_location(self) -> str:
        """The pipeline's database (publish ledger and metrics series): the URL, or the SQLite file."""
        return self.ledger_url or str(self.data_path / "publish_ledger.sqlite3")

    @property
    def watch_path(self) -> Path:
        return Path(self.watch_dir).expanduser() if self.watch_dir else self.data_path / "inbox"

    @property
    def local_source_folders(self) -> list[Path]:
        """Where local sources may come from: the watch folder, <data dir>/samples, then SHORTS_LOCAL_SOURCE_ROOTS."""
        extra = [part.strip() for part in self.local_source_roots.replace(os.pathsep, ",").split(",")]
        return [self.watch_path, self.data_path / "samples", *(Path(part).expanduser() for part in extra if part)]

    def with_local_source_root(self, folder: Path) -> PipelineSettings:
        """These settings with `folder` allowed as a local source folder too (the demo's named file)."""
        return self.model_copy(update={"local_source_roots": f"{self.local_source_roots},{folder}".strip(",")})

    @property
    def discovery_config_path(self) -> Path:
        return Path(self.discovery_config).expanduser() if self.discovery_config else PROJECT_ROOT / "discovery.yaml"

    def stage_providers(self) -> dict[str, str]:
        """The provider each stage's resource is configured with (what its pool is named after)."""
        return {
            "source_video": "yt-dlp",
            "transcript": self.transcribe_provider,
            "script": self.rewrite_provider,
            "voiceover": self.voice_provider,
            "avatar_video": self.avatar_provider,
            "short_video": "ffmpeg",
        }
