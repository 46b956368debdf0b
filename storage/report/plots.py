"""The report's plots: matplotlib figures (Agg, imported lazily) rendered as standalone SVG documents.

Each function takes the numbers :mod:`.queries` read and returns a :class:`Plot`, or None when it
has nothing to draw (the page then says so instead of showing an empty frame). The SVG keeps its
text as text (``svg.fonttype = none``: a quarter of the bytes of glyph outlines) and names no font
file, so the page needs nothing from the network.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from soccerfactory.storage.report.queries import Histogram, Series, Table

__all__ = [
    "Plot", "label_counts_plot", "histograms_plot", "calibration_plot", "views_plot", "track_lengths_plot", "team_balance_plot",
    "jersey_plot", "truth_plot", "camera_error_plot", "loss_curve_plot", "TRUTH_SHARES",
]

#: Colours by role and by view (the preview's team colours are per clip, so they cannot be reused here).
ROLE_COLOURS = {"player": "#1f77b4", "goalkeeper": "#2ca02c", "referee": "#111111", "other": "#999999"}
VIEW_COLOURS = {"main": "#2ca02c", "zoomed": "#1f77b4", "close-up": "#ff7f0e", "other": "#9467bd", "unclassified": "#cccccc"}
TEAM_COLOURS = {"A": "#1e8ceb", "B": "#e62828", "none": "#bbbbbb"}  # as the preview draws them (draw.TEAM_COLOURS)
#: Columns of truth_quality_match that are shares in [0, 1] (higher is better), with their labels, by stage.
TRUTH_SHARES: tuple[tuple[str, str], ...] = (
    ("detection_recall", "detection recall"),
    ("detection_precision", "detection precision"),
    ("main_track_coverage", "tracking: main-track coverage"),
    ("calibrated_fraction", "calibration: frames calibrated"),
    ("role_accuracy", "role accuracy"),
    ("team_accuracy", "team accuracy"),
    ("team_accuracy_decided", "team accuracy (decided)"),
    ("jersey_precision", "jersey precision"),
    ("jersey_coverage", "jersey coverage"),
)
_CLIP_BARS = 30  # more clips than this are summed per match: bars thinner than a label are unreadable


@dataclass(frozen=True)
class Plot:
    """One rendered figure: ``id`` is its HTML id, ``alt`` the text a screen reader (and a test) reads."""

    id: str
    title: str
    alt: str
    data: bytes  # the image file
    mime: str = "image/svg+xml"


def _render(plot_id: str, title: str, alt: str, draw: Callable[[Any], None], size: tuple[float, float], fmt: str = "svg") -> Plot:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": plot_id, "font.size": 9, "axes.titlesize": 10}):
        figure = Figure(figsize=size, layout="constrained")
        draw(figure)
        buffer = io.BytesIO()
        if fmt == "svg":
            figure.savefig(buffer, format="svg", metadata={"Date": None})
        else:
            figure.savefig(buffer, format="png", dpi=100)
    return Plot(plot_id, title, alt, buffer.getvalue(), "image/svg+xml" if fmt == "svg" else "image/png")


def _width(panels: int) -> float:
    """Inches for ``panels`` side by side: 6.5 for one (the page's column), at most 11."""
    return min(11.0, 6.5 + 3.0 * (panels - 1))


def _panels(figure: Any, n: int, rows: int = 1, sharex: bool = False) -> list:
    axes = figure.subplots(rows, n, squeeze=False, sharex=sharex)
    return [[axes[r][c] for r in range(rows)] for c in range(n)]


def _plain(values: Sequence[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def label_counts_plot(series: Sequence[Series]) -> Plot | None:
    """Rows per frame per role over source time, one panel per match."""
    if not series or not any(s.t for s in series):
        return None

    def draw(figure: Any) -> None:
        for (ax,), s in zip(_panels(figure, len(series)), series):
            for role, values in s.values.items():
                # Dashed goalkeepers: one per team, their line often runs on the referee's at 1.
                ax.plot(s.t, _plain(values), label=role, color=ROLE_COLOURS.get(role), linewidth=1.2, drawstyle="steps-post",
                        linestyle="--" if role == "goalkeeper" else "-")
            ax.set(title=s.match_id, xlabel="source time (s)", ylabel="rows per frame")
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
        # One legend of every panel's roles, outside the axes: inside, it hides the line where the count peaks.
        handles = {label: handle for ax in figure.axes for handle, label in zip(*ax.get_legend_handles_labels())}
        figure.axes[-1].legend(handles.values(), handles.keys(), loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)

    alt = "athlete rows per frame by role over time: " + "; ".join(f"{s.match_id} ({len(s.t)} bins)" for s in series)
    return _render("plot-label-counts", "Labels over time", alt, draw, (_width(len(series)), 3.0))


def histograms_plot(confidence: Histogram, agreement: dict[str, Histogram]) -> Plot | None:
    """Detector confidence per row and the team / role / jersey agreement per track."""
    panels = [("detector confidence (rows)", confidence)] + [(f"{name} agreement (tracks)", h) for name, h in agreement.items()]
    panels = [(name, h) for name, h in panels if h.total]
    if not panels:
        return None

    def draw(figure: Any) -> None:
        for (ax,), (name, h) in zip(_panels(figure, len(panels)), panels):
            widths = [b - a for a, b in zip(h.edges, h.edges[1:])]
            ax.bar(h.edges[:-1], h.counts, width=widths, align="edge", color="#4c72b0", edgecolor="white", linewidth=0.5)
            ax.set(title=name, xlim=(0, 1), xlabel="score")
            ax.grid(alpha=0.3, axis="y")
        figure.axes[0].set_ylabel("count")

    alt = "histograms: " + ", ".join(f"{name} (n={h.total})" for name, h in panels)
    return _render("plot-histograms", "Confidence and agreement", alt, draw, (2.6 * len(panels) + 0.6, 2.6))


def calibration_plot(series: Sequence[Series]) -> Plot | None:
    """Share of frames with a valid camera (top) and the mean reprojection error of those (bottom)."""
    if not series or not any(s.t for s in series):
        return None

    def draw(figure: Any) -> None:
        for (top, bottom), s in zip(_panels(figure, len(series), rows=2, sharex=True), series):
            top.fill_between(s.t, _plain(s.values["valid_share"]), step="post", color="#2ca02c", alpha=0.5, linewidth=0)
            top.set(title=s.match_id, ylim=(0, 1.05), ylabel="valid-camera share")
            errors = _plain(s.values["reprojection_error_px"])
            bottom.plot(s.t, errors, color="#d62728", marker=".", markersize=3, linewidth=1)
            bottom.set(xlabel="source time (s)", ylabel="reprojection error (px)")
            bottom.set_ylim(bottom=0)
            if all(e != e for e in errors):  # all NaN: no valid camera anywhere
                bottom.text(0.5, 0.5, "no valid camera", transform=bottom.transAxes, ha="center", va="center", color="#666666")
            for ax in (top, bottom):
                ax.grid(alpha=0.3)

    alt = "calibration over time: valid-camera share and reprojection error in pixels, " + ", ".join(s.match_id for s in series)
    return _render("plot-calibration", "Calibration over time", alt, draw, (_width(len(series)), 4.2))


def views_plot(series: Sequence[Series]) -> Plot | None:
    """Share of frames per view class (main / zoomed / close-up / other) over time, stacked."""
    if not series or not any(s.t for s in series):
        return None

    def draw(figure: Any) -> None:
        for (ax,), s in zip(_panels(figure, len(series)), series):
            names = list(s.values)
            ax.stackplot(s.t, *[[v or 0.0 for v in s.values[n]] for n in names], labels=names,
                         colors=[VIEW_COLOURS.get(n, "#888888") for n in names], step="post")
            ax.set(title=s.match_id, ylim=(0, 1), xlabel="source time (s)", ylabel="share of frames")
            ax.set_xlim(s.t[0], s.t[-1] if len(s.t) > 1 else s.t[0] + 1)
        figure.axes[0].legend(loc="lower left", fontsize=8, ncols=len(series[0].values), framealpha=0.8)

    alt = "view class share over time (" + ", ".join(sorted({n for s in series for n in s.values})) + ")"
    return _render("plot-views", "View classes over time", alt, draw, (_width(len(series)), 2.8))


def track_lengths_plot(seconds: Sequence[float]) -> Plot | None:
    """Histogram of track durations (seconds)."""
    if not seconds:
        return None

    def draw(figure: Any) -> None:
        ax = figure.subplots()
        ax.hist(seconds, bins=min(40, max(5, len(seconds) // 3)), color="#4c72b0", edgecolor="white", linewidth=0.5)
        ax.set(xlabel="track duration (s)", ylabel="tracks", title=f"{len(seconds)} tracks")
        ax.grid(alpha=0.3, axis="y")

    median = sorted(seconds)[len(seconds) // 2]
    return _render("plot-track-lengths", "Track lengths", f"histogram of {len(seconds)} track durations, median {median:.1f} s", draw, (5.0, 2.8))


def _per_match_if_many(table: Table, sums: Sequence[str]) -> tuple[list[str], dict[str, list[float]]]:
    index = {c: i for i, c in enumerate(table.columns)}
    if len(table.rows) <= _CLIP_BARS:
        names = [f"{r[index['match_id']]}/{r[index['clip_id']]}" if len({x[0] for x in table.rows}) > 1 else str(r[index["clip_id"]])
                 for r in table.rows]
        return names, {c: [float(r[index[c]] or 0) for r in table.rows] for c in sums}
    matches: dict[str, dict[str, float]] = {}
    for r in table.rows:
        for c in sums:
            matches.setdefault(r[index["match_id"]], {}).setdefault(c, 0.0)
            matches[r[index["match_id"]]][c] += float(r[index[c]] or 0)
    return list(matches), {c: [matches[m][c] for m in matches] for c in sums}


def _bar_size(n: int) -> tuple[float, float]:
    return (7.0, 1.0 + 0.3 * max(n, 2))


def _stacked_bars(figure: Any, names: Sequence[str], stacks: Sequence[tuple[str, Sequence[float], str]], xlabel: str) -> None:
    """Horizontal stacked bars, one per name (clip ids are long: they read along a row, not under a column)."""
    ax = figure.subplots()
    y = list(range(len(names)))
    left = [0.0] * len(names)
    for label, values, colour in stacks:
        ax.barh(y, values, left=left, label=label, color=colour, height=0.7)
        left = [a + b for a, b in zip(left, values)]
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel=xlabel)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3, axis="x")


def team_balance_plot(table: Table) -> Plot | None:
    """Tracks per team (A, B, player/goalkeeper without a team) per clip (per match when there are many clips)."""
    if not table.rows:
        return None
    names, values = _per_match_if_many(table, ("tracks_a", "tracks_b", "tracks_no_team"))
    stacks = [(f"team {label}", values[column], TEAM_COLOURS[label])
              for column, label in (("tracks_a", "A"), ("tracks_b", "B"), ("tracks_no_team", "none"))]
    alt = "tracks per team: " + "; ".join(f"{n}: A {a:.0f}, B {b:.0f}, none {z:.0f}" for n, a, b, z in
                                          zip(names, values["tracks_a"], values["tracks_b"], values["tracks_no_team"]))[:400]
    return _render("plot-team-balance", "Team balance", alt, lambda f: _stacked_bars(f, names, stacks, "tracks"), _bar_size(len(names)))


def jersey_plot(table: Table) -> Plot | None:
    """Player/goalkeeper tracks with and without a jersey number, per clip."""
    if not table.rows:
        return None
    names, values = _per_match_if_many(table, ("player_tracks", "with_jersey"))
    without = [t - w for t, w in zip(values["player_tracks"], values["with_jersey"])]
    stacks = [("with jersey", values["with_jersey"], "#2ca02c"), ("without", without, "#cccccc")]
    total, covered = sum(values["player_tracks"]), sum(values["with_jersey"])
    alt = f"jersey coverage: {covered:.0f} of {total:.0f} player and goalkeeper tracks carry a number"
    return _render("plot-jersey", "Jersey coverage", alt,
                   lambda f: _stacked_bars(f, names, stacks, "player and goalkeeper tracks"), _bar_size(len(names)))


def truth_plot(per_match: Table) -> Plot | None:
    """Each stage's share metrics against ground truth, one bar per match (horizontal, 0..1)."""
    index = {c: i for i, c in enumerate(per_match.columns)}
    metrics = [(c, label) for c, label in TRUTH_SHARES if c in index and any(r[index[c]] is not None for r in per_match.rows)]
    if not per_match.rows or not metrics:
        return None
    rows = per_match.rows[:6]

    def draw(figure: Any) -> None:
        ax = figure.subplots()
        height = 0.8 / len(rows)
        for k, row in enumerate(rows):
            y = [m + k * height for m in range(len(metrics))]
            values = [row[index[c]] for c, _ in metrics]
            bars = ax.barh(y, [v if v is not None else 0 for v in values], height=height, label=row[index["match_id"]])
            for bar, value in zip(bars, values):
                text = "n/a" if value is None else f"{value:.2f}"
                ax.text(min(bar.get_width(), 1.0) + 0.01, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=7)
        ax.set_yticks([m + 0.4 - height / 2 for m in range(len(metrics))], [label for _, label in metrics])
        ax.invert_yaxis()
        ax.set(xlim=(0, 1.12), xlabel="share (1 = perfect)")
        ax.grid(alpha=0.3, axis="x")
        if len(rows) > 1:
            ax.legend(fontsize=8, loc="lower right")

    first = rows[0]
    alt = "accuracy against ground truth: " + ", ".join(
        f"{label} {first[index[c]]:.2f}" for c, label in metrics if first[index[c]] is not None
    )
    return _render("plot-truth", "Accuracy against ground truth", alt, draw, (7.0, 0.35 * len(metrics) * max(1, len(rows) ** 0.5) + 1.0))


def camera_error_plot(series: Sequence[Series]) -> Plot | None:
    """Mean error of the fitted camera against the true one (px, over a pitch grid) over time."""
    if not series or not any(v is not None for s in series for v in s.values["camera_error_px"]):
        return None

    def draw(figure: Any) -> None:
        for (ax,), s in zip(_panels(figure, len(series)), series):
            ax.plot(s.t, _plain(s.values["camera_error_px"]), color="#d62728", marker=".", markersize=3, linewidth=1)
            ax.set(title=s.match_id, xlabel="source time (s)", ylabel="camera error vs truth (px)")
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)

    alt = "camera error against ground truth over time, " + ", ".join(s.match_id for s in series)
    return _render("plot-camera-error", "Camera error against truth", alt, draw, (_width(len(series)), 2.8))


def loss_curve_plot(history: Sequence[dict[str, Any]], fmt: str = "png") -> Plot | None:
    """Training loss per step (total and per task, log scale) from the ``history`` of a training run.

    Args:
        history: One record per step: ``{"step": int, "loss": float, "tasks": {name: float}}``.
        fmt: ``"png"`` (for a Prefect artifact) or ``"svg"``.
    """
    records = [r for r in history if isinstance(r.get("loss"), (int, float)) and math.isfinite(r["loss"])]
    if not records:
        return None
    steps = [r["step"] for r in records]

    def draw(figure: Any) -> None:
        ax = figure.subplots()
        ax.plot(steps, [r["loss"] for r in records], color="#111111", linewidth=1.4, label="total")
        for name in sorted({n for r in records for n in r.get("tasks", {})}):
            ax.plot(steps, [r.get("tasks", {}).get(name, float("nan")) for r in records], linewidth=1, label=name, alpha=0.85)
        if all(r["loss"] > 0 for r in records):
            ax.set_yscale("log")
        ax.set(xlabel="step", ylabel="loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    alt = f"training loss per step, {len(steps)} steps: {records[0]['loss']:.3f} at step {steps[0]}, {records[-1]['loss']:.3f} at step {steps[-1]}"
    return _render("plot-loss", "Training loss", alt, draw, (7.5, 3.2), fmt)
