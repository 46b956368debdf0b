"""Pitch-space geometry of :mod:`.shot_links`: track ends, a cut's common shift, assignment.

Split from :mod:`.shot_links` (which keeps the data types, the label links and the linking
itself) so each stays under 600 lines. Pure functions over numpy arrays and the linker's frozen
dataclasses, typed ``Any`` here: ``config`` is a :class:`~.shot_links.LinkConfig`, ``track`` a
:class:`~.shot_links.ShotTrack`, links :class:`~.shot_links.TrackLink` (not imported, even for
typing: the architecture test counts that as an import cycle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from soccerfactory.curation.arrays import components

TrackKey = tuple[str, int]
_UNLINKED = 0.5  # cost of leaving one side of a pair without a partner, in gate units


@dataclass(frozen=True)
class _End:
    """A track end fitted by a line: where and when it was, and how fast it moved."""

    frame: int  # the positioned row at the end (last for an ending track, first for a starting one)
    xy: np.ndarray  # (2,) metres at that frame
    velocity: np.ndarray  # (2,) m/s


def _fit_end(track: Any, fps: float, config: Any, last: bool) -> _End | None:
    """The positions of the first or last ``window_s`` of a track fitted by a line; None when the
    track has no positioned row."""
    placed = np.flatnonzero(np.isfinite(track.pitch_xy).all(axis=1))
    if placed.size == 0:
        return None
    edge = int(track.frames[placed[-1] if last else placed[0]])
    reach = config.window_s * fps
    near = placed[np.abs(track.frames[placed] - edge) <= reach]
    t = (track.frames[near] - edge) / fps
    xy = track.pitch_xy[near]
    if near.size >= 3 and np.ptp(t) > 0:
        # least-squares line per axis; the intercept is the position at the edge frame
        design = np.column_stack([np.ones_like(t), t])
        coefficients, *_ = np.linalg.lstsq(design, xy, rcond=None)
        position, velocity = coefficients[0], coefficients[1]
        speed = float(np.linalg.norm(velocity))
        if speed > config.max_speed_mps:
            velocity = velocity * (config.max_speed_mps / speed)
    else:
        position, velocity = xy.mean(axis=0), np.zeros(2)
    return _End(edge, np.asarray(position, np.float64), np.asarray(velocity, np.float64))


@dataclass(frozen=True)
class _Shift:
    """What the athletes of a cut share: their displacement and their velocities at both ends."""

    offset: np.ndarray  # (2,) metres
    end_velocity: np.ndarray  # (2,) m/s, median over the supporting pairs' ending tracks
    start_velocity: np.ndarray  # (2,) m/s, same for the starting tracks
    reason: str


def _pair_cost(a: _End, b: _End, fps: float, config: Any, shift: _Shift | None) -> tuple[float, float, float, float]:
    """``(d / gate, d, gate, gap_s)`` of an ending and a starting track end. With the cut's common
    ``shift``, ``d`` is what remains of the displacement after it, each end extrapolated by its
    velocity *relative to the others'* (an athlete running against the play), under a tighter gate."""
    gap = (b.frame - a.frame) / fps
    half = config.extrapolate * gap / 2
    if shift is not None:
        meet_a = a.xy + (a.velocity - shift.end_velocity) * half
        meet_b = b.xy - (b.velocity - shift.start_velocity) * half
        distance = float(np.linalg.norm(meet_b - meet_a - shift.offset))
        gate = config.shift_base_m + config.shift_speed_mps * gap
        return distance / gate, distance, gate, gap
    meet_a = a.xy + a.velocity * half
    meet_b = b.xy - b.velocity * half
    distance = float(np.linalg.norm(meet_a - meet_b))
    gate = config.base_m + config.speed_mps * gap
    return distance / gate, distance, gate, gap


def _common_shift(pairs: Sequence[tuple[TrackKey, TrackKey, _End, _End]], config: Any) -> tuple[_Shift | None, str]:
    """The displacement most athletes share across one cut, or None, and why.

    Across a cut the players of a shot move together (play moves them, and the two shots'
    cameras disagree by a common offset): on dev seed 400 the true pairs of a cut were displaced
    by about (+10.5, -0.4) m after 2.4 s, (+3, +4) m and (+7, -0.5) m with spreads of about a
    metre, while athletes' own 2.4 s runs reach 10 m. Each candidate displacement is a hypothesis;
    its support is the number of distinct ending *and* starting tracks (the smaller) among the
    candidates within ``shift_radius_m`` of it. The best one, refined to its supporters'
    median, is used when at least ``shift_min_support`` athletes support it and no hypothesis
    more than two radii away, among pairs of other tracks, has more than ``1 / shift_peak_ratio``
    of its support.

    Args:
        pairs: ``(ending track, starting track, its end, its start)`` of the cut's candidates
            (physically possible and allowed by the labels).
        config: ``shift_radius_m``, ``shift_min_support``, ``shift_peak_ratio``.
    """
    if len(pairs) < config.shift_min_support:
        return None, f"{len(pairs)} candidate pairs"
    vectors = np.array([b.xy - a.xy for _, _, a, b in pairs], np.float64)
    near = np.linalg.norm(vectors[:, None, :] - vectors[None, :, :], axis=2) <= config.shift_radius_m

    def support(mask: np.ndarray) -> int:
        chosen = [pairs[k] for k in np.flatnonzero(mask)]
        return min(len({a for a, *_ in chosen}), len({b for _, b, *_ in chosen}))

    scores = np.array([support(near[k]) for k in range(len(pairs))])
    best = int(np.argmax(scores))
    shift = np.median(vectors[near[best]], axis=0)
    inliers = np.linalg.norm(vectors - shift, axis=1) <= config.shift_radius_m
    score = support(inliers)
    # A rival is a shift that other athletes share: pairs through the inliers' tracks are left
    # out (a line of players a few metres apart also fits the shift by one spacing).
    taken = {k for i in np.flatnonzero(inliers) for k in pairs[i][:2]}
    free = np.array([a not in taken and b not in taken for a, b, *_ in pairs])
    far = (np.linalg.norm(vectors - shift, axis=1) > 2 * config.shift_radius_m) & free
    rival = max((support(near[k] & free) for k in np.flatnonzero(far)), default=0)
    if score < config.shift_min_support:
        return None, f"the best common shift has {score} athletes (< {config.shift_min_support})"
    if rival * config.shift_peak_ratio > score:
        return None, f"two common shifts compete ({score} and {rival} athletes)"
    reason = f"common shift ({shift[0]:+.1f}, {shift[1]:+.1f}) m of {score} athletes"
    supporters = [pairs[k] for k in np.flatnonzero(inliers)]
    end_velocity = np.median([a.velocity for _, _, a, _ in supporters], axis=0)
    start_velocity = np.median([b.velocity for _, _, _, b in supporters], axis=0)
    return _Shift(shift, end_velocity, start_velocity, reason), reason


def _assignment_cost(cost: np.ndarray) -> tuple[float, list[tuple[int, int]]]:
    """Best assignment of a ``(R, C)`` cost matrix (inf = not allowed) where leaving a row or a
    column unassigned costs ``_UNLINKED``: ``(total, [(row, column), ...])``."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = cost.shape
    big = 1e6
    padded = np.full((rows + cols, cols + rows), big)
    padded[:rows, :cols] = np.where(np.isfinite(cost), cost, big)
    padded[:rows, cols:] = np.where(np.eye(rows, dtype=bool), _UNLINKED, big)
    padded[rows:, :cols] = np.where(np.eye(cols, dtype=bool), _UNLINKED, big)
    padded[rows:, cols:] = 0.0
    r, c = linear_sum_assignment(padded)
    pairs = [(int(i), int(j)) for i, j in zip(r, c) if i < rows and j < cols and padded[i, j] < big]
    total = float(padded[r, c].sum())
    return total, pairs


def _components(candidates: Sequence[tuple[TrackKey, TrackKey]]) -> list[list[tuple[TrackKey, TrackKey]]]:
    """Candidate (ending, starting) pairs grouped into connected components of their graph, in
    order of each group's first pair, pairs in their given order."""
    node: dict[tuple[str, TrackKey], int] = {}
    for a, b in candidates:  # an end and a start are different nodes even of one track
        node.setdefault(("end", a), len(node))
        node.setdefault(("start", b), len(node))
    label = {k: c for c, group in enumerate(components(len(node), [(node[("end", a)], node[("start", b)]) for a, b in candidates])) for k in group}
    groups: dict[int, list[tuple[TrackKey, TrackKey]]] = {}
    for pair in candidates:
        groups.setdefault(label[node[("end", pair[0])]], []).append(pair)
    return list(groups.values())


def _assign(candidates: Sequence[Any]) -> list[tuple[Any, float]]:
    """The pairs of the best assignment of each group of competing candidates, each with its
    margin: how much more the best assignment costs without it."""
    index = {(link.earlier, link.later): link for link in candidates}
    out = []
    for component in _components(list(index)):
        rows = {a: r for r, a in enumerate(sorted({a for a, _ in component}))}
        cols = {b: c for c, b in enumerate(sorted({b for _, b in component}))}
        matrix = np.full((len(rows), len(cols)), np.inf)
        for a, b in component:
            matrix[rows[a], cols[b]] = index[(a, b)].cost
        best, pairs = _assignment_cost(matrix)
        row_key, col_key = {r: a for a, r in rows.items()}, {c: b for b, c in cols.items()}
        for r, c in pairs:
            without = matrix.copy()
            without[r, c] = np.inf
            out.append((index[(row_key[r], col_key[c])], _assignment_cost(without)[0] - best))
    return out
