"""Cameras carried within a shot by the image motion of the background (camera propagation).

A broadcast camera pans, tilts and zooms on a fixed mount, so two frames of one shot are related
by one image homography ``H = K_t R_t R_s^T K_s^-1`` whatever the scene depth: stands, boards,
grass and lines all move with it; only the athletes (and the ball) move on their own.
:class:`ImageMotion` measures that motion between consecutive processed frames (sparse optical
flow on corners away from the athlete boxes with RANSAC; dense ECC alignment where the corners
are too few, as on smooth grass). :func:`propagate_cameras` then gives a frame that has no camera
the camera of the nearest kept one of its shot, moved link by link (:func:`camera_moved`: same
position, new focal length and rotation).

Why: dev broadcast seeds 400-402, 365 of 440 true zoomed frames had no camera (2,282 of 2,752
truth athlete rows unplaced). Measured there, with the defaults: 45 zoomed and 5 main frames
more get a camera; feet through the carried zoomed cameras lie 0.25 m from the truth at the
median, 1.4 % over 2 m (solved zoomed cameras: 0.17 m, 7.2 %); close-ups 0. Most zoomed frames
left are in zoomed shots where nothing was solved at all (209 frames): nothing to carry.

What keeps a wrong camera out:

* never across a cut (one clip is one shot) and never from a refused camera: the anchors are the
  cameras that passed the view gates, in a run that the image motion agrees with;
* every link of the chain must be measured well (inliers, spread, residual, or ECC
  correlation) and be a pan/tilt/zoom (:data:`MAX_MODEL_MISS_PX`); a chain is at most
  ``max_frames`` long (drift grows with it);
* between two kept cameras the chain is carried across the gap and must close: the camera
  carried from one must land within ``max_closure_px`` of the other, else the gap is refused;
* the carried cameras then pass the same view gates as every solved camera (close-up, pitch
  area, athlete heights, continuity), so a close-up frame never keeps one, and their frames'
  view reasons say where each camera came from.

Library code: plain functions over frozen dataclasses; OpenCV, numpy and scipy.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from soccerfactory.curation.calibration.results import CalibrationResult
from soccerfactory.curation.calibration.view import FrameViews
from soccerfactory.curation.calibration.view_classify import ViewEvidence, ViewRules, classify_views, with_cameras
from soccerfactory.curation.calibration.view_evidence import support_spread
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.types import Detections, Frames

__all__ = [
    "FrameMotion", "ImageMotion", "PropagationRules", "Propagated", "camera_moved", "propagate_cameras", "propagate_and_gate",
]


@dataclass(frozen=True, eq=False)
class FrameMotion:
    """The image motion from the previous processed frame of the clip to this one.

    Attributes:
        frame_index: This frame (source index).
        homography: ``float64`` ``(3, 3)`` full-resolution pixels of the previous frame -> this
            frame; ``None`` when not measured (the clip's first frame, too few corners, RANSAC
            failed).
        n_inliers: Tracked corners RANSAC kept.
        inlier_share: Inliers over tracked corners, in ``[0, 1]`` (0 when not measured).
        spread: Share of the image inside the hull of the inliers, in ``[0, 1]``.
        residual_px: Median distance, full-resolution pixels, of the inliers to the homography.
        method: ``"corners"`` (sparse optical flow) or ``"ecc"`` (dense alignment, where the
            corners were too few: synthetic zoomed grass shows 19-28 inlier corners a frame).
        correlation: The ECC correlation coefficient of an ``"ecc"`` motion, in ``[-1, 1]``; NaN otherwise.
    """

    frame_index: int
    homography: np.ndarray | None
    n_inliers: int = 0
    inlier_share: float = 0.0
    spread: float = 0.0
    residual_px: float = float("nan")
    method: str = "corners"
    correlation: float = float("nan")

    def __post_init__(self) -> None:
        if self.homography is not None:
            H = np.asarray(self.homography, dtype=np.float64)
            if H.shape != (3, 3) or not np.isfinite(H).all():
                raise ValueError(f"FrameMotion.homography must be a finite (3, 3) array, got shape {H.shape}")
            H = H / H[2, 2] if abs(H[2, 2]) > 1e-12 else H
            H.setflags(write=False)
            object.__setattr__(self, "homography", H)
        if self.n_inliers < 0 or not 0 <= self.inlier_share <= 1 or not 0 <= self.spread <= 1:
            raise ValueError(f"FrameMotion: bad counts/shares {self.n_inliers}, {self.inlier_share}, {self.spread}")


def _to_scaled(scale: float) -> np.ndarray:
    """Full-resolution pixels -> pixels of the frame resized by ``scale`` (pixel centres kept)."""
    offset = 0.5 * scale - 0.5
    return np.array([[scale, 0.0, offset], [0.0, scale, offset], [0.0, 0.0, 1.0]])


class ImageMotion:
    """Measures :class:`FrameMotion` between consecutive processed frames of one clip.

    Feed it the clip's batches in frame order (:meth:`add`); read :attr:`motions` (one per frame
    fed). Between calls it keeps the last frame, grey and scaled down, and its athlete mask.

    Args:
        scale: Frames are measured at this share of their size (0.5: 640x360 from 720p; the
            motion of a pan is tens of pixels a frame, which the pyramid follows).
        max_corners: Corners tracked per frame.
        box_margin: Athlete boxes are grown by this share of their height before they are
            masked out (limbs, shadows).
        ransac_px: RANSAC inlier distance, full-resolution pixels.
        min_corner_inliers: Fewer inlier corners than this, or ``min_corner_spread`` of the
            image, and the motion is measured again by dense ECC alignment at ``ecc_scale``.
            Dev seeds 400-402: corners give 0.07-0.4 px per frame against the true motion on
            main shots (240-400 inliers) but 3-4 px on zoomed ones (smooth synthetic grass:
            19-28 inliers); ECC on the mowing stripes and lines 0.3-2.1 px there (median of a
            shot's steps), at 48 ms CPU a frame against the corners' 16 ms.
        ecc_scale: Frame scale of the ECC alignment (0.25: 320x180 from 720p).
        ecc_iterations: Most ECC iterations.
        ecc_model: ``"affine"`` (default) or ``"homography"``: the model ECC fits. Dev seeds
            400-402, zoomed shots: the homography's perspective terms came out two orders of
            magnitude above the true ones (a narrow view hardly shows perspective), which drove
            carried cameras off the camera model within 10 frames; affine steps held 30.
        min_athletes: Frames with fewer athlete boxes get no motion (a close-up, or grass
            with nobody on it, whose camera the view gates refuse anyway: the curation config's
            ``calibrate.view_min_athletes``); it also saves the ECC on close-up shots.
    """

    def __init__(self, scale: float = 0.5, max_corners: int = 400, box_margin: float = 0.15, ransac_px: float = 1.5,
                 min_corner_inliers: int = 100, min_corner_spread: float = 0.25, ecc_scale: float = 0.25,
                 ecc_iterations: int = 50, ecc_model: str = "affine", min_athletes: int = 0) -> None:
        if not 0 < scale <= 1 or max_corners < 8 or box_margin < 0 or ransac_px <= 0:
            raise ValueError(f"ImageMotion: bad settings scale={scale}, max_corners={max_corners}, box_margin={box_margin}, ransac_px={ransac_px}")
        self.scale, self.max_corners, self.box_margin, self.ransac_px = scale, max_corners, box_margin, ransac_px
        self.min_corner_inliers, self.min_corner_spread = min_corner_inliers, min_corner_spread
        if ecc_model not in ("affine", "homography"):
            raise ValueError(f"ImageMotion: ecc_model must be 'affine' or 'homography', got {ecc_model!r}")
        self.ecc_scale, self.ecc_iterations, self.ecc_model = ecc_scale, ecc_iterations, ecc_model
        self.min_athletes = int(min_athletes)
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # (grey, mask) of the last frame
        self.motions: list[FrameMotion] = []

    def _grey_and_mask(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        size = (max(1, int(round(w * self.scale))), max(1, int(round(h * self.scale))))
        grey = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        mask = np.full(grey.shape, 255, np.uint8)
        for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
            grow = self.box_margin * (y2 - y1)
            a = (np.array([x1 - grow, y1 - grow, x2 + grow, y2 + grow]) * self.scale).round().astype(int)
            mask[max(a[1], 0):max(a[3], 0), max(a[0], 0):max(a[2], 0)] = 0
        return grey, mask

    def _measure(self, frame: int, grey: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> FrameMotion:
        motion = self._corners(frame, grey, mask, size)
        if motion.homography is not None and motion.n_inliers >= self.min_corner_inliers and motion.spread >= self.min_corner_spread:
            return motion
        return self._ecc(frame, grey, mask, motion)

    def _ecc(self, frame: int, grey: np.ndarray, mask: np.ndarray, corners: FrameMotion) -> FrameMotion:
        """Dense alignment of the last frame onto this one (athletes masked), started from the
        corners' motion when there is one."""
        assert self._last is not None
        previous, previous_mask = self._last
        k = self.ecc_scale / self.scale
        size = (max(8, int(round(grey.shape[1] * k))), max(8, int(round(grey.shape[0] * k))))
        template = cv2.resize(previous, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        target = cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        template_mask = cv2.resize(previous_mask, size, interpolation=cv2.INTER_NEAREST)
        S = _to_scaled(self.ecc_scale)
        start = np.eye(3) if corners.homography is None else S @ corners.homography @ np.linalg.inv(S)
        affine = self.ecc_model == "affine"
        if affine:
            start = start / start[2, 2]
            start[2, :2] = 0.0
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, self.ecc_iterations, 1e-5)
        try:
            # warp maps template (last frame) pixels to the input (this frame): last -> this.
            correlation, warp = cv2.findTransformECC(template, target, start[:2 if affine else 3].astype(np.float32),
                                                     cv2.MOTION_AFFINE if affine else cv2.MOTION_HOMOGRAPHY, criteria, template_mask, 5)
        except cv2.error:
            return FrameMotion(frame, None, method="ecc")
        warp = np.vstack([warp, [0.0, 0.0, 1.0]]) if affine else warp
        H = np.linalg.inv(S) @ warp.astype(np.float64) @ S
        if not np.isfinite(H).all() or abs(H[2, 2]) < 1e-12:
            return FrameMotion(frame, None, method="ecc")
        # ECC has no inlier set: the unmasked share of the frame stands for its spread.
        spread = float((template_mask > 0).mean())
        return FrameMotion(frame, H, 0, 0.0, spread, float("nan"), "ecc", float(correlation))

    def _corners(self, frame: int, grey: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> FrameMotion:
        assert self._last is not None
        previous, previous_mask = self._last
        corners = cv2.goodFeaturesToTrack(previous, self.max_corners, 0.01, 6, mask=previous_mask, blockSize=5)
        if corners is None or len(corners) < 8:
            return FrameMotion(frame, None)
        moved, status, _ = cv2.calcOpticalFlowPyrLK(previous, grey, corners, None, winSize=(21, 21), maxLevel=3)
        back, status_back, _ = cv2.calcOpticalFlowPyrLK(grey, previous, moved, None, winSize=(21, 21), maxLevel=3)
        # Forward-backward check: a corner that does not come back to itself was lost (blur, occlusion).
        good = (status.ravel() == 1) & (status_back.ravel() == 1) & (np.linalg.norm(back - corners, axis=2).ravel() < 0.5)
        # Pixel centres: x_small = (x + 0.5) * scale - 0.5.
        a, b = ((p.reshape(-1, 2)[good] + 0.5) / self.scale - 0.5 for p in (corners, moved))
        if len(a) < 8:
            return FrameMotion(frame, None)
        H, inliers = cv2.findHomography(a, b, cv2.RANSAC, self.ransac_px)
        if H is None or not np.isfinite(H).all() or abs(H[2, 2]) < 1e-12:
            return FrameMotion(frame, None)
        inliers = inliers.ravel().astype(bool)
        projected = cv2.perspectiveTransform(a[inliers].reshape(-1, 1, 2), H).reshape(-1, 2)
        residual = float(np.median(np.linalg.norm(projected - b[inliers], axis=1))) if inliers.any() else float("nan")
        return FrameMotion(frame, H, int(inliers.sum()), float(inliers.mean()), support_spread(b[inliers], size), residual)

    def add(self, frames: Frames, athletes: Detections) -> None:
        """Measure the motion into each frame of ``frames`` (the next batch of the clip, in order).

        Args:
            frames: The batch, ``uint8`` ``(N, H, W, 3)`` BGR.
            athletes: The batch's athlete boxes (no ball), xyxy source pixels, by ``frame_index``.
        """
        size = (frames.width, frames.height)
        for i, frame in enumerate(frames.frame_index.tolist()):
            boxes = athletes.xyxy[athletes.frame_index == frame]
            grey, mask = self._grey_and_mask(frames.images[i], boxes)
            measured = self._last is not None and len(boxes) >= self.min_athletes
            self.motions.append(self._measure(frame, grey, mask, size) if measured else FrameMotion(frame, None))
            self._last = (grey, mask)


@dataclass(frozen=True)
class PropagationRules:
    """When a chain of image motions may carry a camera.

    Attributes:
        max_frames: Longest chain (processed frames) from a kept camera. Dev seeds 400-402,
            zoomed: up to 50 frames, feet through carried cameras 0.49 m from the truth at the
            median and 12 % over 2 m (a biased anchor carried back 50 frames drifted to 111 px);
            up to 25, 0.19 m and 1.4 %.
        min_inliers: Inlier corners every link needs.
        min_inlier_share: Inlier share every link needs.
        min_spread: Share of the image every link's inliers must span.
        max_residual_px: Largest median inlier residual of a link, pixels.
        max_closure_px: Between two kept cameras, the camera carried from one must project the
            pitch under the image corners and centre within this many pixels of the other's
            (median of the five); also the agreement asked of an anchor run's neighbours.
        min_correlation: ECC correlation an ``"ecc"`` link needs (dev seeds 400-402: 0.84-0.99
            on zoomed steps, one broken step 0.75; 0.85 instead of 0.9 carried 45 zoomed frames
            instead of 35 at the same error, 0.25 m median, 1.4 % over 2 m).
        min_anchor_run: A kept camera is carried only from a run of at least this many
            consecutive kept cameras that the image motion links within ``max_closure_px`` of
            each other: a lone solve, or one its neighbours' motion disagrees with, is no anchor
            (a wrong camera carried 25 frames each way is 50 wrong frames). Dev seeds 400-402: 5
            carries 45 zoomed frames, 1 carries 71 at about the same error (0.28 m median, 1.1 %
            over 2 m), so this is caution the dev figures did not demand; dev seed 402 had four
            consecutive solved zoomed cameras 437-478 px off that passed the gates.
    """

    max_frames: int = 25
    min_inliers: int = 40
    min_inlier_share: float = 0.5
    min_spread: float = 0.15
    max_residual_px: float = 1.0
    max_closure_px: float = 8.0
    min_correlation: float = 0.85
    min_anchor_run: int = 5

    def __post_init__(self) -> None:
        if self.max_frames < 1 or self.min_anchor_run < 1 or self.min_inliers < 4 or not 0 <= self.min_inlier_share <= 1 or not 0 <= self.min_spread <= 1:
            raise ValueError(f"PropagationRules: bad settings {self}")
        if not self.max_residual_px > 0 or not self.max_closure_px > 0:
            raise ValueError(f"PropagationRules: max_residual_px and max_closure_px must be > 0, got {self}")

    def link_ok(self, motion: FrameMotion) -> bool:
        """Whether ``motion`` is a link a camera may be carried over."""
        if motion.homography is None:
            return False
        if motion.method == "ecc":
            return motion.correlation >= self.min_correlation and motion.spread >= self.min_spread
        return (motion.n_inliers >= self.min_inliers
                and motion.inlier_share >= self.min_inlier_share and motion.spread >= self.min_spread
                and motion.residual_px <= self.max_residual_px)


@dataclass(frozen=True, eq=False)
class Propagated:
    """A camera carried onto a frame, and what it came from.

    Attributes:
        result: The frame's new (valid) calibration.
        source_frame: The frame whose kept camera was carried.
        n_links: Processed frames between them (the chain's length).
        note: Human-readable provenance, for the frame's view reason.
    """

    result: CalibrationResult
    source_frame: int
    n_links: int
    note: str


#: Largest distance, pixels, between where the image motion and the fitted camera motion send a
#: grid point of the image: beyond it the motion is not a pan, tilt and zoom of one mount. Dev
#: seed 401, a zoomed shot's ECC steps: 1.0-3.6 px (a 0.5 % stretch along one axis is 3 px at
#: the edge of a 720p frame), a broken step (correlation 0.75) 15.5 px.
MAX_MODEL_MISS_PX: float = 6.0


def camera_moved(camera: Camera, H: np.ndarray) -> Camera | None:
    """``camera`` moved by the image homography ``H`` (its pixels -> the new frame's pixels),
    on the same mount: same position and distortion, new focal length and rotation.

    For a camera turning and zooming about a fixed centre, ``H K R`` is ``s K' R'``: with the
    principal point at the image centre and square pixels, the rows of ``T H K R`` (``T`` moving
    the principal point to the origin) have lengths ``s f', s f', s``. That closed form starts a
    least-squares fit of focal length and rotation to where ``H`` sends a grid of the image
    (the closed form alone put a 0.06 px motion 0.66 px off on the rendered test clip: the row
    norms weigh the noisy perspective terms). Returns ``None`` when ``H`` is not such a motion
    (the two focal estimates disagree by more than 10 %, or the fit leaves a grid point more
    than :data:`MAX_MODEL_MISS_PX` off).
    """
    from scipy.optimize import least_squares

    A = np.asarray(H, dtype=np.float64) @ camera.K @ camera.R
    cx, cy = camera.K[0, 2], camera.K[1, 2]
    T = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    M = T @ A
    norms = np.linalg.norm(M, axis=1)
    if not np.isfinite(norms).all() or norms[2] <= 0:
        return None
    fx, fy = norms[0] / norms[2], norms[1] / norms[2]
    if not (fx > 0 and fy > 0) or abs(fx / fy - 1) > 0.1:
        return None
    focal = math.sqrt(fx * fy)
    R = np.diag([1 / focal, 1 / focal, 1.0]) @ M
    if np.linalg.det(R) < 0:
        R = -R
    U, _, Vt = np.linalg.svd(R)
    R = U @ Vt
    aspect = camera.K[1, 1] / camera.K[0, 0]
    w, h = camera.image_size
    grid = np.array([[x, y, 1.0] for x in np.linspace(0.05 * w, 0.95 * w, 5) for y in np.linspace(0.05 * h, 0.95 * h, 4)]).T
    target = np.asarray(H, dtype=np.float64) @ grid
    if (target[2] <= 0).any():
        return None
    target = target[:2] / target[2]
    rays = camera.R.T @ np.linalg.inv(camera.K) @ grid  # world directions of the grid pixels

    def intrinsics(log_focal: float) -> np.ndarray:
        K = camera.K.copy()
        K[0, 0], K[1, 1] = math.exp(log_focal), math.exp(log_focal) * aspect
        return K

    def residuals(x: np.ndarray) -> np.ndarray:
        p = intrinsics(x[0]) @ cv2.Rodrigues(x[1:])[0] @ R @ rays
        return (p[:2] / p[2] - target).ravel()

    x0 = np.concatenate([[math.log(focal)], np.zeros(3)])
    fit = least_squares(residuals, x0, method="lm")
    if not fit.success or np.hypot(*fit.fun.reshape(2, -1)).max() > MAX_MODEL_MISS_PX:
        return None
    R = cv2.Rodrigues(fit.x[1:])[0] @ R
    U, _, Vt = np.linalg.svd(R)
    return Camera(K=intrinsics(fit.x[0]), R=U @ Vt, position=camera.position, image_size=camera.image_size, dist=camera.dist)


def _corners_px(camera: Camera, other: Camera) -> float:
    """Median distance, pixels, between where ``camera`` and ``other`` put the pitch points that
    ``other`` sees near the four image corners and at the centre (at least three must be on the
    grass and in front of ``camera``; inf otherwise)."""
    w, h = other.image_size
    pixels = np.array([[0.1 * w, 0.1 * h], [0.9 * w, 0.1 * h], [0.1 * w, 0.9 * h], [0.9 * w, 0.9 * h], [0.5 * w, 0.5 * h]])
    # Points on the grass under those pixels (rows above the horizon drop out).
    ground = other.image_to_pitch(pixels)
    keep = np.isfinite(ground).all(axis=1)
    if keep.sum() < 3:
        return math.inf
    world = np.column_stack([ground[keep], np.zeros(int(keep.sum()))])
    if (camera.depth(world) <= 0).any():
        return math.inf
    return float(np.median(np.linalg.norm(camera.project(world) - other.project(world), axis=1)))


def _carry(start: Camera, links: list[FrameMotion], forward: bool) -> list[Camera | None]:
    """The cameras of the frames after (forward) or before ``start``'s frame, one per link;
    ``None`` from the first link that is not a camera motion on.

    Link by link: each small step is fitted by the camera model on its own, so the model error
    of a step (an affine ECC step lacks the perspective of a pan) does not pile up in an image
    homography chained over many frames (dev seed 401, a zoomed shot: chained affine steps left
    the camera model after 10 frames, step by step it held 30).
    """
    out: list[Camera | None] = []
    camera: Camera | None = start
    for motion in links:
        assert motion.homography is not None
        if camera is not None:
            camera = camera_moved(camera, motion.homography if forward else np.linalg.inv(motion.homography))
        out.append(camera)
    return out


def _anchors(results, motions, ok: list[bool], rules: PropagationRules) -> list[bool]:
    """Which kept cameras may be carried: those in a run of ``rules.min_anchor_run`` or more
    consecutive kept cameras, each one where the image motion carries the one before it
    (within ``rules.max_closure_px``)."""
    n = len(results)
    agrees = [False] * n  # camera i agrees with camera i-1 moved by link i
    for i in range(1, n):
        if results[i].valid and results[i - 1].valid and ok[i]:
            moved = camera_moved(results[i - 1].camera, motions[i].homography)
            agrees[i] = moved is not None and _corners_px(moved, results[i].camera) <= rules.max_closure_px
    trusted = [False] * n
    i = 0
    while i < n:
        if not results[i].valid:
            i += 1
            continue
        j = i + 1
        while j < n and results[j].valid and agrees[j]:
            j += 1
        if j - i >= rules.min_anchor_run:
            trusted[i:j] = [True] * (j - i)
        i = j
    return trusted


def propagate_cameras(
    frame_index: np.ndarray, results: list[CalibrationResult] | tuple[CalibrationResult, ...],
    motions: list[FrameMotion] | tuple[FrameMotion, ...], rules: PropagationRules,
) -> dict[int, Propagated]:
    """Cameras for the frames of one shot that have none, carried from the kept cameras.

    Each frame without a valid camera takes the camera of the nearest frame with one (forward
    or backward in the shot) moved by the chained image motion, if every link passes
    :meth:`PropagationRules.link_ok` and the chain is at most ``rules.max_frames`` long. A gap
    with kept cameras on both sides is filled only if the camera carried across it from one side
    lands within ``rules.max_closure_px`` of the other side's (the drift check); a gap open on
    one side relies on the length bound.

    Args:
        frame_index: ``int64`` ``(F,)`` the shot's processed frames, in order.
        results: One calibration per frame, already gated (only kept cameras are anchors).
        motions: One :class:`FrameMotion` per frame, same order (``motions[i]``: frame ``i-1`` -> ``i``).
        rules: The chain rules.

    Returns:
        Frame index -> :class:`Propagated`, for the frames that get a camera (valid results,
        reprojection error that of the anchor, keypoint/line counts 0, spread that of the link).
    """
    frames = np.asarray(frame_index, dtype=np.int64).tolist()
    if not (len(frames) == len(results) == len(motions)):
        raise ValueError(f"propagate_cameras got {len(frames)} frames, {len(results)} calibrations and {len(motions)} motions")
    if any(m.frame_index != f for m, f in zip(motions, frames)):
        raise ValueError("propagate_cameras: motions and frames are not in the same order")
    valid = [r.valid for r in results]
    ok = [rules.link_ok(m) for m in motions]
    trusted = _anchors(results, motions, ok, rules)
    out: dict[int, Propagated] = {}
    n, i = len(frames), 0
    while i < n:
        if valid[i]:
            i += 1
            continue
        j = i
        while j < n and not valid[j]:
            j += 1
        # Gap [i, j): left anchor i-1 (if any), right anchor j (if any).
        left, right = (i - 1 if i > 0 and trusted[i - 1] else None), (j if j < n and trusted[j] else None)
        fwd: dict[int, Camera] = {}
        bwd: dict[int, Camera] = {}
        # With an anchor on each side the chain is walked across the whole gap (its closure on
        # the far anchor bounds the drift); with one, at most max_frames from it.
        if left is not None:
            last = j if right is not None else min(j - 1, left + rules.max_frames)
            links = []
            for k in range(i, last + 1):
                if not ok[k]:
                    break
                links.append(motions[k])
            fwd = {k: c for k, c in zip(range(i, i + len(links)), _carry(results[left].camera, links, True)) if c is not None}
        if right is not None:
            first = i if left is not None else max(i, right - rules.max_frames)
            links = []
            for k in range(right, first, -1):
                # Link k carries frame k-1 -> k; inverted it carries k -> k-1.
                if not ok[k]:
                    break
                links.append(motions[k])
            bwd = {k: c for k, c in zip(range(right - 1, right - 1 - len(links), -1), _carry(results[right].camera, links, False))
                   if c is not None}
        closure = None
        if left is not None and right is not None:
            across = fwd.get(right)
            # A chain broken inside the gap cannot be closed: each side then keeps its length bound.
            closure = _corners_px(across, results[right].camera) if across is not None else None
            if closure is not None and closure > rules.max_closure_px:
                i = j
                continue
        for k in range(i, j):
            # The nearer anchor wins (the shorter chain drifts less).
            choices = []
            if k in fwd and k - left <= rules.max_frames:
                choices.append((k - left, left, fwd[k]))
            if k in bwd and right - k <= rules.max_frames:
                choices.append((right - k, right, bwd[k]))
            if not choices:
                continue
            links_n, source, camera = min(choices, key=lambda c: c[0])
            anchor = results[source]
            note = (f"camera propagated from frame {frames[source]} by image motion over {links_n} frames"
                    + (f" (gap closes within {closure:.1f} px)" if closure is not None else ""))
            result = CalibrationResult.from_camera(camera, anchor.reprojection_error_px, 0, 0)
            out[frames[k]] = Propagated(dataclasses.replace(result, spread=min(motions[min(k + 1, n - 1)].spread, motions[k].spread)),
                                        frames[source], links_n, note)
        i = j
    return out


def propagate_and_gate(
    evidence: ViewEvidence, calibrations: list[CalibrationResult] | tuple[CalibrationResult, ...],
    motions: list[FrameMotion] | tuple[FrameMotion, ...], rules: PropagationRules, view_rules: ViewRules,
    athletes: Detections, pitch: PitchModel,
) -> tuple[FrameViews, tuple[CalibrationResult, ...], dict[int, Propagated]]:
    """:func:`~soccerfactory.curation.calibration.view_classify.classify_views` with camera
    propagation: the gates pick the anchors, cameras are carried from them onto the frames
    without one, and the gates then judge every camera again, the carried ones included.

    Args:
        evidence: :func:`~soccerfactory.curation.calibration.view_classify.frame_evidence` of
            every processed frame of the shot, in order.
        calibrations: One calibration per frame, as solved (before the gates).
        motions: One :class:`FrameMotion` per frame (:attr:`ImageMotion.motions`).
        rules: The chain rules.
        view_rules: The view gates.
        athletes: Athlete boxes (no ball) of the shot, xyxy source pixels.
        pitch: The pitch the cameras are calibrated against.

    Returns:
        ``(views, calibrations, carried)``: as ``classify_views``, the view reason of each frame
        that keeps a carried camera ending with where it came from (the ``cameras`` table's
        ``view_reason``), and the ``invalid_reason`` of each carried camera the gates refused
        ending with it too; ``carried`` holds the kept ones only.
    """
    views, gated = classify_views(evidence, calibrations, view_rules)
    filled = propagate_cameras(evidence.frame_index, gated, motions, rules)
    if not filled:
        return views, gated, {}
    frames = evidence.frame_index.tolist()
    merged = [filled[f].result if f in filled else r for f, r in zip(frames, calibrations)]
    evidence = with_cameras(evidence, {f: p.result for f, p in filled.items()}, athletes, pitch)
    views, gated = classify_views(evidence, merged, view_rules)
    kept = {f: filled[f] for f, r in zip(frames, gated) if f in filled and r.valid}
    reasons = [f"{reason}; {kept[f].note}" if f in kept else reason for f, reason in zip(frames, views.reason.tolist())]
    # A carried camera the gates refused says so too: the refusal names the gate, this its origin.
    gated = tuple(dataclasses.replace(r, reason=f"{r.reason} (the {filled[f].note})") if f in filled and not r.valid else r
                  for f, r in zip(frames, gated))
    return dataclasses.replace(views, reason=np.array(reasons, dtype=object)), gated, kept
