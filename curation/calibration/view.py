"""What kind of picture each frame is (:class:`FrameViews`): the evidence that decides whether a
camera may be trusted and whether athletes get pitch positions.

Views, in :data:`VIEWS`:

* ``main``: the wide main (tactical) camera, the view every spatial label is made for;
* ``zoomed``: the main camera zoomed in (a smaller piece of pitch, still lines and keypoints
  enough for a camera);
* ``close-up``: a player or a piece of touchline filling the picture (no camera can be trusted);
* ``other``: replays' graphics, crowd, bench, anything with too little pitch.

A wrong camera is worse than none, so a frame whose evidence does not support ``main`` or
``zoomed`` never keeps a valid camera, and frames of non-main views keep their boxes and
identities but, by default, no pitch positions (``calibrate.non_main_positions``). The evidence
is measured in :mod:`~soccerfactory.curation.calibration.view_evidence` and the views decided,
with the camera gates, in :mod:`~soccerfactory.curation.calibration.view_classify`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np

from soccerfactory.curation.arrays import readonly

__all__ = ["VIEWS", "MAIN_VIEWS", "FrameViews", "shot_view"]

#: Every view class, from the most to the least useful for spatial labels.
VIEWS: tuple[str, ...] = ("main", "zoomed", "close-up", "other")
#: Views whose frames may carry a camera.
MAIN_VIEWS: frozenset[str] = frozenset({"main", "zoomed"})


@dataclasses.dataclass(frozen=True, eq=False)
class FrameViews:
    """The view class of each processed frame of a clip, with its evidence.

    Attributes:
        frame_index: ``int64`` ``(F,)`` source frame indices, strictly increasing.
        view: ``object`` ``(F,)`` one of :data:`VIEWS` per frame.
        reason: ``object`` ``(F,)`` one line per frame saying what decided the view (the
            evidence and the threshold it met or missed).
        visible_pitch_m2: ``float32`` ``(F,)`` area of the pitch the frame's camera shows, in
            square metres; NaN without a camera.
    """

    frame_index: np.ndarray
    view: np.ndarray
    reason: np.ndarray
    visible_pitch_m2: np.ndarray

    def __post_init__(self) -> None:
        frames = np.asarray(self.frame_index)
        if frames.size == 0:
            frames = frames.reshape(0).astype(np.int64)
        if frames.ndim != 1 or frames.dtype.kind not in "iu":
            raise ValueError(f"FrameViews.frame_index must be a 1-D integer array, got {frames.dtype} {frames.shape}")
        if frames.size > 1 and not (np.diff(frames) > 0).all():
            raise ValueError("FrameViews.frame_index must be strictly increasing")
        n = frames.shape[0]
        view = np.asarray(self.view, dtype=object).reshape(-1)
        reason = np.asarray(self.reason, dtype=object).reshape(-1)
        area = np.asarray(self.visible_pitch_m2, dtype=np.float32).reshape(-1)
        for name, arr in (("view", view), ("reason", reason), ("visible_pitch_m2", area)):
            if arr.shape != (n,):
                raise ValueError(f"FrameViews.{name} must have shape ({n},) like frame_index, got {arr.shape}")
        bad = sorted({str(v) for v in view if v not in VIEWS})
        if bad:
            raise ValueError(f"FrameViews.view must hold one of {VIEWS}, got {bad[:3]}")
        if any(not isinstance(r, str) or not r for r in reason):
            raise ValueError("FrameViews.reason must be a non-empty string per frame")
        object.__setattr__(self, "frame_index", readonly(frames.astype(np.int64, copy=False)))
        object.__setattr__(self, "view", readonly(view))
        object.__setattr__(self, "reason", readonly(reason))
        object.__setattr__(self, "visible_pitch_m2", readonly(area))

    def __len__(self) -> int:
        return int(self.frame_index.shape[0])


def shot_view(views: FrameViews) -> tuple[str | None, str | None]:
    """The view of a whole clip (one shot): the view of most of its frames, and why.

    Ties go to the less useful view (:data:`VIEWS` order, last first): a clip half close-up and
    half main is not called main. Returns ``(None, None)`` for a clip without frames.
    """
    if len(views) == 0:
        return None, None
    counts = Counter(views.view.tolist())
    best = max(VIEWS, key=lambda v: (counts.get(v, 0), VIEWS.index(v)))
    share = counts[best] / len(views)
    detail = ", ".join(f"{v} {counts[v]}" for v in VIEWS if counts.get(v))
    return best, f"{best} on {share:.0%} of {len(views)} frames ({detail})"
