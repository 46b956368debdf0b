"""One referee on the field of play: tracklets called referee by their kit alone that cannot all be.

The kit rule of :func:`~.relational.decide_roles` calls a tracklet in neither team's kit a
referee. That is right when the clip's two kit models are right, and wrong in a way the kit
distances cannot see when a team's kit was missed or split: on real Bundesliga frames (the
football-players stills, one still per match held 1.6 s) a lime kit whose shirts the grass rule
erased left the white team split into two kit models and four lime players "in neither kit", so
four referees; a yellow kit in shade (black sleeves, olive shadows) put five yellow players in
neither kit, so five referees. Every one of them was voted ``player`` by the detector.

A fact of the game holds on any broadcast, whatever the colours: **one referee works on the field
of play**; the two assistants keep to the touchlines. So of the referees standing inside the field
at the same time, at most one is the referee, and the others are somebody the kit models missed:

* **A group in one kit is a team, not the officials.** Referees standing inside the field at the
  same time whose shirts lie within :data:`SAME_SHIRT_DELTA_E` of each other (CIE76, one linkage)
  wear one kit; two or more of them cannot be the one referee, so every one of them is.
* **Of the rest, one.** The one with the most detector weight on ``referee`` stays (ties: the one
  seen longest, then the lowest id); the others are not referees.

Who they are instead is decided on the evidence left, never guessed: a tracklet within
``kit_member`` of a team's kit is that team's player; one the detector votes ``player`` on its
majority is a player with no team (refused: which kit it wears is what the kit models missed);
anything else keeps ``referee`` (the detector itself calls it one). Each change is flagged
``role-kit`` with the clause that decided it.

"Inside the field" is the median of a tracklet's positioned rows at least :data:`INSIDE_M` inside
both touchlines and the goal lines: an assistant runs on the touchline and up to 1.5 m either side
of it, so 3 m keeps every assistant out of the count. A tracklet without positions is not counted
(nothing says where it stands).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from soccerfactory.curation.arrays import components

__all__ = ["INSIDE_M", "SAME_SHIRT_DELTA_E", "RefereeCandidate", "surplus_referees"]

#: Metres inside every line a referee's median position must be to count as on the field of play.
INSIDE_M = 3.0
#: Two shirts closer than this (CIE76 delta E, medians of each tracklet's crops) are one kit. The
#: players of one real kit in one frame spread by 4-12 (light and shade: the football-players train
#: stills); two different kits (a referee's black or yellow against a team's) by 30 and more.
SAME_SHIRT_DELTA_E = 15.0


@dataclasses.dataclass(frozen=True)
class RefereeCandidate:
    """A tracklet decided ``referee``, with the evidence this rule reads.

    Attributes:
        track_id: The tracklet.
        depth_m: Median metres inside the nearest line over its positioned rows (NaN: no position).
        frames: ``int64`` frames of its positioned rows.
        shirt_lab: ``(3,)`` median CIE Lab shirt colour of its crops, None when no crop had one.
        referee_votes: Share of the detector's confidence-weighted votes for ``referee``.
        player_votes: Share of them for ``player``.
        nearest_kit: ``("A" | "B", distance in spreads)`` of the nearer team kit, None without kits.
    """

    track_id: int
    depth_m: float
    frames: np.ndarray
    shirt_lab: np.ndarray | None
    referee_votes: float
    player_votes: float
    nearest_kit: tuple[str, float] | None = None

    def __post_init__(self) -> None:
        for name in ("referee_votes", "player_votes"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0 + 1e-6:
                raise ValueError(f"RefereeCandidate.{name} must be a share in [0, 1], got {value}")


def _groups(candidates: Sequence[RefereeCandidate]) -> list[list[RefereeCandidate]]:
    """Candidates joined when they overlap in time and their shirts are one kit (one linkage)."""
    pairs = [
        (i, j)
        for i, a in enumerate(candidates)
        for j in range(i + 1, len(candidates))
        if a.shirt_lab is not None and candidates[j].shirt_lab is not None and np.intersect1d(a.frames, candidates[j].frames).size
        and float(np.linalg.norm(np.asarray(a.shirt_lab) - np.asarray(candidates[j].shirt_lab))) <= SAME_SHIRT_DELTA_E
    ]
    return [[candidates[i] for i in group] for group in components(len(candidates), pairs)]


def _instead(c: RefereeCandidate, kit_member: float) -> tuple[str, str | None, str] | None:
    """``(role, team, clause)`` of a candidate that is not the referee, None when nothing else fits."""
    if c.nearest_kit is not None and c.nearest_kit[1] <= kit_member:
        team, d = c.nearest_kit
        return "player", team, f"its shirt is {d:.1f} spreads from team {team}'s kit: a player of team {team}"
    if c.player_votes > 0.5:
        return "player", None, f"the detector votes player ({c.player_votes:.0%} of its weight): a player, team refused (its kit is one the kit models missed)"
    return None


def surplus_referees(candidates: Sequence[RefereeCandidate], kit_member: float) -> dict[int, tuple[str, str | None, str]]:
    """The candidates that cannot be the one referee on the field, and what they are instead.

    Args:
        candidates: The clip's tracklets decided ``referee``; those without a finite ``depth_m``
            at least :data:`INSIDE_M` are not on the field of play and are never changed.
        kit_member: A candidate this close (spreads) to a team's kit wears it.

    Returns:
        ``{tracklet id: (role, team or None, clause)}``; the clause says why it is not the referee
        and what decided its role.
    """
    inside = [c for c in candidates if math.isfinite(c.depth_m) and c.depth_m >= INSIDE_M and c.frames.size]
    out: dict[int, tuple[str, str | None, str]] = {}
    singles: list[RefereeCandidate] = []
    for group in _groups(inside):
        if len(group) < 2:
            singles.extend(group)
            continue
        ids = ", ".join(str(c.track_id) for c in sorted(group, key=lambda c: c.track_id))
        for c in group:
            instead = _instead(c, kit_member)
            if instead is not None:
                role, team, clause = instead
                out[c.track_id] = (role, team, f"tracks {ids} stand on the field at the same time in one kit (shirts within {SAME_SHIRT_DELTA_E:g} delta E), and one referee works there: not the referee; {clause}")
    # Of the referees left on the field, one at a time: the detector's strongest referee stays.
    def strength(c: RefereeCandidate) -> tuple[float, int, int]:
        return (c.referee_votes, int(c.frames.size), -c.track_id)

    for c in singles:
        rivals = [o for o in singles if o is not c and np.intersect1d(o.frames, c.frames).size and strength(o) > strength(c)]
        if not rivals:
            continue
        best = max(rivals, key=strength)
        instead = _instead(c, kit_member)
        if instead is not None:
            role, team, clause = instead
            out[c.track_id] = (role, team, f"track {best.track_id} is the referee on the field at the same time (detector referee weight {best.referee_votes:.0%} against {c.referee_votes:.0%}): not the referee; {clause}")
    return out


def candidate_evidence(
    track_id: int,
    pitch_xy: np.ndarray,
    frames: np.ndarray,
    half_length: float,
    half_width: float,
    shirt_lab: np.ndarray | None,
    votes: Mapping[str, float],
    kit_distance: np.ndarray | None,
) -> RefereeCandidate:
    """A :class:`RefereeCandidate` from a tracklet's rows.

    Args:
        track_id: The tracklet.
        pitch_xy: ``(N, 2)`` metres of its rows, NaN unknown.
        frames: ``int64`` ``(N,)`` frame of each row.
        half_length, half_width: The pitch's half sizes in metres.
        shirt_lab: ``(3,)`` median Lab shirt colour, None unknown.
        votes: The detector's vote shares per role.
        kit_distance: ``(2,)`` median distance to kits A and B in spreads, None without kits.
    """
    xy = np.asarray(pitch_xy, dtype=np.float64).reshape(-1, 2)
    known = np.isfinite(xy).all(axis=1)
    depth = math.nan
    if known.any():
        inside = np.minimum(half_length - np.abs(xy[known, 0]), half_width - np.abs(xy[known, 1]))
        depth = float(np.median(inside))
    nearest = None
    if kit_distance is not None and np.isfinite(kit_distance).all():
        k = int(np.argmin(kit_distance))
        nearest = ("AB"[k], float(kit_distance[k]))
    return RefereeCandidate(
        track_id, depth, np.asarray(frames, dtype=np.int64).reshape(-1)[known], shirt_lab,
        float(votes.get("referee", 0.0)), float(votes.get("player", 0.0)), nearest,
    )


def apply_one_referee(tracks, decisions: dict, evidence: Mapping, pitch, kit_member: float, crop_track_id: np.ndarray, crop_colours: np.ndarray | None) -> None:
    """Apply :func:`surplus_referees` to a clip's decisions in place (the last step of
    :func:`~.relational.decide_roles`, which passes its ``RoleDecision`` and evidence maps).

    Args:
        tracks: The clip's athlete rows (``data["pitch_xy"]`` read when present).
        decisions: ``{tracklet id: RoleDecision}``; surplus referees are replaced.
        evidence: ``{tracklet id: evidence}`` with ``votes``, ``kit`` and ``kit_share``.
        pitch: The pitch, or None (then nobody is on the field by position and nothing changes).
        kit_member: ``attribute.kit_member``.
        crop_track_id: ``int64`` ``(M,)`` tracklet of each crop.
        crop_colours: ``float32`` ``(M, 3)`` Lab shirt colour of each crop (NaN unknown), or None.
    """
    referees = [t for t, d in decisions.items() if d.role == "referee"]
    if pitch is None or len(referees) < 2 or "pitch_xy" not in tracks.data:
        return
    xy_all = np.asarray(tracks.data["pitch_xy"], dtype=np.float64).reshape(-1, 2)
    crop_track_id = np.asarray(crop_track_id, dtype=np.int64).reshape(-1)
    colours = None if crop_colours is None else np.asarray(crop_colours, dtype=np.float64).reshape(-1, 3)
    candidates = []
    for t in referees:
        rows = tracks.track_id == t
        lab = None
        if colours is not None:
            mine = colours[crop_track_id == t]
            mine = mine[np.isfinite(mine).all(axis=1)]
            lab = np.median(mine, axis=0) if len(mine) else None
        ev = evidence[t]
        candidates.append(candidate_evidence(t, xy_all[rows], tracks.frame_index[rows], pitch.half_length, pitch.half_width, lab, ev.votes, ev.kit))
    for t, (role, team, clause) in surplus_referees(candidates, kit_member).items():
        old, ev = decisions[t], evidence[t]
        team_agreement = math.nan
        if team is not None and ev.kit_share is not None:
            team_agreement = float(ev.kit_share["AB".index(team)])
        evidence_clause = old.reason.rsplit(": referee", 1)[0]
        suffix = f"player, team {team}" if team is not None else "player, team refused"
        flags = {**old.flags, "role-kit": f"role-kit: {evidence_clause}; but {clause}"}
        decisions[t] = dataclasses.replace(
            old, role=role, team=team, role_agreement=float(ev.votes.get("player", 0.0)) if ev.votes else math.nan,
            team_agreement=team_agreement, reason=f"{evidence_clause}; but {clause}: {suffix}", flags=flags,
        )
