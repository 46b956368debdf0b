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
    "TEAMS",
    "KMeansColorTeams",
    "TeamClassifier",
    "TeamLabels",
]

#: Team labels; which kit is "A" is fixed per clip by :class:`KMeansColorTeams`.
TEAMS = ("A", "B")


@dataclasses.dataclass(frozen=True, eq=False)
class TeamLabels:
    """Team of each crop.

    Attributes:
        team: ``object`` ``(N,)``: ``"A"``, ``"B"`` or ``None`` (referees, unknown).
        confidence: ``float32`` ``(N,)`` in ``[0, 1]``; ``0`` where ``team`` is ``None``.
    """

    team: np.ndarray
    confidence: np.ndarray

    def __post_init__(self) -> None:
        team = np.asarray(self.team, dtype=object).reshape(-1)
        confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        if team.shape != confidence.shape:
            raise ValueError(
                f"TeamLabels.team and .confidence must be aligned, got {team.shape} and {confidence.shape}"
            )
        bad = [t for t in team if t is not None and t not in TEAMS]
        if bad:
            raise ValueError(f"TeamLabels.team must hold 'A', 'B' or None, got {bad[:3]}")
        if not np.isfinite(confidence).all() or ((confidence < 0) | (confidence > 1)).any():
            raise ValueError("TeamLabels.confidence must be finite and in [0, 1]")
        object.__setattr__(self, "team", readonly(team))
        object.__setattr__(self, "confidence", readonly(confidence))

    def __len__(self) -> int:
        return int(self.team.shape[0])


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
      by ``lightness_weight`` so that shading weighs less than hue.
    * Labelling is deterministic: ``"A"`` is the cluster whose centre is darker (lower
      ``L*``; ties broken by ``a*`` then ``b*``), so reruns on the same clip agree.
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
        lightness_weight: float = 0.5,
        min_separation: float = 10.0,
        goalkeeper_side_scale_m: float = 10.0,
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
            return TeamLabels(team, confidence)

        colours = shirt_colours(crops)
        features = colours * np.array([self.lightness_weight, 1.0, 1.0], dtype=np.float32)
        players = np.flatnonzero((crops.class_id == PLAYER) & np.isfinite(colours).all(axis=1))
        if len(players) < 2:
            return TeamLabels(team, confidence)

        data = np.ascontiguousarray(features[players], dtype=np.float32)
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 0.01)
        cv2.setRNGSeed(self.seed)
        _, _, centres = cv2.kmeans(data, 2, None, criteria, self.attempts, cv2.KMEANS_PP_CENTERS)
        if float(np.linalg.norm(centres[0] - centres[1])) < self.min_separation:
            return TeamLabels(team, confidence)
        order = sorted(range(2), key=lambda k: tuple(centres[k].tolist()))
        centres = centres[order]

        distance = np.linalg.norm(data[:, None, :] - centres[None, :, :], axis=2)
        own = distance.argmin(axis=1)
        near, far = distance.min(axis=1), distance.max(axis=1)
        team[players] = np.array(TEAMS, dtype=object)[own]
        confidence[players] = (far - near) / np.maximum(far + near, 1e-6)

        if pitch_x is not None:
            self._place_goalkeepers(crops, pitch_x, team, confidence, players, own)
        return TeamLabels(team, confidence)

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
