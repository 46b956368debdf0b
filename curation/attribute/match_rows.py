"""The shard side of the per-match tracklet step (:mod:`.match_tracks`): a clip's tracklets as its
``athletes`` table holds them, and the decisions written back into that table.

* :class:`Tracklet` / :func:`tracklets_of`: one tracklet's clip decision, frames, where it stands
  (rows positioned, inside the lines, median metres beyond them) and shirt colour.
* :class:`TrackletFill` / :func:`fill_athletes`: a tracklet the match decided, and the rows
  rewritten with it (role, team, reason, flags).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from soccerfactory.curation.attribute.flags import FLAGS, metres_outside
from soccerfactory.curation.attribute.match_teams import hex_to_lab
from soccerfactory.curation.pitch import PitchModel

__all__ = ["ATHLETE_COLUMNS", "Tracklet", "TrackletFill", "fill_athletes", "tracklets_of"]


@dataclasses.dataclass(frozen=True)
class Tracklet:
    """One tracklet of a clip as the shard holds it.

    Attributes:
        tracklet_id: The tracker's id (``athletes.tracklet_id``).
        role, team: The clip's decision (team in the clip's own letters).
        reason: Its ``role_reason``.
        flags: Its ``flags`` (comma-separated names), None without.
        frames: ``int64`` frames of its rows.
        positioned: Rows with a pitch position.
        inside: Rows with a pitch position on or inside the lines.
        shirt_colour: Its median shirt colour ``"#rrggbb"`` (``athletes.shirt_colour``), None without.
        shirt_crops: Crops that median is over (``athletes.shirt_crops``).
        outside_median_m: Median metres its positioned rows lie beyond the lines (0 inside; NaN:
            no position).
        mean_x: Mean pitch x of its positioned rows (metres; NaN: no position).
    """

    tracklet_id: int
    role: str
    team: str | None
    reason: str | None
    flags: str | None
    frames: np.ndarray
    positioned: int = 0
    shirt_colour: str | None = None
    shirt_crops: int = 0
    inside: int = 0
    outside_median_m: float = math.nan
    mean_x: float = math.nan

    @property
    def shirt(self) -> tuple[np.ndarray, int] | None:
        """``(Lab (3,), crops)`` of its shirt colour, None without one."""
        if not self.shirt_colour or self.shirt_crops <= 0:
            return None
        return hex_to_lab(self.shirt_colour), int(self.shirt_crops)


@dataclasses.dataclass(frozen=True)
class TrackletFill:
    """A tracklet decided by the match: its new role and team (match letters), the clause why, and a
    ``role-kit`` flag clause when the match's kits overrule its clip's role (``off-pitch`` when its
    position does)."""

    clip_id: str
    tracklet_id: int
    role: str
    team: str | None
    clause: str
    flag: str | None = None  # a role-kit (or off-pitch) clause to add, None: none


#: Columns of ``athletes`` :func:`tracklets_of` reads.
ATHLETE_COLUMNS = ("tracklet_id", "frame_index", "role", "team", "role_reason", "flags", "pitch_x", "pitch_y", "shirt_colour", "shirt_crops")


def tracklets_of(athletes: pa.Table, pitch: PitchModel | None = None) -> tuple[Tracklet, ...]:
    """The tracklets of a shard's ``athletes`` table (at least :data:`ATHLETE_COLUMNS`; a table
    written before ``shirt_colour`` / ``shirt_crops`` existed reads as no shirt colour); each
    tracklet's decision is on all its rows, so the first row's is taken. ``pitch`` (default
    105 x 68 m) counts the rows on or inside its lines (``Tracklet.inside``)."""
    pitch = pitch or PitchModel()
    n = athletes.num_rows
    columns = {name: athletes.column(name).to_pylist() if name in athletes.column_names else [None] * n for name in ATHLETE_COLUMNS}
    ids = np.asarray(columns["tracklet_id"], dtype=np.int64)
    frames = np.asarray(columns["frame_index"], dtype=np.int64)
    out = []
    for t in np.unique(ids).tolist():
        rows = np.flatnonzero(ids == t)
        i = int(rows[0])
        xy = np.array([(columns["pitch_x"][j], columns["pitch_y"][j]) for j in rows.tolist()], dtype=np.float64)
        known = np.isfinite(xy).all(axis=1)
        positioned = int(np.sum([columns["pitch_x"][j] is not None for j in rows.tolist()]))
        outside = metres_outside(xy[known], pitch) if known.any() else np.zeros(0, np.float32)
        out.append(Tracklet(
            t, columns["role"][i], columns["team"][i], columns["role_reason"][i], columns["flags"][i], frames[rows], positioned,
            columns["shirt_colour"][i], int(columns["shirt_crops"][i] or 0), int((outside <= 0).sum()),
            float(np.median(outside)) if len(outside) else math.nan, float(xy[known, 0].mean()) if known.any() else math.nan,
        ))
    return tuple(out)


_CLAUSE_SPLIT = re.compile("; (?=(?:" + "|".join(re.escape(f) for f in FLAGS) + "): )")


def _without_flag(flags: str | None, reasons: str | None, name: str) -> tuple[str | None, str | None]:
    names = [f for f in (flags or "").split(",") if f and f != name]
    clauses = [c for c in _CLAUSE_SPLIT.split(reasons or "") if c and not c.startswith(f"{name}: ")]
    return (",".join(names) or None), ("; ".join(clauses) or None)


def _with_flag(flags: str | None, reasons: str | None, clause: str) -> tuple[str, str]:
    """Add a flag clause (``"<name>: ..."``), names and clauses kept in :data:`FLAGS` order."""
    name = clause.split(":", 1)[0]
    names = [f for f in (flags or "").split(",") if f] + [name]
    clauses = [c for c in _CLAUSE_SPLIT.split(reasons or "") if c] + [clause]
    order = {f: k for k, f in enumerate(FLAGS)}
    clauses.sort(key=lambda c: order.get(c.split(":", 1)[0], len(FLAGS)))
    return ",".join(sorted(set(names), key=lambda f: order.get(f, len(FLAGS)))), "; ".join(clauses)


def fill_athletes(athletes: pa.Table, fills: Sequence[TrackletFill]) -> pa.Table:
    """``athletes`` with the fills' tracklets decided: ``role``, ``team`` (match letters; apply
    after any letter swap of the clip), ``team_agreement`` null (no share of crops was measured
    against the match kits), ``role_agreement`` the detector's confidence-weighted share of a new
    role (null for ``other``), the clause appended to ``role_reason``; a tracklet that was
    ``other`` or gets a ``role-kit`` clause loses its old ``role-kit`` flag (it named the old role)."""
    if not fills:
        return athletes
    by_id = {f.tracklet_id: f for f in fills}
    ids = athletes.column("tracklet_id").to_pylist()
    names = ("role", "team", "role_reason", "team_agreement", "role_agreement", "flags", "flag_reason")
    data = {name: athletes.column(name).to_pylist() for name in names}
    classes, confidence = athletes.column("class").to_pylist(), athletes.column("confidence").to_pylist()
    agreement = {}  # the detector's confidence-weighted share for the new role, as the clip rules give it
    for t, fill in by_id.items():
        rows = [i for i, u in enumerate(ids) if u == t]
        total = sum(confidence[i] or 0.0 for i in rows)
        votes = sum(confidence[i] or 0.0 for i in rows if classes[i] == fill.role)
        agreement[t] = None if fill.role == "other" or total <= 0 else votes / total
    for i, t in enumerate(ids):
        fill = by_id.get(t)
        if fill is None:
            continue
        if fill.role != data["role"][i]:
            data["role_agreement"][i] = agreement[t]
        if data["role"][i] == "other" or fill.flag:
            data["flags"][i], data["flag_reason"][i] = _without_flag(data["flags"][i], data["flag_reason"][i], "role-kit")
        if fill.flag:
            data["flags"][i], data["flag_reason"][i] = _with_flag(data["flags"][i], data["flag_reason"][i], fill.flag)
        data["role"][i], data["team"][i], data["team_agreement"][i] = fill.role, fill.team, None
        data["role_reason"][i] = f"{data['role_reason'][i] or ''}; {fill.clause}".lstrip("; ")
    out = athletes
    for name, values in data.items():
        index = out.schema.get_field_index(name)
        field = out.schema.field(name)
        out = out.set_column(index, field, pa.array(values, field.type))
    return out
