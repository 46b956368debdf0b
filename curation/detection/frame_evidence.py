"""Frame-level relational evidence for the role classifier: team kits and the goalkeeper's depth.

Two relations of one broadcast frame that a crop does not show:

* **Kits** (:func:`frame_kit_spreads`, :func:`kit_adjusted`): does this box wear one of the two
  team kits?
* **Depth** (:func:`depth_rank`, :func:`depth_adjusted`): a goalkeeper is the last man towards his
  goal: in a main-camera frame (image x runs along the pitch) at most a few people stand beyond
  him (an attacker, a defender on the line, an assistant referee, a photographer). A box with
  more people beyond it on both sides is not a goalkeeper whatever its shirt.

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

from soccerfactory.curation.types import GOALKEEPER, PLAYER, Frames, Tracks

__all__ = ["FrameEvidence", "depth_adjusted", "depth_rank", "frame_kit_spreads", "kit_adjusted"]


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

    def __post_init__(self) -> None:
        if not (self.slope >= 0 and self.cap >= 0 and self.member > 0 and self.min_spread > 0 and self.outlier > 0):
            raise ValueError(f"FrameEvidence needs slope, cap >= 0 and member, min_spread, outlier > 0, got {self}")
        if not (self.depth_slope >= 0 and self.depth_free >= 0):
            raise ValueError(f"FrameEvidence needs depth_slope, depth_free >= 0, got {self}")


def frame_kit_spreads(
    image: np.ndarray, xyxy: np.ndarray, players: np.ndarray, evidence: FrameEvidence
) -> tuple[np.ndarray, np.ndarray]:
    """Shirt colour of every box of one frame and its distance to the nearer of the frame's two kits.

    Args:
        image: ``uint8`` ``(H, W, 3)`` BGR frame.
        xyxy: ``float`` ``(N, 4)`` person boxes in pixels of ``image``.
        players: ``bool`` ``(N,)``: the boxes that define the kits (confident, one per person,
            called ``player`` by the network).
        evidence: The thresholds.

    Returns:
        ``(lab, spreads)``: ``float32`` ``(N, 3)`` CIE Lab shirt colours (NaN rows: too little
        shirt) and ``float32`` ``(N,)`` distances in kit spreads, NaN where the frame has no two
        kits (fewer than two players with a colour in either) or the box has no colour.
    """
    from soccerfactory.curation.attribute.crops import AthleteCrops
    from soccerfactory.curation.attribute.kits import fit_kit_model
    from soccerfactory.curation.attribute.team import KMeansColorTeams

    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    n = len(boxes)
    spreads = np.full(n, np.nan, np.float32)
    if n == 0:
        return np.zeros((0, 3), np.float32), spreads
    frames = Frames(images=image[None], frame_index=np.zeros(1, np.int64), timestamp_s=np.zeros(1), fps=25.0, source="frame")
    rows = Tracks(xyxy=boxes, confidence=np.ones(n, np.float32), class_id=np.full(n, PLAYER, np.int64),
                  frame_index=np.zeros(n, np.int64), track_id=np.arange(n, dtype=np.int64))
    crops = AthleteCrops.from_frames(frames, rows)
    # Only the players cluster; the rest are measured against their kits (GOALKEEPER: no team vote).
    crops = dataclasses.replace(crops, class_id=np.where(np.asarray(players, bool), PLAYER, GOALKEEPER).astype(np.int64))
    labels = KMeansColorTeams().fit_predict(crops)
    lab = np.asarray(labels.colours, np.float32)
    model = fit_kit_model(lab, labels.team, evidence.min_spread, evidence.outlier)
    if model is not None:
        distance = model.distance(lab)
        known = np.isfinite(distance).all(axis=1)
        spreads[known] = distance[known].min(axis=1)
    return lab, spreads


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
