"""`make bench`: every benchmark in one run, one `name: value` line per figure."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = [
    "benchmarks.render_bench",
    "benchmarks.avatar_bench",
    "benchmarks.pipeline_bench",
    "benchmarks.chain_bench",
    "benchmarks.celery_bench",
    "benchmarks.sensor_bench",
    "benchmarks.process_start_bench",
    "benchmarks.login_bench",
    "benchmarks.script_quality_bench",
    "benchmarks.analytics_report_bench",
]


def main() -> int:
    failed = 0
    for module in BENCHMARKS:
        proc = subprocess.run([sys.executable, "-m", module], check=False)
        failed += proc.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
