"""The Dagster instance the commands use: $DAGSTER_HOME, or the project's `.dagster_home`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from resources.settings import PROJECT_ROOT


def ensure_dagster_home() -> Path:
    """Use $DAGSTER_HOME, or the project's `.dagster_home` seeded with the project's dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
