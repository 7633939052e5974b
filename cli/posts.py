"""`shorts posts resolve <partition> <platform> --posted <post-id> | --not-posted`: settle an unknown outcome.

When a create call's answer is lost and the platform's lookup cannot tell whether it posted, the ledger holds the
partition as `unconfirmed` and the `<platform>_post` asset fails with what to check. After looking at the account:
`--posted <id>` records the post you found (a re-execution then reports it), `--not-posted` clears the hold and the
upload's resume state (a re-execution posts afresh). `shorts posts show <partition> <platform>` prints the state.
"""

from __future__ import annotations

import argparse

from resources.catalog import PLATFORMS
from resources.settings import PipelineSettings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `posts` command."""
    parser = subparsers.add_parser("posts", help="show or resolve a post whose outcome is unknown")
    actions = parser.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="what the ledger holds for a partition on a platform")
    resolve = actions.add_parser("resolve", help="settle an unconfirmed post after checking the account")
    for action in (show, resolve):
        action.add_argument("partition", help="the partition key, e.g. tiktok-7301234567890123456")
        action.add_argument("platform", choices=PLATFORMS)
        action.add_argument("--ledger", default="", help="ledger file or URL; default: the deployment's")
    outcome = resolve.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--posted", metavar="POST_ID", help="the post is there: its id on the platform")
    outcome.add_argument("--not-posted", action="store_true", help="the post is not there: allow posting again")
    resolve.add_argument("--url", default="", help="the post's URL (optional)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the ledger loads SQLAlchemy.
    from resources.publish.ledger import PublishLedger

    ledger = PublishLedger(args.ledger or PipelineSettings.from_env().database_location)
    where = f"{args.platform}[{args.partition}]"
    if args.action == "show":
        posted = ledger.get(args.partition, args.platform)
        unconfirmed = ledger.unconfirmed(args.partition, args.platform)
        if posted is not None:
            print(f"{where}: {posted.status} as {posted.remote_id} {posted.url}".rstrip())
        elif unconfirmed is not None:
            print(f"{where}: unconfirmed: {unconfirmed[1]}")
        else:
            print(f"{where}: not posted")
        return 0
    try:
        post = ledger.resolve(args.partition, args.platform, posted=args.posted, url=args.url)
    except ValueError as exc:
        print(f"error: {exc}")
        return 1
    if post is None:
        print(f"{where}: marked not posted; re-execute {args.platform}_post for this partition to post it")
    else:
        print(f"{where}: recorded as posted ({post.remote_id}); re-executing {args.platform}_post reports it")
    return 0
