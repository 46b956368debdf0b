"""Roles and teams decided relationally: each tracklet's kit against both teams' kits, and where it stands.

The detector names a class per box, and on footage it never saw it confuses a referee in a dark
kit with a player (on a synthetic clip the centre referee was voted ``player``, team B, with
agreement 1.0). What a person uses instead is relative: the two teams wear two kits, so whoever
wears neither is a referee or a goalkeeper; a goalkeeper stays near one goal, referees move in the
middle and assistants along a touchline; whoever stands off the pitch is not playing.

* The kit models (:mod:`.kits`: :func:`~.kits.fit_kit_model`, :func:`~.kits.clip_kits`) give each
  crop's distance to both teams' kits.
* :func:`decide_roles` decides, per tracklet, role, team and the reason, from the kit distances of
  its crops, the detector's class votes weighted by confidence, and its pitch positions; then the
  side each team defends from the players it decided (:func:`players_side`), which places the
  goalkeepers.

Distances to a kit are in units of that kit's spread. Pitch coordinates are metres in the
SoccerNet frame (origin at the centre mark, x towards the right goal).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from soccerfactory.curation.attribute.beyond_line import BEYOND_SIGMAS, NEAR_LINE_M, beyond_evidence, member_beyond_line
from soccerfactory.curation.attribute.flags import metres_outside, penalty_area_side, role_columns, tracklet_flags
from soccerfactory.curation.attribute.officials import OfficialCandidate, line_outside, staff_beside_the_lines
from soccerfactory.curation.attribute.one_referee import apply_one_referee
from soccerfactory.curation.attribute.kits import SIDES, KitModel, TeamKits, clip_kits, fit_kit_model, shirt_colour, team_side
from soccerfactory.curation.attribute.roles import role_from_class
from soccerfactory.curation.attribute.team import TEAMS
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.types import Tracks

# The kit models moved to .kits; they stay importable from here.
__all__ = [
    "KitModel",
    "ClipDecisions",
    "RoleDecision",
    "RoleRules",
    "clip_kits",
    "decide_roles",
    "fit_kit_model",
    "kit_separation",
    "players_side",
    "role_columns",
    "shirt_colour",
    "team_side",
    "tracklet_flags",
]


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
        kit_min_people: Fewest people a kit needs (``attribute.kit_min_people``): in a clip of at
            least twice as many tracklets without kit models, players without a position are
            counted ``other`` (nothing but the detector says player).
        side_min_gap_m: The side each team defends is named from the players decided here when
            their teams' mean pitch x differ by this much (:func:`players_side`); None keeps
            ``kits.side_a`` as given.
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
    kit_min_people: int = 2
    side_min_gap_m: float | None = None


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
    shirt_colour: str | None = None  # median shirt colour of its crops, #rrggbb; None: no crop had one
    shirt_crops: int = 0  # crops that median is over


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
    x_on_pitch: float  # mean x of its positioned rows that are not off the pitch (NaN: none)
    inside_share: float = math.nan  # share of positioned rows on or inside the lines
    outside_median_m: float = math.nan  # median metres outside the lines over positioned rows
    line: str | None = None  # the line it stands beyond on most rows outside (officials.line_outside)
    frames: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))  # frames of positioned rows
    has_pitch: bool = False  # positions were sought (a pitch was given)
    beyond_share: float = math.nan  # share of positioned rows beyond a line by BEYOND_SIGMAS (beyond_line.beyond_line_share)
    ball_rows: int = 0  # positioned rows with the ball beside it (beyond_line.ball_near_rows)


def _shares(roles: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    total = float(weights.sum())
    if total <= 0:
        return {}
    return {r: float(weights[roles == r].sum()) / total for r in ("player", "goalkeeper", "referee")}


def _evidence(track: Tracks, kit_distance: np.ndarray | None, pitch: PitchModel | None, rules: RoleRules, ball: Any = None) -> _Evidence:
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
    area_side, left_share, x_on_pitch = 0, math.nan, math.nan
    inside_share = outside_median = math.nan
    line, frames = None, np.zeros(0, np.int64)
    beyond_share, ball_rows = math.nan, 0
    if positioned:
        outside = metres_outside(xy[known_rows], pitch).astype(np.float64)
        off = outside > rules.off_pitch_margin_m + rules.off_pitch_sigmas * sigma[known_rows]
        off_share = float(off.mean())
        off_median = float(np.median(outside[off])) if off.any() else 0.0
        side = penalty_area_side(xy[known_rows], pitch, rules.goalkeeper_area_margin_m)
        left, right = float((side < 0).mean()), float((side > 0).mean())
        area_share, area_side = max(left, right), (-1 if left >= right else 1)
        left_share = float((xy[known_rows, 0] < 0).mean())
        if not off.all():
            x_on_pitch = float(xy[known_rows, 0][~off].mean())
        inside_share, outside_median = float((outside <= 0).mean()), float(np.median(outside))
        line, frames = line_outside(xy[known_rows], pitch), np.asarray(track.frame_index[known_rows], dtype=np.int64)
        beyond_share, ball_rows = beyond_evidence(outside, sigma[known_rows], frames, xy[known_rows], ball, rules.off_pitch_sigmas)
    return _Evidence(
        votes, kit, share, crops, kit_distance is not None, positioned, off_share, off_median, area_share, area_side, left_share, x_on_pitch,
        inside_share, outside_median, line, frames, pitch is not None, beyond_share, ball_rows,
    )


def _detector_clause(votes: Mapping[str, float]) -> str:
    if not votes:
        return "no detector votes"
    best = max(votes, key=votes.get)  # type: ignore[arg-type]
    return f"the detector votes {best} ({votes[best]:.0%} of its weight)"


def kit_separation(crop_kit_distance: np.ndarray | None, member: float) -> float:
    """How far apart a clip's two kits are, in spreads: the smaller of the median distance to kit B
    of the crops that wear kit A (within ``member`` of it, nearer it than B) and the converse;
    NaN when either kit has no such crop."""
    if crop_kit_distance is None:
        return math.nan
    d = np.asarray(crop_kit_distance, dtype=np.float64).reshape(-1, 2)
    d = d[np.isfinite(d).all(axis=1)]
    near = d.argmin(axis=1) if len(d) else np.zeros(0, np.int64)
    out = []
    for k in (0, 1):
        rows = (near == k) & (d[:, k] <= member)
        if not rows.any():
            return math.nan
        out.append(float(np.median(d[rows, 1 - k])))
    return min(out)


def _decide_one(
    ev: _Evidence, team_vote: tuple, kits: TeamKits | None, rules: RoleRules, kits_apart: bool = False, crowd: bool = False
) -> RoleDecision:
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
    if 0 < ev.positioned < rules.min_positioned_rows and ev.off_share >= rules.off_pitch_share:
        # Too few positions for position evidence, but most of them off the pitch by the margin
        # and sigmas (seen mostly without a camera, or a short tracklet beside the pitch): the
        # same share as with many rows. On dev seeds 400-402 no player or goalkeeper had more
        # than 7 % of its positioned rows off the pitch; off-pitch people stand 1.7-6 m out.
        clause = (
            f"feet outside the pitch by more than {rules.off_pitch_margin_m:g} m + {rules.off_pitch_sigmas:g} sigma on "
            f"{ev.off_share:.0%} of its {ev.positioned} positioned rows (median {ev.off_median_m:.1f} m out)"
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
    member = kit_known and d is not None and float(d.min()) <= rules.kit_member
    if role == "player" and positioned and member and ev.outside_median_m > NEAR_LINE_M:
        # A kit member plays beyond a line only for a moment of play (why and the figures: beyond_line.py).
        clause = member_beyond_line(TEAMS[int(np.argmin(d))], ev.outside_median_m, ev.line, ev.positioned, ev.beyond_share,
                                    ev.ball_rows, rules.off_pitch_share, BEYOND_SIGMAS, max(rules.min_positioned_rows, 1))
        if clause is not None:
            return RoleDecision("other", None, math.nan, math.nan, f"{reason}; but {clause}: other", {**flags, "off-pitch": f"off-pitch: {clause}"})
    if role in ("player", "goalkeeper") and positioned and not member and ev.outside_median_m > rules.off_pitch_margin_m:
        # Who plays stands on the pitch: a player's median position is on or inside the lines
        # (dev seeds 400-402: 247 players and goalkeepers, every median 0.0 m out), a goalkeeper's
        # on its goal line. The off-pitch share above adds two sigmas of each position's
        # uncertainty, so someone 1.7-2.8 m beyond a line (a coach or a ball kid in a colour near
        # a team's kit, someone just behind a goal, where sigmas are largest) passes it; every
        # off-pitch person of those seeds stood at a median of 1.7 m out or more (seed 404: one at
        # 1.8 m, 3.2 spreads from a kit, voted player at 54 %). A member of a team's kit is judged
        # above (beyond_line.py). Referees are left to the officials' rules (assistants: 1.8 m out).
        clause = (
            f"its feet a median {ev.outside_median_m:.1f} m beyond the {ev.line or 'lines'} over {ev.positioned} positioned rows, "
            f"over the {rules.off_pitch_margin_m:g} m a {role} may stand out"
        )
        return RoleDecision(
            "other", None, math.nan, math.nan, f"{reason}; but {clause}: other", {**flags, "off-pitch": f"off-pitch: {clause}"}
        )
    kit_roles = ("player",) if kit_says.startswith("a player") else ("referee", "goalkeeper")
    if kit_known and detector_role is not None and detector_role not in kit_roles:
        flags["role-kit"] = f"role-kit: the kit says {kit_says} ({kit_clause}), {_detector_clause(votes)}; decided {role}"
    if (
        role == "goalkeeper" and ev.positioned >= rules.min_positioned_rows and math.isfinite(ev.area_share)
        and ev.area_share < rules.goalkeeper_area_share
    ):
        # A goalkeeper stands at its goal. One the positions put outside both penalty areas on most
        # rows was named by the detector's class alone: with the role classifier (which calls a
        # lone kit a goalkeeper) held-out clips 301-305 had 8 of 53 people beside the pitch voted
        # goalkeeper this way (0 before it). Whoever it is, nothing says player or goalkeeper.
        reason = (
            f"{reason}; but {1 - ev.area_share:.0%} of {ev.positioned} positioned rows outside both penalty areas, "
            "so not a goalkeeper, and nothing else says what it is"
        )
        return RoleDecision("other", None, math.nan, math.nan, f"{reason}: other", {**flags, "role-kit": f"role-kit: {reason}; decided other"})
    if role == "goalkeeper" and not kit_known and not positioned and votes.get("goalkeeper", 0.0) < rules.detector_override:
        # Named by a split detector vote alone: no kit evidence, no position. On dev seed 402 a
        # steward of a zoomed shot (one crop, no camera) was voted goalkeeper at 55 %; every true
        # goalkeeper of dev seeds 400-403 (6) was decided by its kit and its penalty area instead.
        reason = (
            f"{reason}; under the {rules.detector_override:.0%} that names a goalkeeper on the detector's word alone, "
            "and no kit or position says goalkeeper, so not counted as a goalkeeper"
        )
        # The per-match step (match_tracks.py) may still find it a player in a match kit.
        return RoleDecision("other", None, math.nan, math.nan, f"{reason}: other", flags)
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
    if role == "player" and crowd and not ev.has_kits and ev.has_pitch and ev.positioned == 0:
        # Nothing but the detector says "player": people enough in view for two kits, yet no two
        # kits worn by them, and no position on the pitch. Its class confuses staff with players:
        # on dev seed 402 a zoomed shot without a camera whose kits were refused (three stewards
        # in black, one player, a referee) had the stewards voted player at 94-100 % (the referee
        # at 78 %). As with a kit in no team's (above), whom nothing else says is a player is not
        # counted as one. A close-up (fewer people than two kits need) keeps the detector's word.
        # GS-HOTA does not score frames without a camera, so nothing is lost there.
        reason = reason.rsplit(": ", 1)[0] + "; nothing else says player (no kit models, no position), so not counted as a player: other"
        return RoleDecision("other", None, math.nan, math.nan, reason, flags)
    if role == "player":
        consensus, vote_agreement, n = team_vote
        if kit_known:
            kit_team = TEAMS[int(np.argmin(d))]
            if consensus is not None and consensus != kit_team and n >= rules.min_votes:
                reason += f"; team unknown: its crops voted {consensus}, its median kit is {kit_team}'s"
            elif ev.kit_crops >= rules.min_votes:
                team, team_agreement = kit_team, float(ev.kit_share[int(np.argmin(d))])
        elif (
            consensus is not None and ev.kit is not None and ev.kit_crops < rules.kit_min_crops
            and float(ev.kit[TEAMS.index(consensus)]) > rules.kit_member
        ):
            # Its one crop was voted the nearer kit, but lies outside it: on dev seed 402 two
            # referees seen on one crop each (pink, 16-18 spreads from both kits) were voted team A.
            reason += (
                f"; team unknown: its {ev.kit_crops} crop voted {consensus}, but lies {float(ev.kit[TEAMS.index(consensus)]):.1f} spreads "
                f"from that kit, beyond the {rules.kit_member:g} of a member"
            )
        elif consensus is not None and n >= (rules.min_votes if kits_apart else max(rules.min_votes, rules.kit_min_crops)):
            team, team_agreement = consensus, vote_agreement
        elif consensus is not None:
            # A tracklet with fewer crops than a kit needs is given its crops' vote only where the
            # clip's two kits cannot be confused (kit_separation: a crop wearing one lies beyond the
            # other's outliers). On dev seed 401 a zoomed shot's kit B was half a shade of kit A
            # (A's players 2.3 B-spreads from B) and two of its four one-crop tracklets were voted B
            # wrongly; in the other clips of seeds 400-402 the kits were 9.3-27 spreads apart and
            # all five one-crop votes right.
            reason += (
                f"; team unknown: {n} crop vote(s) for {consensus}, under the {rules.kit_min_crops} a kit needs, "
                "and the clip's kits are too alike for fewer"
            )
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


class ClipDecisions(dict):
    """``{tracklet id: RoleDecision}`` of one clip, with the clip's kits as the decisions left them.

    Attributes:
        kits: The clip's :class:`~.kits.TeamKits` with ``side_a`` from :func:`players_side` (when
            ``RoleRules.side_min_gap_m`` is set), None without kits.
        side_reason: Why ``kits.side_a`` is what it is.
    """

    def __init__(self, decisions: Mapping[int, RoleDecision], kits: TeamKits | None, side_reason: str) -> None:
        super().__init__(decisions)
        self.kits = kits
        self.side_reason = side_reason


def players_side(decisions: Mapping[int, RoleDecision], mean_x: Mapping[int, float], min_gap_m: float) -> tuple[str | None, str]:
    """The goal team A defends (:data:`~.kits.SIDES`), from the players decided, and why.

    Like :func:`~.kits.team_side`, but over the tracklets decided ``player`` with a team, each
    counted once at its mean x on the pitch: a steward in a colour near one kit behind a goal, or a
    referee the classifier put in a team, no longer moves its team's mean. On synthetic seed 400
    two stewards 5 m behind the left goal line, within kit B's spread, pulled team B's mean from
    -23 m to -35 m, past team A's -31 m: the side came out wrong, and with it the goalkeeper's team
    and every team of the clip in the game-state export.

    Args:
        decisions: ``{tracklet id: RoleDecision}``.
        mean_x: ``{tracklet id: mean pitch x of its rows on the pitch}`` (NaN: none).
        min_gap_m: The teams' mean x must differ by this much for a side to be named.
    """
    means: dict[str, list[float]] = {name: [] for name in TEAMS}
    for t, decision in decisions.items():
        x = mean_x.get(t, math.nan)
        if decision.role == "player" and decision.team in TEAMS and math.isfinite(x):
            means[decision.team].append(x)
    if not means["A"] or not means["B"]:
        return None, "side unknown: a team has no player positioned on the pitch"
    a, b = float(np.mean(means["A"])), float(np.mean(means["B"]))
    if abs(a - b) < min_gap_m:
        return None, f"side unknown: the teams' players' mean x differ by {abs(a - b):.1f} m, under {min_gap_m:g} m"
    side = SIDES[0] if a < b else SIDES[1]
    return side, f"team A's {len(means['A'])} players at mean x {a:+.1f} m, team B's {len(means['B'])} at {b:+.1f} m"


def decide_roles(
    tracks: Tracks,
    crop_track_id: np.ndarray,
    crop_kit_distance: np.ndarray | None,
    team_votes: Any,
    kits: TeamKits | None,
    pitch: PitchModel | None,
    rules: RoleRules,
    crop_colours: np.ndarray | None = None,
    ball: Any = None,
) -> ClipDecisions:
    """Role, team and reason of every tracklet of a clip.

    Per tracklet, in order:

    1. Feet outside the pitch (by ``off_pitch_margin_m`` + ``off_pitch_sigmas`` x its position's
       one-sigma radius) on at least ``off_pitch_share`` of its positioned rows: ``other``, no
       team, flagged ``off-pitch`` (with fewer than ``min_positioned_rows`` positions, the same
       share of them). A tracklet the detector (or a kit it is no member of) would make a player
       or a goalkeeper whose median position lies more than ``off_pitch_margin_m`` beyond a line
       (no sigmas) is ``other`` too, a member of a kit as :mod:`.beyond_line` says. Without
       positions it is never called off the pitch. Its
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
       the two thresholds): the detector's votes, and the crops' team votes for a player (as many
       as a kit needs, ``kit_min_crops``, unless the clip's kits are far apart:
       :func:`kit_separation` at least ``kit_member + kit_outlier``). A detected player in a clip
       of at least ``2 * kit_min_people`` tracklets without kit models, with no position, is
       ``other``: nothing but the detector says it plays.
    5. Referees standing beside the lines who cannot be assistants (not in the centre referee's
       kit, a second one beyond one touchline at the same time, behind a goal line:
       :func:`~.officials.staff_beside_the_lines`) are ``other``, flagged ``off-pitch``.
    6. One referee works on the field of play: of the referees standing inside it at the same time,
       a group in one kit is a team the kit models missed and the rest keep one
       (:func:`~.one_referee.surplus_referees`); the others become players, flagged ``role-kit``.

    Where the detector's majority disagrees with the kit-based role, the track is flagged
    ``role-kit``. The side each team defends is then named from the players decided
    (:func:`players_side`, with ``rules.side_min_gap_m``), and a goalkeeper plays for the team
    defending its goal. Two
    goalkeepers at one goal at the same time cannot both be: the one with less evidence (area share
    plus detector goalkeeper share) becomes a referee.

    With ``crop_colours``, each decision carries its tracklet's :func:`shirt_colour` (median shirt
    colour and crop count, the ``athletes.shirt_colour`` / ``shirt_crops`` columns): the evidence
    the per-match step (:mod:`~.match_tracks`) decides tracklets on that this clip's own kits could not.

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
        crop_colours: ``float32`` ``(M, 3)`` CIE Lab shirt colour of each crop (NaN unknown), or
            None (no shirt colour).
        ball: The clip's ball track (``data["pitch_xy"]``) or None, for :mod:`.beyond_line`.

    Returns:
        ``{tracklet id: RoleDecision}`` for every tracklet of ``tracks``, with the kits and sides
        they leave (:class:`ClipDecisions`).
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
    kits_apart = kit_separation(crop_kit_distance, rules.kit_member) >= rules.kit_member + rules.kit_outlier
    crowd = len(tracks.track_ids()) >= 2 * rules.kit_min_people
    for t in tracks.track_ids().tolist():
        rows = np.flatnonzero(tracks.track_id == t)
        distance = None if crop_kit_distance is None else crop_kit_distance[crop_track_id == t]
        evidence[t] = _evidence(tracks[rows], distance, pitch, rules, ball)
        decisions[t] = _decide_one(evidence[t], team_votes.get(t), kits, rules, kits_apart, crowd)
    side_reason = "as given"
    if kits is not None and rules.side_min_gap_m is not None:
        side, side_reason = players_side(decisions, {t: ev.x_on_pitch for t, ev in evidence.items()}, rules.side_min_gap_m)
        if side != kits.side_a:
            kits = dataclasses.replace(kits, side_a=side)
            for t, decision in decisions.items():
                if decision.role == "goalkeeper":
                    decisions[t] = _decide_one(evidence[t], team_votes.get(t), kits, rules, kits_apart, crowd)
    _one_goalkeeper_per_goal(tracks, decisions, evidence)
    _staff_beside_the_lines(decisions, evidence, rules)
    apply_one_referee(tracks, decisions, evidence, pitch, rules.kit_member, crop_track_id, crop_colours)
    if crop_colours is not None:
        colours = np.asarray(crop_colours, dtype=np.float32).reshape(-1, 3)
        if colours.shape[0] != crop_track_id.shape[0]:
            raise ValueError(f"crop_colours must have one row per crop ({len(crop_track_id)}), got {colours.shape[0]}")
        for t, decision in decisions.items():
            colour, crops = shirt_colour(colours[crop_track_id == t])
            decisions[t] = dataclasses.replace(decision, shirt_colour=colour, shirt_crops=crops)
    return ClipDecisions(decisions, kits, side_reason)


def _staff_beside_the_lines(decisions: dict[int, RoleDecision], evidence: dict[int, _Evidence], rules: RoleRules) -> None:
    """Referees in neither kit standing beside the lines that cannot be assistants become ``other``
    (:func:`~.officials.staff_beside_the_lines`), flagged ``off-pitch``."""
    candidates = []
    for t, decision in decisions.items():
        ev = evidence[t]
        in_neither = ev.kit is not None and ev.kit_crops >= max(rules.kit_min_crops, 1) and float(np.min(ev.kit)) > rules.kit_outlier
        if decision.role == "referee" and ev.positioned >= max(rules.min_positioned_rows, 1):
            kit = ev.kit if in_neither else None
            candidates.append(OfficialCandidate(t, kit, ev.inside_share, ev.outside_median_m, ev.line, ev.frames))
    staff = staff_beside_the_lines(candidates, rules.kit_outlier, rules.off_pitch_share, rules.off_pitch_margin_m)
    for t, clause in staff.items():
        old = decisions[t]
        evidence_clause = old.reason.rsplit(": referee", 1)[0]
        flags = {**old.flags, "off-pitch": f"off-pitch: {clause}"}
        flags.pop("role-kit", None)  # the detector's class no longer disagrees with a kit-based role
        decisions[t] = RoleDecision("other", None, math.nan, math.nan, f"{evidence_clause}; but {clause}: other", flags)


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
