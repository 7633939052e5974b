"""The Dagster UI in a real browser (headless Chromium): the webserver and daemon on the real PostgreSQL show
the pipeline's stages and a materialized partition. Screenshots are kept in var/test-artifacts/."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from dagster import instance_for_test

from definitions import build_definitions
from pipeline_assets.partitions import source_videos
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.records import SourceRequest
from resources.settings import PipelineSettings
from tests.system.local_servers import free_port, wait_for_webserver

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KEY = "file-uitest"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make system-test-deps)"),
]
# Without the networking flags Chromium keeps dialing Google from this offline machine.
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1600,1000", "--virtual-time-budget=15000"]  # fmt: skip


def browse(url: str, profile: Path, *extra: str) -> str:
    """What Chromium shows at `url` after the page's scripts ran (DOM, or the screenshot's log)."""
    proc = subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    return proc.stdout


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory, sample_video: Path) -> Iterator[str]:
    db = f"shorts_ui_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{db}"')
    home, data = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("data")
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nstorage:\n  postgres:\n    postgres_db:\n      username: postgres\n"
        f"      password: ''\n      hostname: 127.0.0.1\n      db_name: {db}\n      port: 5432\n"
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        settings = PipelineSettings(data_dir=str(data), local_source_roots=str(sample_video.parent))
        defs = build_definitions(settings)
        register_source(MediaStore.from_settings(settings), SourceRequest(partition_key=KEY, source=str(sample_video)))
        pg = {"username": "postgres", "password": "", "hostname": "127.0.0.1", "db_name": db, "port": 5432}
        overrides = {"storage": {"postgres": {"postgres_db": pg}}}
        with instance_for_test(overrides=overrides) as instance:
            instance.add_dynamic_partitions(source_videos.name or "source_videos", [KEY])
            result = defs.resolve_job_def("short_pipeline_job").execute_in_process(instance=instance, partition_key=KEY)
            assert result.success
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHORTS_")}
        env.update(DAGSTER_HOME=str(home), SHORTS_DATA_DIR=str(data))
        port = free_port()
        bin_dir = Path(sys.executable).parent
        for command in (
            [str(bin_dir / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            [str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        ):
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True))  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        assert wait_for_webserver(url), "dagster-webserver did not start"
        yield url
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.close()


def test_asset_graph_shows_every_stage(ui: str, tmp_path: Path) -> None:
    page = f"{ui}/locations/viral_shorts/asset-groups/pipeline"
    dom = browse(page, tmp_path / "profile-graph", "--dump-dom")
    for stage in ["source_video", "transcript", "script", "voiceover", "avatar_video", "short_video"]:
        assert stage in dom, f"{stage} not drawn in the asset graph"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "ui-asset-graph.png"
    browse(page, tmp_path / "profile-graph-shot", f"--screenshot={shot}")
    assert shot.stat().st_size > 20_000


def test_partition_page_shows_its_latest_materialization(ui: str, tmp_path: Path) -> None:
    page = f"{ui}/assets/short_video?partition={KEY}"
    dom = browse(page, tmp_path / "profile-asset", "--dump-dom")
    assert "Latest materialization" in dom and KEY in dom
    assert "1080x1920" in dom  # the stage's metadata is on the page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "ui-short-video-partition.png"
    browse(page, tmp_path / "profile-asset-shot", f"--screenshot={shot}")
    assert shot.stat().st_size > 20_000
