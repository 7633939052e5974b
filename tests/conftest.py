"""Shared fixtures: real media made locally once per session, and isolated settings per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_assets.sample_source import make_sample_source
from pipeline_assets.settings import PipelineSettings

SHORT_NARRATION = [
    "Here is a quick kitchen trick that saves you time every single morning.",
    "Freeze chopped herbs in olive oil inside an ice cube tray.",
    "Then drop one cube straight into the hot pan whenever you cook.",
]


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~12 s 1280x720 H.264/AAC video with real speech (Piper), made offline."""
    return make_sample_source(tmp_path_factory.mktemp("samples") / "sample.mp4", narration=SHORT_NARRATION)


@pytest.fixture
def settings(tmp_path: Path) -> PipelineSettings:
    """Settings whose data folder (media, outbox, ledger) is private to the test."""
    return PipelineSettings(data_dir=str(tmp_path / "data"))
