"""Who may import whom (README, Layout): the graph knows nothing of what triggers it, providers nothing of the graph."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# package -> the project packages it must never import (directly or inside a function)
FORBIDDEN = {
    "resources": {"pipeline_assets", "sensors", "cli", "definitions"},
    "pipeline_assets": {"sensors", "cli", "definitions"},
    "sensors": {"cli", "definitions"},
}


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules_of(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_never_imports_what_sits_above_it(package: str) -> None:
    offending = {
        f"{path.relative_to(ROOT)} imports {module}"
        for path in modules_of(package)
        for module in imported_modules(path)
        if module.split(".")[0] in FORBIDDEN[package]
    }
    assert not offending, sorted(offending)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_command_line_parsing_lives_only_in_cli(package: str) -> None:
    assert not [path for path in modules_of(package) if "argparse" in imported_modules(path)]


@pytest.mark.parametrize("package", ["pipeline_assets", "sensors"])
def test_the_graph_and_the_sensors_never_read_the_environment(package: str) -> None:
    # Settings are read once, in definitions.py; what the graph and sensors need reaches them as resources.
    readers = [path for path in modules_of(package) if "os.environ" in path.read_text() or "getenv" in path.read_text()]
    assert not readers


def test_stage_and_platform_names_are_defined_once() -> None:
    from definitions import STAGES, build_definitions
    from resources import catalog
    from resources.settings import PipelineSettings

    assert tuple(stage.name for stage in STAGES) == catalog.STAGES
    keys = {
        key.to_user_string() for key in build_definitions(PipelineSettings()).resolve_asset_graph().get_all_asset_keys()
    }
    assert set(catalog.chain_assets()) | {"short_approval", *catalog.ANALYTICS_ASSETS} == keys
