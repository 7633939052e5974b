"""The production instance in system tests: a DAGSTER_HOME on PostgreSQL, an environment of its own, and Dagster's
processes (daemon, webserver) started in a process group of their own and stopped with everything under them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import yaml

from resources.settings import PROJECT_ROOT


def postgres_overrides(db_name: str) -> dict[str, object]:
    """The `storage` section of a dagster.yaml that keeps runs and events in `db_name` on the local server."""
    return {
        "storage": {
            "postgres": {
                "postgres_db": {
                    "username": "postgres",
                    "password": "",
                    "hostname": "127.0.0.1",
                    "db_name": db_name,
                    "port": 5432,
                }
            }
        }
    }


def write_dagster_home(home: Path, db_name: str, **sections: Any) -> None:
    """The production instance shape (PostgreSQL storage and a run queue) in `home`/dagster.yaml.

    `sections` are dagster.yaml's top-level entries to add or replace (`run_monitoring=...`).
    """
    home.mkdir(parents=True)
    config = {
        **postgres_overrides(db_name),
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"max_concurrent_runs": 2},
        },
        "telemetry": {"enabled": False},
        **sections,
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


def isolated_env(home: Path, data: Path, inbox: Path) -> dict[str, str]:
    """This machine's environment without any SHORTS_* setting a developer may have, plus the test's folders."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SHORTS_")}
    env.update(DAGSTER_HOME=str(home), SHORTS_DATA_DIR=str(data), SHORTS_WATCH_DIR=str(inbox))
    env.update(SHORTS_LOCAL_SOURCE_ROOTS=str(home.parent))  # the test's folder: sources made next to the home
    return env


def start_process(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Run `command` in the project folder, its output in `log`, in a process group of its own (for
    `stop_process_group`, which then stops its code servers and run workers too)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process's whole group (code servers, run workers), then SIGKILL whatever is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    # Code servers and run workers can outlive a daemon that stopped on SIGTERM: the group goes in any case.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a process log, for a failure message."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"
