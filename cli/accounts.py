"""`shorts accounts check`: ask each platform's read-only endpoints whether its account can publish.

One line per platform: `ok` or `FAIL`, what was checked, what the platform will do or what to fix; `--json` prints
the same as JSON. Platforms on the outbox are listed but not called unless named with `--platform`. Exits 1 when a
checked platform fails.
"""

from __future__ import annotations

import argparse
import json

from resources.catalog import PLATFORMS, publisher_key


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `accounts` command."""
    parser = subparsers.add_parser("accounts", help="check the publishing accounts with each platform's read-only API")
    commands = parser.add_subparsers(dest="accounts_command", required=True)
    check = commands.add_parser("check", help="token, scopes, account ids and what each platform will do")
    check.add_argument(
        "--platform", action="append", choices=PLATFORMS, help="check this platform (repeatable), even on the outbox"
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per platform; 0 when every checked platform is ok."""
    # Imported here: the definitions load every resource module (SQLAlchemy, the platform SDKs).
    from definitions import build_resources
    from resources.publish.preflight import AccountCheck, check_account
    from resources.settings import PipelineSettings

    resources = build_resources(PipelineSettings.from_env())
    chosen = set(args.platform or ())
    results: list[AccountCheck] = []
    for platform in PLATFORMS:
        publisher = resources[publisher_key(platform)]
        if chosen and platform not in chosen:
            continue
        if publisher.provider != "api" and not chosen:
            note = f"provider=outbox: no account is used (set SHORTS_PUBLISH_PROVIDERS={platform}=api to publish)"
            results.append(AccountCheck(platform=platform, ok=True, checked=[note]))
            continue
        results.append(check_account(publisher.model_copy(update={"provider": "api"})))
    if args.json:
        print(json.dumps([result.model_dump() for result in results], indent=2))
    else:
        print("\n".join(result.line() for result in results))
    return 0 if all(result.ok for result in results) else 1
