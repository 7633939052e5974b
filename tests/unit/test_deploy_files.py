"""The Dockerfile and instance files, checked statically (no Docker engine here); built only where one runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_installs_the_locked_deps_and_copies_every_package() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "uv sync --frozen" in text and "COPY pyproject.toml uv.lock" in text
    for package in ["cli", "pipeline_assets", "resources", "sensors"]:
        assert f"COPY {package} ./{package}" in text
    assert "COPY definitions.py" in text
    assert "apt-get install" in text and " ffmpeg " in text
    assert "definitions" in text
    assert "dagster.yaml" in text


def test_workspace_points_at_the_definitions_module() -> None:
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    module = workspace["load_from"][0]["python_module"]
    assert module["module_name"] == "definitions" and module["attribute"] == "defs"


def test_local_dagster_yaml_is_valid_instance_config(tmp_path: Path) -> None:
    from dagster import DagsterInstance

    shutil.copyfile(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = DagsterInstance.from_config(str(tmp_path))
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 2
    # The daemon's run queue applies this: one run per partition at a time.
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in (
        instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    )


def test_pyproject_points_dg_at_the_definitions() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["dg"]["project"]["code_location_target_module"] == "definitions"


@pytest.mark.needs_docker_engine
@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0,
    reason="no Docker engine on this machine",
)
def test_image_builds_and_loads_the_definitions() -> None:
    subprocess.run(["docker", "build", "-t", "viral-shorts:test", str(ROOT)], check=True, timeout=3000)
    subprocess.run(
        ["docker", "run", "--rm", "viral-shorts:test",
         "dagster", "definitions", "validate", "-m", "definitions"],
        check=True, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize("config", ["dagster.yaml", "deploy/dagster.yaml"])
def test_the_run_queue_runs_one_run_per_partition_at_a_time(config: str) -> None:
    runs = yaml.safe_load((ROOT / config).read_text())["concurrency"]["runs"]
    limits = {limit["key"]: limit for limit in runs["tag_concurrency_limits"]}
    partition = limits["dagster/partition"]
    assert partition["limit"] == 1 and partition["value"] == {"applyLimitPerUniqueValue": True}
