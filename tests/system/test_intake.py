"""`shorts submit` against a real running Dagster webserver, through its GraphQL API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.submit import submit_source
from resources.errors import PipelineError
from resources.partition_keys import key_for_file
from tests.system.local_servers import free_port, wait_for_webserver

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("dagster_home")
    # Runs stay queued (no daemon): the test is about intake, not execution.
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nrun_coordinator:\n"
        "  module: dagster._core.run_coordinator\n  class: QueuedRunCoordinator\n"
    )
    data = tmp_path_factory.mktemp("data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHORTS_")}
    env.update(DAGSTER_HOME=str(home), SHORTS_DATA_DIR=str(data))
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-w", "workspace.yaml",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_webserver(url), "dagster-webserver did not start"
        os.environ["SHORTS_DATA_DIR"] = str(data)  # the CLI registers the source where the server reads it
        yield url
    finally:
        os.environ.pop("SHORTS_DATA_DIR", None)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


def test_submit_adds_the_partition_and_launches_one_run_then_reports_it(webserver: str, sample_video: Path) -> None:
    first = submit_source(str(sample_video), url=webserver)
    assert first.launched and first.partition_key == key_for_file(sample_video)
    assert first.run_url.endswith(f"/runs/{first.run_id}")
    second = submit_source(str(sample_video), url=webserver)
    assert not second.launched and second.run_id == first.run_id


def test_unreachable_webserver_says_to_start_it(sample_video: Path) -> None:
    with pytest.raises(PipelineError, match="make dev"):
        submit_source(str(sample_video), url=f"http://127.0.0.1:{free_port()}")


def test_bad_source_is_refused_before_any_call() -> None:
    with pytest.raises(PipelineError, match="unsupported URL scheme"):
        submit_source("ftp://example.com/v.mp4", url="http://127.0.0.1:9")


def test_backfill_of_an_unknown_partition_says_to_add_it_first(webserver: str) -> None:
    from cli.backfill import launch_backfill
    from resources.errors import InputRejected

    with pytest.raises(InputRejected, match=r"partitions \['file-never-added'\] do not exist; add them first"):
        launch_backfill(["file-never-added"], url=webserver)


def test_backfill_of_submitted_partitions_is_launched(webserver: str, sample_video: Path) -> None:
    from cli.backfill import launch_backfill

    key = submit_source(str(sample_video), url=webserver).partition_key
    backfill = launch_backfill([key], assets=["source_video", "transcript"], url=webserver, title="intake test")
    assert backfill.backfill_id and backfill.url == f"{webserver}/runs/b/{backfill.backfill_id}"
    query = "query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { title } } }"
    answer = httpx.post(f"{webserver}/graphql", json={"query": query, "variables": {"id": backfill.backfill_id}})
    assert answer.json()["data"]["partitionBackfillOrError"]["title"] == "intake test"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backfill"], "give partition keys or --all"),
        (["backfill", "--all", "file-a"], "give partition keys or --all"),
        (["backfill", "--assets", "thumbnail", "file-a"], "unknown assets ['thumbnail']"),
        (["backfill", "File/../x"], "unsafe partition key"),
    ],
)
def test_backfill_cli_refuses_bad_arguments_before_calling_the_server(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.__main__ import main

    assert main([*argv, "--url", f"http://127.0.0.1:{free_port()}"]) == 1
    assert message in capsys.readouterr().err
