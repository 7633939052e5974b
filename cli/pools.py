"""`shorts pools`: write the per-API concurrency pool limits into the Dagster instance."""

from __future__ import annotations

import argparse

from dagster import DagsterInstance

from cli.instance import ensure_dagster_home
from pipeline_assets.pools import apply_pool_limits


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `pools` command."""
    parser = subparsers.add_parser("pools", help="write the per-API concurrency pool limits into the Dagster instance")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ensure_dagster_home()
    with DagsterInstance.get() as instance:
        for pool, limit in apply_pool_limits(instance).items():
            print(f"pool {pool}: {limit}")
    return 0
