"""The report page: one self-contained HTML file, read from the catalog and written atomically.

Everything is inline: the style sheet, the plots (SVG documents as ``data:`` images, so their
internal ids cannot clash), the thumbnails (JPEG ``data:`` images). No script, font or URL outside
the file: the users are air-gapped. A section without data says so in one line.

Decoding frames for the thumbnails is curation's (``storage`` knows no video): the caller passes
a :data:`ThumbnailFn`; without one the section says how to get them.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterable

from soccerfactory.storage.report import plots
from soccerfactory.storage.report.queries import ReportData, Scope, Table, ThumbnailRequest, read_report_data

__all__ = ["ThumbnailFn", "ProgressFn", "build_report", "render_page", "write_report", "SECTIONS"]

#: ``thumbnails(request)`` -> ``(frame_index, JPEG bytes)`` of each requested frame, labels drawn.
ThumbnailFn = Callable[[ThumbnailRequest], Iterable[tuple[int, bytes]]]
ProgressFn = Callable[[str], None]

#: (id, heading) of the page's sections, in order (the navigation bar uses ``NAV_LABELS``).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("overview", "Overview"), ("labels", "Labels over time"), ("scores", "Confidence and agreement"),
    ("calibration", "Calibration"), ("views", "View classes"), ("tracks", "Track lengths"), ("teams", "Team balance"),
    ("jerseys", "Jersey coverage"), ("thumbnails", "Annotated frames"), ("truth", "Accuracy against ground truth"),
    ("failures", "Runs, failures and skipped inputs"),
)
NAV_LABELS = {"scores": "Scores", "thumbnails": "Frames", "truth": "Truth", "failures": "Failures", "labels": "Labels",
              "views": "Views", "tracks": "Tracks", "teams": "Teams", "jerseys": "Jerseys"}
_MAX_ROWS = 200  # of a table on the page; the rest is a query away
#: (stage, truth_quality_match column, what it means) of the accuracy table, pipeline order.
STAGE_METRICS: tuple[tuple[str, str, str], ...] = (
    ("detection", "detection_recall", "true boxes found (IoU >= 0.5)"),
    ("detection", "detection_precision", "curated boxes that are true"),
    ("tracking", "ids_per_athlete", "track ids per true athlete (1 is ideal)"),
    ("tracking", "main_track_coverage", "true rows on each athlete's main track"),
    ("calibration", "calibrated_fraction", "frames with a valid camera"),
    ("calibration", "camera_error_median_px", "median camera error vs truth (px)"),
    ("position", "position_error_median_m", "median pitch position error (m)"),
    ("position", "position_error_p90_m", "90th percentile position error (m)"),
    ("role", "role_accuracy", "matched tracks with the true role"),
    ("team", "team_accuracy", "matched tracks with the true team (refusals wrong)"),
    ("team", "team_accuracy_decided", "tracks with a team that have the true one"),
    ("team", "team_refused_share", "tracks of team athletes left without a team"),
    ("jersey", "jersey_precision", "jersey numbers given that are right"),
    ("jersey", "jersey_coverage", "legible true numbers that were read"),
)

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d1d1f;background:#f6f7f9}
header{background:#17324d;color:#fff;padding:14px 24px}header h1{margin:0 0 4px;font-size:22px}header p{margin:2px 0;font-size:13px;opacity:.9}
nav{padding:6px 24px;background:#e4e9ef;font-size:13px;position:sticky;top:0;z-index:2}nav a{margin-right:12px;color:#17324d;text-decoration:none}
main{padding:8px 24px 40px;max-width:1200px}section{background:#fff;border-radius:6px;padding:10px 16px 14px;margin:14px 0;box-shadow:0 1px 2px #0002}
h2{font-size:18px;margin:6px 0 8px}section{scroll-margin-top:44px}h3{font-size:14px;margin:12px 0 6px}p.note{font-size:13px;color:#555;margin:4px 0}p.empty{color:#8a5a00;font-style:italic}
figure.plot{margin:6px 0}figure.plot img{max-width:100%;height:auto;display:block}figcaption{font-size:12px;color:#555}
table{border-collapse:collapse;font-size:12px;margin:6px 0}th,td{border:1px solid #d5dbe1;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#eef2f6;text-align:left}td.text{text-align:left}td.long{text-align:left;white-space:normal;min-width:240px;max-width:520px;overflow-wrap:anywhere}
.scroll{overflow-x:auto}dl.stats{display:flex;flex-wrap:wrap;gap:8px 28px;margin:4px 0}dl.stats div{min-width:110px}
dl.stats dt{font-size:12px;color:#555}dl.stats dd{margin:0;font-size:20px;font-weight:600}
.thumbs{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:10px}.thumbs figure{margin:0}.thumbs img{width:100%;border-radius:4px}
"""


def _cell(value: Any) -> tuple[str, bool]:
    """(text, is_text) of a table value: floats to 3 significant digits, None as blank."""
    if value is None:
        return "", False
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, float):
        if math.isnan(value):
            return "", False
        return (f"{value:.3g}" if abs(value) < 1e4 else f"{value:,.0f}"), False
    if isinstance(value, int):
        return f"{value:,}", False
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S"), False
    if isinstance(value, dict):
        value = ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value), True


def _table_html(table: Table, empty: str, table_id: str = "") -> str:
    if not table.rows:
        return f'<p class="empty">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = []
    for row in table.rows[:_MAX_ROWS]:
        cells = []
        for value in row:
            text, is_text = _cell(value)
            # Ids stay on one line; only long text (paths, reasons) wraps.
            kind = ' class="long"' if is_text and len(text) > 40 else ' class="text"' if is_text else ""
            cells.append(f"<td{kind}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f'<p class="note">{len(table.rows) - _MAX_ROWS} more rows not shown.</p>' if len(table.rows) > _MAX_ROWS else ""
    attr = f' id="{table_id}"' if table_id else ""
    return f'<div class="scroll"><table{attr}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>{more}'


def _transposed(table: Table, key: str) -> Table:
    """One row per column of ``table`` and one column per row (named by ``key``): wide per-match grades read down."""
    index = table.columns.index(key)
    columns = ("metric", *[str(r[index]) for r in table.rows])
    return Table(columns, tuple((c, *[r[i] for r in table.rows]) for i, c in enumerate(table.columns) if i != index))


def _plot_html(plot: plots.Plot | None, empty: str) -> str:
    if plot is None:
        return f'<p class="empty">{html.escape(empty)}</p>'
    data = base64.b64encode(plot.data).decode("ascii")
    # The alt text says the plot's counts in words; shown as the caption when it is short enough to read.
    caption = f"<figcaption>{html.escape(plot.alt)}</figcaption>" if len(plot.alt) <= 160 else ""
    return f'<figure class="plot" id="{plot.id}"><img src="data:{plot.mime};base64,{data}" alt="{html.escape(plot.alt)}">{caption}</figure>'


def _section(section_id: str, body: str) -> str:
    heading = dict(SECTIONS)[section_id]
    return f'<section id="{section_id}"><h2>{html.escape(heading)}</h2>{body}</section>'


def _overview(data: ReportData) -> str:
    o = data.overview
    stats = [("matches", f"{o['matches']:,}"), ("clips", f"{o['clips']:,}"), ("footage", f"{o['footage_s']:.1f} s"),
             ("frames", f"{o['frames']:,}"), ("athlete rows", f"{o['athlete_rows']:,}"), ("tracks", f"{o['tracks']:,}"),
             ("failures", f"{len(data.failures.rows):,}"), ("quarantined", f"{len(data.quarantine.rows):,}")]
    dl = "".join(f"<div><dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd></div>" for k, v in stats)
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in data.notes)
    clips = _table_html(data.clips, "No curated clips in this scope.", "clips-table")
    return f'<dl class="stats">{dl}</dl>{notes}<h3>Clips</h3>{clips}'


def _thumbnails_html(data: ReportData, thumbnails: ThumbnailFn | None, progress: ProgressFn) -> str:
    if not data.thumbnails:
        return '<p class="empty">No curated frames in this scope to draw.</p>'
    if thumbnails is None:
        return '<p class="empty">Thumbnails were not drawn (no frame decoder given); `soccerfactory report` draws them.</p>'
    from soccerfactory.storage.shards import CorruptShardError

    figures, problems = [], []
    for k, request in enumerate(data.thumbnails, start=1):
        progress(f"report: drawing {len(request.frame_indices)} frame(s) of {request.match_id}/{request.clip_id} ({k}/{len(data.thumbnails)})")
        try:
            for frame, jpeg in thumbnails(request):
                text = f"{request.match_id}/{request.clip_id} frame {frame}"
                encoded = base64.b64encode(jpeg).decode("ascii")
                figures.append(f'<figure class="thumb" id="thumb-{len(figures) + 1}"><img src="data:image/jpeg;base64,{encoded}" '
                               f'alt="annotated frame: {html.escape(text)}"><figcaption>{html.escape(text)}</figcaption></figure>')
        except (OSError, ValueError, CorruptShardError) as error:  # footage moved or damaged: the report still stands
            problems.append(f"{request.match_id}/{request.clip_id}: {' '.join(str(error).split())}")
    parts = ['<p class="note">Boxes coloured by team with "track role #jersey" labels, mask outlines, the ball, '
             "the calibrated pitch lines (magenta) and a top-down minimap, as <code>soccerfactory preview</code> draws them.</p>"]
    if figures:
        parts.append(f'<div class="thumbs">{"".join(figures)}</div>')
    parts += [f'<p class="empty">Could not draw {html.escape(p)}</p>' for p in problems]
    return "".join(parts)


def _stage_table(per_match: Table) -> Table:
    """The accuracy of each stage: one row per (stage, metric), one column per match."""
    index = {c: i for i, c in enumerate(per_match.columns)}
    matches = [str(r[index["match_id"]]) for r in per_match.rows]
    rows = tuple((stage, f"{column}: {meaning}", *[r[index[column]] for r in per_match.rows])
                 for stage, column, meaning in STAGE_METRICS if column in index)
    return Table(("stage", "metric", *matches), rows)


def _truth_html(data: ReportData) -> str:
    if data.truth is None:
        return ('<p class="empty">No ground truth is registered for these clips (the <code>truth_*</code> views need '
                "<code>gt_*</code> views: <code>soccerfactory demo</code> and <code>soccerfactory synth</code> register them).</p>")
    per_match = data.truth.per_match
    body = [_plot_html(plots.truth_plot(per_match), "No share metric could be graded."),
            _table_html(_stage_table(per_match), "No graded match.", "truth-table"),
            '<p class="note">From the <code>truth_quality_match</code> view; curated and true boxes are matched one to one at '
            "IoU &ge; 0.5, camera error is measured in pixels over a pitch grid.</p>",
            _plot_html(plots.camera_error_plot(data.truth.camera_error), "No valid camera was graded against a true one."),
            f"<details><summary>Every column of <code>truth_quality_match</code></summary>"
            f"{_table_html(_transposed(per_match, 'match_id'), '')}</details>"]
    if len(data.truth.per_clip.rows) > 1:
        body.append(f"<details><summary>Per clip (<code>truth_quality</code>)</summary>{_table_html(data.truth.per_clip, '')}</details>")
    return "".join(body)


def _failures_html(data: ReportData) -> str:
    return (
        "<h3>Runs</h3>"
        '<p class="note">n_skipped: clips already curated with the same config (kept, not redone).</p>'
        + _table_html(data.runs, "No curation run recorded in this scope.", "runs-table")
        + "<h3>Failures</h3>" + _table_html(data.failures, "No failure recorded in this scope.", "failures-table")
        + "<h3>Quarantined shards</h3>" + _table_html(data.quarantine, "No shard quarantined in this scope.", "quarantine-table")
    )


def render_page(data: ReportData, thumbnails: ThumbnailFn | None = None, progress: ProgressFn | None = None) -> str:
    """The HTML of the report for ``data`` (drawing its plots, and its thumbnails through ``thumbnails``)."""
    say = progress or (lambda line: None)
    say("report: drawing the plots")
    per_bin = f"bins of {data.bin_s:.2f} s of source time"
    sections = {
        "overview": _overview(data),
        "labels": _plot_html(plots.label_counts_plot(data.label_counts), "No curated frames in this scope.")
        + f'<p class="note">Athlete rows per curated frame by role, {per_bin}.</p>',
        "scores": _plot_html(plots.histograms_plot(data.confidence, data.agreement), "No athlete rows or tracks in this scope.")
        + '<p class="note">Agreement: share of a tracklet\'s votes that agree with its consensus label.</p>',
        "calibration": _plot_html(plots.calibration_plot(data.calibration), "No camera rows in this scope.")
        + f'<p class="note">Reprojection error: mean over the frames with a valid camera, {per_bin}.</p>',
        "views": _plot_html(plots.views_plot(data.views), "No curated frames in this scope."),
        "tracks": _plot_html(plots.track_lengths_plot(data.track_seconds), "No tracks in this scope."),
        "teams": _plot_html(plots.team_balance_plot(data.team_balance), "No tracks in this scope.")
        + _table_html(data.team_balance, "", "teams-table"),
        "jerseys": _plot_html(plots.jersey_plot(data.jersey), "No player or goalkeeper tracks in this scope.")
        + _table_html(data.jersey, "", "jerseys-table"),
        "thumbnails": _thumbnails_html(data, thumbnails, say),
        "truth": _truth_html(data),
        "failures": _failures_html(data),
    }
    nav = "".join(f'<a href="#{sid}">{html.escape(NAV_LABELS.get(sid, title))}</a>' for sid, title in SECTIONS)
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = f"SoccerFactory report: {data.scope.title()}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html.escape(title)}</title><link rel="icon" href="data:,"><style>{_STYLE}</style></head><body>'
        f"<header><h1>{html.escape(title)}</h1><p>catalog {html.escape(data.catalog)}</p><p>generated {generated}</p></header>"
        f"<nav>{nav}</nav><main>{''.join(_section(sid, sections[sid]) for sid, _ in SECTIONS)}</main></body></html>\n"
    )


def build_report(
    catalog: str | os.PathLike, scope: Scope | None = None, thumbnails: ThumbnailFn | None = None,
    progress: ProgressFn | None = None, n_thumbnails: int = 4,
) -> tuple[str, ReportData]:
    """Read the catalog read-only and render the page; (HTML, the data it shows).

    Raises:
        FileNotFoundError: no catalog at ``catalog``.
        ValueError: the scope names a match or run the catalog does not know.
        CatalogLockedError: a writer held the catalog for the whole wait.
    """
    from soccerfactory.storage.readonly import open_read_only

    say = progress or (lambda line: None)
    scope = scope or Scope()
    say(f"report: reading {os.fspath(catalog)} ({scope.title()})")
    connection, _ = open_read_only(catalog)
    try:
        data = read_report_data(connection, catalog, scope, thumbnails=n_thumbnails)
    finally:
        connection.close()
    return render_page(data, thumbnails, say), data


def write_report(
    catalog: str | os.PathLike, out: str | os.PathLike, scope: Scope | None = None, thumbnails: ThumbnailFn | None = None,
    progress: ProgressFn | None = None, n_thumbnails: int = 4,
) -> ReportData:
    """Write the report of ``scope`` to the HTML file ``out`` (under a temporary name, then moved into place).

    Raises:
        as :func:`build_report`; OSError when ``out`` cannot be written.
    """
    page, data = build_report(catalog, scope, thumbnails, progress, n_thumbnails)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, path)
    return data

