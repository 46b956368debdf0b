"""The report's numbers in Markdown: what the curate flow publishes as a Prefect artifact.

Plots do not travel in an artifact (Prefect's UI renders Markdown, not inline images, and the
page may be large), so this is the tables of the page in a few lines, with a link to the page
when one was written.
"""

from __future__ import annotations

import os
from typing import Any

from soccerfactory.storage.report.plots import TRUTH_SHARES
from soccerfactory.storage.report.queries import ReportData, Scope, Table, read_report_data

__all__ = ["summary_markdown", "read_summary"]

_MAX_ROWS = 20


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}"
    return " ".join(str(value).replace("|", "/").split())


def _markdown_table(table: Table, columns: tuple[str, ...] | None = None) -> list[str]:
    columns = columns or table.columns
    index = [table.columns.index(c) for c in columns if c in table.columns]
    names = [table.columns[i] for i in index]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_number(row[i]) for i in index) + " |" for row in table.rows[:_MAX_ROWS]]
    if len(table.rows) > _MAX_ROWS:
        lines.append(f"\n{len(table.rows) - _MAX_ROWS} more rows: see the report page or `soccerfactory query`.")
    return lines


def _share(values: tuple[float | None, ...]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def summary_markdown(data: ReportData, report_url: str | None = None) -> str:
    """The report of ``data`` as Markdown: totals, per-clip quality, truth grades, failures, and the page's link."""
    o = data.overview
    lines = [f"# SoccerFactory report: {data.scope.title()}", ""]
    if report_url:
        lines += [f"Full report with plots and annotated frames: [{os.path.basename(report_url)}]({report_url})", ""]
    lines += [
        f"**{o['matches']}** matches, **{o['clips']}** clips, **{o['footage_s']:.1f} s** of footage, **{o['frames']:,}** frames, "
        f"**{o['athlete_rows']:,}** athlete rows, **{o['tracks']:,}** tracks; "
        f"**{len(data.failures.rows)}** failures, **{len(data.quarantine.rows)}** quarantined shards.",
        "",
    ]
    calibrated = [_share(s.values["valid_share"]) for s in data.calibration]
    if any(c is not None for c in calibrated):
        lines += ["Valid-camera share: " + ", ".join(f"{s.match_id} {c:.0%}" for s, c in zip(data.calibration, calibrated) if c is not None), ""]
    if data.clips.rows:
        lines += ["## Clips", "", *_markdown_table(data.clips), ""]
    if data.truth is not None:
        columns = ("match_id", *[c for c, _ in TRUTH_SHARES], "position_error_median_m", "camera_error_median_px")
        lines += ["## Against ground truth", "", *_markdown_table(data.truth.per_match, columns), ""]
    if data.failures.rows:
        lines += ["## Failures", "", *_markdown_table(data.failures), ""]
    if data.quarantine.rows:
        lines += ["## Quarantined shards", "", *_markdown_table(data.quarantine), ""]
    return "\n".join(lines).rstrip() + "\n"


def read_summary(catalog: str | os.PathLike, scope: Scope | None = None, wait_s: float = 30.0) -> ReportData:
    """The report's data for ``scope`` without thumbnails, over a read-only connection (for :func:`summary_markdown`).

    Args:
        wait_s: Longest wait for a writer holding the catalog (then ``CatalogLockedError``).
    """
    from soccerfactory.storage.readonly import open_read_only

    connection, _ = open_read_only(catalog, wait_s=wait_s)
    try:
        return read_report_data(connection, catalog, scope or Scope(), thumbnails=0)
    finally:
        connection.close()
