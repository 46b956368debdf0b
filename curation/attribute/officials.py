"""Who beside the lines is an assistant referee and who is staff, told apart relationally.

A person in neither team's kit standing just outside a touchline is an assistant referee or
someone of the benches (a coach, a substitute in a bib, a steward, a ball kid). Their distance
from the line barely separates them: the off-pitch margin has to let an assistant (on the line to
1.5 m out) and a player taking a throw-in through, and staff stand from 2 m out (the renderer's
``synth/staff.py``; the technical area ends 1 m from the line), so with a position's one-sigma
radius added, staff 2-2.9 m out fell inside the margin and were called referees (synthetic dev
seed 401: a steward 2.5 m beyond the far touchline). Two facts of the game say more, and hold on
any broadcast, whatever the colours:

* **The officials wear one kit.** Referee and assistants dress alike (black, yellow, pink: all
  three the same). A touchline person whose kit differs from the centre referee's by more than
  twice ``kit_outlier`` spreads is not an official. The kit is seen through its distances to the
  two team kits (``(d_A, d_B)``, in spreads): two colours whose distances to one kit differ by
  more than that are at least that far apart (triangle inequality), so the rule only fires where
  the colours surely differ; alike distances say nothing and decide nothing. Twice, because each
  tracklet's median may lie up to ``kit_outlier`` from the kit both wear: on dev seed 402 an
  assistant seen on two crops differed from the referee by 4.1 spreads, the stewards beside it by
  9.5 and 13.7 (seed 401: 16.0).
* **One assistant per touchline.** Each assistant runs one touchline; of several people in neither
  kit outside one touchline at the same time, only the one nearest the line can be its assistant.
* **No official works behind a goal.** The assistants keep to the touchlines (at a corner, to the
  flag); a "referee" standing beyond a goal line by more than the off-pitch margin (median) is
  staff: on dev seed 402 a ball kid 2.6 m behind the left goal line, voted goalkeeper by the
  detector, lost the goal to its goalkeeper and came out a referee.

Pitch coordinates are metres in the SoccerNet frame (origin at the centre mark, ``x`` towards the
right goal, ``y`` towards the near touchline).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from soccerfactory.curation.pitch import PitchModel

__all__ = ["OfficialCandidate", "line_outside", "staff_beside_the_lines"]

#: Names of the lines a person can stand outside, by (axis, sign).
_LINES = {(1, 1): "near touchline", (1, -1): "far touchline", (0, -1): "left goal line", (0, 1): "right goal line"}


def line_outside(pitch_xy: np.ndarray, pitch: PitchModel) -> str | None:
    """The line most of the positions outside the pitch stand beyond (see ``_LINES``), None when
    none is outside.

    Args:
        pitch_xy: ``(N, 2)`` metres, NaN rows unknown.
        pitch: The pitch whose lines count.
    """
    xy = np.asarray(pitch_xy, dtype=np.float64).reshape(-1, 2)
    xy = xy[np.isfinite(xy).all(axis=1)]
    over_x, over_y = np.abs(xy[:, 0]) - pitch.half_length, np.abs(xy[:, 1]) - pitch.half_width
    outside = (over_x > 0) | (over_y > 0)
    if not outside.any():
        return None
    axis = np.where(over_y >= over_x, 1, 0)[outside]
    sign = np.where(axis == 1, np.sign(xy[outside, 1]), np.sign(xy[outside, 0])).astype(int)
    names = [_LINES[(int(a), int(s) or 1)] for a, s in zip(axis, sign)]
    return max(set(names), key=lambda n: (names.count(n), n))


@dataclasses.dataclass(frozen=True)
class OfficialCandidate:
    """A tracklet decided ``referee``, with positions.

    Attributes:
        track_id: The tracklet.
        kit: ``(2,)`` median distance of its shirt to kit A and kit B, in spreads, when it wears
            neither team's kit; None otherwise (unknown, or decided without the kit).
        inside_share: Share of its positioned rows on or inside the lines (NaN: no position).
        outside_median_m: Median metres outside the lines over its positioned rows (0 inside).
        line: The line it stands beyond on most of its rows outside (``line_outside``), or None.
        frames: ``int64`` frames of its positioned rows.
    """

    track_id: int
    kit: np.ndarray | None
    inside_share: float
    outside_median_m: float
    line: str | None
    frames: np.ndarray


def _kit_clause(kit: np.ndarray | None) -> str:
    return "unknown" if kit is None else f"{kit[0]:.1f}/{kit[1]:.1f}"


def staff_beside_the_lines(
    candidates: Sequence[OfficialCandidate], kit_outlier: float, inside_share: float, goal_line_margin_m: float
) -> dict[int, str]:
    """The candidates outside the lines that cannot be assistant referees, with why.

    Args:
        candidates: The clip's tracklets decided ``referee``; the kit rule uses those with a kit
            (in neither team's kit), the touchline and goal-line rules every one.
        kit_outlier: A tracklet's median kit lies up to this (spreads) from the kit it wears.
        inside_share: A candidate on or inside the lines on at least this share of its positioned
            rows is the centre referee (the officials' kit); one on less stands beside the lines.
        goal_line_margin_m: A candidate whose median position is further than this beyond a goal
            line is staff.

    Returns:
        ``{tracklet id: clause}`` of the candidates that are staff (role ``other``); the clause
        names the evidence.
    """
    referees = [c for c in candidates if math.isfinite(c.inside_share) and c.inside_share >= inside_share and c.kit is not None]
    beside = [c for c in candidates if math.isfinite(c.inside_share) and c.inside_share < inside_share and c.line is not None]
    staff: dict[int, str] = {}
    for c in beside:
        if "goal line" in c.line and c.outside_median_m > goal_line_margin_m:
            staff[c.track_id] = f"{c.outside_median_m:.1f} m beyond the {c.line} (median), over {goal_line_margin_m:g} m: no official works behind a goal"
    for c in beside:
        if c.kit is None or c.track_id in staff:
            continue
        # Not in the officials' kit: every referee's kit differs from it by more than 2 kit_outlier.
        apart = [r for r in referees if float(np.abs(np.asarray(c.kit) - np.asarray(r.kit)).max()) > 2 * kit_outlier]
        if referees and len(apart) == len(referees):
            r = referees[0]
            staff[c.track_id] = (
                f"{c.outside_median_m:.1f} m beyond the {c.line} (median), its kit d={_kit_clause(c.kit)} differs by more than "
                f"{2 * kit_outlier:g} spreads from the referee's (track {r.track_id}, d={_kit_clause(r.kit)}): not an official"
            )
    for c in beside:
        if c.track_id in staff:
            continue
        # One assistant per touchline: a nearer candidate outside the same line at the same time is it.
        nearer = [
            o for o in beside
            if o.track_id != c.track_id and o.track_id not in staff and o.line == c.line and "touchline" in c.line
            and (o.outside_median_m, o.track_id) < (c.outside_median_m, c.track_id) and np.intersect1d(o.frames, c.frames).size
        ]
        if nearer:
            o = min(nearer, key=lambda k: k.outside_median_m)
            staff[c.track_id] = (
                f"{c.outside_median_m:.1f} m beyond the {c.line} (median), while track {o.track_id} stands "
                f"{o.outside_median_m:.1f} m beyond it at the same time: one assistant per touchline"
            )
    return staff
