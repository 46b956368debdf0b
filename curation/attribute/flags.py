"""Where a tracklet stands on the pitch (off it, in a penalty area), the per-track flags of a clip, and
the row columns of its role decisions (:func:`role_columns`, :func:`tracklet_flags`: the decisions
of :func:`~.relational.decide_roles` mapped onto the clip's rows).

A curated row carries ``flags``: the comma-separated, sorted names of what is doubtful about its
track, and ``flag_reason``: one clause per flag, in the same order, with the evidence:

* ``duplicate``: other tracks on the same person at the same time were merged into this one
  (:func:`~soccerfactory.curation.tracking.tracklets.find_duplicates`).
* ``off-pitch``: its feet are outside the pitch on most of its positioned rows; its role is
  ``other`` (staff, substitutes, ball boys, spectators), with no team. Also a person in neither
  team's kit just beside the lines (inside the off-pitch margin) who cannot be an assistant
  referee (:mod:`.officials`: not in the referee's kit, a second one beyond one touchline, or
  behind a goal line); the clause says which.
* ``role-kit``: the detector's class votes and the kit disagree on its role.
* ``short``: the track lasts less than a configured time; its votes rest on few observations.

Pitch coordinates are metres in the SoccerNet frame: origin at the centre mark, ``x`` towards the
right goal, ``y`` towards the near touchline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from soccerfactory.curation.pitch import PENALTY_AREA_LENGTH, PENALTY_AREA_WIDTH, PitchModel

__all__ = ["FLAGS", "flag_columns", "metres_outside", "penalty_area_side", "role_columns", "short_tracks", "tracklet_flags"]

#: Every flag a track can carry, in the order they are written.
FLAGS: tuple[str, ...] = ("duplicate", "off-pitch", "role-kit", "short")


def metres_outside(pitch_xy: np.ndarray, pitch: PitchModel) -> np.ndarray:
    """Distance of each position outside the pitch rectangle (touchlines and goal lines).

    Args:
        pitch_xy: ``(N, 2)`` metres, NaN where unknown.
        pitch: The pitch whose lines count.

    Returns:
        ``float32`` ``(N,)`` metres outside (0 on or inside the lines), NaN where unknown.
    """
    xy = np.asarray(pitch_xy, dtype=np.float64).reshape(-1, 2)
    over_x = np.clip(np.abs(xy[:, 0]) - pitch.half_length, 0, None)
    over_y = np.clip(np.abs(xy[:, 1]) - pitch.half_width, 0, None)
    return np.hypot(over_x, over_y).astype(np.float32)


def penalty_area_side(pitch_xy: np.ndarray, pitch: PitchModel, margin_m: float) -> np.ndarray:
    """Which penalty area (grown by ``margin_m`` on every side) each position is in.

    Returns:
        ``int8`` ``(N,)``: ``-1`` the left one (negative x), ``+1`` the right one, ``0`` neither
        or unknown.
    """
    xy = np.asarray(pitch_xy, dtype=np.float64).reshape(-1, 2)
    with np.errstate(invalid="ignore"):
        deep = np.abs(xy[:, 0]) >= pitch.half_length - PENALTY_AREA_LENGTH - margin_m
        inside = (np.abs(xy[:, 0]) <= pitch.half_length + margin_m) & (np.abs(xy[:, 1]) <= PENALTY_AREA_WIDTH / 2 + margin_m)
    side = np.where(deep & inside, np.sign(xy[:, 0]), 0)
    return np.nan_to_num(side).astype(np.int8)


def short_tracks(track_id: np.ndarray, frame_index: np.ndarray, fps: float, min_s: float) -> dict[int, str]:
    """Tracks lasting less than ``min_s`` seconds (first to last frame), with the ``short`` clause.

    Args:
        track_id, frame_index: ``int64`` ``(N,)`` rows of the clip.
        fps: Frames per second of ``frame_index`` (the source rate).
        min_s: Shortest track that is not flagged (0 = none is).
    """
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    out: dict[int, str] = {}
    if min_s <= 0 or len(track_id) == 0:
        return out
    ids, inverse = np.unique(np.asarray(track_id, dtype=np.int64), return_inverse=True)
    first = np.full(len(ids), np.iinfo(np.int64).max)
    last = np.full(len(ids), np.iinfo(np.int64).min)
    np.minimum.at(first, inverse, frame_index)
    np.maximum.at(last, inverse, frame_index)
    for t, a, b in zip(ids.tolist(), first.tolist(), last.tolist()):
        seconds = (b - a + 1) / fps
        if seconds < min_s:
            out[t] = f"short: {seconds:.2f} s, under {min_s:g} s"
    return out


def flag_columns(
    row_keys: Mapping[str, np.ndarray], flags: Mapping[str, Mapping[int, str]]
) -> tuple[np.ndarray, np.ndarray]:
    """The ``flags`` and ``flag_reason`` of every row.

    Args:
        row_keys: flag name -> ``int64`` ``(N,)`` the id each row is flagged by for that flag
            (a flag may be per tracklet or per joined track); every array has the rows' length.
        flags: flag name (one of :data:`FLAGS`) -> {id: clause}.

    Returns:
        ``(flags, flag_reason)``, object ``(N,)``: names comma-separated in :data:`FLAGS` order
        and their clauses joined by ``"; "``, None for rows without a flag.
    """
    unknown = set(flags) - set(FLAGS)
    if unknown:
        raise ValueError(f"unknown flags {sorted(unknown)}; valid flags: {list(FLAGS)}")
    missing = set(flags) - set(row_keys)
    if missing:
        raise ValueError(f"row_keys has no row ids for flags {sorted(missing)}; give one (N,) id array per flag")
    lengths = {len(v) for v in row_keys.values()}
    if len(lengths) > 1:
        raise ValueError(f"row_keys must all have one length, got {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    names = np.full(n, None, dtype=object)
    reasons = np.full(n, None, dtype=object)
    used = [f for f in FLAGS if f in flags]
    keys = [np.asarray(row_keys[f], dtype=np.int64) for f in used]
    cache: dict[tuple, tuple[str | None, str | None]] = {}
    for i in range(n):
        key = tuple(int(k[i]) for k in keys)
        if key not in cache:
            hits = [(f, flags[f][k]) for f, k in zip(used, key) if k in flags[f]]
            cache[key] = (",".join(f for f, _ in hits), "; ".join(c for _, c in hits)) if hits else (None, None)
        names[i], reasons[i] = cache[key]
    return names, reasons


def role_columns(decisions: Mapping[int, Any], track_rows: np.ndarray) -> dict[str, np.ndarray]:
    """Each row's tracklet decision: ``role``, ``team``, ``role_reason``, ``shirt_colour`` (object
    ``(N,)``), ``shirt_crops`` (``int32`` ``(N,)``) and ``role_agreement``, ``team_agreement``
    (``float32`` ``(N,)``); None / NaN / 0 for unknown ids."""
    track_rows = np.asarray(track_rows, dtype=np.int64).reshape(-1)
    n = len(track_rows)
    out = {
        "role": np.full(n, None, dtype=object), "team": np.full(n, None, dtype=object),
        "role_reason": np.full(n, None, dtype=object), "shirt_colour": np.full(n, None, dtype=object),
        "shirt_crops": np.zeros(n, dtype=np.int32),
        "role_agreement": np.full(n, np.nan, dtype=np.float32), "team_agreement": np.full(n, np.nan, dtype=np.float32),
    }
    for t, decision in decisions.items():
        rows = track_rows == t
        out["role"][rows] = decision.role
        out["team"][rows] = decision.team
        out["role_reason"][rows] = decision.reason
        out["shirt_colour"][rows] = decision.shirt_colour
        out["shirt_crops"][rows] = decision.shirt_crops
        out["role_agreement"][rows] = decision.role_agreement
        out["team_agreement"][rows] = decision.team_agreement
    return out


def tracklet_flags(decisions: Mapping[int, Any], tracks: Any) -> dict[str, dict[int, str]]:
    """Flag name -> {tracklet id: clause}: the decisions' ``off-pitch`` and ``role-kit`` and the
    ``duplicate`` merges recorded in ``tracks.data["duplicate_reason"]``."""
    flags: dict[str, dict[int, str]] = {"duplicate": {}, "off-pitch": {}, "role-kit": {}}
    for t, decision in decisions.items():
        for name, clause in decision.flags.items():
            flags[name][t] = clause
    reasons = tracks.data.get("duplicate_reason")
    if reasons is not None and tracks.track_id is not None:
        for t, reason in zip(tracks.track_id.tolist(), reasons):
            if reason is not None:
                flags["duplicate"][t] = f"duplicate: {reason}"
    return flags
