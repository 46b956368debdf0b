"""Frame-level relational evidence for the role classifier: team kits and the goalkeeper's depth.

Two relations of one broadcast frame that a crop does not show:

* **Kits** (:func:`frame_kit_spreads`, :func:`kit_adjusted`): does this box wear one of the two
  team kits?
* **Depth** (:func:`depth_rank`, :func:`depth_adjusted`): a goalkeeper is the last man towards his
  goal: in a main-camera frame (image x runs along the pitch) at most a few people stand beyond
  him (an attacker, a defender on the line, an assistant referee, a photographer). A box with
  more people beyond it on both sides is not a goalkeeper whatever its shirt.
* **One keeper per goal** (:func:`keeper_rivals_adjusted`): of two boxes called goalkeeper near
  one goal, the less sure is more likely an outfield player (a dark-kitted defender on the line,
  a second box on the keeper).

The shirt colours are read for all boxes of a batch at once
(:func:`~soccerfactory.curation.detection.kit_colours.sampled_shirt_colours`).

Kits are the per-frame twin of the tracklet-level relational roles (:mod:`~soccerfactory.curation.attribute.relational`):
in one broadcast frame the outfield players of the two teams form two dominant shirt-colour
clusters; a goalkeeper's or referee's shirt is far from both, a player's sits inside one. The
role network sees colour only as a crude mean over fixed crop regions, and on the real
football-players frames it called players in a team kit ``goalkeeper`` with the detector's
confidence ranking them among the true goalkeepers. Here each box's shirt is read the way the
team classifier reads it (:func:`~soccerfactory.curation.attribute.crops.shirt_colours`: Lab,
grass and skin removed), the frame's two kits are fitted from the boxes the network calls
players (:class:`~soccerfactory.curation.attribute.team.KMeansColorTeams`, robust to a third kit,
then :func:`~soccerfactory.curation.attribute.kits.fit_kit_model`), and the distance to the nearest
kit, in kit spreads, moves the player log-odds (:func:`kit_adjusted`).

Measured on the role classifier's held-out train videos (38 frames, 27 goalkeepers, real
football-players ``train``, never the reported ``valid``): players sit at a median 0.9 spreads
from their kit (95 % within 3.2), goalkeepers at a median 5.3, referees 6.0. With the defaults
(``detect.role_kit_slope`` 0.75, ``role_kit_cap`` 4.5) goalkeeper AP50 0.661 -> 0.770, referee
0.858 -> 0.854, persons unchanged; on dev seeds 400-402 (451 frames, per box) role errors 30 -> 19.

Depth: on the same held-out frames, of the 27 true goalkeepers (at confidence >= 0.25) 19 had
nobody beyond them, 7 one person, 1 two; of the 13 boxes still called goalkeeper wrongly, 9 had
four or more people beyond them on both sides. On the dev seeds (with staff, zooms and close-ups)
true goalkeepers had 0-4 (37 / 55 / 34 / 13 / 4 boxes). With the defaults
(``detect.role_keeper_depth_slope`` 2, ``role_keeper_depth_free`` 3) on top of the kits:
goalkeeper AP50 0.770 -> 0.876, referee 0.854 unchanged; synthetic role errors 19 -> 17,
goalkeeper recall 1.0 kept, precision 0.905 -> 0.918.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["FrameEvidence", "depth_adjusted", "depth_rank", "frame_kit_spreads", "keeper_rivals_adjusted", "kit_adjusted"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class FrameEvidence:
    """How far from the frame's team kits a box's shirt must be to count against ``player``.

    Attributes:
        slope: Player log-odds per kit spread inside ``member`` (minus per spread beyond it); 0 = off.
            See ``detect.role_kit_slope`` for the measurements that chose 0.75.
        cap: Largest change of the log-odds either way: a misread shirt (shadow, a thin kit in a
            zoomed frame) must not overrule a confident network outright (``detect.role_kit_cap``).
        member: Spreads within which a shirt wears a kit (``attribute.kit_member``).
        min_spread: Floor of a kit's spread, weighted Lab (``attribute.kit_min_spread``).
        outlier: Kit crops beyond this many spreads are not the kit's (``attribute.kit_outlier``).
        depth_slope: Goalkeeper log-odds lost per person beyond ``depth_free`` standing beyond
            the box on its nearer side (at most two such people count); 0 = off.
        depth_free: People beyond a goalkeeper that cost nothing.
        rival_slope: A box with a surer goalkeeper near it (within ``rival_span`` frame widths)
            keeps ``exp(-rival_slope * p)`` of its goalkeeper probability (``p``: the largest
            goalkeeper probability among such rivals),
            the rest going to ``player``; 0 = off (``detect.role_keeper_rival_slope``).
        rival_span: How near, in frame widths, a surer goalkeeper must stand to be the same goal's.
    """

    slope: float = 0.75
    cap: float = 4.5
    # No defaults: one place for the kit thresholds, the tracklet-level kit models' (AttributeConfig,
    # passed in by configured_roles; config sits above this layer).
    member: float
    min_spread: float
    outlier: float
    depth_slope: float = 2.0
    depth_free: int = 3
    # No defaults either: detect.role_keeper_rival_slope / _span are the one place (off: it lost on
    # valid, see keeper_rivals_adjusted), passed in by configured_roles.
    rival_slope: float
    rival_span: float

    def __post_init__(self) -> None:
        if not (self.slope >= 0 and self.cap >= 0 and self.member > 0 and self.min_spread > 0 and self.outlier > 0):
            raise ValueError(f"FrameEvidence needs slope, cap >= 0 and member, min_spread, outlier > 0, got {self}")
        if not (self.depth_slope >= 0 and self.depth_free >= 0):
            raise ValueError(f"FrameEvidence needs depth_slope, depth_free >= 0, got {self}")
        if not (self.rival_slope >= 0 and 0 < self.rival_span <= 1):
            raise ValueError(f"FrameEvidence needs rival_slope >= 0 and rival_span in (0, 1], got {self}")


def frame_kit_spreads(
    image: np.ndarray | None, xyxy: np.ndarray, players: np.ndarray, evidence: FrameEvidence, lab: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Shirt colour of every box of one frame and its distance to the nearer of the frame's two kits.

    Args:
        image: ``uint8`` ``(H, W, 3)`` BGR frame.
        xyxy: ``float`` ``(N, 4)`` person boxes in pixels of ``image``.
        players: ``bool`` ``(N,)``: the boxes that define the kits (confident, one per person,
            called ``player`` by the network).
        evidence: The thresholds.
        lab: ``float32`` ``(N, 3)`` shirt colours already read
            (:func:`~soccerfactory.curation.detection.kit_colours.sampled_shirt_colours` of a
            batch); None reads them from ``image``.

    Returns:
        ``(lab, spreads)``: ``float32`` ``(N, 3)`` CIE Lab shirt colours (NaN rows: too little
        shirt) and ``float32`` ``(N,)`` distances in kit spreads, NaN where the frame has no two
        kits (fewer than two players with a colour in either) or the box has no colour.
    """
    from soccerfactory.curation.attribute.kits import fit_kit_model
    from soccerfactory.curation.detection.kit_colours import sampled_shirt_colours

    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    n = len(boxes)
    spreads = np.full(n, np.nan, np.float32)
    if n == 0:
        return np.zeros((0, 3), np.float32), spreads
    lab = sampled_shirt_colours(image, boxes) if lab is None else np.asarray(lab, np.float32).reshape(n, 3)
    team = _two_kits(lab, np.asarray(players, bool))
    model = None if team is None else fit_kit_model(lab, team, evidence.min_spread, evidence.outlier)
    if model is not None:
        distance = model.distance(lab)
        known = np.isfinite(distance).all(axis=1)
        spreads[known] = distance[known].min(axis=1)
    return lab, spreads


def _two_kits(lab: np.ndarray, players: np.ndarray) -> np.ndarray | None:
    """Team ``"A"`` / ``"B"`` / None of each box: the team classifier's two kits of the ``players`` boxes.

    :meth:`~soccerfactory.curation.attribute.team.KMeansColorTeams.assign` (robust to a third
    kit) on colours already read, each box its own person; which kit is ``A`` does not matter here
    (the nearer kit counts). None when fewer than two players have a colour or the two kits are
    closer than the classifier's ``min_separation`` (one team in view).
    """
    from soccerfactory.curation.attribute.team import TEAMS, KMeansColorTeams

    # The classifier's clustering step on colours already read (fit_predict reads crops itself).
    kits = KMeansColorTeams().assign(lab, players, np.arange(len(lab)))
    if kits is None:
        return None
    rows, distance = kits
    team = np.full(len(lab), None, dtype=object)
    team[rows] = np.array(TEAMS, dtype=object)[distance.argmin(axis=1)]
    return team


def kit_adjusted(probs: np.ndarray, spreads: np.ndarray, evidence: FrameEvidence) -> np.ndarray:
    """Role probabilities with the kit evidence: player log-odds + ``slope * (member - spreads)``, capped.

    Args:
        probs: ``float`` ``(N, 3)`` player / goalkeeper / referee probabilities (rows sum to 1).
        spreads: ``float`` ``(N,)`` from :func:`frame_kit_spreads`; NaN leaves the row as it was.
        evidence: The thresholds.

    Returns:
        ``float32`` ``(N, 3)``, rows sum to 1; goalkeeper against referee keeps the network's odds.
    """
    p = np.asarray(probs, np.float64).reshape(-1, 3)
    shift = np.clip(evidence.slope * (evidence.member - np.asarray(spreads, np.float64)), -evidence.cap, evidence.cap)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    logp = np.log(np.clip(p, 1e-6, 1.0))
    logp[:, 0] += shift
    out = np.exp(logp - logp.max(axis=1, keepdims=True))
    return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)


#: At most this many people beyond ``depth_free`` count against a goalkeeper: a crowded goal
#: mouth (a corner) must not bury a confident one (at slope 2, 4 logits: 0.99 stays goalkeeper).
_DEPTH_COUNTED = 2


def depth_rank(xyxy: np.ndarray, context: np.ndarray) -> np.ndarray:
    """People beyond each box on its nearer side of the frame: ``int64`` ``(N,)``.

    Args:
        xyxy: ``float`` ``(N, 4)`` person boxes.
        context: ``bool`` ``(N,)``: the boxes that count as people (confident, one per person).

    Returns:
        For each box, the smaller of the number of context boxes whose centre is left of its
        centre and the number right of it (the box itself is neither).
    """
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    centre = (boxes[:, 0] + boxes[:, 2]) / 2
    people = centre[np.asarray(context, bool)]
    left = (people[None, :] < centre[:, None]).sum(axis=1)
    right = (people[None, :] > centre[:, None]).sum(axis=1)
    return np.minimum(left, right).astype(np.int64)


def depth_adjusted(probs: np.ndarray, rank: np.ndarray, evidence: FrameEvidence) -> np.ndarray:
    """Role probabilities with goalkeeper log-odds - ``depth_slope * min(rank - depth_free, 2)`` (rank above free).

    Args:
        probs: ``float`` ``(N, 3)`` player / goalkeeper / referee probabilities.
        rank: ``(N,)`` from :func:`depth_rank`.
        evidence: The thresholds.

    Returns:
        ``float32`` ``(N, 3)``, rows sum to 1; player against referee keeps its odds.
    """
    p = np.asarray(probs, np.float64).reshape(-1, 3)
    beyond = np.clip(np.asarray(rank, np.float64) - evidence.depth_free, 0, _DEPTH_COUNTED)
    logp = np.log(np.clip(p, 1e-6, 1.0))
    logp[:, 1] -= evidence.depth_slope * beyond
    out = np.exp(logp - logp.max(axis=1, keepdims=True))
    return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)


def keeper_rivals_adjusted(
    probs: np.ndarray, xyxy: np.ndarray, confidence: np.ndarray, context: np.ndarray, width: int, evidence: FrameEvidence
) -> np.ndarray:
    """Role probabilities with one goalkeeper per goal: a box beside a surer goalkeeper is more likely a player.

    A team has one goalkeeper and a goal one keeper in front of it. A box's rivals are the
    ``context`` boxes called goalkeeper whose goalkeeper score (detector confidence x goalkeeper
    probability) is above its own and whose centre lies within ``rival_span`` frame widths of its
    own; it keeps ``exp(-rival_slope * p)`` of its goalkeeper probability, ``p`` the largest
    goalkeeper probability among its rivals, and the rest goes to ``player`` (a second keeper next to the first was an outfield
    player in front of the goal, a defender on the line, a second box on the keeper), so player
    against referee is not moved. The surest keeper of each side keeps its odds, and the two
    keepers of a wide shot are not rivals: on the 298 real football-players train stills, the 16
    with both keepers in view had them 0.63-0.99 frame widths apart.

    Measured on the role classifier's held-out train videos (38 frames; the network never fitted
    them, but they chose its epoch and the kit and depth slopes): goalkeeper AP50 0.876 -> 0.908,
    referee 0.854 and persons unchanged, player 0.977 -> 0.978, for any slope from 2 to 8; the
    whole train split (the network's own training frames, 298) 0.904 -> 0.919. Without the span
    (any two boxes of a frame are rivals) the train split fell to 0.848: wide shots show both keepers.
    On the real ``valid`` split, evaluated once with slope 3, it lost: goalkeeper AP50 0.809 ->
    0.781 (ranked by confidence x role probability 0.831 -> 0.801), referee and persons unchanged;
    in 5 of its 49 frames a box on a labelled keeper (IoU >= 0.5) at confidence 0.09-0.47 was
    turned player by a surer goalkeeper box, in four of them at the same spot (within 0.01 frame
    widths: a second box on the keeper or a player beside him). Hence off by default (``detect.role_keeper_rival_slope`` 0);
    synthetic dev seeds 400-401 (every 10th frame): no per-box role changed either way.

    Args:
        probs: ``float`` ``(N, 3)`` player / goalkeeper / referee probabilities of one frame.
        xyxy: ``float`` ``(N, 4)`` the boxes.
        confidence: ``(N,)`` detector confidences.
        context: ``bool`` ``(N,)``: boxes that may be rivals (confident, one per person).
        width: The frame's width in pixels.
        evidence: The thresholds.

    Returns:
        ``float32`` ``(N, 3)``, rows sum to 1.
    """
    p = np.asarray(probs, np.float64).reshape(-1, 3)
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    centre = (boxes[:, 0] + boxes[:, 2]) / 2
    score = np.asarray(confidence, np.float64) * p[:, 1]
    keeper = np.asarray(context, bool) & (p.argmax(axis=1) == 1)
    rival = (keeper[None, :] & (score[None, :] > score[:, None])
             & (np.abs(centre[None, :] - centre[:, None]) < evidence.rival_span * width))
    strength = np.where(rival, p[None, :, 1], 0.0).max(axis=1, initial=0.0)
    moved = p[:, 1] * (1 - np.exp(-evidence.rival_slope * strength))
    out = p.copy()
    out[:, 1] -= moved
    out[:, 0] += moved
    return out.astype(np.float32)
