"""Tracklets a clip could not decide, decided against the kits of the whole match.

A clip's own kit models (:func:`~.kits.clip_kits`) need two kits each worn by enough people in
that clip. A short zoomed shot or a close-up often has too few: on dev seed 498 a 4 s zoomed shot
showed four players of one team and one of the other (plus one half-and-half crop), so its kits
were refused, every player got no team, and four of them became ``other`` (nothing but the
detector said "player"). The match has seen both kits many times in its other clips, so after the
letters of its clips are aligned (:mod:`.match_teams`) the per-match step fits them once more from
every aligned clip's players (one colour per tracklet, the median of its crops: the
``athletes.shirt_colour`` and ``shirt_crops`` columns, :func:`~.relational.shirt_colour`) and
decides with them, in match letters:

* **Team.** A tracklet left without a team (a player without one; or ``other`` because nothing
  but the detector said player) whose shirt lies within ``kit_member`` spreads of one match kit
  and beyond ``kit_outlier`` of the other is a player of that team. With a single crop the match's
  two kits must also be far apart (each kit's centre at least ``kit_member + kit_outlier`` spreads
  from the other), as in the clip rule (:func:`~.relational.kit_separation`), or the crop lie in
  the core of its kit (within half ``kit_member``).
* **Officials.** The referee and assistants wear one kit in the whole match. Tracklets the clips
  decided ``referee`` (not off the pitch, two of them at least) give its colour, unless it lies
  within ``kit_outlier`` of a team kit or someone the pitch put off it (staff) wears it too. A
  tracklet left ``other`` or a player without a team whose shirt is within ``kit_member`` of it
  (half that on a single crop) and beyond ``kit_outlier`` of both team kits is a referee, one such
  at a time (without positions the centre referee cannot be told from a second person in that
  colour).
* **Corrections** of a player its clip decided, on two crops at least, where the clip's own kits
  had taken in someone else: its shirt in the officials' kit and in neither team's makes a
  referee; in no kit of the match at all (beyond twice ``kit_outlier`` from both team kits and
  from the colours between them) and without a position, ``other`` (as the clip rule for a kit in
  no team's). Both are flagged ``role-kit``.
* **Corrections** of a referee its clip decided: one in neither clip kit whose shirt lies beyond
  twice ``kit_outlier`` from the officials' kit and the other team's, within it of one team's, is
  a player, of that team when within ``kit_member`` or on the pitch (most positioned rows inside
  the lines: who plays there plays for a team); one the detector's votes made a referee against
  its clip's team kit is a player of that team when its shirt, on two crops, is clearly in that
  match kit and far from the officials'. Flagged ``role-kit``.
* **Letters of an ambiguous clip.** A clip whose two kit colours pointed different ways (see
  :func:`~.match_teams.align_match`) keeps or swaps when its players' own tracklets say so: at
  least ``min_clip_votes`` tracklets with a team and two crops are clearly members of one match
  kit, and all of them agree on the one assignment. A clip they do not settle has every team
  given anew: a player clearly in one match kit gets its letter, any other player is refused one,
  and a goalkeeper (whose team came from the clip's sides, in the clip's letters) joins the team
  that defends its half by the players' new letters, or is refused one.
* **Confused kits.** A clip aligned by this run whose own kits split its players otherwise than
  the match's (two of its players at least clearly in the other match kit than their letter) has
  its teams given anew the same way; the match's kits are refitted without it.
* **Nearest by far.** A tracklet its clip decided ``player`` whose team is open (refused, or given
  anew) and whose shirt is not clearly a member of a match kit gets the nearest kit's letter when
  the shirt lies within twice ``kit_outlier`` of it, 2.5 times as far from the other kit and 1.5
  times as far from the officials' (a shot's light moves a kit by more than a member's distance).

None of these makes a player or a goalkeeper of a tracklet whose median position lies beyond a line
by more than ``off_pitch_margin_m`` (the clip rule's): it becomes ``other``, flagged ``off-pitch``.
Everything else stays as the clip decided it, refused where it was refused. Distances are in
spreads of the match kits (weighted Lab, as :class:`~.kits.KitModel`), each spread the median
distance of the member tracklets' colours from their kit, floored at ``kit_min_spread``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from soccerfactory.curation.attribute.kits import KitModel, fit_kit_model
from soccerfactory.curation.attribute.match_rows import ATHLETE_COLUMNS, Tracklet, TrackletFill, fill_athletes, tracklets_of
from soccerfactory.curation.attribute.team import LIGHTNESS_WEIGHT, TEAMS

__all__ = [
    "ATHLETE_COLUMNS", "ClipTracklets", "MatchTrackRules", "MatchTracklets", "Tracklet", "TrackletFill",
    "decide_match_tracklets", "fill_athletes", "tracklets_of",
]

_WEIGHT = np.array([LIGHTNESS_WEIGHT, 1.0, 1.0], dtype=np.float64)
#: The clip rules that leave a detected player ``other`` for want of evidence (relational.py).
_UNSUPPORTED_PLAYER = "not counted as a player: other"
#: ... and a goalkeeper on a split detector vote alone (no kit evidence, no position).
_UNSUPPORTED_GOALKEEPER = "not counted as a goalkeeper: other"
#: The clip rule that makes a tracklet in a team's kit a referee on the detector's votes (relational.py).
_DETECTOR_REFEREE = "'s kit, but the detector votes referee"


@dataclasses.dataclass(frozen=True)
class ClipTracklets:
    """A clip's tracklets and what the letter alignment decided for it.

    Attributes:
        clip_id: The clip.
        action: Its :class:`~.match_teams.LetterDecision` action (``reference`` for an aligned one).
        tracklets: Its tracklets.
    """

    clip_id: str
    action: str
    tracklets: tuple[Tracklet, ...]


@dataclasses.dataclass(frozen=True)
class MatchTrackRules:
    """Thresholds (the config's ``attribute.kit_*`` and ``vote.kit_min_crops``, argued there).

    Attributes:
        kit_min_spread: Floor of a match kit's spread (weighted Lab).
        kit_member: Within this many spreads of a kit: wears it.
        kit_outlier: Beyond this many: does not.
        kit_min_crops: Crops a tracklet needs to fit the match's kits or to be decided without
            the kits being far apart.
        min_clip_votes: Tracklets that must agree to decide an ambiguous clip's letters.
        min_positioned_rows: Fewer rows with a pitch position than this is "no position"
            (``vote.min_positioned_rows``, as the clip rules count it).
        off_pitch_margin_m: A tracklet whose median position lies further than this beyond a
            line is never made a player or a goalkeeper here (``vote.off_pitch_margin_m``; the
            clip rule of :func:`~.relational.decide_roles` for a player standing beyond a line).
        side_min_gap_m: The teams' players' mean x must differ by this much to name the side a
            relabelled clip's goalkeeper defends (``attribute.side_min_gap_m``).
    """

    kit_min_spread: float
    kit_member: float
    kit_outlier: float
    kit_min_crops: int = 2
    min_clip_votes: int = 3
    min_positioned_rows: int = 5
    off_pitch_margin_m: float = 1.5
    side_min_gap_m: float = 4.0


@dataclasses.dataclass(frozen=True)
class MatchTracklets:
    """What :func:`decide_match_tracklets` decided.

    Attributes:
        fills: The tracklets decided, per clip.
        letters: ``{clip id: (action, reason)}`` for the ambiguous clips its players decided.
        note: One line on the match kits used (or why none).
    """

    fills: dict[str, list[TrackletFill]]
    letters: dict[str, tuple[str, str]]
    note: str


def _match_letter(team: str | None, action: str) -> str | None:
    if team not in TEAMS:
        return None
    return ({"A": "B", "B": "A"}[team]) if action == "swap" else team


def _distance(centre: np.ndarray, spread: float, lab: np.ndarray) -> float:
    return float(np.linalg.norm((np.asarray(lab, np.float64) - centre) * _WEIGHT)) / spread


def decide_match_tracklets(clips: Sequence[ClipTracklets], rules: MatchTrackRules) -> MatchTracklets:
    """Decide, with the match's kits, the tracklets and ambiguous clips the clips left undecided.

    The match kits are fitted from the aligned clips' players (``keep``, ``swap``, ``reference``,
    in match letters); tracklets are decided in the clips of this run that are aligned or have no
    kits of their own (no letters to clash with the match's), and every team of an ``ambiguous``
    clip its players did not settle (given anew or refused); never in a ``reference`` clip
    (aligned by an earlier run, left as it is).

    Args:
        clips: Every clip of the match with its letter action (``keep``, ``swap``, ``reference``
            are aligned; ``ambiguous`` and ``no-kits`` are not).
        rules: The thresholds.

    Returns:
        The fills per clip (teams in match letters, i.e. after the clip's swap) and the
        ambiguous clips decided by their players.
    """
    aligned = {"keep", "swap", "reference"}
    shirts: dict[tuple[str, int], tuple[np.ndarray, int]] = {}
    for clip in clips:
        for t in clip.tracklets:
            parsed = t.shirt
            if parsed is not None:
                shirts[(clip.clip_id, t.tracklet_id)] = parsed
    model = _team_model(clips, shirts, aligned, rules)
    if model is None:
        return MatchTracklets({}, {}, "no match kits: fewer than two aligned tracklets with a shirt colour per team")
    letters = _ambiguous_letters(clips, shirts, model, rules)
    actions = {c.clip_id: letters.get(c.clip_id, (c.action, ""))[0] for c in clips}
    confused = _confused_clips(clips, shirts, model, rules)
    if letters or confused:  # the clips its players aligned are the match's kits' too; the confused ones are not
        model = _team_model(
            [dataclasses.replace(c, action="ambiguous" if c.clip_id in confused else actions[c.clip_id]) for c in clips], shirts, aligned, rules
        ) or model
    officials = _officials_kit(clips, shirts, model, rules)
    # How far apart the two kits are: kit B's centre in kit A's spreads, and the converse.
    separation = min(float(model.distance(model.centres[1:2])[0, 0]), float(model.distance(model.centres[0:1])[0, 1]))
    fills: dict[str, list[TrackletFill]] = {}
    for clip in clips:
        # A clip with no kits of its own has no letters: the match's are its. A clip still
        # ambiguous has every team given anew in match letters (or refused): its own letters name
        # a match kit no better than a coin. An aligned clip of an earlier run is left as it is.
        if clip.action == "reference" or actions[clip.clip_id] not in aligned | {"no-kits", "ambiguous"}:
            continue
        relabel = confused.get(clip.clip_id) or ("its clip's letters are ambiguous" if actions[clip.clip_id] == "ambiguous" else None)
        out = _fill_clip(clip, shirts, model, separation, officials, rules, relabel=relabel)
        if out:
            fills[clip.clip_id] = out
    note = (
        f"match kits from {int(model.members[0])}/{int(model.members[1])} tracklets (A/B), {separation:.1f} spreads apart"
        + ("" if officials is None else f"; officials' kit from {officials[2]} referee tracklets")
        + "".join(f"; {clip_id}: {why}, its teams given anew" for clip_id, why in sorted(confused.items()))
    )
    return MatchTracklets(fills, letters, note)


def _team_model(clips, shirts, aligned, rules: MatchTrackRules) -> KitModel | None:
    labs, teams = [], []
    for clip in clips:
        if clip.action not in aligned:
            continue
        for t in clip.tracklets:
            shirt = shirts.get((clip.clip_id, t.tracklet_id))
            letter = _match_letter(t.team, clip.action)
            if t.role == "player" and letter is not None and shirt is not None and shirt[1] >= rules.kit_min_crops:
                labs.append(shirt[0])
                teams.append(letter)
    if not labs:
        return None
    return fit_kit_model(np.array(labs), np.array(teams, dtype=object), rules.kit_min_spread, rules.kit_outlier)


def _letter_votes(clip: ClipTracklets, shirts, model: KitModel, rules: MatchTrackRules) -> tuple[int, int]:
    """``(same, other)``: the clip's player tracklets with a team and ``kit_min_crops`` crops whose
    shirt is clearly in one match kit (within ``kit_member``, beyond ``kit_outlier`` of the other):
    in the kit of their letter (the clip's letter in match letters after its action), in the other."""
    same = other = 0
    for t in clip.tracklets:
        shirt = shirts.get((clip.clip_id, t.tracklet_id))
        letter = _match_letter(t.team, clip.action)
        if t.role != "player" or letter is None or shirt is None or shirt[1] < rules.kit_min_crops:
            continue
        d = model.distance(shirt[0][None])[0]
        k = int(np.argmin(d))
        if d[k] > rules.kit_member or d[1 - k] <= rules.kit_outlier:
            continue  # not clearly one match kit's: no vote
        if TEAMS[k] == letter:
            same += 1
        else:
            other += 1
    return same, other


#: Players clearly in the other match kit than their letter that make an aligned clip's kits confused.
_CONFUSED_MIN_PLAYERS = 2


def _confused_clips(clips, shirts, model: KitModel, rules: MatchTrackRules) -> dict[str, str]:
    """``{clip id: why}`` of the clips aligned by this run (``keep`` / ``swap``) whose own kits split
    the players otherwise than the match's kits: at least :data:`_CONFUSED_MIN_PLAYERS` of its player
    tracklets (two crops or more) clearly wear the other match kit than the letter they got.

    The letter alignment prices the clip's two kit colours, not how the clip split its people by
    them: a clip whose "kits" were one team in sun and in shade, or one team and the other's
    goalkeeper and referee, can still price clearly, and then its letters name the right kits
    while its players sit in the wrong ones (held-out seeds 301-305: 9 of the 16 tracks refused or
    given a wrong team were in one such shot). Its teams are then given anew against the match's
    kits, as an ambiguous clip's (:func:`_fill_clip` with ``relabel``)."""
    out = {}
    for clip in clips:
        if clip.action not in ("keep", "swap"):
            continue
        same, other = _letter_votes(clip, shirts, model, rules)
        if other >= _CONFUSED_MIN_PLAYERS:
            out[clip.clip_id] = (
                f"its clip's kits are confused ({other} of its player tracklets clearly wear the other match kit than their "
                f"letter, {same} their own)"
            )
    return out


def _ambiguous_letters(clips, shirts, model: KitModel, rules: MatchTrackRules) -> dict[str, tuple[str, str]]:
    out = {}
    for clip in clips:
        if clip.action != "ambiguous":
            continue
        same, other = _letter_votes(clip, shirts, model, rules)
        votes = f"{same} of its player tracklets wear the match kit of their letter, {other} the other"
        if max(same, other) >= rules.min_clip_votes and min(same, other) == 0:
            out[clip.clip_id] = ("keep" if same else "swap", f"decided by its players' shirts against the match kits: {votes}")
    return out


def _officials_kit(clips, shirts, model: KitModel, rules: MatchTrackRules) -> tuple[np.ndarray, float, int] | None:
    """``(centre, spread, tracklets)`` of the officials' kit, None when unknown or worn by staff too."""
    referees, staff = [], []
    for clip in clips:
        for t in clip.tracklets:
            shirt = shirts.get((clip.clip_id, t.tracklet_id))
            if shirt is None or shirt[1] < rules.kit_min_crops:
                continue
            off = "off-pitch" in (t.flags or "")
            if t.role == "referee" and not off:
                referees.append(shirt[0])
            elif t.role == "other" and off:
                staff.append(shirt[0])
    if len(referees) < 2:
        return None
    labs = np.array(referees)
    centre = np.median(labs, axis=0)
    spread = max(float(np.median(np.linalg.norm((labs - centre) * _WEIGHT, axis=1))), rules.kit_min_spread)
    # A referee must not wear a team's kit (a player the clip called referee would set it).
    if float(model.distance(centre[None])[0].min()) <= rules.kit_outlier:
        return None
    # Staff in the officials' colour (seed 402: stewards in black): then the colour does not tell them apart.
    if any(_distance(centre, spread, lab) <= rules.kit_member for lab in staff):
        return None
    return centre, spread, len(referees)


def _not_an_official(clip_id: str, t: Tracklet, shirt, model: KitModel, officials, rules: MatchTrackRules) -> TrackletFill | None:
    """A referee its clip decided by kit (in neither of the clip's kits) whose shirt, on two crops
    at least, lies beyond twice ``kit_outlier`` from the match's officials' kit: not an official.
    Within twice ``kit_outlier`` of one team kit and beyond it from the other: a player (of that
    team when within ``kit_member``; dev seed 403: a lime player in the sun, 3.8 spreads from the
    match's lime and 19 from the officials', 147 rows on the pitch); in no kit and without a
    position: ``other`` (seed 403: someone in navy beside the pitch, 11-29 spreads from every kit).
    The match's referees lay at most 2.6 spreads from the officials' kit on dev seeds 400-403."""
    lab, crops = shirt
    far = 2 * rules.kit_outlier
    d_ref = _distance(officials[0], officials[1], lab)
    if crops < rules.kit_min_crops or d_ref <= far:
        return None
    d = model.distance(lab[None])[0]
    k = int(np.argmin(d))
    where = f"shirt d={d[0]:.1f}/{d[1]:.1f} spreads from the match's kit A/B and {d_ref:.1f} from its officials' kit over {crops} crops"
    clip_reason = (t.reason or "").strip()
    if d[k] <= far < d[1 - k]:
        on_pitch = _on_the_pitch(t, rules)
        team = TEAMS[k] if d[k] <= rules.kit_member or on_pitch else None
        refused = "" if team else f", too far from kit {TEAMS[k]} for a member: no team"
        if team and d[k] > rules.kit_member:
            # Who plays on the pitch plays for one of the two teams; the other's kit is beyond twice
            # kit_outlier, the officials' too. Dev seeds 402/403: three players in sun or shade 3.8-6.1
            # spreads from their match kit and 19-23 from the other, 10-147 rows inside the lines,
            # were refused a team. Off the pitch (staff) the membership rule stands.
            refused = f", {t.inside} of {t.positioned} positioned rows inside the lines: a player of team {TEAMS[k]}"
        flag = f"role-kit: by the match's kits its shirt is no official's but nearest kit {TEAMS[k]}'s ({where}), its clip decided referee ({clip_reason}); decided player"
        return TrackletFill(clip_id, t.tracklet_id, "player", team, f"but by the match's kits: {where}: player{refused}", flag)
    if float(d.min()) > far and _off_segment(model, lab) > far and t.positioned < rules.min_positioned_rows:
        flag = f"role-kit: by the match's kits its shirt is in no kit ({where}), its clip decided referee; decided other"
        return TrackletFill(clip_id, t.tracklet_id, "other", None, f"but by the match's kits: {where}, in no kit of the match, no position: other", flag)
    return None


#: Share of a tracklet's positioned rows that must lie on or inside the lines for it to be "on the pitch".
_ON_PITCH_SHARE = 0.8


def _on_the_pitch(t: Tracklet, rules: MatchTrackRules) -> bool:
    """At least ``min_positioned_rows`` positioned rows, :data:`_ON_PITCH_SHARE` of them inside the lines."""
    return t.inside >= rules.min_positioned_rows and t.inside >= _ON_PITCH_SHARE * t.positioned


def _detector_referee_in_a_team_kit(clip_id: str, t: Tracklet, shirt, model: KitModel, officials, rules: MatchTrackRules) -> TrackletFill | None:
    """A referee its clip decided on the detector's word against its kit (in a team's kit, but the
    detector's referee votes reached ``detector_override``) is a player of that team when, on two
    crops at least, its shirt is clearly in that match kit (within ``kit_member``, beyond
    ``kit_outlier`` of the other) and beyond twice ``kit_outlier`` from the officials' kit. Dev seed
    401: a player seen for 12 rows (2 crops 0.7 spreads from its clip's kit B) was voted referee at
    87 % by the role classifier."""
    lab, crops = shirt
    d_ref = _distance(officials[0], officials[1], lab)
    d = model.distance(lab[None])[0]
    k = int(np.argmin(d))
    if crops < rules.kit_min_crops or d_ref <= 2 * rules.kit_outlier or d[k] > rules.kit_member or d[1 - k] <= rules.kit_outlier:
        return None
    where = f"shirt d={d[0]:.1f}/{d[1]:.1f} spreads from the match's kit A/B and {d_ref:.1f} from its officials' kit over {crops} crops"
    flag = f"role-kit: by the match's kits its shirt is team {TEAMS[k]}'s, no official's ({where}), its clip decided referee on the detector's votes; decided player"
    return TrackletFill(clip_id, t.tracklet_id, "player", TEAMS[k], f"but by the match's kits: {where}: player, team {TEAMS[k]}", flag)


def _off_segment(model: KitModel, lab: np.ndarray) -> float:
    """Distance (in the larger kit spread) of a colour from the segment between the two kit centres."""
    a, b = (model.centres.astype(np.float64) * _WEIGHT)
    p = np.asarray(lab, np.float64) * _WEIGHT
    u = float(np.clip(np.dot(p - a, b - a) / max(float(np.dot(b - a, b - a)), 1e-9), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + u * (b - a)))) / float(model.spread.max())


def _fill_clip(
    clip: ClipTracklets, shirts, model: KitModel, separation: float, officials, rules: MatchTrackRules, relabel: str | None = None
) -> list[TrackletFill]:
    """The tracklets of one clip the match decides. ``relabel``: why the clip's letters name no
    match kit for sure (its letters ambiguous, its kits confused), so every team in it is given anew
    in match letters, or refused; None: they do."""
    out: list[TrackletFill] = []
    by_id = {t.tracklet_id: t for t in clip.tracklets}
    referee_like: list[tuple[Tracklet, str, bool]] = []  # (tracklet, clause, decided a player by its clip)
    keepers: list[Tracklet] = []  # goalkeepers of a relabelled clip
    for t in clip.tracklets:
        shirt = shirts.get((clip.clip_id, t.tracklet_id))
        undecided_player = t.role == "player" and t.team is None and "its crops voted" not in (t.reason or "")
        # A player its clip refused a team because its crops' votes and its median kit disagree:
        # never given a team here, but corrected like a decided player (dev seed 401: the grey
        # referee, taken into a zoomed shot's navy kit A, 0.3 spreads from the officials' kit).
        split_player = t.role == "player" and t.team is None and not undecided_player
        unsupported = t.role == "other" and (t.reason or "").endswith((_UNSUPPORTED_PLAYER, _UNSUPPORTED_GOALKEEPER))
        lettered = relabel is not None and t.role in ("player", "goalkeeper") and t.team is not None
        kept_player = t.role == "player" and t.team is not None and not lettered
        if t.role == "referee" and "in neither kit" in (t.reason or "") and shirt is not None and officials is not None:
            fill = _not_an_official(clip.clip_id, t, shirt, model, officials, rules)
            if fill is not None:
                out.append(fill)
            continue
        if t.role == "referee" and _DETECTOR_REFEREE in (t.reason or "") and shirt is not None and officials is not None:
            fill = _detector_referee_in_a_team_kit(clip.clip_id, t, shirt, model, officials, rules)
            if fill is not None:
                out.append(fill)
            continue
        if lettered and t.role == "goalkeeper":
            keepers.append(t)  # its team came from the clip's sides, in its letters: decided from the players' below
            continue
        if lettered and shirt is None:
            # Its letter is the clip's, which names no match kit for sure.
            out.append(TrackletFill(clip.clip_id, t.tracklet_id, t.role, None, f"team refused: {relabel} (no shirt colour)"))
            continue
        if shirt is None or not (undecided_player or unsupported or lettered or kept_player or split_player):
            continue
        lab, crops = shirt
        d = model.distance(lab[None])[0]
        k = int(np.argmin(d))
        where = f"shirt d={d[0]:.1f}/{d[1]:.1f} spreads from the match's kit A/B over {crops} crop{'s' if crops != 1 else ''}"
        clear = d[k] <= rules.kit_member and d[1 - k] > rules.kit_outlier
        enough = crops >= rules.kit_min_crops
        # One crop: the match's kits far apart, or the crop in the core of its kit (within half a
        # member's distance; dev seed 404, grey and white kits 4.8 spreads apart: one-crop players
        # 0.1-0.6 from their kit).
        one_crop_ok = separation >= rules.kit_member + rules.kit_outlier or d[k] <= rules.kit_member / 2
        if not (kept_player or split_player) and clear and (enough or one_crop_ok):
            out.append(TrackletFill(clip.clip_id, t.tracklet_id, "player", TEAMS[k], f"by the match's kits: {where}: player, team {TEAMS[k]}"))
            continue
        # In neither team's kit of the match. A player its clip decided (in its own kits, which had
        # taken in someone else) is corrected on two crops at least: a player's single crop lay 1.9
        # spreads from the officials' kit on dev seed 401.
        corrected = kept_player or lettered or split_player
        if float(d.min()) > rules.kit_outlier and (enough or not corrected):
            d_ref = math.inf if officials is None else _distance(officials[0], officials[1], lab)
            # One crop says little: it must lie in the core of the officials' kit, within half a
            # member's distance (dev seeds 401/402: referees' single crops 0.1 and 0.2 spreads from
            # it; a player's single crop, between navy and the referees' grey, 1.9).
            if d_ref <= (rules.kit_member if enough else rules.kit_member / 2):
                # The officials' kit (dev seed 401: two shots whose kit A was navy and the grey
                # referee mixed; the referee lay 0.2-0.3 spreads from the officials' kit, 6.3 from navy).
                lead = "but " if corrected else ""
                referee_like.append((t, f"{lead}by the match's kits: {where}, in neither, {d_ref:.1f} spreads from the officials' kit: referee", corrected))
                continue
            far = 2 * rules.kit_outlier
            if corrected and t.positioned < rules.min_positioned_rows and float(d.min()) > far and _off_segment(model, lab) > far:
                # Nothing on the pitch and no kit of the match: not counted as a player, as in the
                # clip rule for a kit in no team's (dev seed 402: three stewards in black in a
                # zoomed shot without a camera, 12.8-23.7 spreads from both match kits). Twice
                # kit_outlier: another shot's light moves a kit further than one (seed 400: a player
                # of a zoomed shot 5.4 spreads from its match kit). Nor a colour between the two
                # kits, which a tracklet whose crops saw both (an occlusion) has as its median.
                clause = f"but by the match's kits: {where}, in neither team's kit nor the officials', no position: not counted as a player: other"
                flag = f"role-kit: by the match's kits its shirt is in no team's kit ({where}), its clip decided player; decided other"
                out.append(TrackletFill(clip.clip_id, t.tracklet_id, "other", None, clause, flag))
                continue
        if (lettered or undecided_player) and _nearest_by_far(d, lab, crops, officials, rules):
            # Its clip made it a player; only its letter is open, and its shirt is far nearer one
            # match kit than the other and the officials'. A shot's light moves a kit by more than a
            # member's distance (dev seeds 400-402: 8 players 2.6-6.0 spreads from their match kit,
            # 7.8-23.9 from the other, 7.6-19.9 from the officials'), and refusing it counts as wrong.
            ratio = f"{d[1 - k] / max(d[k], 1e-6):.1f} times as far from the other"
            out.append(TrackletFill(clip.clip_id, t.tracklet_id, "player", TEAMS[k], f"by the match's kits: {where}, {ratio}: player, team {TEAMS[k]}"))
            continue
        if lettered:
            out.append(TrackletFill(clip.clip_id, t.tracklet_id, "player", None, f"team refused: {relabel} and its {where} name no kit clearly"))
    for t, clause, was_player in referee_like:
        if was_player:  # seen by a clip with kits, two crops in the officials' kit: a referee or an assistant
            clip_reason = (t.reason or "").strip()
            flag = f"role-kit: the match's officials' kit says referee, its clip decided player ({clip_reason}); decided referee"
            out.append(TrackletFill(clip.clip_id, t.tracklet_id, "referee", None, clause, flag))
            continue
        # Left undecided by its clip (mostly without kits or a position): one such at a time, else
        # the centre referee cannot be told from a second person in that colour (three stewards in
        # black beside a referee in black, dev seed 402).
        rivals = [u.tracklet_id for u, _, other in referee_like if not other and u is not t and np.intersect1d(u.frames, t.frames).size]
        if not rivals:
            out.append(TrackletFill(clip.clip_id, t.tracklet_id, "referee", None, clause))
    out += [_keeper_by_sides(clip.clip_id, k, out, by_id, relabel, rules) for k in keepers]
    return [_kept_off_the_pitch(fill, by_id[fill.tracklet_id], rules) for fill in out]


def _keeper_by_sides(clip_id: str, keeper: Tracklet, fills: list[TrackletFill], by_id: dict, relabel: str, rules: MatchTrackRules) -> TrackletFill:
    """A goalkeeper of a relabelled clip joins the team defending the goal of its half, the sides
    named by the players' new letters (their mean x, each player once, as
    :func:`~.relational.players_side`): its clip's sides were named in letters that name no match
    kit for sure. Refused when the teams' players do not stand apart by ``side_min_gap_m`` or it has
    no position."""
    xs: dict[str, list[float]] = {name: [] for name in TEAMS}
    for fill in fills:
        x = by_id[fill.tracklet_id].mean_x
        if fill.role == "player" and fill.team in TEAMS and math.isfinite(x):
            xs[fill.team].append(x)
    refused = f"team refused: {relabel} (a goalkeeper's team followed the clip's letters"
    if not xs["A"] or not xs["B"] or not math.isfinite(keeper.mean_x):
        return TrackletFill(clip_id, keeper.tracklet_id, "goalkeeper", None, f"{refused}; no positioned players of both teams or no position of its own)")
    a, b = float(np.mean(xs["A"])), float(np.mean(xs["B"]))
    if abs(a - b) < rules.side_min_gap_m:
        return TrackletFill(clip_id, keeper.tracklet_id, "goalkeeper", None, f"{refused}; the teams' players' mean x differ by {abs(a - b):.1f} m)")
    left = "A" if a < b else "B"  # the team whose players stand further left defends the left goal
    team = left if keeper.mean_x < 0 else ("B" if left == "A" else "A")
    side = "left" if keeper.mean_x < 0 else "right"
    clause = (
        f"by the match's kits: {relabel}; its mean x {keeper.mean_x:+.1f} m, in the {side} half, whose goal team {team} defends "
        f"(players given anew: team A at mean x {a:+.1f} m, team B at {b:+.1f} m): goalkeeper, team {team}"
    )
    return TrackletFill(clip_id, keeper.tracklet_id, "goalkeeper", team, clause)


#: A player's shirt this many times as far from the other match kit as from the nearest names its
#: team where it is no member of that kit (:func:`_nearest_by_far`) ...
_NEAREST_RATIO = 2.5
#: ... and this many times as far from the officials' kit, and beyond ``kit_outlier`` of it.
_OFFICIALS_RATIO = 1.5


def _nearest_by_far(d: np.ndarray, lab: np.ndarray, crops: int, officials, rules: MatchTrackRules) -> bool:
    """A player's shirt (on ``kit_min_crops`` crops) within twice ``kit_outlier`` of its nearest match
    kit, :data:`_NEAREST_RATIO` times as far from the other kit and, when the officials' kit is
    known, :data:`_OFFICIALS_RATIO` times as far from it and beyond ``kit_outlier``. Only for
    tracklets their clip decided ``player``: colour alone does not tell a player from staff in a
    colour near a team's (dev seed 400: stewards in high-vis 2.9-3.2 spreads from the lime kit,
    removed by their positions), so this names a team, never the role. On dev seeds 400-402 the
    true players beyond a member's distance lay 3.0-8.2 times as far from the other kit (one, 4.1
    from its kit, 2.2 times) and 1.7-7.3 times as far from the officials'; the referees 1.6-1.8
    times as far from one kit as from the other, 0.0-0.6 spreads from the officials' kit."""
    k = int(np.argmin(d))
    if crops < rules.kit_min_crops or d[k] > 2 * rules.kit_outlier or d[1 - k] < _NEAREST_RATIO * d[k]:
        return False
    if officials is None:
        return True
    d_ref = _distance(officials[0], officials[1], lab)
    return d_ref > rules.kit_outlier and d_ref >= _OFFICIALS_RATIO * d[k]


def _stands_beyond_a_line(t: Tracklet, rules: MatchTrackRules) -> bool:
    """Its median position more than ``off_pitch_margin_m`` beyond a line, over enough positioned rows."""
    return t.positioned >= rules.min_positioned_rows and math.isfinite(t.outside_median_m) and t.outside_median_m > rules.off_pitch_margin_m


def _kept_off_the_pitch(fill: TrackletFill, t: Tracklet, rules: MatchTrackRules) -> TrackletFill:
    """A fill that would make a player or a goalkeeper of someone its clip did not (a referee, an
    ``other``) standing beyond a line makes it ``other`` instead, flagged ``off-pitch``: the match's
    kits say whose colours it wears, not that it plays (a coach or a ball kid in a colour near a
    team's kit). The clip rule's (:func:`~.relational.decide_roles`) counterpart; a player its clip
    decided keeps its role (a player fetching the ball stands beyond a line too)."""
    if fill.role not in ("player", "goalkeeper") or t.role in ("player", "goalkeeper") or not _stands_beyond_a_line(t, rules):
        return fill
    clause = (
        f"its feet a median {t.outside_median_m:.1f} m beyond the lines over {t.positioned} positioned rows, "
        f"over the {rules.off_pitch_margin_m:g} m a {fill.role} may stand out"
    )
    return TrackletFill(fill.clip_id, fill.tracklet_id, "other", None, f"{fill.clause}; but {clause}: other", f"off-pitch: {clause}")
