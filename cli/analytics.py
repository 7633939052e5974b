"""`shorts analytics import FILE [--platform youtube|tiktok] [--observed-at ISO]` and `shorts analytics report`.

`import` records the numbers of a YouTube Studio (`Table data.csv`) or TikTok Studio export into the metrics series
(the offline metrics source: outbox entries have no API to ask); rows matching no post are listed. `report` writes
the channel performance report (CSV and PNG chart) into `<data dir>/analytics/` and prints the CSV's path.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from resources.settings import PipelineSettings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `analytics` command."""
    parser = subparsers.add_parser("analytics", help="import platform analytics exports; write the channel report")
    actions = parser.add_subparsers(dest="action", required=True)
    imports = actions.add_parser("import", help="record a YouTube Studio or TikTok Studio CSV export")
    imports.add_argument("file", type=Path, help="the export, e.g. 'Table data.csv'")
    imports.add_argument("--platform", choices=("youtube", "tiktok"), help="default: detected from the header")
    imports.add_argument(
        "--observed-at", type=datetime.fromisoformat, help="when the numbers were read (ISO 8601); default: file mtime"
    )
    report = actions.add_parser("report", help="write the channel performance CSV and chart; print the CSV path")
    report.add_argument("--out", type=Path, help="folder; default: <SHORTS_DATA_DIR>/analytics")
    for action in (imports, report):
        action.add_argument("--database", default="", help="database file or URL; default: the deployment's")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the series loads SQLAlchemy, the report matplotlib.
    from resources.analytics.file_import import import_export
    from resources.analytics.resource import Analytics

    settings = PipelineSettings.from_env()
    analytics = Analytics(database=args.database or settings.database_location)
    if args.action == "import":
        result = import_export(args.file, analytics.series(), platform=args.platform, observed_at=args.observed_at)
        print(result.summary())
        return 0
    files = analytics.write_report(args.out or settings.data_path / "analytics")
    print(files.csv_path)
    print(f"{files.png_path} ({len(files.rows)} rows)")
    return 0
