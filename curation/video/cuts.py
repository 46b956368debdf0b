"""Shot-boundary (camera cut) detection, fed one decoded frame at a time.

:class:`CutDetector` keeps change scores between consecutive thumbnails while a source is
decoded (see :func:`~soccerfactory.curation.video.scan.scan_video` for the rule and the measured
scores), then lists the frames that start a new shot.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["CutDetector"]

# Shot-boundary detection works on thumbnails: a hard cut changes the colour distribution and
# the layout of the whole image from one frame to the next, which 64x36 pixels show as well as
# 1280x720 while costing almost nothing next to decoding.
_THUMB_SIZE = (64, 36)
_HIST_CHANNELS = [0, 1, 2]
_HIST_BINS = [8, 4, 4]  # coarse: 2304 thumbnail pixels spread over 128 bins keep the noise low
_HIST_RANGES = [0, 180, 0, 256, 0, 256]
# The histogram misses cuts between two wide shots of the same green pitch; the pixel term
# catches those (its typical in-shot value is ~0.005, a cut between two wide shots ~0.05).
_PIXEL_WEIGHT = 2.0
# A cut is a spike: its score must also stand out against the scores around it, which keeps
# sustained change (fast pans, zooms, crowd shots) from counting as a run of cuts.
_CUT_CONTRAST = 3.0
_CONTEXT_FRAMES = 8
# A flash (or a single damaged frame) changes the picture and changes it back; a cut does not.
_FLASH_RATIO = 0.5


class CutDetector:
    """Change scores between consecutive thumbnails, fed one decoded frame at a time."""

    def __init__(self) -> None:
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._before_previous: tuple[np.ndarray, np.ndarray] | None = None
        self.step: list[float] = []  # step[t - 1]: frame t - 1 -> frame t
        self.skip: list[float] = []  # skip[t - 2]: frame t - 2 -> frame t

    @staticmethod
    def _signature(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        small = cv2.resize(image, _THUMB_SIZE, interpolation=cv2.INTER_AREA)
        hist = cv2.calcHist([cv2.cvtColor(small, cv2.COLOR_BGR2HSV)], _HIST_CHANNELS, None, _HIST_BINS, _HIST_RANGES)
        cv2.normalize(hist, hist, 1.0, 0.0, cv2.NORM_L1)
        return hist, cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)

    @staticmethod
    def _distance(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
        colour = cv2.compareHist(a[0], b[0], cv2.HISTCMP_BHATTACHARYYA)
        pixels = cv2.mean(cv2.absdiff(a[1], b[1]))[0] / 255.0
        return float(colour + _PIXEL_WEIGHT * pixels)

    def add(self, image: np.ndarray) -> None:
        signature = self._signature(image)
        if self._previous is not None:
            self.step.append(self._distance(self._previous, signature))
        if self._before_previous is not None:
            self.skip.append(self._distance(self._before_previous, signature))
        self._before_previous, self._previous = self._previous, signature

    def cuts(self, threshold: float, min_shot_frames: int) -> tuple[int, ...]:
        step = np.asarray(self.step)
        cuts: list[int] = []
        last = 0
        for t in np.flatnonzero(step >= threshold) + 1:
            t = int(t)
            score = step[t - 1]
            context = np.concatenate((step[max(0, t - 1 - _CONTEXT_FRAMES) : t - 1], step[t : t + _CONTEXT_FRAMES]))
            if context.size >= 3 and score < _CUT_CONTRAST * float(np.median(context)):
                continue
            # Frame t looks like frame t - 2 (t - 1 was a flash), or t + 1 like t - 1 (t is one).
            came_back = t >= 2 and self.skip[t - 2] < _FLASH_RATIO * score
            goes_back = t - 1 < len(self.skip) and self.skip[t - 1] < _FLASH_RATIO * score
            if came_back or goes_back:
                continue
            if t - last < min_shot_frames:
                continue
            cuts.append(t)
            last = t
        return tuple(cuts)
