"""Fixtures the publisher tests share (their helpers are in `tests.providers.publishing`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.providers import publishing


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """The short to publish: `publishing.VIDEO_SIZE` random bytes (the fakes do not decode video)."""
    return publishing.random_video(tmp_path, publishing.VIDEO_SIZE)
