"""The sequence :class:`Calibrator`: the cameras of a clip's frames, tracked from frame to frame.

It runs a detector over a clip in frame order, carries the last valid camera forward as the
prior and as the guide for line pixels, and returns one
:class:`~soccerfactory.curation.calibration.results.CalibrationResult` per frame. Keypoints place
the camera, position included; lines then sharpen focal length and rotation (and position only
alongside four or more keypoints: on their own, lines seen in a narrow view leave the zoom/dolly
trade-off nearly free, and a broadcast camera does not move).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
from typing import Any

import cv2
import numpy as np

from soccerfactory.curation.calibration.features import PitchFeatureDetector
from soccerfactory.curation.calibration.line_search import LineSearchInitialiser
from soccerfactory.curation.calibration.lines import LinesClassicDetector
from soccerfactory.curation.calibration.observations import PitchObservations
from soccerfactory.curation.calibration.refinement import rotation_delta
from soccerfactory.curation.calibration.results import CalibrationResult
from soccerfactory.curation.calibration.solver import FIT_OPTIONS, SOLVER_OPTIONS, calibrate_frame, fit_camera
from soccerfactory.curation.calibration.view_evidence import support_spread
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.types import Frames

__all__ = ["Calibrator"]

# A keypoint supports the camera when it is within the solver's outlier distance of its projection
# (the solver's own default, read from it rather than restated).
_OUTLIER_PX: float = inspect.signature(calibrate_frame).parameters["outlier_px"].default


def _smooth(previous: Camera, current: Camera, alpha: float) -> Camera:
    """Exponential smoothing: ``alpha`` of ``previous`` and ``1 - alpha`` of ``current``."""
    delta = rotation_delta(previous.R, current.R)
    R = cv2.Rodrigues((1 - alpha) * delta)[0] @ previous.R
    focal = math.exp(alpha * math.log(previous.K[0, 0]) + (1 - alpha) * math.log(current.K[0, 0]))
    K = current.K.copy()
    K[0, 0], K[1, 1] = focal, focal * current.K[1, 1] / current.K[0, 0]
    position = alpha * previous.position + (1 - alpha) * current.position
    U, _, Vt = np.linalg.svd(R)
    return Camera(K=K, R=U @ Vt, position=position, image_size=current.image_size, dist=current.dist)


class Calibrator:
    """Calibrates the frames of a clip in order, tracking the camera from frame to frame.

    Per frame: keypoints from ``detector``; a guide camera (the last valid one if it is at
    most ``max_prior_gap`` frames old, else the keypoints-only calibration of this frame); line
    pixels named by ``line_detector`` around the guide, in ``line_passes`` passes that halve
    the search band each time and re-guide with the refined camera; then
    :func:`calibrate_frame` with the guide as prior. State (the last valid camera) carries over
    between calls on consecutive chunks of a clip; :meth:`reset` forgets it.

    Args:
        detector: Keypoint (and/or line) detector; ``None`` for lines only, which then needs
            ``initial_camera`` to start.
        line_detector: Prior-guided line pixels (``lines-classic``); ``None`` for keypoints only.
        pitch: The pitch; default 105 x 68 m.
        max_error_px: See :func:`calibrate_frame`; default 15 px, the curation config's
            ``calibrate.max_error_px``.
        max_prior_gap: A valid camera older than this many frames is no longer a prior.
        smoothing: Exponential smoothing of focal length, rotation and position between valid
            consecutive frames, in ``[0, 1)``: the share of the previous smoothed camera. ``0``
            is off. The reported reprojection error is that of the unsmoothed fit.
        line_passes: Passes of line naming and refinement per frame.
        initial_camera: Prior for the first frame.
        line_search: When neither keypoints nor a recent prior give a camera, search one from the
            line pixels alone (:class:`LineSearchInitialiser`, about a second per try): ``True``
            for the default search, an initialiser, or ``False``. Needs ``line_detector``.
        line_search_every: While lost, try the line search at most every this many frames.
        max_keypoint_drift_px: When four or more keypoints placed the camera, a line refinement
            that moves their median reprojection error up by more than this is discarded
            (``None``: always keep the line refinement).
        keyframe_every: Detect keypoints on every this many frames only (and whenever there is no
            camera to track); in between the camera is tracked on line pixels alone, which is
            cheaper than the keypoint model. ``1`` = every frame.
        resolve_error_px: Between keyframes, a tracked camera whose reprojection error exceeds
            this (or that fails) is solved again from keypoints at once.
        backfill_frames: Carry a camera found after a run of frames without one back over at
            most this many of them (``0`` = off), on their own line pixels; see
            :meth:`take_backfilled`. Needs ``line_detector``.
        solver: Further keyword arguments of :func:`calibrate_frame` (``SOLVER_OPTIONS``).
    """

    def __init__(
        self,
        detector: PitchFeatureDetector | None = None,
        line_detector: LinesClassicDetector | None = None,
        pitch: PitchModel | None = None,
        *,
        max_error_px: float = 15.0,
        max_prior_gap: int = 5,
        smoothing: float = 0.0,
        line_passes: int = 2,
        initial_camera: Camera | None = None,
        line_search: bool | LineSearchInitialiser = True,
        line_search_every: int = 5,
        max_keypoint_drift_px: float | None = 1.0,
        keyframe_every: int = 1,
        resolve_error_px: float = 3.0,
        backfill_frames: int = 0,
        **solver: Any,
    ) -> None:
        if detector is None and line_detector is None:
            raise ValueError("Calibrator needs a keypoint detector, a line detector, or both")
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if max_prior_gap < 0 or line_passes < 1:
            raise ValueError("max_prior_gap must be >= 0 and line_passes >= 1")
        if set(solver) - SOLVER_OPTIONS:
            raise TypeError(f"Calibrator got unexpected arguments {sorted(solver)}")
        self.detector = detector
        self.line_detector = line_detector
        self.pitch = pitch or PitchModel()
        self.max_error_px = max_error_px
        self.max_prior_gap = max_prior_gap
        self.smoothing = smoothing
        self.line_passes = line_passes
        self.initial_camera = initial_camera
        self.solver = solver
        if line_search_every < 1:
            raise ValueError(f"line_search_every must be >= 1, got {line_search_every}")
        self.line_search_every = line_search_every
        if max_keypoint_drift_px is not None and max_keypoint_drift_px < 0:
            raise ValueError(f"max_keypoint_drift_px must be >= 0 or None, got {max_keypoint_drift_px}")
        self.max_keypoint_drift_px = max_keypoint_drift_px
        if keyframe_every < 1 or resolve_error_px <= 0:
            raise ValueError(f"keyframe_every must be >= 1 and resolve_error_px > 0, got {keyframe_every}, {resolve_error_px}")
        self.keyframe_every, self.resolve_error_px = int(keyframe_every), float(resolve_error_px)
        if backfill_frames < 0:
            raise ValueError(f"backfill_frames must be >= 0, got {backfill_frames}")
        self.backfill_frames = int(backfill_frames) if line_detector is not None else 0
        if isinstance(line_search, LineSearchInitialiser):
            self.line_search: LineSearchInitialiser | None = line_search
        elif line_search and line_detector is not None:
            fit = {k: v for k, v in solver.items() if k in FIT_OPTIONS}
            self.line_search = LineSearchInitialiser(self.pitch, line_detector, max_error_px=max_error_px, **fit)
        else:
            self.line_search = None
        self.reset()

    def fresh(self) -> Calibrator:
        """A calibrator for a new clip: same backends (loaded models shared) and settings, no state."""
        clone = copy.copy(self)
        clone.reset()
        return clone

    def reset(self) -> None:
        """Forget the tracked camera (a new clip, or a cut)."""
        self._prior: Camera | None = self.initial_camera
        self._prior_frame: int | None = None
        self._smoothed: Camera | None = None
        self._source: str | None = None
        self._last_search: int | None = None
        self._keyframe: int | None = None
        # The trailing run of frames without a camera (frame, packed line mask, (width, height)),
        # newest last, and the cameras carried back onto such frames, not yet taken.
        self._pending: list[tuple[int, np.ndarray, tuple[int, int]]] = []
        self._filled: dict[int, CalibrationResult] = {}

    def take_backfilled(self) -> dict[int, CalibrationResult]:
        """Cameras found since the last call for frames already returned without one, by frame.

        A broadcast shot often opens on frames no camera can be solved from (a zoomed view with
        three or four keypoints, wrongly named, or one line) before one is found on lines a
        second later. From that camera, each earlier frame of the run, newest first, gets the
        camera its own line pixels fit, guided by the camera of the frame after it, exactly as
        forward tracking does (focal length and rotation only); the walk stops at the first frame
        whose lines do not fit and reaches at most ``backfill_frames`` back (dev broadcast seed
        401: a zoomed shot's first 40 frames, 0 of them solved forward, all 40 carried back at
        0.7-3.0 px from the true camera). Never across a cut: the calibrator is fresh per shot.
        The returned cameras pass the same view gates as every other afterwards.
        """
        filled, self._filled = self._filled, {}
        return filled

    def _backfill(self, camera: Camera) -> None:
        """Carry ``camera`` back over the pending run of frames without one."""
        prior = camera
        for frame, packed, (width, height) in reversed(self._pending):
            mask = np.unpackbits(packed, count=width * height).reshape(height, width).astype(bool)
            # Lines only: the keypoints of these frames gave no camera (or a wrong one).
            result = self._calibrate_one(PitchObservations.empty(), mask, (width, height), prior, frame, mask)
            if not result.valid:
                break
            self._filled[frame] = result
            prior = result.camera
        self._pending.clear()

    def _calibrate(self, obs: PitchObservations, size: tuple[int, int], prior: Camera | None) -> CalibrationResult:
        return calibrate_frame(obs, size, self.pitch, prior, self.max_error_px, **self.solver)

    def _calibrate_one(
        self, obs: PitchObservations, image: np.ndarray, size: tuple[int, int], prior: Camera | None,
        frame: int = 0, mask: np.ndarray | None = None,
    ) -> CalibrationResult:
        result, lines = self._solve_one(obs, image, size, prior, frame, mask)
        return dataclasses.replace(result, spread=self._spread(result, obs, lines, size))

    def _spread(
        self, result: CalibrationResult, obs: PitchObservations, lines: tuple[tuple[str, np.ndarray], ...],
        size: tuple[int, int],
    ) -> float:
        """:func:`support_spread` of what ``result`` rests on: its inlier keypoints (within the
        solver's outlier distance of the camera's projection) and the line pixels of its fit;
        for an invalid result, every detected keypoint and line pixel."""
        points = obs.keypoints.astype(np.float64)
        if result.valid and result.camera is not None and len(points):
            world = self.pitch.keypoints[obs.keypoint_ids]
            inlier_px = self.solver.get("outlier_px", _OUTLIER_PX)
            miss = np.linalg.norm(result.camera.project(world) - points, axis=1)
            points = points[miss <= inlier_px]
        pixels = [pixels for _, pixels in lines]
        return support_spread(np.concatenate([points, *pixels]) if pixels else points, size)

    def _solve_one(
        self, obs: PitchObservations, image: np.ndarray, size: tuple[int, int], prior: Camera | None,
        frame: int = 0, mask: np.ndarray | None = None,
    ) -> tuple[CalibrationResult, tuple[tuple[str, np.ndarray], ...]]:
        """The frame's result and the line observations it rests on (those of its last fit);
        ``mask``: the frame's precomputed line mask, if any."""
        # Keypoints first (cheap: a few residuals, both the homography and the prior start): they
        # place the camera, position included, and guide the naming of line pixels.
        if len(obs) or obs.lines or prior is None:
            first = self._calibrate(obs, size, prior)
        else:
            first = CalibrationResult.invalid("no keypoints or lines found")
        guide = first.camera if first.valid else prior
        searched = None
        if guide is None and self.line_search is not None and self.line_detector is not None and (
                self._last_search is None or frame - self._last_search >= self.line_search_every):
            # Lost (or starting) without keypoints: search the camera from the lines alone;
            # throttled, as a search costs as much as tens of tracked frames.
            self._last_search = frame
            mask = self.line_detector.line_mask(image)
            searched = self.line_search(image, mask)
            if not searched.valid:
                return CalibrationResult.invalid(f"{first.reason}; {searched.reason}", first.n_keypoints, searched.n_lines), obs.lines
            guide = searched.camera
        if self.line_detector is None or guide is None:
            return first, obs.lines
        world = self.pitch.keypoints[obs.keypoint_ids]
        points = obs.keypoints.astype(np.float64)
        if not first.valid:
            # Keypoints no camera agrees with (a mirrored guess, a keypoint on an advertising
            # board) would sink the line tracking too: track the guide on lines alone.
            world, points = world[:0], points[:0]
        fit_options = {k: v for k, v in self.solver.items() if k in FIT_OPTIONS}
        best = first if first.valid else searched
        best_lines, failure_lines = obs.lines, obs.lines
        failure = first
        if mask is None:
            mask = self.line_detector.line_mask(image)
        radius = self.line_detector.default_search_px(size[0])
        # Without keypoints to hold it, the position is kept: in a narrow view a fraction of a
        # pixel of bias in the line pixels moves it by metres along the zoom/dolly ambiguity, and a
        # broadcast camera pans, tilts and zooms on a fixed mount anyway.
        fix_position = not (first.valid and first.n_keypoints >= 4)
        for _ in range(self.line_passes):
            lines = self.line_detector.observe(image, guide, radius, mask)
            if not lines and not obs.lines:
                break
            attempt, _ = fit_camera(guide, world, points, obs.lines + lines, self.pitch, fix_position,
                              max_error_px=self.max_error_px, **fit_options)
            if not attempt.valid:
                failure, failure_lines = attempt, obs.lines + lines
                break
            best, guide, radius = attempt, attempt.camera, radius / 2
            best_lines = obs.lines + lines
        if best is None:
            return failure, failure_lines
        if first.valid and first.n_keypoints >= 4 and best is not first and self.max_keypoint_drift_px is not None:
            # Lines must sharpen a keypoint camera, not drag it off its keypoints: on real frames
            # (a lens that is not quite pinhole, white kit and boards near the lines) line pixels
            # pulled the median labelled-keypoint error from 2.5 to 6 px. Keep the keypoint
            # camera when the refined one moved its keypoints by more than the drift allowed.
            before = np.median(np.linalg.norm(first.camera.project(world) - points, axis=1))
            after = np.median(np.linalg.norm(best.camera.project(world) - points, axis=1))
            if after > before + self.max_keypoint_drift_px:
                return first, obs.lines
        return best, best_lines

    def __call__(self, frames: Frames) -> list[CalibrationResult]:
        """One :class:`CalibrationResult` per frame, in order."""
        if len(frames) == 0:
            return []
        if self._source is not None and frames.source != self._source:
            self.reset()
        self._source = frames.source
        if self._prior is not None and self._prior_frame is None:
            # The initial camera stands for the frame just before the first one.
            self._prior_frame = int(frames.frame_index[0]) - 1
        size = (frames.width, frames.height)
        if self.detector is not None and self.keyframe_every == 1:
            observations: list[PitchObservations | None] = list(self.detector(frames))
            if len(observations) != len(frames):
                raise RuntimeError(f"detector returned {len(observations)} observations for {len(frames)} frames")
        else:
            # Keyframes: keypoints are detected on demand, frame by frame, below.
            observations = [None if self.detector is not None else PitchObservations.empty()] * len(frames)
        results = []
        for i, obs in enumerate(observations):
            frame = int(frames.frame_index[i])
            prior = self._prior
            gap = frame - self._prior_frame - 1 if self._prior_frame is not None else 0
            if prior is not None and gap > self.max_prior_gap:
                prior = self._prior = self._smoothed = None
            tracked_only = False
            if obs is None:
                due = prior is None or self._keyframe is None or frame - self._keyframe >= self.keyframe_every
                obs = self._detect_one(frames, i) if due else PitchObservations.empty()
                tracked_only = not due
                if due:
                    self._keyframe = frame
            result = self._calibrate_one(obs, frames.images[i], size, prior, frame)
            if tracked_only and (not result.valid or result.reprojection_error_px > self.resolve_error_px):
                # Tracking from the lines alone is slipping: solve this frame from keypoints now.
                self._keyframe = frame
                result = self._calibrate_one(self._detect_one(frames, i), frames.images[i], size, prior, frame)
            if result.valid:
                assert result.camera is not None
                camera = result.camera
                if self.smoothing and self._smoothed is not None and gap == 0:
                    camera = _smooth(self._smoothed, camera, self.smoothing)
                    result = dataclasses.replace(result, camera=camera, homography=camera.homography)
                self._smoothed = camera
                self._prior, self._prior_frame = result.camera, frame
                if self._pending:
                    self._backfill(result.camera)
            elif self.backfill_frames and self.line_detector is not None:
                # Packed: 1 bit a pixel, 115 kB a 720p frame.
                mask = self.line_detector.line_mask(frames.images[i])
                self._pending.append((frame, np.packbits(mask), size))
                del self._pending[:-self.backfill_frames]
            results.append(result)
        return results

    def _detect_one(self, frames: Frames, i: int) -> PitchObservations:
        assert self.detector is not None
        (obs,) = self.detector(frames[i:i + 1])
        return obs
