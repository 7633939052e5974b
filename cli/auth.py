"""`shorts auth <platform>`: authorize a publishing platform once and store its tokens."""

from __future__ import annotations

import argparse

from resources.catalog import PLATFORMS


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `auth` command."""
    parser = subparsers.add_parser(
        "auth",
        help="authorize a publishing platform once and store its tokens (Meta: long-lived and Page tokens)",
    )
    parser.add_argument("platform", choices=PLATFORMS)
    parser.add_argument("--port", type=int, default=8765, help="loopback port of the redirect URI")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the publishing package loads SQLAlchemy and the platform SDKs.
    from resources.publish.oauth import authorize

    path = authorize(args.platform, port=args.port)
    print(f"{args.platform}: tokens stored in {path} (chmod 600)")
    return 0
