"""`shorts <command>` (or `python -m cli <command>`): the operator's commands; `shorts --help` lists them."""

from __future__ import annotations

import argparse
import sys

from cli import accounts, analytics, auth, backfill, db, demo, health, metrics, pools, posts, submit
from resources.errors import PipelineError

COMMANDS = (demo, submit, backfill, auth, accounts, health, metrics, pools, posts, db, analytics)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shorts", description="Viral shorts pipeline: the operator's commands.")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(commands)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except PipelineError as exc:
        # Our errors already say what happened and what to do: no traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
