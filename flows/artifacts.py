"""Prefect artifacts that show a run at a glance: the curate run's report summary, a training run's loss curve.

* :func:`publish_curate_report`: the numbers of ``soccerfactory report`` for the clips a curate
  run registered (:mod:`soccerfactory.storage.report.summary`) as a Markdown artifact, with a link
  to the HTML report when one was written.
* :func:`publish_loss_curve`: the loss per step of a training run as a Markdown artifact (the
  curve as an inline PNG, and the loss at twenty steps as a table).

An artifact is a courtesy: a catalog that cannot be read (locked, remote) costs a warning, never
the run.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any, Sequence

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

__all__ = ["publish_curate_report", "publish_loss_curve", "loss_markdown"]

_LOSS_TABLE_ROWS = 20
#: How long the curate run's artifact waits for another writer of the catalog: the run is done, and
#: a summary is not worth holding its end for the 30 s a command waits.
_CATALOG_WAIT_S = 5.0


@task(name="publish-curate-report", cache_policy=NONE)
def publish_curate_report(
    catalog: str, run_id: str, report_path: str | os.PathLike | None = None, write_page: bool = False
) -> str | None:
    """Publish the report summary of run ``run_id`` (its registered clips and failures) as the
    ``curate-report`` Markdown artifact; the Markdown, or None when the catalog could not be read.

    ``write_page``: also write the HTML page (plots, no thumbnails: decoding frames would cost
    seconds per run) to ``report_path`` first, and link it; a page that cannot be written is a
    warning, never a failed run.
    """
    import duckdb

    from soccerfactory.storage.catalog import CatalogLockedError
    from soccerfactory.storage.report.queries import Scope
    from soccerfactory.storage.report.summary import read_summary, summary_markdown

    data = None
    if write_page and report_path is not None:
        from soccerfactory.storage.report.page import write_report

        try:  # 3 s on the 2-core machine for a one-clip run; the page's data is the summary's too
            data = write_report(catalog, report_path, Scope(run_id=run_id), thumbnails=None)
        except (OSError, ValueError, CatalogLockedError, duckdb.Error) as error:
            get_run_logger().warning("no report page for run %s: %s", run_id, " ".join(str(error).split()))
            report_path = None
    elif report_path is not None and not Path(report_path).is_file():
        report_path = None  # no page written, none to link
    if data is None:
        try:
            data = read_summary(catalog, Scope(run_id=run_id), wait_s=_CATALOG_WAIT_S)
        except (OSError, ValueError, CatalogLockedError, duckdb.Error) as error:
            get_run_logger().warning("no report artifact for run %s: %s", run_id, " ".join(str(error).split()))
            return None
    link = Path(report_path).resolve().as_uri() if report_path is not None else None
    markdown = summary_markdown(data, link)
    # The page with annotated frames (decoding takes seconds) is made on demand, by this command.
    markdown += f"\nWith annotated frames: `soccerfactory report --catalog {catalog} --run {run_id} --out report.html`\n"
    create_markdown_artifact(markdown=markdown, key="curate-report", description=f"curate run {run_id}: report summary")
    return markdown


def loss_markdown(history: Sequence[dict[str, Any]], run_id: str) -> str:
    """The loss curve of ``history`` (records ``{"step", "loss", "tasks"}``) as Markdown: an inline PNG and a table."""
    from soccerfactory.storage.report.plots import loss_curve_plot

    if not history:
        return f"# Training run {run_id}\n\nNo step was trained (resumed at the last step?).\n"
    plot = loss_curve_plot(history, fmt="png")
    lines = [f"# Training run {run_id}: loss per step", ""]
    if plot is not None:
        lines += [f"![{plot.alt}](data:{plot.mime};base64,{base64.b64encode(plot.data).decode('ascii')})", ""]
    names = sorted({n for r in history for n in r.get("tasks", {})})
    every = max(1, len(history) // _LOSS_TABLE_ROWS)
    picked = list(history[::every])
    if picked[-1] is not history[-1]:
        picked.append(history[-1])
    lines += ["| step | loss | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    lines += [f"| {r['step']} | {r['loss']:.4f} | " + " | ".join(f"{r.get('tasks', {}).get(n, float('nan')):.4f}" for n in names) + " |"
              for r in picked]
    return "\n".join(lines) + "\n"


@task(name="publish-loss-curve", cache_policy=NONE)
def publish_loss_curve(history: Sequence[dict[str, Any]], run_id: str) -> str:
    """Publish the loss per step of training run ``run_id`` as the ``train-loss-curve`` Markdown artifact."""
    markdown = loss_markdown(history, run_id)
    create_markdown_artifact(markdown=markdown, key="train-loss-curve", description=f"run {run_id}: loss per step")
    return markdown
