"""`python -m cli.daemon run -w <workspace>`: dagster-daemon itself, its errors sent to Sentry when $SENTRY_DSN is set.

The daemon launches runs, ticks schedules and sensors and watches run workers; its ERROR records (a run that
could not be launched, a sensor tick that failed, a run worker that died) become Sentry events tagged
`component=daemon`, scrubbed like every other event (resources/error_reporting.py).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence


def install_error_reporting(environ: Mapping[str, str]) -> bool:
    """Report this process's errors when $SENTRY_DSN is set; returns whether it does."""
    from resources.error_reporting import init_error_reporting

    return init_error_reporting(environ, component="daemon")


def serve(argv: Sequence[str]) -> int:
    """Run `dagster-daemon` with `argv` (its own options)."""
    from dagster._daemon.cli import cli as dagster_daemon_cli

    install_error_reporting(os.environ)
    dagster_daemon_cli.main(args=list(argv), prog_name="dagster-daemon")  # exits with the daemon's status
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:]))
