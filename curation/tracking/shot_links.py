"""One identity per athlete across the shots of a source video: tracks linked in pitch space.

The ``curate`` flow cuts a source into one clip per shot and the tracker starts afresh in every
clip, so each cut (and every gap the tracker could not bridge) makes every athlete a new track.
:func:`link_shot_tracks` joins the tracks of consecutive shots of one source into identities:

1. **By label** (as before): tracks whose team letter and jersey number agree are one athlete, and
   so are a team's goalkeepers (one per team on the pitch). A key worn by two tracks on screen
   together names nobody.
2. **By position**: a track that ends (at a cut, or when the tracker lost it) is linked to a track
   that starts after it, possibly after shots with no camera (a close-up, a zoomed shot whose
   positions are not kept), when the athlete could have run from the end to the start. Each end is
   a line fitted to the track's pitch positions over its first/last ``window_s``. Across a cut,
   play carries the athletes together (and two shots' cameras disagree by a common offset): the
   displacement most athletes share is found (:func:`_common_shift`) and removed, and what is
   left, ``d``, is gated at ``shift_base_m + shift_speed_mps * gap``; with no common shift a cut
   is not bridged (``cut_needs_shift``). Within a clip (``within_clip``, off by default), where
   :class:`~.tracklets.TrackletCleanup` already stitched what its kit and 3 s rule allowed, the
   ends are extrapolated (``extrapolate`` times their velocity) towards the middle of the gap and
   gated at ``base_m + speed_mps * gap``. Candidate pairs must have the same team letter and role class
   (referee with referee, a team's goalkeeper with that team's goalkeeper), never two different
   jersey numbers in the joined identity, never two tracks that share a frame. Pairs are chosen
   by Hungarian assignment of ``d / gate`` (leaving a track unlinked costs ``0.5`` per side, so a
   pair beats two loose ends only inside its gate).
   A second pass (``wide_speed_mps``) offers the ends and starts still loose a wider gate
   across the cuts whose shift was found: athletes who ran against the play. A track with no
   pitch position (a close-up, where numbers are read and joined by label) lying between two
   tracks of an identity does not stop them being linked: it constrains nothing.
3. **Ambiguity**: an assigned pair is kept only when forbidding it makes the best assignment of
   its group of competing tracks cost at least ``min_margin`` more (in gate units): two athletes
   side by side at a cut can be assigned either way at little cost, so neither pair is linked.
   A wrong link merges two athletes' identities, which costs more than the split it mends.
   Where appearance picks the assigned pair too (``appearance_rescue``,
   :func:`~.shot_rescue.appearance_agrees`), two cues agree and the pair is kept.
4. **By appearance** (:mod:`.shot_appearance`, ``appearance``): the ends and starts still loose
   (gaps over ``max_gap_s``, cuts without a common shift, shots without pitch positions, pairs
   found ambiguous) are linked where the tracks' mean ReID embeddings are clearly closer to each
   other than to any rival the labels and the pitch allow (a margin rule). Teammates share a kit,
   so appearance only chooses among candidates the team, role and numbers already allow.
   A track with no pitch position that the position pass bridged over (a zoomed shot or a
   close-up between two main shots) then joins the identity around it that it clearly looks like
   (``appearance_between``, :func:`~.shot_rescue.insertions`).

Every link carries its kind (``jersey``, ``goalkeeper``, ``position``, ``appearance``), its cost and a reason;
pairs the assignment chose but the ambiguity test or the identity's consistency refused are
returned too, with theirs, and so is what each cut's common shift search found
(``ShotLinks.cuts``: why athletes were not followed across a cut). The pitch geometry (track
ends, the common shift, the assignment) is in :mod:`.shot_geometry`.

Pure functions over frozen dataclasses (numpy, scipy); the game-state exporter receives
:func:`identities_from_rows` from its callers (``storage`` imports no curation).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from soccerfactory.curation.tracking.shot_appearance import appearance_links, mean_appearance
from soccerfactory.curation.tracking.shot_geometry import (  # noqa: F401 - _End, _Shift, _pair_cost: part of this module's vocabulary
    _assign, _assignment_cost, _common_shift, _components, _End, _fit_end, _pair_cost, _Shift,
)
from soccerfactory.curation.tracking.shot_rescue import appearance_agrees, insertions

__all__ = ["LinkConfig", "ShotLinks", "ShotTrack", "TrackLink", "identities_from_rows", "link_shot_tracks", "shot_tracks_from_rows"]

#: Role classes that may be one athlete; anything else (``other``: people off the pitch) links
#: only with its own class.
ROLES = ("player", "goalkeeper", "referee", "other")
_TEAM_ROLES = ("player", "goalkeeper")

TrackKey = tuple[str, int]


@dataclass(frozen=True)
class ShotTrack:
    """One curated track of one clip (shot), as the linker reads it.

    Attributes:
        clip_id: The clip (one shot of the source).
        track_id: The track's id within the clip.
        frames: ``int64`` ``(N,)`` source frame indices of its rows, strictly increasing.
        pitch_xy: ``float64`` ``(N, 2)`` pitch metres per row, NaN where the frame has no camera.
        team: Team letter ``"A"`` / ``"B"`` (aligned per match), None when undecided or not a
            team role.
        role: ``player`` / ``goalkeeper`` / ``referee`` / ``other``.
        jerseys: Distinct jersey numbers read on its rows (usually none or one).
        appearance: ``float64`` ``(D,)`` unit mean of its crops' ReID embeddings
            (:func:`~.shot_appearance.mean_appearance`), None without any.
        appearance_crops: How many crops that mean is over.
    """

    clip_id: str
    track_id: int
    frames: np.ndarray
    pitch_xy: np.ndarray
    team: str | None = None
    role: str = "player"
    jerseys: tuple[int, ...] = ()
    appearance: np.ndarray | None = None
    appearance_crops: int = 0

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames, dtype=np.int64).reshape(-1)
        pitch = np.asarray(self.pitch_xy, dtype=np.float64)
        if frames.size == 0:
            raise ValueError(f"track {self.clip_id}/{self.track_id} has no rows")
        if pitch.shape != (frames.size, 2):
            raise ValueError(f"track {self.clip_id}/{self.track_id}: pitch_xy must be ({frames.size}, 2), got {pitch.shape}")
        if np.any(np.diff(frames) <= 0):
            raise ValueError(f"track {self.clip_id}/{self.track_id}: frames must be strictly increasing")
        if self.role not in ROLES:
            raise ValueError(f"track {self.clip_id}/{self.track_id}: role {self.role!r} is not one of {', '.join(ROLES)}")
        object.__setattr__(self, "frames", frames)
        object.__setattr__(self, "pitch_xy", pitch)
        object.__setattr__(self, "jerseys", tuple(sorted({int(j) for j in self.jerseys})))
        if self.appearance is not None:
            vector, _ = mean_appearance([self.appearance])
            if vector is None:
                raise ValueError(f"track {self.clip_id}/{self.track_id}: appearance must be a finite non-zero vector")
            object.__setattr__(self, "appearance", vector)

    @property
    def key(self) -> TrackKey:
        """``(clip_id, track_id)``."""
        return (self.clip_id, int(self.track_id))


@dataclass(frozen=True)
class LinkConfig:
    """How far an athlete may have moved between two tracks, and how sure a link must be.

    Attributes:
        base_m: Distance allowed at a cut with no gap: two cameras' calibrations and the foot
            points disagree by a few metres.
        speed_mps: Metres the gate grows per second of gap. Rendered athletes moved at most
            10 m in 2.4 s (90th percentile, dev seed 400), sprints reach 9 m/s.
        max_gap_s: Longest gap bridged (a close-up or a zoomed shot between two main shots).
        window_s: Seconds of positions at each end fitted by a line (position and velocity).
        extrapolate: Fraction of each end's velocity carried into the gap (rendered athletes: the
            median error after 2.4 s was 6.8 m holding still, 5.1 m with half the velocity).
        max_speed_mps: A fitted velocity is clipped to this (calibration jitter is not running).
        min_margin: Least extra cost (gate units) of the best assignment without a pair for the
            pair to be kept; below it the pair is ambiguous and refused.
        by_jersey: Join tracks by team and jersey number (and a team's goalkeepers) first.
        shift_min_support: Fewest athletes that must share a displacement across a cut for it to
            be used (:func:`_common_shift`); 0 turns the common shift off.
        shift_radius_m: How close two displacements must be to support one shift.
        shift_peak_ratio: How many times the support of any rival shift the chosen one needs.
        shift_base_m, shift_speed_mps: The gate once the common shift is removed: what is left
            is each athlete's own run (about a metre across a 2-3 s gap for most athletes on dev
            seed 400). Over dev seeds 400-403, 1 / 2 / 2.5 / 3 m/s: 2.5 linked 126 true pairs and
            1 wrong (2 m/s: 121 and 2; 3 m/s: 127 and 1; 1 m/s on seed 400 alone: 31 of 39).
        cut_needs_shift: Link across a cut only where a common shift was found. Without one the
            two shots may show different parts of the pitch, and whoever stands near where an
            athlete left is a stranger: on random positions (100 shots of 20 players) the wide
            gate alone made 99 links, all wrong, and none with this on; on dev seed 400 it cost
            no true link.
        within_clip: Also link tracks of one clip (gaps the tracker and
            :class:`~.tracklets.TrackletCleanup` left), under the wide gate. Off: on dev seeds
            400-402 it made one right and one wrong link (a player voted referee took the
            referee's place) and moved no HOTA figure.
        wide_speed_mps: A second pass over the ends and starts still loose after the first
            (a track whose identity already goes on, or began earlier, takes no part), across
            cuts that have a common shift, with ``shift_speed_mps`` widened to this: athletes who
            ran against the play. Same ambiguity test. 0 turns it off. Dev seeds 400-403 (the
            previous version's cached shots): 5 m/s added 7 links, all right (GS-HOTA 44.4 ->
            45.3; 3.5 m/s 45.2, 7 m/s 45.0); dev seeds 400-402 (this version's): 10 links, 1 wrong
            (49.9 -> 51.1; all links 126 of 127 -> 135 of 137 right). Keeping the tracks of pairs
            the first pass refused out of it avoided that wrong link but kept only 2 of the 14
            right ones of seeds 400-403 and 400-401 (44.5 and 54.3).
        appearance: A last pass (:func:`~.shot_appearance.appearance_links`) over the ends and
            starts still loose: a pair is linked where the tracks' mean ReID embeddings are at
            least ``appearance_min_similarity`` alike and ``appearance_margin`` more alike than
            either is to any rival the labels and the pitch allow (gaps up to
            ``appearance_max_gap_s``, positions within ``appearance_base_m + max_speed_mps *
            gap``; tracks of at least ``appearance_min_crops`` crops). Tracks without an
            embedding take no part. Dev seeds 400-402, one tree, off -> on (without the agree
            rule below): 28 links, all right; GS-HOTA 53.5 -> 57.4, AssA 60.0 -> 65.5 (perfect
            links: 68.8); all links 138 of 140 -> 166 of 168 right. Margins (gaps up to 15 s) 0.02 / 0.03 / 0.05 / 0.1 linked 48 /
            40 / 30 / 10 pairs of the last-session shots with 2 / 0 / 0 / 0 wrong, so 0.05 keeps
            a factor 2.5 from the first wrong link; 30 s gaps at 0.05 gave 17 (more rivals).
            Where position ranks the pair first too (nearest in both directions), a margin of
            ``appearance_agree_margin`` will do: two cues agreeing. Same shots: 0.02 added 6
            links, 0 added 8, all right; harness, one tree: 34 appearance links, all right,
            GS-HOTA 57.4 -> 58.3 (dev 400-402) and 43.5 -> 45.7 (dev 403, 5 of its 8 shots,
            not tuned on; 6 links, all right).
        appearance_rescue: A pair the position pass chose but found ambiguous (``min_margin``) is
            kept where appearance picks it too (:func:`~.shot_rescue.appearance_agrees`: at least
            ``appearance_min_similarity`` alike and ``appearance_agree_margin`` above every rival
            position candidate of either track; without one, ``appearance_margin`` above the most
            alike teammate on screen). Over the dev seeds 400-403 of an earlier version every
            refused ambiguous pair but 7 of 28 was right; dev seed 400 (this version's curated
            shots, ByteTrack / StrongSORT): the 5 / 5 pairs refused as ambiguous were all right;
            the rescue linked 2 / 3 of them (links 59 / 62 -> 61 / 64, none wrong); positions-only HOTA
            75.1 -> 77.2 / 75.7 -> 77.7 (AssA 75.0 -> 79.1 / 74.5 -> 78.6). GS-HOTA went 60.5 ->
            58.7 / 61.0 -> 59.2: the identities joined carry numbers read right (27, 13) on
            athletes the renderer's truth calls never legible, and the exporter gives unnumbered
            rows their identity's number (without that: 54.0 -> 54.3).
        appearance_between: A track with no pitch position, alone in its identity, lying in the
            gap of an identity that goes on around it (a zoomed shot or close-up between two main
            shots, which the position pass bridges and leaves out) joins the identity it clearly
            looks like (:func:`~.shot_rescue.insertions`: ``appearance_min_similarity``,
            ``appearance_margin`` above the next identity around it or the most alike teammate on
            screen). Dev seed 400 (ByteTrack / StrongSORT): 2 / 4 links, all right; image-box HOTA
            69.1 -> 70.0 / 70.3 -> 71.6; pitch figures unchanged (the track has no position).
    """

    base_m: float = 3.0
    speed_mps: float = 4.0
    max_gap_s: float = 5.0
    window_s: float = 0.5
    extrapolate: float = 0.5
    max_speed_mps: float = 10.0
    min_margin: float = 0.3
    by_jersey: bool = True
    shift_min_support: int = 4
    shift_radius_m: float = 1.5
    shift_peak_ratio: float = 2.0
    shift_base_m: float = 2.5
    shift_speed_mps: float = 2.5
    cut_needs_shift: bool = True
    within_clip: bool = False
    wide_speed_mps: float = 5.0
    appearance: bool = True
    appearance_min_similarity: float = 0.8
    appearance_margin: float = 0.05
    appearance_agree_margin: float = 0.02
    appearance_max_gap_s: float = 15.0
    appearance_base_m: float = 15.0
    appearance_min_crops: int = 2
    appearance_rescue: bool = True
    appearance_between: bool = True

    def __post_init__(self) -> None:
        if self.base_m <= 0 or self.speed_mps < 0 or self.max_gap_s < 0 or self.window_s <= 0 or self.max_speed_mps <= 0:
            raise ValueError(f"LinkConfig: base_m, window_s and max_speed_mps must be > 0, speed_mps and max_gap_s >= 0; got {self}")
        if not 0 <= self.extrapolate <= 1 or self.min_margin < 0:
            raise ValueError(f"LinkConfig: extrapolate must be in [0, 1] and min_margin >= 0; got {self}")
        if self.wide_speed_mps < 0:
            raise ValueError(f"LinkConfig: wide_speed_mps must be >= 0; got {self}")
        if self.shift_min_support < 0 or self.shift_radius_m <= 0 or self.shift_peak_ratio < 1 or self.shift_base_m <= 0 or self.shift_speed_mps < 0:
            raise ValueError(f"LinkConfig: shift_min_support >= 0, shift_radius_m and shift_base_m > 0, shift_peak_ratio >= 1, shift_speed_mps >= 0; got {self}")
        if not -1 <= self.appearance_min_similarity <= 1 or self.appearance_margin < 0 or self.appearance_agree_margin < 0 or self.appearance_max_gap_s < 0 or self.appearance_base_m < 0 or self.appearance_min_crops < 1:
            raise ValueError(
                f"LinkConfig: appearance_min_similarity in [-1, 1], appearance_margin, appearance_max_gap_s, appearance_base_m >= 0, appearance_min_crops >= 1; got {self}"
            )


@dataclass(frozen=True)
class TrackLink:
    """One link from an earlier track to a later one (or a refused candidate).

    Attributes:
        earlier, later: ``(clip_id, track_id)`` of the two tracks.
        kind: ``jersey``, ``goalkeeper``, ``position`` or ``appearance``.
        cost: ``d / gate`` for position links, ``1 - cosine similarity`` for appearance links
            (0 for label links).
        gap_s: Seconds between the last row of ``earlier`` and the first of ``later`` that
            were compared (positioned rows for position links).
        distance_m: ``d`` for position links, the raw pitch distance for appearance links
            between positioned tracks, None otherwise.
        reason: One clause: the evidence, or why the pair was refused.
        gate_m: The largest ``d`` the pair was allowed (position links).
    """

    earlier: TrackKey
    later: TrackKey
    kind: str
    cost: float
    gap_s: float
    distance_m: float | None
    reason: str
    gate_m: float | None = None


@dataclass(frozen=True)
class ShotLinks:
    """The identities of one source's tracks.

    Attributes:
        identity: ``(clip_id, track_id)`` -> identity 1..K, numbered by first frame.
        links: The links that made them, label links first, then position links by cost.
        refused: Position pairs the assignment chose but that were refused, with the reason.
        cuts: ``(earlier clip, later clip)`` -> the common shift found across that cut, or why
            none was (a cut with no candidate pair is absent): why athletes were not followed
            across it (``cut_needs_shift``).
    """

    identity: Mapping[TrackKey, int]
    links: tuple[TrackLink, ...] = ()
    refused: tuple[TrackLink, ...] = ()
    cuts: Mapping[tuple[str, str], str] = field(default_factory=dict)


def _compatible(a: Iterable[ShotTrack], b: Iterable[ShotTrack]) -> str | None:
    """Why two sets of tracks cannot be one athlete, or None when they can."""
    a, b = list(a), list(b)
    for x in a:
        for y in b:
            if x.team != y.team:
                return f"teams differ ({x.team} / {y.team})"
            if x.role != y.role:
                return f"roles differ ({x.role} / {y.role})"
            if x.frames[0] <= y.frames[-1] and y.frames[0] <= x.frames[-1]:
                if np.intersect1d(x.frames, y.frames).size:
                    return f"tracks {x.key} and {y.key} share frames"
    numbers = {j for t in a + b for j in t.jerseys}
    if len(numbers) > 1:
        return f"jersey numbers differ ({', '.join(str(n) for n in sorted(numbers))})"
    return None


def _label_key(track: ShotTrack) -> tuple[str, int] | None:
    """The key that names a track's athlete by its labels: ``(team, number)``, ``(team, -1)`` for
    a team's goalkeeper without a number, None otherwise."""
    if track.role not in _TEAM_ROLES or track.team is None or len(track.jerseys) > 1:
        return None
    if track.jerseys:
        return (track.team, track.jerseys[0])
    if track.role == "goalkeeper":  # one goalkeeper per team on the pitch
        return (track.team, -1)
    return None


def _label_links(tracks: Sequence[ShotTrack]) -> list[TrackLink]:
    """Links between consecutive tracks that share a label key (a key worn by two tracks that
    share a frame names nobody)."""
    holders: dict[tuple[str, int], list[ShotTrack]] = {}
    for track in tracks:
        key = _label_key(track)
        if key is not None:
            holders.setdefault(key, []).append(track)
    links = []
    for key, members in holders.items():
        members = sorted(members, key=lambda t: (t.frames[0], t.key))
        if any(np.intersect1d(x.frames, y.frames).size for i, x in enumerate(members) for y in members[i + 1:]):
            continue
        kind = "goalkeeper" if key[1] < 0 else "jersey"
        label = f"team {key[0]} goalkeeper" if key[1] < 0 else f"team {key[0]} number {key[1]}"
        for x, y in zip(members, members[1:]):
            links.append(TrackLink(x.key, y.key, kind, 0.0, float(y.frames[0] - x.frames[-1]), None, f"both {label}"))
    return links


def _candidates(
    tracks: Sequence[ShotTrack],
    ends: Mapping[TrackKey, _End | None],
    starts: Mapping[TrackKey, _End | None],
    fps: float,
    config: LinkConfig,
    refusal: Callable[[TrackKey, TrackKey], str | None],
    known: Mapping[tuple[str, str], _Shift] | None = None,
) -> tuple[list[TrackLink], dict[tuple[str, str], _Shift], dict[tuple[str, str], str]]:
    """Every pair (ending track, later starting track) inside its gate, as unexplained position
    links, the common shift of each cut that has one, and what :func:`_common_shift` said of
    every cut with a candidate pair. ``known``: the cuts' shifts already found (a second pass
    over the tracks left unlinked must not find new shifts among fewer athletes)."""
    by_key = {t.key: t for t in tracks}
    starters = sorted((k for k in by_key if starts[k] is not None), key=lambda k: starts[k].frame)
    first_frames = [starts[k].frame for k in starters]
    possible: list[tuple[TrackKey, TrackKey]] = []
    cuts: dict[tuple[str, str], list[tuple[TrackKey, TrackKey, _End, _End]]] = {}
    for a in (k for k in by_key if ends[k] is not None):
        # only the starters within max_gap_s of this end (a long source has thousands of tracks)
        lo = bisect.bisect_right(first_frames, ends[a].frame)
        hi = bisect.bisect_right(first_frames, ends[a].frame + config.max_gap_s * fps)
        for b in starters[lo:hi]:
            if by_key[b].frames[0] <= by_key[a].frames[-1] or refusal(a, b) is not None:
                continue
            possible.append((a, b))
            gap = (starts[b].frame - ends[a].frame) / fps
            # People off the pitch do not move with play: they neither shape nor take the shift.
            if a[0] != b[0] and by_key[a].role != "other" and np.linalg.norm(starts[b].xy - ends[a].xy) <= config.base_m + config.max_speed_mps * gap:
                cuts.setdefault((a[0], b[0]), []).append((a, b, ends[a], starts[b]))
    shifts, found = dict(known or {}), {}
    if config.shift_min_support > 0 and known is None:
        for cut, pairs in cuts.items():
            shift, found[cut] = _common_shift(pairs, config)
            if shift is not None:
                shifts[cut] = shift
    out = []
    for a, b in possible:
        shift = shifts.get((a[0], b[0])) if by_key[a].role != "other" else None
        if (shift is None and a[0] != b[0] and config.cut_needs_shift) or (a[0] == b[0] and not config.within_clip):
            continue
        ratio, distance, gate, gap = _pair_cost(ends[a], starts[b], fps, config, shift)
        if ratio <= 1.0:
            out.append(TrackLink(a, b, "position", ratio, gap, distance, "", gate))
    return out, shifts, found


def link_shot_tracks(tracks: Sequence[ShotTrack], fps: float, config: LinkConfig = LinkConfig()) -> ShotLinks:
    """Join the tracks of the shots of one source into one identity per athlete.

    Args:
        tracks: Every track of the source's clips (unique ``(clip_id, track_id)``), frames in
            source frame indices.
        fps: Frames per second of the source.
        config: Gates and the ambiguity margin.

    Returns:
        :class:`ShotLinks`: identities 1..K (a track nothing joins keeps one of its own), the
        links with their reasons, and the refused position pairs.

    Raises:
        ValueError: ``fps`` not positive or a ``(clip_id, track_id)`` given twice.
    """
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    keys = [t.key for t in tracks]
    if len(set(keys)) != len(keys):
        raise ValueError("a (clip_id, track_id) is given twice; give each track once")
    by_key = {t.key: t for t in tracks}
    group_of: dict[TrackKey, list[ShotTrack]] = {t.key: [t] for t in tracks}  # the tracks joined so far

    def refusal(a: TrackKey, b: TrackKey) -> str | None:
        ga, gb = group_of[a], group_of[b]
        if ga is gb:
            return "already one identity"
        return _compatible(ga, gb) or _between(ga + gb, by_key[a], by_key[b])

    def join(a: TrackKey, b: TrackKey) -> str | None:
        why = refusal(a, b)
        if why is not None:
            return why
        ga, gb = group_of[a], group_of[b]
        ga.extend(gb)
        for member in gb:
            group_of[member.key] = ga
        return None

    links: list[TrackLink] = []
    refused: list[TrackLink] = []
    if config.by_jersey:
        for link in _label_links(tracks):
            if join(link.earlier, link.later) is None:
                links.append(link)

    ends = {t.key: _fit_end(t, fps, config, last=True) for t in tracks}
    starts = {t.key: _fit_end(t, fps, config, last=False) for t in tracks}
    def settle(candidates: Sequence[TrackLink], shifts: Mapping[tuple[str, str], _Shift], note: str) -> None:
        chosen: list[TrackLink] = []
        for link, margin in _assign(candidates):
            shift = shifts.get((link.earlier[0], link.later[0]))
            evidence = f"{note}{link.distance_m:.1f} m apart after {link.gap_s:.2f} s (gate {link.gate_m:.1f} m)"
            if shift is not None and by_key[link.earlier].role != "other":
                evidence += f" once the cut's {shift.reason} is removed"
            agree = appearance_agrees(link.earlier, link.later, candidates, by_key, tracks, config) if margin < config.min_margin and config.appearance_rescue else None
            if margin < config.min_margin and agree is None:
                refused.append(replace(link, reason=f"ambiguous: {evidence}, the next best assignment costs only {margin:.2f} more (< {config.min_margin:g})"))
            elif agree is not None:
                chosen.append(replace(link, reason=f"{evidence}, the next best assignment costs only {margin:.2f} more, but {agree}"))
            else:
                chosen.append(replace(link, reason=f"{evidence}, next best assignment costs {margin:.2f} more"))
        for link in sorted(chosen, key=lambda link: (link.cost, link.earlier, link.later)):
            why = join(link.earlier, link.later)
            if why is not None:
                refused.append(replace(link, reason=f"refused: {why}"))
                continue
            links.append(link)

    def loose(a: TrackKey, b: TrackKey) -> str | None:
        if any(t.frames[0] > by_key[a].frames[-1] for t in group_of[a]) or any(t.frames[-1] < by_key[b].frames[0] for t in group_of[b]):
            return "already followed"
        return refusal(a, b)

    candidates, shifts, cuts = _candidates(tracks, ends, starts, fps, config, refusal)
    settle(candidates, shifts, "")
    if config.wide_speed_mps > 0 and shifts:
        # Athletes who ran further than the gate allows, among the ends and starts still loose
        # (a pair the first pass found ambiguous may be clear now that its rivals are linked:
        # keeping those out lost 12 of the 14 right links of dev seeds 400-403, and 1 wrong one).
        wide = replace(config, shift_speed_mps=config.wide_speed_mps)
        settle(_candidates(tracks, ends, starts, fps, wide, loose, known=shifts)[0], shifts, "second pass: ")
        seen: set[tuple[TrackKey, TrackKey]] = set()  # a pair refused by both passes is told once, by the first
        refused = [link for link in refused if (link.earlier, link.later) not in seen and not seen.add((link.earlier, link.later))]
    if config.appearance:
        _settle_appearance(tracks, ends, starts, fps, config, loose, join, links, refused)
    if config.appearance and config.appearance_between:
        for a, b, similarity, gap, reason in insertions(tracks, lambda key: group_of[key], fps, config):
            why = join(a, b)
            link = TrackLink(a, b, "appearance", 1.0 - similarity, gap, None, reason if why is None else f"refused: {why}; {reason}")
            (links if why is None else refused).append(link)

    groups = {id(g): g for g in group_of.values()}.values()
    ordered = sorted(groups, key=lambda g: min((int(t.frames[0]), t.key) for t in g))
    identity = {t.key: number for number, g in enumerate(ordered, start=1) for t in g}
    return ShotLinks(identity, tuple(links), tuple(refused), dict(cuts))


def _settle_appearance(tracks, ends, starts, fps, config, loose, join, links: list[TrackLink], refused: list[TrackLink]) -> None:
    """The appearance pass (:func:`~.shot_appearance.appearance_links`): pairs appearance clearly
    decides among the ends and starts still loose, joined by margin; ``links`` / ``refused`` grow."""
    by_key = {t.key: t for t in tracks}

    for a, b, similarity, margin, gap, note in appearance_links(tracks, ends, starts, fps, config, loose):
        x, y = ends[a], starts[b]
        distance = None if x is None or y is None else float(np.linalg.norm(y.xy - x.xy))
        where = f"{distance:.1f} m apart" if distance is not None else "no pitch position on one side"
        reason = (
            f"appearance {similarity:.2f} alike over {by_key[a].appearance_crops} and {by_key[b].appearance_crops} crops, "
            f"{margin:.2f} above the next best ({note}); {where} after {gap:.2f} s"
        )
        link = TrackLink(a, b, "appearance", 1.0 - similarity, gap, distance, reason)
        why = loose(a, b) or join(a, b)
        if why is not None:
            refused.append(replace(link, reason=f"refused: {why}; {reason}"))
            continue
        links.append(link)


def _between(members: Iterable[ShotTrack], a: ShotTrack, b: ShotTrack) -> str | None:
    """Why ``a`` and ``b`` cannot be consecutive in an identity of ``members`` (a positioned
    member lies between them: the link would skip a piece of the identity and its gate would mean
    nothing), else None.

    A member with no pitch position (a close-up or zoomed shot, where the athlete's number is
    often read and joined to a later track by label) constrains nothing: the gate from ``a``'s
    last positioned row to ``b``'s first is the whole evidence. Counting it refused every
    position link across such shots: on dev seeds 400-403 allowing it added 9 links, all right,
    and GS-HOTA went from 42.5 to 44.4 (numbers read in the close-up reached the main shots).
    """
    inside = [
        t for t in members
        if t.key not in (a.key, b.key) and a.frames[-1] < t.frames[0] and t.frames[-1] < b.frames[0] and np.isfinite(t.pitch_xy).all(axis=1).any()
    ]
    if not inside:
        return None
    return f"track {inside[0].key} lies between them in the same identity"


def shot_tracks_from_rows(athletes: Iterable[Mapping[str, Any]]) -> list[ShotTrack]:
    """:class:`ShotTrack` per ``(clip_id, track_id)`` of stored ``athletes`` rows.

    Args:
        athletes: Rows with ``clip_id``, ``frame_index`` (source frame), ``track_id``, ``team``,
            ``role``, ``jersey``, ``pitch_x``, ``pitch_y`` (None where unknown), optionally
            ``appearance`` (the row's crop's ReID embedding, None on rows without a crop). A
            frame with several rows of one track keeps the first.

    Returns:
        One track per key; team and role are the most common over its rows (a team that
        disagrees with itself is None), jerseys every number read on it, appearance the unit
        mean of its rows' embeddings.
    """
    grouped: dict[TrackKey, dict[int, Mapping[str, Any]]] = {}
    for row in athletes:
        grouped.setdefault((str(row["clip_id"]), int(row["track_id"])), {}).setdefault(int(row["frame_index"]), row)
    out = []
    for (clip_id, track_id), by_frame in grouped.items():
        frames = sorted(by_frame)
        rows = [by_frame[f] for f in frames]
        xy = np.array([[np.nan if r["pitch_x"] is None else r["pitch_x"], np.nan if r["pitch_y"] is None else r["pitch_y"]] for r in rows], np.float64)
        roles = [r["role"] for r in rows]
        role = max(set(roles), key=lambda v: (roles.count(v), v))
        teams = {r["team"] for r in rows if r["team"] is not None}
        team = teams.pop() if len(teams) == 1 else None
        jerseys = tuple({int(r["jersey"]) for r in rows if r["jersey"] is not None})
        appearance, crops = mean_appearance(r.get("appearance") for r in rows)
        out.append(ShotTrack(clip_id, track_id, np.array(frames), xy, team, role if role in ROLES else "other", jerseys, appearance, crops))
    return out


def identities_from_rows(athletes: Sequence[Mapping[str, Any]], clips: Sequence[Mapping[str, Any]], config: LinkConfig = LinkConfig()) -> dict[TrackKey, int]:
    """One identity per athlete over the clips of one source, from stored rows.

    The form the game-state exporter
    (:func:`soccerfactory.storage.gamestate.gamestate_predictions`, ``identities=``) calls.

    Args:
        athletes: ``athletes`` rows (see :func:`shot_tracks_from_rows`).
        clips: The clips' rows (``fps`` is read from the first).

    Returns:
        ``(clip_id, track_id)`` -> identity 1..K; within a single clip, the smallest stored
        track id of each identity instead (a track nothing joins keeps its id).
    """
    if not athletes:
        return {}
    fps = float(clips[0]["fps"])
    identity = link_shot_tracks(shot_tracks_from_rows(athletes), fps, config).identity
    if len({clip for clip, _ in identity}) > 1:
        return dict(identity)
    smallest: dict[int, int] = {}
    for (_, track_id), number in identity.items():
        smallest[number] = min(smallest.get(number, track_id), track_id)
    return {key: smallest[number] for key, number in identity.items()}
