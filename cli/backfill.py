"""`shorts backfill`: launch a backfill on a running webserver, as the UI's "Materialize" does.

It posts the UI's own GraphQL mutation (`launchPartitionBackfill` with an asset selection), so the backfill
daemon turns it into one queued run per partition, the run queue and the per-API pools pace them, and the
backfill shows on the UI's Backfills page like one launched by hand.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from cli.webserver import (
    Login,
    add_login_argument,
    add_url_argument,
    base_url,
    check_reachable,
    graphql_call,
    login_from,
    webserver_client,
)
from resources.catalog import DEFAULT_UI_URL, STAGES, chain_assets
from resources.errors import InputRejected, PipelineError
from resources.partition_keys import validate_partition_key

LAUNCH_BACKFILL = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PartitionKeysNotFoundError { partitionKeys }
    ... on PythonError { message }
    ... on Error { message }
  }
}
"""


@dataclass(frozen=True)
class Backfill:
    """A launched backfill: its id and its page in the UI."""

    backfill_id: str
    url: str


def launch_backfill(
    partition_keys: list[str] | None,
    *,
    assets: list[str] | None = None,
    url: str = DEFAULT_UI_URL,
    title: str = "",
    login: Login | None = None,
) -> Backfill:
    """Backfill `assets` (default: the whole chain) for `partition_keys` (None: every partition).

    `login`: the proxy's, when `url` is the production address (deploy/README.md).
    """
    known = chain_assets()
    assets = list(assets or known)
    unknown = sorted(set(assets) - set(known))
    if unknown:
        raise InputRejected(f"unknown assets {unknown}; choose from {', '.join(known)}")
    params: dict[str, object] = {
        "assetSelection": [{"path": [name]} for name in assets],
        "title": title or f"{len(assets)} assets x {len(partition_keys) if partition_keys else 'all'} partitions",
    }
    if partition_keys is None:
        params["allPartitions"] = True
    else:
        if not partition_keys:
            raise InputRejected("no partition keys given; name some, or use --all for every partition")
        params["partitionNames"] = [validate_partition_key(key) for key in partition_keys]
    base = base_url(url)
    with webserver_client(base, login) as client:
        check_reachable(client, base)
        result = graphql_call(client, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] == "LaunchBackfillSuccess":
        backfill_id = str(result["backfillId"])
        return Backfill(backfill_id, f"{base}/runs/b/{backfill_id}")
    if result["__typename"] == "PartitionKeysNotFoundError":
        raise InputRejected(
            f"partitions {result['partitionKeys']} do not exist; add them first (`shorts submit`, "
            "the sensors, or the UI's partitions page)"
        )
    raise PipelineError(f"launching the backfill failed: {result.get('message', result['__typename'])}")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `backfill` command."""
    parser = subparsers.add_parser("backfill", help="launch a backfill of partitions on a running webserver")
    parser.add_argument("partitions", nargs="*", help="partition keys, e.g. tiktok-7301234567890123456")
    parser.add_argument("--all", action="store_true", help="every partition of source_videos")
    parser.add_argument(
        "--assets", default="", help=f"comma-separated subset of the chain (default: all of {','.join(STAGES)}…)"
    )
    parser.add_argument("--title", default="", help="shown on the UI's Backfills page")
    add_url_argument(parser)
    add_login_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """0 with the backfill's URL (InputRejected for a bad selection)."""
    if args.all == bool(args.partitions):
        raise InputRejected("give partition keys or --all (not both)")
    assets = [name.strip() for name in args.assets.split(",") if name.strip()] or None
    done = launch_backfill(
        None if args.all else args.partitions,
        assets=assets,
        url=args.url,
        title=args.title,
        login=login_from(args.user),
    )
    print(f"backfill {done.backfill_id} launched: {done.url}")
    return 0
