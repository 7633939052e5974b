"""The code location: the one module that sees assets, sensors and resources together.

Settings are read from the SHORTS_* environment once, here (`defs`), and reach everything else as resources
or as the arguments the assets are made with (their pools). workspace.yaml, `dg` and the Docker code server
load `definitions:defs`.
"""

from __future__ import annotations

import os
from typing import Any

from dagster import (
    AssetsDefinition,
    Definitions,
    IOManager,
    IOManagerDefinition,
    ResourceDefinition,
    colored_console_logger,
)

from pipeline_assets.analytics import analytics_assets
from pipeline_assets.approval import approve_short_job, short_approval
from pipeline_assets.avatar import avatar_video
from pipeline_assets.executors import executor_for, stage_queues
from pipeline_assets.ingest import source_video
from pipeline_assets.jobs import channel_performance_job, post_metrics_job, short_pipeline_job
from pipeline_assets.pools import stage_pools
from pipeline_assets.publish import post_assets
from pipeline_assets.render import short_video
from pipeline_assets.rewrite import script
from pipeline_assets.transcribe import transcript
from pipeline_assets.voice import voiceover
from resources.alerts import FailureAlerts
from resources.analytics.resource import Analytics
from resources.avatar import AvatarRenderer
from resources.catalog import PLATFORMS, publisher_key
from resources.discovery.configured import DiscoverySources, WatchFolder
from resources.error_reporting import init_error_reporting, step_failure_hook
from resources.ingest import Downloader
from resources.io_manager import JsonRecordIOManager
from resources.json_logging import json_console_logger
from resources.media.store import MediaStore
from resources.publish import Publisher
from resources.render import Renderer
from resources.rewrite import Rewriter
from resources.settings import PipelineSettings
from resources.transcribe import Transcriber
from resources.voice import Speaker
from sensors.folder_watch_sensor import folder_watch_sensor
from sensors.metrics_refresh_sensor import metrics_refresh_sensor
from sensors.run_failure_sensor import run_failure_sensor
from sensors.viral_video_sensor import viral_video_sensor


def build_resources(settings: PipelineSettings) -> dict[str, Any]:
    """Every resource the assets need, configured from `settings`."""
    data = settings.data_path
    media_store = MediaStore.from_settings(settings)
    resources: dict[str, Any] = {
        "media_store": media_store,
        "io_manager": JsonRecordIOManager(media_store=media_store),
        "downloader": Downloader(
            max_duration_s=settings.max_source_duration_s,
            allow_private_networks=settings.allow_private_networks,
            local_source_roots=[str(folder) for folder in settings.local_source_folders],
        ),
        "transcriber": Transcriber(
            provider=settings.transcribe_provider,
            model=settings.whisper_model,
            base_url=settings.openai_base_url,
            openai_model=settings.openai_transcribe_model,
        ),
        "rewriter": Rewriter(
            provider=settings.rewrite_provider,
            base_url=settings.openai_base_url,
            openai_model=settings.openai_chat_model,
        ),
        "speaker": Speaker(
            provider=settings.voice_provider,
            voice_model=settings.piper_voice,
            elevenlabs_voice_id=settings.elevenlabs_voice_id,
            elevenlabs_model=settings.elevenlabs_model,
            elevenlabs_base_url=settings.elevenlabs_base_url,
        ),
        "avatar_renderer": AvatarRenderer(
            provider=settings.avatar_provider,
            presenter_image=settings.presenter_image,
            avatar_id=settings.avatar_id,
            api_base_url=settings.avatar_api_base_url,
            upload_base_url=settings.avatar_upload_base_url,
            timeout_s=settings.avatar_timeout_s,
        ),
        "renderer": Renderer(layout=settings.layout, watermark_text=settings.watermark_text),
        "discovery_sources": DiscoverySources(
            config_path=str(settings.discovery_config_path), database_location=settings.database_location
        ),
        "watch_folder": WatchFolder(path=str(settings.watch_path)),
        "failure_alerts": FailureAlerts(ui_base_url=settings.ui_base_url),
        "analytics": Analytics(database=settings.database_location),
    }
    accounts = {
        "instagram": settings.instagram_account_id,
        "facebook": settings.facebook_page_id,
        "linkedin": settings.linkedin_author_urn,
    }
    for platform in PLATFORMS:
        resources[publisher_key(platform)] = Publisher(
            platform=platform,
            provider=settings.publish_provider(platform),
            outbox_dir=str(data / "outbox"),
            ledger_path=settings.database_location,
            dry_run=settings.publish_dry_run,
            require_approval=settings.require_approval,
            caption_template=settings.caption_template(platform),
            account_id=accounts.get(platform, ""),
            privacy=settings.publish_privacy,
        )
    return resources


# The stages in the order of the chain (resources.catalog.STAGES names them).
STAGES = (source_video, transcript, script, voiceover, avatar_video, short_video)


def build_assets(settings: PipelineSettings) -> list[AssetsDefinition]:
    """Every asset: the stages, each in the pool of its configured provider, the posts, the approval, analytics."""
    pools, providers, queues = stage_pools(settings), settings.stage_providers(), stage_queues(settings)
    stages = [
        stage.asset(
            pool=pools[stage.name],
            provider=providers[stage.name],
            max_paid_attempts=settings.max_paid_attempts,
            queue=queues[stage.name],
        )
        for stage in STAGES
    ]
    # Every step failure goes to Sentry when SENTRY_DSN is set (resources/error_reporting.py).
    return [a.with_hooks({step_failure_hook}) for a in [*stages, *post_assets, short_approval, *analytics_assets]]


def fixed(resource: Any) -> ResourceDefinition:
    """`resource` exactly as the deployment configured it: its fields are not part of any run's launch config.

    Dagster lets a run's config override every field of a configured resource. Ours hold endpoints, key names,
    token URLs, file paths and the guards (approval, private networks, the ledger), so a run config that tries to
    set one is refused by config validation (the schema is empty) instead of being followed.
    """
    description = f"{type(resource).__name__}, set by the deployment's SHORTS_* settings (not at launch)."
    if isinstance(resource, IOManager):
        return IOManagerDefinition(resource_fn=lambda _: resource, config_schema={}, description=description)
    return ResourceDefinition(resource_fn=lambda _: resource, config_schema={}, description=description)


def build_definitions(settings: PipelineSettings, resources: dict[str, Any] | None = None) -> Definitions:
    """The Definitions for `settings`; `resources` replaces `build_resources(settings)` (tests swap engines)."""
    chosen = build_resources(settings) if resources is None else resources
    return Definitions(
        assets=build_assets(settings),
        jobs=[short_pipeline_job, approve_short_job, post_metrics_job, channel_performance_job],
        sensors=[viral_video_sensor, folder_watch_sensor, run_failure_sensor, metrics_refresh_sensor],
        resources={key: fixed(resource) for key, resource in chosen.items()},
        # Fixed by the deployment (SHORTS_STEP_EXECUTION, SHORTS_CELERY_*): a run config cannot change it.
        executor=executor_for(settings, dagster_home=os.environ.get("DAGSTER_HOME", "")),
        # `json` gives one JSON object per line with run id, partition and asset (select it in production).
        loggers={"console": colored_console_logger, "json": json_console_logger},
    )


init_error_reporting(os.environ)  # Sentry when SENTRY_DSN is set: the code server, every run and step process
defs = build_definitions(PipelineSettings.from_env())
