"""Team letters per match: which clips must swap ``A`` and ``B`` so a letter names one kit in the whole match.

Each clip names its own two kits (:func:`~.relational.clip_kits`): ``A`` is the darker one
(:func:`~.team.kit_order`), a rule of the colours alone. Two kits within a few lightness units
can come out in either order from one shot to the next (exposure, shade), and a clip curated by
another code version may name them the other way round. :func:`align_match` looks at the kit
colours of every clip of a match (the ``clips`` rows: ``team_a_colour``, ``team_b_colour``,
``team_a_side``) and says, per clip, whether its letters stay, swap, or cannot be decided:

1. The match's two kits. Clips already aligned (``fixed``: their letters are in the catalog)
   are the reference: their median colour per letter. Without any, the kits are fitted from the
   clips themselves: start from the clip whose kits the others sit nearest (the medoid), assign every clip,
   re-measure each kit as the median of its assigned colours, until nothing changes; the letters
   then follow the majority of clips (fewest rewrites; each clip's own letters are the darker rule).
2. Per clip, both assignments are priced in CIEDE2000 (:func:`ciede2000`): ``keep`` is
   d(a, A) + d(b, B), ``swap`` is d(a, B) + d(b, A). The cheaper one wins when it is clearly
   cheaper (:class:`MatchTeamRules`) and each of the clip's kits is nearer the match kit it would
   get than the other; otherwise the clip is *ambiguous* and left unchanged, with its reason,
   unless its side of play decides (3).
3. Sides. ``team_a_side`` is per clip, and a swap flips it (the new A is the other team, which
   defends the other goal). Within one half the teams keep their goals, so for an ambiguous clip
   the side A defends in the clips of the same source around it is evidence: when the decided
   clips of its source just before and just after it (by ``start_frame``) name the same side for
   A (no half-time between them), the clip keeps or swaps to match. A source given as a whole
   match holds a switch at half-time; a clip with decided clips on one side only is therefore
   decided by side only when every decided clip of its source agrees. The side is never used
   across sources (the second half's A defends the other goal).

Pure: colours in, decisions out; the flow rewrites the shards (:mod:`soccerfactory.flows.curate`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from soccerfactory.curation.attribute.kits import SIDES

__all__ = ["ACTIONS", "ClipKits", "LetterDecision", "MatchTeamRules", "MatchTeams", "align_match", "ciede2000", "hex_to_lab"]

#: What :func:`align_match` says about a clip.
#: ``keep`` / ``swap``: its letters stay / swap; ``ambiguous``: both assignments nearly equally
#: good, left unchanged; ``no-kits``: the clip has no two kits, nothing to align; ``reference``: a
#: clip already aligned (in the catalog), left as it is.
ACTIONS: tuple[str, ...] = ("keep", "swap", "ambiguous", "no-kits", "reference")

_ITERATIONS = 10  # the fit converges in 2-3 rounds on every match tried; 10 bounds a pathological one


def hex_to_lab(colour: str) -> np.ndarray:
    """``float64`` ``(3,)`` CIE Lab (D65, ``L*`` 0-100) of an ``#rrggbb`` sRGB colour.

    Raises:
        ValueError: ``colour`` is not ``#rrggbb``.
    """
    text = str(colour)
    if len(text) != 7 or text[0] != "#":
        raise ValueError(f"kit colour {colour!r} is not #rrggbb; the clips table stores team colours that way")
    try:
        rgb = [int(text[i : i + 2], 16) for i in (1, 3, 5)]
    except ValueError:
        raise ValueError(f"kit colour {colour!r} is not #rrggbb; the clips table stores team colours that way") from None
    bgr = np.array([[rgb[::-1]]], dtype=np.float32) / 255.0
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab)[0, 0].astype(np.float64)


def ciede2000(lab_1: np.ndarray, lab_2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (Sharma, Wu & Dalal 2005; kL = kC = kH = 1).

    Args:
        lab_1, lab_2: ``(..., 3)`` CIE Lab colours, broadcastable against each other.

    Returns:
        ``float64`` ``(...)`` differences; about 1 is just noticeable, 2-10 is one colour under
        different light, tens are different colours.
    """
    lab_1, lab_2 = np.broadcast_arrays(np.asarray(lab_1, dtype=np.float64), np.asarray(lab_2, dtype=np.float64))
    l1, a1, b1 = np.moveaxis(lab_1, -1, 0)
    l2, a2, b2 = np.moveaxis(lab_2, -1, 0)
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0
    g = 0.5 * (1.0 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    zero = (c1p * c2p) == 0
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(zero, 0.0, dh)
    d_l, d_c = l2 - l1, c2p - c1p
    d_h = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2.0))
    l_bar, cp_bar = (l1 + l2) / 2.0, (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_bar = np.where(np.abs(h1p - h2p) > 180.0, np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0), h_sum / 2.0)
    h_bar = np.where(zero, h_sum, h_bar)
    t = (
        1.0 - 0.17 * np.cos(np.radians(h_bar - 30.0)) + 0.24 * np.cos(np.radians(2.0 * h_bar))
        + 0.32 * np.cos(np.radians(3.0 * h_bar + 6.0)) - 0.20 * np.cos(np.radians(4.0 * h_bar - 63.0))
    )
    s_l = 1.0 + 0.015 * (l_bar - 50.0) ** 2 / np.sqrt(20.0 + (l_bar - 50.0) ** 2)
    s_c = 1.0 + 0.045 * cp_bar
    s_h = 1.0 + 0.015 * cp_bar * t
    d_theta = 30.0 * np.exp(-(((h_bar - 275.0) / 25.0) ** 2))
    r_t = -2.0 * np.sqrt(cp_bar**7 / (cp_bar**7 + 25.0**7)) * np.sin(np.radians(2.0 * d_theta))
    return np.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h))


@dataclasses.dataclass(frozen=True)
class ClipKits:
    """One clip's kits as its ``clips`` row stores them.

    Attributes:
        clip_id: The clip.
        colour_a, colour_b: ``#rrggbb`` of team A's and team B's shirts; None when the clip has no teams.
        side_a: The goal A defends in this clip (:data:`~.kits.SIDES`), None when unknown.
        source: The source (video) the clip was cut from: one half, or a whole match.
        start_frame: First frame in the source, to order the clips of a source.
        fixed: Already aligned (its letters are in the catalog): a reference, never swapped.
    """

    clip_id: str
    colour_a: str | None
    colour_b: str | None
    side_a: str | None = None
    source: str = ""
    start_frame: int = 0
    fixed: bool = False

    def __post_init__(self) -> None:
        if not self.clip_id:
            raise ValueError("ClipKits.clip_id must be a non-empty clip id")
        if (self.colour_a is None) != (self.colour_b is None):
            raise ValueError(f"clip {self.clip_id}: both kit colours or neither, got {self.colour_a!r} and {self.colour_b!r}")
        for colour in (self.colour_a, self.colour_b):
            if colour is not None:
                hex_to_lab(colour)
        if self.side_a is not None and self.side_a not in SIDES:
            raise ValueError(f"clip {self.clip_id}: side_a must be one of {SIDES} or None, got {self.side_a!r}")
        if self.start_frame < 0:
            raise ValueError(f"clip {self.clip_id}: start_frame must be >= 0, got {self.start_frame}")

    @property
    def has_kits(self) -> bool:
        return self.colour_a is not None

    @classmethod
    def from_row(cls, row: Mapping[str, Any], fixed: bool) -> ClipKits:
        """From a ``clips`` row (a dict, as ``pyarrow.Table.to_pylist`` gives it)."""
        return cls(
            clip_id=row["clip_id"], colour_a=row.get("team_a_colour"), colour_b=row.get("team_b_colour"),
            side_a=row.get("team_a_side"), source=row.get("source_url") or "", start_frame=int(row.get("start_frame") or 0),
            fixed=fixed,
        )


@dataclasses.dataclass(frozen=True)
class MatchTeamRules:
    """When one assignment of a clip's letters is clearly better than the other (the pipeline fills
    these from ``attribute.match_*`` in the config, where each is argued).

    Attributes:
        min_margin: Fewest CIEDE2000 units by which the better assignment must be cheaper.
        max_ratio: The better assignment's cost must be at most this share of the other's.
        side_decides: Whether the side of play may decide a clip the colours leave ambiguous.
    """

    min_margin: float
    max_ratio: float
    side_decides: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_margin) and self.min_margin >= 0):
            raise ValueError(f"MatchTeamRules.min_margin must be a finite number >= 0, got {self.min_margin}")
        if not (0 < self.max_ratio <= 1):
            raise ValueError(f"MatchTeamRules.max_ratio must be in (0, 1], got {self.max_ratio}")


@dataclasses.dataclass(frozen=True)
class LetterDecision:
    """What to do with one clip's letters, and why.

    Attributes:
        clip_id: The clip.
        action: One of :data:`ACTIONS`.
        cost_keep, cost_swap: CIEDE2000 cost of each assignment against the match's kits (NaN
            without kits).
        side_a: The side A defends after the decision (flipped by a swap), None when unknown.
        reason: The evidence, one line.
    """

    clip_id: str
    action: str
    cost_keep: float
    cost_swap: float
    side_a: str | None
    reason: str

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"LetterDecision.action must be one of {ACTIONS}, got {self.action!r}")

    @property
    def swap(self) -> bool:
        return self.action == "swap"


@dataclasses.dataclass(frozen=True)
class MatchTeams:
    """The letters of one match.

    Attributes:
        kit_a, kit_b: ``#rrggbb`` of the match's kit A and kit B (medians over the reference
            clips), None when no clip has kits.
        decisions: One per clip, in the order given.
        sides: Per source: the side A defends in it by most decided clips (None when no decided
            clip names one) and one line saying how many clips agree.
    """

    kit_a: str | None
    kit_b: str | None
    decisions: tuple[LetterDecision, ...]
    sides: dict[str, tuple[str | None, str]]

    def clips(self, action: str) -> list[str]:
        """The clip ids of one action."""
        return [d.clip_id for d in self.decisions if d.action == action]

    def record(self) -> dict:
        """JSON of what was decided (for the run record): the kits, the clips per action, the
        ambiguous ones with their reasons and the sides per source."""
        return {
            "kit_a": self.kit_a, "kit_b": self.kit_b,
            "swapped": self.clips("swap"), "kept": self.clips("keep"), "reference": self.clips("reference"),
            "no_kits": self.clips("no-kits"),
            "ambiguous": [{"clip_id": d.clip_id, "reason": d.reason} for d in self.decisions if d.action == "ambiguous"],
            "sides": {source: {"team_a_side": side, "note": note} for source, (side, note) in self.sides.items()},
        }


def _flip(side: str | None) -> str | None:
    return None if side is None else SIDES[1 - SIDES.index(side)]


def _lab_hex(lab: np.ndarray) -> str:
    bgr = cv2.cvtColor(np.asarray(lab, dtype=np.float32).reshape(1, 1, 3), cv2.COLOR_Lab2BGR)[0, 0]
    rgb = np.clip(np.round(bgr[::-1] * 255.0), 0, 255).astype(int)
    return "#{:02x}{:02x}{:02x}".format(*rgb.tolist())


def _costs(pairs: np.ndarray, kits: np.ndarray) -> np.ndarray:
    """``(N, 2)`` cost of keeping and of swapping each clip's ``(2, 3)`` pair against ``(2, 3)`` kits."""
    keep = ciede2000(pairs[:, 0], kits[0]) + ciede2000(pairs[:, 1], kits[1])
    swap = ciede2000(pairs[:, 0], kits[1]) + ciede2000(pairs[:, 1], kits[0])
    return np.stack([keep, swap], axis=1)


def _agree(pairs: np.ndarray, kits: np.ndarray) -> np.ndarray:
    """``bool`` ``(N,)``: each of a clip's two kits is nearer the match kit its assignment gives it.

    A clip's "kit" can be something else (a shaded cluster of one team, a referee): that one
    kit's distance can outweigh the other's in the sum and pick the wrong assignment. Over every
    pair of the synthetic palette (32,400 simulated clips, exposure +-12 L*, 10 % with one kit
    replaced by a random colour) the sum with a ratio of 0.75 chose wrong 14 times, all
    misfits; requiring both kits to agree, never, at any ratio from 0.6 to 1.
    """
    swap_a = ciede2000(pairs[:, 0], kits[1]) < ciede2000(pairs[:, 0], kits[0])
    swap_b = ciede2000(pairs[:, 1], kits[0]) < ciede2000(pairs[:, 1], kits[1])
    return swap_a == swap_b


def _clear(pairs: np.ndarray, kits: np.ndarray, cost: np.ndarray, rules: MatchTeamRules) -> np.ndarray:
    """``bool`` ``(N,)``: the cheaper assignment is clearly cheaper, and both kits say so."""
    best, other = cost.min(axis=1), cost.max(axis=1)
    return (other - best >= rules.min_margin) & (best <= rules.max_ratio * other) & _agree(pairs, kits)


def _oriented(pairs: np.ndarray, swap: np.ndarray) -> np.ndarray:
    return np.where(swap[:, None, None], pairs[:, ::-1], pairs)


def _fit_kits(pairs: np.ndarray, rules: MatchTeamRules) -> np.ndarray:
    """The match's ``(2, 3)`` kits from clips none of which is fixed; letters by the majority of clips."""
    # The start is the clip whose two kits the other clips sit nearest (each in its better
    # assignment): the medoid, ties to the clip whose kits lie furthest apart. The clip whose kits
    # lie furthest apart alone is fragile: on dev seed 402 that was a zoomed shot whose "kits" were
    # stewards in black and one team's orange, and every other clip came out ambiguous against it.
    apart = ciede2000(pairs[:, 0], pairs[:, 1])
    spread = np.array([_costs(pairs, pairs[i]).min(axis=1).sum() for i in range(len(pairs))])
    kits = pairs[int(np.lexsort((-apart, spread))[0])].copy()
    swap = np.zeros(len(pairs), dtype=bool)
    for _ in range(_ITERATIONS):
        cost = _costs(pairs, kits)
        new_swap = cost[:, 1] < cost[:, 0]
        clear = _clear(pairs, kits, cost, rules)
        use = clear if clear.any() else np.ones(len(pairs), dtype=bool)
        new_kits = np.median(_oriented(pairs[use], new_swap[use]), axis=0)
        if np.array_equal(new_swap, swap) and np.allclose(new_kits, kits):
            break
        swap, kits = new_swap, new_kits
    # Letters by the majority: the fewest clips rewritten, and each clip's own letters follow the
    # darker rule, so the match's A is the kit most clips call A. A tie keeps the clearest clip's.
    cost = _costs(pairs, kits)
    clear = _clear(pairs, kits, cost, rules)
    swaps = int((clear & (cost[:, 1] < cost[:, 0])).sum())
    keeps = int((clear & (cost[:, 0] <= cost[:, 1])).sum())
    return kits[::-1].copy() if swaps > keeps else kits


def _side_vote(
    clip: ClipKits, decided: Sequence[tuple[ClipKits, str]], rules: MatchTeamRules
) -> tuple[str | None, str]:
    """The side A defends around an ambiguous clip in its own source, and why (None: no evidence)."""
    if not rules.side_decides:
        return None, "sides not used (attribute.match_side_decides is off)"
    same = sorted(((c.start_frame, side) for c, side in decided if c.source == clip.source and c.clip_id != clip.clip_id))
    if not same:
        return None, "no decided clip of its source names a side"
    before = [side for start, side in same if start < clip.start_frame]
    after = [side for start, side in same if start >= clip.start_frame]
    if before and after:
        if before[-1] == after[0]:
            return before[-1], f"the decided clips of its source just before and after it have A defending the {before[-1]} goal"
        return None, "the decided clips of its source before and after it disagree on A's side (half-time between them?)"
    sides = {side for _, side in same}
    if len(sides) == 1:
        side = sides.pop()
        return side, f"all {len(same)} decided clips of its source have A defending the {side} goal"
    return None, "the decided clips of its source disagree on A's side, and it is not between two that agree"


def align_match(clips: Sequence[ClipKits], rules: MatchTeamRules) -> MatchTeams:
    """Decide, per clip of one match, whether its team letters stay or swap (see the module doc).

    Args:
        clips: Every clip of the match: the ``fixed`` ones (already aligned, in the catalog) are
            the reference and never change; the others are decided.
        rules: When an assignment is clearly better.

    Returns:
        The match's kits, one :class:`LetterDecision` per clip (in order) and A's side per source.

    Raises:
        ValueError: two clips share a clip id.
    """
    ids = [c.clip_id for c in clips]
    if len(set(ids)) != len(ids):
        raise ValueError(f"align_match got a clip id twice: {sorted({i for i in ids if ids.count(i) > 1})}")
    with_kits = [c for c in clips if c.has_kits]
    if not with_kits:
        decisions = tuple(
            LetterDecision(c.clip_id, "reference" if c.fixed else "no-kits", math.nan, math.nan, c.side_a, "no kits in any clip of the match")
            for c in clips
        )
        return MatchTeams(None, None, decisions, _sides(clips, decisions))
    pairs = np.stack([[hex_to_lab(c.colour_a), hex_to_lab(c.colour_b)] for c in with_kits])
    fixed = np.array([c.fixed for c in with_kits])
    if fixed.any():
        kits = np.median(pairs[fixed], axis=0)  # the catalog's letters, as they are
        basis = f"the {int(fixed.sum())} aligned clips in the catalog"
    else:
        kits = _fit_kits(pairs, rules)
        basis = f"the kits fitted from the match's {len(with_kits)} clips"
    cost = _costs(pairs, kits)
    clear = _clear(pairs, kits, cost, rules)
    agree = _agree(pairs, kits)
    row = {c.clip_id: i for i, c in enumerate(with_kits)}

    first: dict[str, LetterDecision] = {}
    for clip in clips:
        if clip.fixed:
            first[clip.clip_id] = LetterDecision(clip.clip_id, "reference", *_pair(cost, row, clip), clip.side_a, "already aligned (in the catalog)")
        elif not clip.has_kits:
            first[clip.clip_id] = LetterDecision(clip.clip_id, "no-kits", math.nan, math.nan, clip.side_a, "no two kits in this clip")
        else:
            i = row[clip.clip_id]
            keep, swap = float(cost[i, 0]), float(cost[i, 1])
            prices = f"keep {keep:.1f}, swap {swap:.1f} CIEDE2000 against {basis}"
            if clear[i]:
                action = "swap" if swap < keep else "keep"
                side = _flip(clip.side_a) if action == "swap" else clip.side_a
                first[clip.clip_id] = LetterDecision(clip.clip_id, action, keep, swap, side, prices)
            else:
                why = (
                    f"colours ambiguous: {prices} (needs a margin of {rules.min_margin:g}, a ratio under {rules.max_ratio:g}"
                    f"{'' if agree[i] else ', and both kits nearer the kits it assigns them: they point different ways'})"
                )
                first[clip.clip_id] = LetterDecision(clip.clip_id, "ambiguous", keep, swap, clip.side_a, why)

    by_id = {c.clip_id: c for c in clips}
    decided = [(by_id[d.clip_id], d.side_a) for d in first.values() if d.action in ("keep", "swap", "reference") and d.side_a is not None]
    decisions = []
    for clip in clips:
        decision = first[clip.clip_id]
        if decision.action == "ambiguous" and clip.side_a is not None:
            side, why = _side_vote(clip, decided, rules)
            if side is not None:
                action = "keep" if clip.side_a == side else "swap"
                decision = dataclasses.replace(
                    decision, action=action, side_a=side, reason=f"{decision.reason}; decided by side: {why}"
                )
            else:
                decision = dataclasses.replace(decision, reason=f"{decision.reason}; side does not decide: {why}")
        decisions.append(decision)
    decisions = tuple(decisions)
    return MatchTeams(_lab_hex(kits[0]), _lab_hex(kits[1]), decisions, _sides(clips, decisions))


def _pair(cost: np.ndarray, row: dict[str, int], clip: ClipKits) -> tuple[float, float]:
    if clip.clip_id not in row:
        return math.nan, math.nan
    return float(cost[row[clip.clip_id], 0]), float(cost[row[clip.clip_id], 1])


def _sides(clips: Sequence[ClipKits], decisions: Sequence[LetterDecision]) -> dict[str, tuple[str | None, str]]:
    """Per source: the side A defends in most of its decided clips, and how many agree."""
    out: dict[str, tuple[str | None, str]] = {}
    for source in dict.fromkeys(c.source for c in clips):
        sides = [
            d.side_a for c, d in zip(clips, decisions)
            if c.source == source and d.action in ("keep", "swap", "reference") and d.side_a is not None
        ]
        if not sides:
            out[source] = (None, "no decided clip names a side")
            continue
        counts = {side: sides.count(side) for side in SIDES if side in sides}
        side = max(counts, key=lambda s: (counts[s], s == SIDES[0]))
        note = f"A defends the {side} goal in {counts[side]} of {len(sides)} decided clips with a side"
        if len(counts) > 1:
            note += " (the others disagree: a half-time switch inside this source, or a side misread)"
        out[source] = (side, note)
    return out
