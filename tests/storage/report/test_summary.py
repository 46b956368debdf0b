"""The report in Markdown: what a curate run publishes as its Prefect artifact."""

from __future__ import annotations

from soccerfactory.storage.report.queries import Scope
from soccerfactory.storage.report.summary import read_summary, summary_markdown

from .conftest import RUN


def test_summary_of_a_graded_run_has_totals_grades_failures_and_the_link(graded_catalog):
    path, match_id, clip = graded_catalog
    data = read_summary(path, Scope(run_id=RUN))
    markdown = summary_markdown(data, "file:///tmp/out/report.html")
    assert markdown.startswith(f"# SoccerFactory report: run {RUN}\n")
    assert "[report.html](file:///tmp/out/report.html)" in markdown
    assert f"**{clip.num_frames:,}** frames" in markdown and "**1** failures" in markdown
    assert "## Against ground truth" in markdown and f"| {match_id} | 1 | 1 |" in markdown  # recall, precision
    assert "| annotate-spatial | decoder stopped at frame 31 |" in markdown
    assert f"Valid-camera share: {match_id} 100%" in markdown
    assert data.thumbnails == ()


def test_summary_without_rows_or_link(empty_catalog):
    markdown = summary_markdown(read_summary(empty_catalog))
    assert "**0** clips" in markdown and "Full report" not in markdown
    assert "## Clips" not in markdown and "## Against ground truth" not in markdown
