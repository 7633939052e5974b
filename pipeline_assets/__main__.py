"""Command line: `python -m pipeline_assets demo [--source URL_OR_FILE] [--layout split_screen]`."""

from __future__ import annotations

import argparse
import sys

from resources.errors import PipelineError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline_assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="turn one video (default: a generated sample) into a short")
    demo.add_argument("--source", default="", help="video URL or local file")
    demo.add_argument("--layout", default="", choices=["", "avatar_over_blur", "split_screen"])
    commands.add_parser("pools", help="write the per-API concurrency pool limits into the Dagster instance")
    auth = commands.add_parser("auth", help="authorize a publishing platform once and store its refresh token")
    auth.add_argument("platform", choices=["youtube", "tiktok", "instagram", "facebook", "x", "linkedin"])
    auth.add_argument("--port", type=int, default=8765, help="loopback port of the redirect URI")
    metrics = commands.add_parser("metrics", help="serve Prometheus metrics from the Dagster instance")
    metrics.add_argument("--host", default="127.0.0.1")
    metrics.add_argument("--port", type=int, default=9108)
    from pipeline_assets.backfill import add_backfill_parser, run_backfill
    from pipeline_assets.health import add_health_parser, run_health
    from pipeline_assets.intake import add_submit_parser, run_submit

    add_health_parser(commands)
    add_submit_parser(commands)
    add_backfill_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "submit":
        return run_submit(args)
    if args.command == "backfill":
        return run_backfill(args)
    if args.command == "health":
        return run_health(args)
    if args.command == "metrics":
        import time

        from dagster import DagsterInstance

        from pipeline_assets.demo import ensure_dagster_home
        from pipeline_assets.metrics import serve

        ensure_dagster_home()
        server = serve(DagsterInstance.get(), host=args.host, port=args.port)
        print(f"serving http://{args.host}:{args.port}/metrics (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.shutdown()
        return 0
    if args.command == "auth":
        from resources.publish.oauth import authorize

        try:
            path = authorize(args.platform, port=args.port)
        except PipelineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{args.platform}: tokens stored in {path} (chmod 600)")
        return 0
    if args.command == "pools":
        from dagster import DagsterInstance

        from pipeline_assets.demo import ensure_dagster_home
        from pipeline_assets.pools import apply_pool_limits

        ensure_dagster_home()
        with DagsterInstance.get() as instance:
            for pool, limit in apply_pool_limits(instance).items():
                print(f"pool {pool}: {limit}")
        return 0
    if args.command == "demo":
        from pipeline_assets.demo import run_demo

        try:
            path = run_demo(args.source or None, layout=args.layout)
        except PipelineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
