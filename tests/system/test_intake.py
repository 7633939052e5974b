"""`shorts submit` against a real running Dagster webserver, through its GraphQL API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.submit import submit_source
from resources.errors import PipelineError
from resources.partition_keys import key_for_file
from tests.system.local_servers import free_port, queued_webserver

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHORTS_")}
    with queued_webserver(tmp_path_factory.mktemp("dagster_home"), {**env, "SHORTS_DATA_DIR": str(data)}) as url:
        os.environ["SHORTS_DATA_DIR"] = str(data)  # the CLI registers the source where the server reads it
        try:
            yield url
        finally:
            os.environ.pop("SHORTS_DATA_DIR", None)


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
