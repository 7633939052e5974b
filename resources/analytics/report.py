"""The channel performance report: what performed, grouped by platform, source account, discovery source, layout,
voice and avatar provider.

Each (post, platform) is one outcome (`post_outcomes`: latest numbers, and views at the same age against the
platform's median). A group's numbers: posts, total and median views, engagement rate (likes + comments + shares +
saves over views, summed over the group), the median `relative` (1.0 = a typical post of that account at that
age; empty until a platform has enough posts for a baseline) and cost per 1,000 views. A short's cost is shared
equally by the platforms it has numbers on, so every dimension adds up to the same total cost.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from resources.analytics.outcomes import PostOutcome, post_outcomes
from resources.analytics.records import PostAttributes
from resources.analytics.series import Observation
from resources.records import Post

# Report dimension -> what the report calls it.
DIMENSIONS: dict[str, str] = {
    "platform": "platform",
    "author": "source account",
    "source_name": "discovery source",
    "layout": "layout",
    "voice_provider": "voice provider",
    "avatar_provider": "avatar provider",
}
UNKNOWN = "(unknown)"


@dataclass(frozen=True, slots=True)
class ReportRow:
    dimension: str
    value: str
    posts: int
    total_views: float
    median_views: float
    engagement_rate: float
    median_relative: float | None
    cost_usd: float
    cost_per_1k_views: float | None


def _group_value(dimension: str, outcome: PostOutcome, attributes: PostAttributes | None) -> str:
    if dimension == "platform":
        return outcome.platform
    value = getattr(attributes, dimension, "") if attributes is not None else ""
    return str(value) or UNKNOWN


def channel_report(
    observations: Iterable[Observation], posts: Iterable[Post], attributes: Mapping[str, PostAttributes]
) -> list[ReportRow]:
    """One row per (dimension, value), dimensions in `DIMENSIONS` order, values by total views (largest first)."""
    outcomes = post_outcomes(observations, posts)
    platforms_of: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        platforms_of[outcome.partition_key] += 1
    rows: list[ReportRow] = []
    for dimension in DIMENSIONS:
        groups: dict[str, list[PostOutcome]] = defaultdict(list)
        for outcome in outcomes:
            groups[_group_value(dimension, outcome, attributes.get(outcome.partition_key))].append(outcome)
        found = [_row(dimension, value, members, attributes, platforms_of) for value, members in groups.items()]
        rows += sorted(found, key=lambda row: (-row.total_views, row.value))
    return rows


def _row(
    dimension: str,
    value: str,
    members: list[PostOutcome],
    attributes: Mapping[str, PostAttributes],
    platforms_of: Mapping[str, int],
) -> ReportRow:
    views = [outcome.views for outcome in members]
    total = sum(views)
    engaged = sum(outcome.engagement * outcome.views for outcome in members)
    relatives = [outcome.relative for outcome in members if outcome.relative is not None]
    cost = sum(
        attributes[outcome.partition_key].cost_usd / platforms_of[outcome.partition_key]
        for outcome in members
        if outcome.partition_key in attributes
    )
    return ReportRow(
        dimension=dimension,
        value=value,
        posts=len(members),
        total_views=total,
        median_views=statistics.median(views),
        engagement_rate=round(engaged / total, 6) if total > 0 else 0.0,
        median_relative=round(statistics.median(relatives), 4) if relatives else None,
        cost_usd=round(cost, 6),
        cost_per_1k_views=round(cost / total * 1000, 6) if total > 0 else None,
    )


def write_csv(rows: Iterable[ReportRow], path: Path) -> int:
    """The report as CSV (one line per row, empty cells for what is not known yet); returns the rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(ReportRow)])
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if value is None else value for key, value in asdict(row).items()})
            count += 1
    return count


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def as_markdown(rows: Iterable[ReportRow]) -> str:
    """The report as a Markdown table for the Dagster UI."""
    lines = [
        "| dimension | value | posts | total views | median views | engagement | median relative | cost / 1k views |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {DIMENSIONS[row.dimension]} | {row.value.replace('|', '/')} | {row.posts} | {_fmt(row.total_views, 0)} "
            f"| {_fmt(row.median_views, 0)} | {row.engagement_rate:.1%} | {_fmt(row.median_relative)} "
            f"| {'–' if row.cost_per_1k_views is None else f'${row.cost_per_1k_views:.4f}'} |"
        )
    return "\n".join(lines)


def draw_chart(rows: Iterable[ReportRow], path: Path, *, top: int = 8) -> Path:
    """A PNG with one panel per dimension: total views per value (top `top`), labelled with the median relative."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the chart is drawn in a step or a command
    from matplotlib import pyplot as plt

    by_dimension: dict[str, list[ReportRow]] = defaultdict(list)
    for row in rows:
        by_dimension[row.dimension].append(row)
    figure, axes = plt.subplots(2, 3, figsize=(15, 8), dpi=100)
    for axis, (dimension, title) in zip(axes.flat, DIMENSIONS.items(), strict=True):
        shown = by_dimension.get(dimension, [])[:top][::-1]
        axis.set_title(f"by {title}", fontsize=11)
        if not shown:
            axis.text(0.5, 0.5, "no numbers yet", ha="center", va="center", transform=axis.transAxes, color="grey")
            axis.set_xticks([])
            axis.set_yticks([])
            continue
        bars = axis.barh([row.value[:24] for row in shown], [row.total_views for row in shown], color="#3b7dd8")
        for bar, row in zip(bars, shown, strict=True):
            note = f" {row.posts} posts" + (f", ×{row.median_relative:.2f}" if row.median_relative is not None else "")
            axis.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, note, va="center", fontsize=8)
        axis.set_xlabel("total views")
        axis.margins(x=0.35)
    figure.suptitle("Channel performance (×: median views against the account's usual at the same age)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    plt.close(figure)
    return path
