"""Team of each athlete crop: the :class:`TeamClassifier` protocol and the k-means shirt-colour backend.

``"kmeans-color"`` (:class:`KMeansColorTeams`) clusters the shirt colour
(:func:`.crops.shirt_colours`) of the outfield players of a clip into two teams. Backends are
built by name in :mod:`.builders`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from soccerfactory.curation.arrays import readonly
from soccerfactory.curation.attribute.crops import AthleteCrops, shirt_colours
from soccerfactory.curation.types import GOALKEEPER, PLAYER

__all__ = [
    "LIGHTNESS_WEIGHT",
    "TEAMS",
    "KMeansColorTeams",
    "TeamClassifier",
    "TeamLabels",
    "kit_order",
    "team_crop_rows",
]

#: Team labels; which kit is "A" is fixed per clip by :class:`KMeansColorTeams`.
TEAMS = ("A", "B")

#: Weight of ``L*`` against ``a*``/``b*`` in kit colour distances: shading changes lightness more
#: than hue, so it counts half. The team classifier and the kit models of :mod:`.relational`
#: measure colour the same way.
LIGHTNESS_WEIGHT = 0.5

# Hue angle (degrees, Lab) where the hue order starts: grass green, the hue kits avoid, so no
# pair of real kits straddles the cut.
_HUE_CUT = 150.0
# Chroma below which a kit is neutral (white, grey, black): its hue is noise.
_NEUTRAL_CHROMA = 15.0
# Two clusters are two kits, not one kit cut in two, when their centres are this many of their
# (median) spreads apart.
_KIT_GAP = 3.0
# Clusters fitted before merging: two teams, referees, a goalkeeper.
_ROBUST_CLUSTERS = 4
# Fewer people than this in view and plain two-means decides (too few to count groups by people).
_ROBUST_MIN_PEOPLE = 8


def kit_order(lab_0: np.ndarray, lab_1: np.ndarray, lightness_tie: float) -> tuple[int, int]:
    """Which of two kit colours is team ``"A"``: ``(0, 1)`` or ``(1, 0)``.

    ``A`` is the darker kit (lower ``L*``), a property of the colours alone, which is what makes a
    letter mean the same kit in every clip of a match. Two kits closer in lightness than
    ``lightness_tie`` could swap letters from one clip to the next (exposure, shade): among the
    synthetic palette royal blue and purple differ by 0.9 ``L*``, orange and pink by 1.4, black and
    navy by 2.9. For those the order is the less colourful (a neutral kit first), then the hue
    angle counted from grass green, which distinct kits of similar lightness differ in by tens of
    degrees. The rule's boundary moves, it does not vanish: a pair about ``lightness_tie`` apart
    can still swap.

    Args:
        lab_0, lab_1: ``(3,)`` CIE Lab colours (``L*`` 0-100).
        lightness_tie: ``L*`` difference under which lightness does not decide.
    """
    lab_0, lab_1 = np.asarray(lab_0, dtype=np.float64), np.asarray(lab_1, dtype=np.float64)
    if abs(lab_0[0] - lab_1[0]) >= lightness_tie:
        return (0, 1) if lab_0[0] < lab_1[0] else (1, 0)
    chroma = [math.hypot(lab[1], lab[2]) for lab in (lab_0, lab_1)]
    if (min(chroma) < _NEUTRAL_CHROMA) != (max(chroma) < _NEUTRAL_CHROMA):
        return (0, 1) if chroma[0] < chroma[1] else (1, 0)
    hue = [(math.degrees(math.atan2(lab[2], lab[1])) - _HUE_CUT) % 360.0 for lab in (lab_0, lab_1)]
    key_0, key_1 = (hue[0], lab_0[0]), (hue[1], lab_1[0])
    if min(chroma) < _NEUTRAL_CHROMA:  # both neutral: lightness after all
        key_0, key_1 = (lab_0[0], hue[0]), (lab_1[0], hue[1])
    return (0, 1) if key_0 <= key_1 else (1, 0)


@dataclasses.dataclass(frozen=True, eq=False)
class TeamLabels:
    """Team of each crop.

    Attributes:
        team: ``object`` ``(N,)``: ``"A"``, ``"B"`` or ``None`` (referees, unknown).
        confidence: ``float32`` ``(N,)`` in ``[0, 1]``; ``0`` where ``team`` is ``None``.
        colours: ``float32`` ``(N, 3)`` the shirt colour (CIE Lab) each label was read from, NaN
            rows where the crop shows too little shirt; None when the backend reads no colour.
    """

    team: np.ndarray
    confidence: np.ndarray
    colours: np.ndarray | None = None

    def __post_init__(self) -> None:
        team = np.asarray(self.team, dtype=object).reshape(-1)
        confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        if team.shape != confidence.shape:
            raise ValueError(
                f"TeamLabels.team and .confidence must be aligned, got {team.shape} and {confidence.shape}"
            )
        if self.colours is not None:
            colours = np.asarray(self.colours, dtype=np.float32).reshape(-1, 3) if np.size(self.colours) else np.zeros((0, 3), np.float32)
            if colours.shape != (team.shape[0], 3):
                raise ValueError(f"TeamLabels.colours must have shape ({team.shape[0]}, 3) (Lab per crop), got {np.shape(self.colours)}")
            object.__setattr__(self, "colours", readonly(colours))
        bad = [t for t in team if t is not None and t not in TEAMS]
        if bad:
            raise ValueError(f"TeamLabels.team must hold 'A', 'B' or None, got {bad[:3]}")
        if not np.isfinite(confidence).all() or ((confidence < 0) | (confidence > 1)).any():
            raise ValueError("TeamLabels.confidence must be finite and in [0, 1]")
        object.__setattr__(self, "team", readonly(team))
        object.__setattr__(self, "confidence", readonly(confidence))

    def __len__(self) -> int:
        return int(self.team.shape[0])


def team_crop_rows(frame_index: np.ndarray, track_id: np.ndarray, semantic_frames: np.ndarray, min_crops: int) -> np.ndarray:
    """Rows of a clip's crops read for team colours: those of the semantic frames, and every crop of
    a tracklet that has fewer than ``min_crops`` of those (its crops of the jersey frames and the
    crops kept for tracks that live between the sampled frames, :func:`~soccerfactory.curation.spatial.annotate_spatial`).

    A short tracklet seen on one semantic frame, or none, has no kit evidence, and the vote refuses
    it a team (dev seeds 400-403, 1 fps team crops: 6 of the 10 tracks refused a team had 0-1
    crops); its other crops are there, at the jersey rate.

    Args:
        frame_index: ``int64`` ``(M,)`` frame of each crop.
        track_id: ``int64`` ``(M,)`` tracklet of each crop.
        semantic_frames: ``int64`` the frames sampled for team colours.
        min_crops: Semantic crops a tracklet needs to be read on those alone; 0 reads the semantic
            frames only.

    Returns:
        ``int64`` sorted row indices.
    """
    frame_index = np.asarray(frame_index, dtype=np.int64).reshape(-1)
    track_id = np.asarray(track_id, dtype=np.int64).reshape(-1)
    semantic = np.isin(frame_index, np.asarray(semantic_frames, dtype=np.int64))
    if min_crops <= 0 or not len(track_id):
        return np.flatnonzero(semantic)
    ids, counts = np.unique(track_id[semantic], return_counts=True)
    enough = ids[counts >= min_crops]
    return np.flatnonzero(semantic | ~np.isin(track_id, enough))


@runtime_checkable
class TeamClassifier(Protocol):
    """Splits the athletes of one clip into two teams."""

    def fit_predict(self, crops: AthleteCrops, pitch_x: np.ndarray | None = None) -> TeamLabels:
        """Label every crop; ``pitch_x`` (``(N,)`` metres, NaN = unknown) may place goalkeepers."""
        ...




class KMeansColorTeams:
    """Two teams by k-means on the shirt colour of the outfield players.

    * Players (class ``player``) with enough shirt pixels are clustered with ``cv2.kmeans``
      (k = 2, fixed seed, several attempts) on their median Lab shirt colour, ``L*`` scaled
      by ``lightness_weight`` so that shading weighs less than hue. With eight or more people
      in view the two team centres are the two most-populated of four clusters, halves of one
      kit merged (:meth:`team_centres`), so referees the detector called players cannot take
      a team's cluster.
    * Labelling is deterministic: ``"A"`` is the cluster whose centre is darker (lower
      ``L*``; kits of near-equal lightness by :func:`kit_order`), a property of the colours,
      so reruns on the same clip and other clips of the same match agree.
    * Confidence of a player is the margin ``(d_other - d_own) / (d_other + d_own)``.
    * Goalkeepers wear their own colours, so the nearest centre would be arbitrary. With
      ``pitch_x`` they join the team defending their half: the team whose players' mean
      ``pitch_x`` is on that side. Without it (or with NaN) they stay ``None``.
    * Referees, crops with too little shirt, and every crop when the two centres are closer
      than ``min_separation`` (one team only in view) get ``None``.
    """

    def __init__(
        self,
        seed: int = 0,
        attempts: int = 5,
        lightness_weight: float = LIGHTNESS_WEIGHT,
        min_separation: float = 10.0,
        goalkeeper_side_scale_m: float = 10.0,
        lightness_tie: float = 6.0,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        if min_separation < 0 or lightness_weight <= 0 or goalkeeper_side_scale_m <= 0:
            raise ValueError("min_separation must be >= 0, lightness_weight and goalkeeper_side_scale_m > 0")
        self.seed = int(seed)
        self.attempts = int(attempts)
        self.lightness_weight = float(lightness_weight)
        self.min_separation = float(min_separation)
        self.goalkeeper_side_scale_m = float(goalkeeper_side_scale_m)
        if lightness_tie < 0:
            raise ValueError(f"lightness_tie must be >= 0, got {lightness_tie}")
        self.lightness_tie = float(lightness_tie)

    def fit_predict(self, crops: AthleteCrops, pitch_x: np.ndarray | None = None) -> TeamLabels:
        """Cluster the players of ``crops`` into teams ``A``/``B`` and label every crop.

        Args:
            crops: all athlete crops of one clip (clustering needs both teams in view).
            pitch_x: optional ``(N,)`` pitch x (metres, origin at the centre mark, NaN =
                unknown) of each crop's athlete; places goalkeepers.
        """
        n = len(crops)
        team = np.full(n, None, dtype=object)
        confidence = np.zeros(n, dtype=np.float32)
        if pitch_x is not None:
            pitch_x = np.asarray(pitch_x, dtype=np.float64).reshape(-1)
            if pitch_x.shape != (n,):
                raise ValueError(f"pitch_x must have shape ({n},) (one per crop), got {pitch_x.shape}")
        if n == 0:
            return TeamLabels(team, confidence, np.zeros((0, 3), np.float32))

        colours = shirt_colours(crops)
        kits = self.assign(colours, crops.class_id == PLAYER, crops.track_id)
        if kits is None:
            return TeamLabels(team, confidence, colours)
        players, distance = kits
        own = distance.argmin(axis=1)
        near, far = distance.min(axis=1), distance.max(axis=1)
        team[players] = np.array(TEAMS, dtype=object)[own]
        confidence[players] = (far - near) / np.maximum(far + near, 1e-6)

        if pitch_x is not None:
            self._place_goalkeepers(crops, pitch_x, team, confidence, players, own)
        return TeamLabels(team, confidence, colours)

    def assign(self, colours: np.ndarray, players: np.ndarray, track_id: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The two kits of the players and each player's distance to them (the clustering step).

        Args:
            colours: ``float32`` ``(N, 3)`` CIE Lab shirt colours, NaN rows unknown.
            players: ``bool`` ``(N,)`` the rows that define the kits (class ``player``).
            track_id: ``int64`` ``(N,)`` the person of each row (:meth:`team_centres` counts people).

        Returns:
            ``(rows, distance)``: ``int64`` ``(P,)`` the player rows with a colour and ``float32``
            ``(P, 2)`` their distance, in feature space (``L*`` scaled by ``lightness_weight``), to
            kit ``A`` and kit ``B`` (``A`` by :func:`kit_order`); None when fewer than two players
            have a colour or the two kits are closer than ``min_separation`` (one team in view).
        """
        weight = np.array([self.lightness_weight, 1.0, 1.0], dtype=np.float32)
        colours = np.asarray(colours, np.float32)
        rows = np.flatnonzero(np.asarray(players, bool) & np.isfinite(colours).all(axis=1))
        if len(rows) < 2:
            return None
        data = np.ascontiguousarray(colours[rows] * weight, dtype=np.float32)
        centres = self.team_centres(data, np.asarray(track_id)[rows])
        if float(np.linalg.norm(centres[0] - centres[1])) < self.min_separation:
            return None
        lab = centres / weight
        centres = centres[list(kit_order(lab[0], lab[1], self.lightness_tie))]
        return rows, np.linalg.norm(data[:, None, :] - centres[None, :, :], axis=2)

    def _kmeans(self, data: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 0.01)
        cv2.setRNGSeed(self.seed)
        _, labels, centres = cv2.kmeans(np.ascontiguousarray(data), k, None, criteria, self.attempts, cv2.KMEANS_PP_CENTERS)
        return labels.reshape(-1), centres

    def team_centres(self, data: np.ndarray, track_id: np.ndarray) -> np.ndarray:
        """The two team centres ``(2, 3)`` in feature space, robust to people in other kits.

        Two-means splits off whatever is furthest: a referee the detector called a player, in red
        among grey and white teams (synthetic seed 404, every crop of class player), takes a
        cluster of its own and both teams share the other. So, with enough people in view, four
        clusters are fitted, clusters that are one kit cut in two are merged again (centres
        closer than ``_KIT_GAP`` of their spreads: halves of one shaded kit are about 1.2 apart,
        distinct kits tens), and the teams are the two groups with the most people (distinct
        tracks): referees and goalkeepers are one to three people each.
        """
        people = np.unique(track_id)
        if len(people) < _ROBUST_MIN_PEOPLE or len(data) < _ROBUST_CLUSTERS * 2:
            return self._kmeans(data, 2)[1]
        labels = self._kmeans(data, _ROBUST_CLUSTERS)[0]
        groups = [np.flatnonzero(labels == k) for k in range(_ROBUST_CLUSTERS) if (labels == k).any()]

        def stats(rows: np.ndarray) -> tuple[np.ndarray, float]:
            centre = data[rows].mean(axis=0)
            return centre, max(float(np.median(np.linalg.norm(data[rows] - centre, axis=1))), 1.0)

        while len(groups) > 2:
            measured = [stats(g) for g in groups]
            ratio, i, j = min(
                (float(np.linalg.norm(measured[i][0] - measured[j][0])) / max(measured[i][1], measured[j][1]), i, j)
                for i in range(len(groups)) for j in range(i + 1, len(groups))
            )
            if ratio >= _KIT_GAP:
                break
            groups = [g for k, g in enumerate(groups) if k not in (i, j)] + [np.concatenate([groups[i], groups[j]])]
        if len(groups) == 2:
            return np.stack([stats(g)[0] for g in groups])
        owner = np.full(len(data), -1)
        for k, rows in enumerate(groups):
            owner[rows] = k
        count = np.zeros(len(groups), dtype=np.int64)
        for t in people.tolist():  # each person counts in the group holding most of its crops
            count[np.bincount(owner[track_id == t], minlength=len(groups)).argmax()] += 1
        top = np.argsort(-count, kind="stable")[:2]
        return np.stack([stats(groups[k])[0] for k in top])

    def _place_goalkeepers(self, crops, pitch_x, team, confidence, players, own) -> None:
        known = np.isfinite(pitch_x[players])
        means = []
        for k in range(2):
            xs = pitch_x[players][known & (own == k)]
            means.append(float(xs.mean()) if len(xs) else math.nan)
        if not all(math.isfinite(m) for m in means) or means[0] == means[1]:
            return
        left = 0 if means[0] < means[1] else 1  # the team defending the x < 0 goal
        certainty = math.tanh(abs(means[0] - means[1]) / self.goalkeeper_side_scale_m)
        keepers = np.flatnonzero((crops.class_id == GOALKEEPER) & np.isfinite(pitch_x))
        for i in keepers:
            k = left if pitch_x[i] < 0 else 1 - left
            team[i] = TEAMS[k]
            confidence[i] = certainty
