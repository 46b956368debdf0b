"""Roles and teams decided relationally: each tracklet's kit against both teams' kits, and where it stands.

The detector names a class per box, and on footage it never saw it confuses a referee in a dark
kit with a player (on a synthetic clip the centre referee was voted ``player``, team B, with
agreement 1.0). What a person uses instead is relative: the two teams wear two kits, so whoever
wears neither is a referee or a goalkeeper; a goalkeeper stays near one goal, referees move in the
middle and assistants along a touchline; whoever stands off the pitch is not playing.

* :func:`fit_kit_model` fits the two kits of a clip from its players' shirt colours (the team
  classifier's clusters, their outliers trimmed): a centre and a spread each.
* :func:`team_side` says which goal team A defends, from its players' pitch x.
* :func:`decide_roles` decides, per tracklet, role, team and the reason, from the kit distances of
  its crops, the detector's class votes weighted by confidence, and its pitch positions.

Colours are CIE Lab (``L*`` 0-100) measured with ``L*`` weighted by
:data:`~.team.LIGHTNESS_WEIGHT`; distances to a kit are in units of that kit's spread. Pitch
coordinates are metres in the SoccerNet frame (origin at the centre mark, x towards the right goal).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from soccerfactory.curation.arrays import readonly
from soccerfactory.curation.attribute.flags import metres_outside, penalty_area_side
from soccerfactory.curation.attribute.kits import SIDES, TeamKits
from soccerfactory.curation.attribute.roles import role_from_class
from soccerfactory.curation.attribute.team import LIGHTNESS_WEIGHT, TEAMS
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.types import Tracks

__all__ = [
    "KitModel",
    "RoleDecision",
    "RoleRules",
    "clip_kits",
    "decide_roles",
    "fit_kit_model",
    "role_columns",
    "team_side",
    "tracklet_flags",
]

_WEIGHT = np.array([LIGHTNESS_WEIGHT, 1.0, 1.0], dtype=np.float64)


@dataclasses.dataclass(frozen=True, eq=False)
class KitModel:
    """The two team kits of a clip.

    Attributes:
        centres: ``float32`` ``(2, 3)`` Lab colour of kit A then kit B (median of the members).
        spread: ``float32`` ``(2,)`` typical (median) weighted-Lab distance of a member crop from
            its kit's centre, floored; distances are measured in units of it.
        members: ``int64`` ``(2,)`` crops that define each kit.
    """

    centres: np.ndarray
    spread: np.ndarray
    members: np.ndarray

    def __post_init__(self) -> None:
        centres = np.asarray(self.centres, dtype=np.float32)
        spread = np.asarray(self.spread, dtype=np.float32)
        members = np.asarray(self.members, dtype=np.int64)
        if centres.shape != (2, 3) or not np.isfinite(centres).all():
            raise ValueError(f"KitModel.centres must be finite (2, 3) Lab colours, got shape {centres.shape}")
        if spread.shape != (2,) or not (spread > 0).all():
            raise ValueError(f"KitModel.spread must be two positive distances, got {spread.tolist()}")
        if members.shape != (2,):
            raise ValueError(f"KitModel.members must have shape (2,), got {members.shape}")
        object.__setattr__(self, "centres", readonly(centres))
        object.__setattr__(self, "spread", readonly(spread))
        object.__setattr__(self, "members", readonly(members))

    def distance(self, colours: np.ndarray) -> np.ndarray:
        """``float32`` ``(N, 2)`` distance of each Lab colour ``(N, 3)`` to kit A and kit B, in spreads (NaN rows stay NaN)."""
        lab = np.asarray(colours, dtype=np.float64).reshape(-1, 3)
        raw = np.linalg.norm((lab[:, None, :] - self.centres[None].astype(np.float64)) * _WEIGHT, axis=2)
        return (raw / self.spread.astype(np.float64)).astype(np.float32)

    def rgb(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """sRGB 0-255 of kit A and kit B."""
        bgr = cv2.cvtColor(self.centres.reshape(1, 2, 3).astype(np.float32), cv2.COLOR_Lab2BGR)[0]
        rgb = np.clip(np.round(bgr[:, ::-1] * 255.0), 0, 255).astype(int)
        return tuple(rgb[0].tolist()), tuple(rgb[1].tolist())  # type: ignore[return-value]


def fit_kit_model(colours: np.ndarray, team: np.ndarray, min_spread: float, outlier: float) -> KitModel | None:
    """The two kits from the crops the team classifier put in team A or B.

    Each kit is the median colour of its crops and the median distance of its crops from it. A
    referee or steward the detector called a player sits in a cluster without wearing its kit:
    crops further than ``outlier`` spreads from their kit are dropped and the kit measured again.

    Args:
        colours: ``(N, 3)`` Lab shirt colour per crop, NaN rows unknown.
        team: ``(N,)`` ``"A"`` / ``"B"`` / None per crop (the classifier's label).
        min_spread: Floor of a kit's spread (weighted Lab units): solid synthetic kits would
            otherwise have a spread near 0, and every shadow would be "another kit".
        outlier: Distance (in spreads) beyond which a crop is not its kit's.

    Returns:
        The model, or None when either team has fewer than two crops with a colour.
    """
    lab = np.asarray(colours, dtype=np.float64).reshape(-1, 3)
    team = np.asarray(team, dtype=object).reshape(-1)
    if lab.shape[0] != team.shape[0]:
        raise ValueError(f"colours and team must be aligned, got {lab.shape[0]} and {team.shape[0]} rows")
    centres, spreads, members = [], [], []
    for name in TEAMS:
        rows = lab[(team == name) & np.isfinite(lab).all(axis=1)]
        if len(rows) < 2:
            return None
        for _ in range(2):  # measure, drop what is not this kit, measure again
            centre = np.median(rows, axis=0)
            distance = np.linalg.norm((rows - centre) * _WEIGHT, axis=1)
            spread = max(float(np.median(distance)), min_spread)
            inliers = rows[distance <= outlier * spread]
            if len(inliers) < 2 or len(inliers) == len(rows):
                break
            rows = inliers
        centres.append(centre)
        spreads.append(spread)
        members.append(len(rows))
    return KitModel(np.array(centres), np.array(spreads), np.array(members))


def team_side(
    track_id: np.ndarray, team: np.ndarray, pitch_x: np.ndarray, min_gap_m: float
) -> tuple[str | None, str]:
    """The goal team A defends (:data:`~.kits.SIDES`), from its players' mean pitch x, and why.

    Each tracklet counts once (its mean x over its crops, team by the majority of its crops), so
    a long track does not outweigh its team-mates. The team whose players stand further left
    defends the left goal; with the two means closer than ``min_gap_m`` (the teams mixed, or one
    half in view) the side is unknown. Over 16 rendered 10 s development clips (seeds 400-415)
    the two teams' means differed by 12-26 m, always on the right side.

    Returns:
        ``(side_a, reason)``; ``side_a`` is None when unknown.
    """
    track_id = np.asarray(track_id, dtype=np.int64).reshape(-1)
    team = np.asarray(team, dtype=object).reshape(-1)
    pitch_x = np.asarray(pitch_x, dtype=np.float64).reshape(-1)
    means: dict[str, list[float]] = {name: [] for name in TEAMS}
    for t in np.unique(track_id).tolist():
        rows = track_id == t
        labels = [v for v in team[rows] if v in TEAMS]
        xs = pitch_x[rows][np.isfinite(pitch_x[rows])]
        if labels and len(xs):
            means[max(TEAMS, key=labels.count)].append(float(xs.mean()))
    if not means["A"] or not means["B"]:
        return None, "side unknown: a team has no positioned player"
    a, b = float(np.mean(means["A"])), float(np.mean(means["B"]))
    if abs(a - b) < min_gap_m:
        return None, f"side unknown: the teams' mean x differ by {abs(a - b):.1f} m, under {min_gap_m:g} m"
    return SIDES[0] if a < b else SIDES[1], f"team A's players at mean x {a:+.1f} m, team B's at {b:+.1f} m"


# --------------------------------------------------------------------------- roles


@dataclasses.dataclass(frozen=True)
class RoleRules:
    """Thresholds of :func:`decide_roles`; the pipeline fills them from the config (where each is argued).

    Attributes:
        kit_member: A tracklet whose median distance to its nearest kit is at most this (spreads)
            wears that kit.
        kit_outlier: A tracklet whose median distance to both kits exceeds this wears neither; in
            between, the kit does not decide.
        kit_min_crops: Fewest crops with a shirt colour for the kit to decide.
        detector_override: Share of the detector's confidence-weighted votes for one role that
            overrides the kit (then the track is flagged ``role-kit``).
        min_positioned_rows: Fewest rows with a pitch position for position evidence.
        off_pitch_margin_m, off_pitch_sigmas: A row is off the pitch when its feet are further
            outside than ``margin + sigmas * pitch_sigma_m``.
        off_pitch_share: Share of positioned rows off the pitch that makes a track ``other``.
        goalkeeper_area_share: Share of positioned rows in one penalty area that makes a track in
            neither kit a goalkeeper.
        goalkeeper_area_margin_m: The penalty area is grown by this much for that count.
        min_votes: Fewest crop votes for a team.
    """

    kit_member: float
    kit_outlier: float
    kit_min_crops: int
    detector_override: float
    min_positioned_rows: int
    off_pitch_margin_m: float
    off_pitch_sigmas: float
    off_pitch_share: float
    goalkeeper_area_share: float
    goalkeeper_area_margin_m: float
    min_votes: int = 1


@dataclasses.dataclass(frozen=True)
class RoleDecision:
    """One tracklet's role and team, with the evidence.

    ``role_agreement`` is the confidence-weighted share of the detector's votes for the decided role
    (0 when the detector never named it; for ``other``, the share of positioned rows off the pitch);
    ``team_agreement`` is the share of the tracklet's crops nearest its kit (for a goalkeeper, of
    its positioned rows in its own half); NaN without a team. ``flags``: flag name -> clause.
    """

    role: str | None
    team: str | None
    role_agreement: float
    team_agreement: float
    reason: str
    flags: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class _Evidence:
    votes: dict[str, float]  # detector role -> share of confidence
    kit: np.ndarray | None  # (2,) median distance to A and B, in spreads
    kit_share: np.ndarray | None  # (2,) share of crops nearest to A and B
    kit_crops: int
    has_kits: bool  # the clip has kit models
    positioned: int
    off_share: float
    off_median_m: float
    area_share: float
    area_side: int  # -1 left, +1 right, 0 none
    left_share: float  # share of positioned rows at x < 0


def _shares(roles: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    total = float(weights.sum())
    if total <= 0:
        return {}
    return {r: float(weights[roles == r].sum()) / total for r in ("player", "goalkeeper", "referee")}


def _evidence(track: Tracks, kit_distance: np.ndarray | None, pitch: PitchModel | None, rules: RoleRules) -> _Evidence:
    roles = role_from_class(track.class_id)
    votes = _shares(roles, track.confidence.astype(np.float64))
    kit = share = None
    crops = 0
    if kit_distance is not None:
        known = kit_distance[np.isfinite(kit_distance).all(axis=1)]
        crops = len(known)
        if crops:
            kit = np.median(known, axis=0)
            share = np.bincount(known.argmin(axis=1), minlength=2) / crops
    xy = np.asarray(track.data.get("pitch_xy", np.full((len(track), 2), np.nan)), dtype=np.float64).reshape(-1, 2)
    sigma = np.nan_to_num(np.asarray(track.data.get("pitch_sigma_m", np.zeros(len(track))), dtype=np.float64), nan=0.0)
    known_rows = np.isfinite(xy).all(axis=1)
    positioned = int(known_rows.sum()) if pitch is not None else 0
    off_share = off_median = area_share = math.nan
    area_side, left_share = 0, math.nan
    if positioned:
        outside = metres_outside(xy[known_rows], pitch).astype(np.float64)
        off = outside > rules.off_pitch_margin_m + rules.off_pitch_sigmas * sigma[known_rows]
        off_share = float(off.mean())
        off_median = float(np.median(outside[off])) if off.any() else 0.0
        side = penalty_area_side(xy[known_rows], pitch, rules.goalkeeper_area_margin_m)
        left, right = float((side < 0).mean()), float((side > 0).mean())
        area_share, area_side = max(left, right), (-1 if left >= right else 1)
        left_share = float((xy[known_rows, 0] < 0).mean())
    return _Evidence(votes, kit, share, crops, kit_distance is not None, positioned, off_share, off_median, area_share, area_side, left_share)


def _detector_clause(votes: Mapping[str, float]) -> str:
    if not votes:
        return "no detector votes"
    best = max(votes, key=votes.get)  # type: ignore[arg-type]
    return f"the detector votes {best} ({votes[best]:.0%} of its weight)"


def _decide_one(ev: _Evidence, team_vote: tuple, kits: TeamKits | None, rules: RoleRules) -> RoleDecision:
    votes = ev.votes
    detector_role = max(votes, key=votes.get) if votes else None  # type: ignore[arg-type]
    side_name = {-1: "left", 1: "right"}.get(ev.area_side)
    positioned = ev.positioned >= max(rules.min_positioned_rows, 1)
    if positioned and ev.off_share >= rules.off_pitch_share:
        clause = (
            f"feet outside the pitch by more than {rules.off_pitch_margin_m:g} m + {rules.off_pitch_sigmas:g} sigma on "
            f"{ev.off_share:.0%} of {ev.positioned} positioned rows (median {ev.off_median_m:.1f} m out)"
        )
        return RoleDecision("other", None, ev.off_share, math.nan, f"{clause}: other", {"off-pitch": f"off-pitch: {clause}"})

    flags: dict[str, str] = {}
    kit_known = ev.kit is not None and ev.kit_crops >= max(rules.kit_min_crops, 1)
    d = ev.kit if kit_known else None
    kit_says = ""
    kit_clause = "" if d is None else f"kit d={d[0]:.1f}/{d[1]:.1f} spreads from team A/B over {ev.kit_crops} crops"
    if d is None or rules.kit_member < float(d.min()) <= rules.kit_outlier:
        # No kit evidence, or a kit between "one of the teams'" and "neither": the detector decides.
        if d is None:
            why = f"{ev.kit_crops} crop(s) with a shirt colour" if ev.kit_crops else ("no kit models" if not ev.has_kits else "no crop with a shirt colour")
            reason = f"{_detector_clause(votes)}; no kit evidence ({why})"
        else:
            reason = f"{_detector_clause(votes)}; {kit_clause}, too far for a member, too near for neither"
        role, kit_known = detector_role, False
    elif float(d.min()) > rules.kit_outlier:
        # Neither team's kit: a referee or a goalkeeper, told apart by where it stands.
        kit_says = "a referee or goalkeeper"
        in_area = positioned and ev.area_share >= rules.goalkeeper_area_share
        if in_area and votes.get("referee", 0.0) < rules.detector_override:
            role = "goalkeeper"
            reason = f"{kit_clause}, in neither kit, and {ev.area_share:.0%} of {ev.positioned} positioned rows in the {side_name} penalty area"
        elif not in_area and votes.get("goalkeeper", 0.0) > max(votes.get("referee", 0.0), 0.5):
            role = "goalkeeper"
            reason = f"{kit_clause}, in neither kit, and {_detector_clause(votes)}"
        else:
            role = "referee"
            where = f"{ev.area_share:.0%} of {ev.positioned} positioned rows in a penalty area" if positioned else "no positions"
            reason = f"{kit_clause}, in neither kit, {where}"
            if in_area:
                reason += f", and {_detector_clause(votes)}"
    else:
        kit_team = TEAMS[int(np.argmin(d))]
        kit_says = f"a player of team {kit_team}"
        role = "player"
        reason = f"{kit_clause}, in team {kit_team}'s kit"
        for other in ("goalkeeper", "referee"):
            if votes.get(other, 0.0) >= rules.detector_override:
                role = other
                reason += f", but {_detector_clause(votes)}"
    kit_roles = ("player",) if kit_says.startswith("a player") else ("referee", "goalkeeper")
    if kit_known and detector_role is not None and detector_role not in kit_roles:
        flags["role-kit"] = f"role-kit: the kit says {kit_says} ({kit_clause}), {_detector_clause(votes)}; decided {role}"
    # Everything before ": <role>" is the evidence (_one_goalkeeper_per_goal relies on it).
    reason = f"{reason}: {role}"
    agreement = votes.get(role, 0.0) if votes else math.nan

    team, team_agreement = None, math.nan
    if role == "player" and d is not None and not kit_known and (team_vote[0] is None or team_vote[2] < rules.min_votes):
        # A kit too far from both teams' to be a member, with no team vote either: whoever this is
        # (a steward in a shot without a camera, a coach), nothing says "player"; seen on dev
        # seeds 400-403, 3 stewards of a camera-less zoomed shot. Not counted as a player.
        role, agreement = "other", math.nan
        reason = reason.rsplit(": ", 1)[0] + "; no team vote either, so not counted as a player: other"
        flags["role-kit"] = f"role-kit: {kit_clause}, too far for a member of either team, no team vote; decided other"
    if role == "player":
        consensus, vote_agreement, n = team_vote
        if kit_known:
            kit_team = TEAMS[int(np.argmin(d))]
            if consensus is not None and consensus != kit_team and n >= rules.min_votes:
                reason += f"; team unknown: its crops voted {consensus}, its median kit is {kit_team}'s"
            elif ev.kit_crops >= rules.min_votes:
                team, team_agreement = kit_team, float(ev.kit_share[int(np.argmin(d))])
        elif consensus is not None and n >= rules.min_votes:
            team, team_agreement = consensus, vote_agreement
    elif role == "goalkeeper":
        consensus, vote_agreement, n = team_vote
        if kits is None and consensus is not None and n >= rules.min_votes:
            # No kit models (a classifier that reads no colour): its own goalkeeper placement.
            team, team_agreement, clause = consensus, vote_agreement, f"team {consensus} by its crops' votes"
        else:
            team, team_agreement, clause = _goalkeeper_team(ev, kits)
        reason += f"; {clause}"
    return RoleDecision(role, team, agreement, team_agreement, reason, flags)


def _goalkeeper_team(ev: _Evidence, kits: TeamKits | None) -> tuple[str | None, float, str]:
    """A goalkeeper plays for the team defending the goal it stands at."""
    if kits is None or kits.side_a is None:
        return None, math.nan, "team unknown (sides of play unknown)"
    if not math.isfinite(ev.left_share):
        return None, math.nan, "team unknown (no position)"
    side, share = ("left", ev.left_share) if ev.left_share >= 0.5 else ("right", 1.0 - ev.left_share)
    team = "A" if side == kits.side_a else "B"
    return team, share, f"{share:.0%} of its positioned rows in the {side} half: defends the {side} goal, team {team}'s"


def decide_roles(
    tracks: Tracks,
    crop_track_id: np.ndarray,
    crop_kit_distance: np.ndarray | None,
    team_votes: Any,
    kits: TeamKits | None,
    pitch: PitchModel | None,
    rules: RoleRules,
) -> dict[int, RoleDecision]:
    """Role, team and reason of every tracklet of a clip.

    Per tracklet, in order:

    1. Feet outside the pitch (by ``off_pitch_margin_m`` + ``off_pitch_sigmas`` x its position's
       one-sigma radius) on at least ``off_pitch_share`` of its positioned rows: ``other``, no
       team, flagged ``off-pitch``. Without positions it is never called off the pitch. Its
       jersey is left as read: a substitute warming up wears a real number, and without a team it
       is never joined to a player's track by number.
    2. Its median kit distance beyond ``kit_outlier`` from both kits: in neither kit. A goalkeeper
       when it spends ``goalkeeper_area_share`` of its positioned rows in one penalty area (unless
       the detector votes referee at ``detector_override``), or the detector's goalkeeper votes
       dominate; otherwise a referee (the referee and assistants move in the middle or along a
       touchline).
    3. Within ``kit_member`` of a kit: a player of that team, unless the detector's votes for
       goalkeeper or referee reach ``detector_override``.
    4. Without kit evidence (no kit models, too few crops with a colour, a kit distance between
       the two thresholds): the detector's votes, and the crops' team votes for a player.

    Where the detector's majority disagrees with the kit-based role, the track is flagged
    ``role-kit``. A goalkeeper plays for the team defending its goal (``kits.side_a``). Two
    goalkeepers at one goal at the same time cannot both be: the one with less evidence (area share
    plus detector goalkeeper share) becomes a referee.

    Args:
        tracks: The clip's athlete rows; ``data["pitch_xy"]`` ``(N, 2)`` metres and
            ``data["pitch_sigma_m"]`` ``(N,)`` are used when present (NaN = unknown).
        crop_track_id: ``int64`` ``(M,)`` tracklet of each crop.
        crop_kit_distance: ``float32`` ``(M, 2)`` distance of each crop's shirt to kit A and B
            in spreads (NaN unknown); None without kit models.
        team_votes: The crops' team votes per tracklet, a :class:`~soccerfactory.curation.vote.TrackVotes`
            (its ``get(id)`` gives consensus, agreement, votes); used when there is no kit evidence.
        kits: The clip's kits and sides, None when unknown.
        pitch: The pitch (its lines decide off-pitch and penalty areas); None = no position evidence.
        rules: The thresholds.

    Returns:
        ``{tracklet id: RoleDecision}`` for every tracklet of ``tracks``.
    """
    if tracks.track_id is None:
        raise ValueError("tracks must carry track_id (run the tracker first): roles are decided per tracklet")
    crop_track_id = np.asarray(crop_track_id, dtype=np.int64).reshape(-1)
    if crop_kit_distance is not None:
        crop_kit_distance = np.asarray(crop_kit_distance, dtype=np.float32).reshape(-1, 2)
        if crop_kit_distance.shape[0] != crop_track_id.shape[0]:
            raise ValueError(f"crop_kit_distance must have one row per crop ({len(crop_track_id)}), got {crop_kit_distance.shape[0]}")
    decisions: dict[int, RoleDecision] = {}
    evidence: dict[int, _Evidence] = {}
    for t in tracks.track_ids().tolist():
        rows = np.flatnonzero(tracks.track_id == t)
        distance = None if crop_kit_distance is None else crop_kit_distance[crop_track_id == t]
        evidence[t] = _evidence(tracks[rows], distance, pitch, rules)
        decisions[t] = _decide_one(evidence[t], team_votes.get(t), kits, rules)
    _one_goalkeeper_per_goal(tracks, decisions, evidence)
    return decisions


def _one_goalkeeper_per_goal(tracks: Tracks, decisions: dict[int, RoleDecision], evidence: dict[int, _Evidence]) -> None:
    keepers = [t for t, d in decisions.items() if d.role == "goalkeeper" and evidence[t].area_side != 0]
    if len(keepers) < 2:
        return
    frames = {t: set(tracks.frame_index[tracks.track_id == t].tolist()) for t in keepers}

    def score(t: int) -> float:
        ev = evidence[t]
        return (ev.area_share if math.isfinite(ev.area_share) else 0.0) + ev.votes.get("goalkeeper", 0.0)

    for t in sorted(keepers, key=lambda k: (score(k), -k)):
        rivals = [
            u for u in keepers
            if u != t and decisions[u].role == "goalkeeper" and evidence[u].area_side == evidence[t].area_side
            and frames[u] & frames[t] and score(u) >= score(t)
        ]
        if rivals:
            old = decisions[t]
            votes = evidence[t].votes
            # The evidence clause is what precedes ": goalkeeper" (see _decide_one).
            evidence_clause = old.reason.rsplit(": goalkeeper", 1)[0]
            reason = f"{evidence_clause}, but track {rivals[0]} is that goal's goalkeeper at the same time: referee"
            decisions[t] = RoleDecision("referee", None, votes.get("referee", 0.0) if votes else math.nan, math.nan, reason, dict(old.flags))


# --------------------------------------------------------------------------- clip-level glue


def clip_kits(
    colours: np.ndarray,
    team: np.ndarray,
    track_id: np.ndarray,
    pitch_x: np.ndarray,
    min_spread: float,
    member: float,
    outlier: float,
    side_min_gap_m: float,
    min_people: int,
) -> tuple[np.ndarray | None, TeamKits | None]:
    """Kit distances of every crop and the clip's :class:`~.kits.TeamKits`.

    Args:
        colours: ``(N, 3)`` Lab shirt colour per crop (NaN unknown).
        team: ``(N,)`` the team classifier's label per crop.
        track_id: ``(N,)`` tracklet per crop.
        pitch_x: ``(N,)`` pitch x per crop (NaN unknown), for the sides.
        min_spread, outlier: see :func:`fit_kit_model`.
        member: crops within this many spreads of their kit count for the sides (a referee the
            classifier put in a team does not move it).
        side_min_gap_m: see :func:`team_side`.
        min_people: Fewest people (distinct tracklets within ``member`` of their kit) each kit
            needs. A kit worn by one person is as often a referee's, a goalkeeper's or a
            steward's: in a zoomed shot with one team in view (synthetic seed 402) the
            classifier's second "team" was three stewards in black and a referee.

    Returns:
        ``(kit_distance, kits)``: ``float32`` ``(N, 2)`` distances to kit A and B in spreads and
        the kits' colours and side, or ``(None, None)`` without two kits worn by enough people.
    """
    model = fit_kit_model(colours, team, min_spread, outlier)
    if model is None:
        return None, None
    distance = model.distance(colours)
    known = np.isfinite(distance).all(axis=1)
    nearest = np.where(known, np.where(known[:, None], distance, np.inf).min(axis=1), np.inf)
    in_kit = np.asarray(team, dtype=object).copy()
    in_kit[nearest > member] = None
    track_id = np.asarray(track_id, dtype=np.int64).reshape(-1)
    if any(len(np.unique(track_id[in_kit == name])) < min_people for name in TEAMS):
        return None, None
    side_a, _ = team_side(track_id, in_kit, pitch_x, side_min_gap_m)
    colour_a, colour_b = model.rgb()
    return distance, TeamKits(colour_a=colour_a, colour_b=colour_b, side_a=side_a)


def role_columns(decisions: Mapping[int, RoleDecision], track_rows: np.ndarray) -> dict[str, np.ndarray]:
    """Each row's tracklet decision: ``role``, ``team``, ``role_reason`` (object ``(N,)``) and
    ``role_agreement``, ``team_agreement`` (``float32`` ``(N,)``); None / NaN for unknown ids."""
    track_rows = np.asarray(track_rows, dtype=np.int64).reshape(-1)
    n = len(track_rows)
    out = {
        "role": np.full(n, None, dtype=object), "team": np.full(n, None, dtype=object),
        "role_reason": np.full(n, None, dtype=object),
        "role_agreement": np.full(n, np.nan, dtype=np.float32), "team_agreement": np.full(n, np.nan, dtype=np.float32),
    }
    for t, decision in decisions.items():
        rows = track_rows == t
        out["role"][rows] = decision.role
        out["team"][rows] = decision.team
        out["role_reason"][rows] = decision.reason
        out["role_agreement"][rows] = decision.role_agreement
        out["team_agreement"][rows] = decision.team_agreement
    return out


def tracklet_flags(decisions: Mapping[int, RoleDecision], tracks: Tracks) -> dict[str, dict[int, str]]:
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
