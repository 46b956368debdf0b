"""Multi-object tracking of the athletes of one clip.

A :class:`Tracker` turns per-frame :class:`Detections` into :class:`Tracks`: the same boxes,
each given a ``track_id`` that stays with one athlete across frames. Only athletes are tracked
(goalkeeper, player and referee classes); the ball, a few pixels that teleport when kicked, is
left to a dedicated stage.

Backends wrap boxmot (imported lazily by their builders, after
:func:`~soccerfactory.curation.runtime.prepare_vision_runtime`):

* ``strongsort``: StrongSORT, Kalman motion plus appearance. The appearance is the project's
  own re-identification network (``appearance="reid"``, the default;
  :mod:`~soccerfactory.curation.tracking.reid`, local weights), which also tells teammates apart,
  or :func:`appearance_embeddings`, a colour histogram of the torso computed here
  (``appearance="colour"``). boxmot's own ReID model is never loaded or downloaded: boxmot only
  builds it when an update comes without embeddings, and this wrapper always passes them.
* ``bytetrack``: ByteTrack, motion and box overlap only; the cheapest.
* ``ocsort``: OC-SORT, motion and overlap with observation-centric re-updates.

Every backend attaches ``data["appearance"]`` (the torso colour embedding) to its rows, so track
clean-up (:mod:`~soccerfactory.curation.tracking.tracklets`) can compare kits whatever the tracker used;
with ``appearance="reid"`` (any backend) the rows also carry ``data["reid"]``, the identity
embedding, for joining tracklets of one athlete.

Both return the *detector's* box for every tracked row (looked up through the row's
``data["det_index"]``), not the Kalman-smoothed box of the tracker, so boxes, confidences,
classes, masks and ``data`` arrays stay exactly those of the input row.

One tracker instance follows one clip: feed it consecutive batches of frames in order and build
a new one (:func:`build_tracker`) for the next clip.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import cv2
import numpy as np

from soccerfactory.curation.pitch_colour import GrassColour, estimate_grass
from soccerfactory.curation.registry import pick_builder
from soccerfactory.curation.types import GOALKEEPER, PLAYER, REFEREE, Detections, Frames, Tracks

__all__ = [
    "APPEARANCES",
    "APPEARANCE_DIM",
    "ATHLETE_CLASSES",
    "TRACKERS",
    "BoxmotTracker",
    "CameraPan",
    "Tracker",
    "appearance_embeddings",
    "build_bytetrack",
    "build_ocsort",
    "build_strongsort",
    "build_tracker",
]

#: ``appearance`` settings of the builders (``track.params.appearance``): the torso colour
#: histogram, or the re-identification network as well.
APPEARANCES: tuple[str, ...] = ("colour", "reid")
#: Class ids that are tracked; every other row (the ball) is ignored.
ATHLETE_CLASSES: tuple[int, ...] = (GOALKEEPER, PLAYER, REFEREE)


class Tracker(Protocol):
    """Assigns persistent track ids to athlete detections of one clip, batch by batch."""

    def update(self, frames: Frames, detections: Detections) -> Tracks:
        """Track one batch of consecutive frames.

        Args:
            frames: The batch's frames, after (by ``frame_index``) every frame of earlier batches.
            detections: Boxes of any of these frames, any classes, any order; rows whose class is
                not an athlete's are ignored.

        Returns:
            The tracked athlete rows of this batch, ordered by frame: each keeps its
            ``xyxy``, ``confidence``, ``class_id``, ``mask`` and ``data`` arrays, gains a
            ``track_id >= 0`` unique within its frame, ``data["det_index"]`` (``int64``),
            the index of the input row it came from, and ``data["appearance"]`` (``float32``
            ``(N, D)``, :func:`appearance_embeddings`), and with ReID on ``data["reid"]``
            (``float32`` ``(N, 64)``, unit length). Rows the tracker does not report (not yet
            confirmed tracks, confidences below its thresholds) are left out.
        """
        ...


# --------------------------------------------------------------------------- appearance

# Hue x saturation histogram of chromatic pixels, plus a brightness histogram of the achromatic
# ones: white, black and grey kits have no meaningful hue but differ in brightness.
_HUE_BINS = 16
_SAT_BINS = 3
_VALUE_BINS = 4
_CHROMA_MIN_SAT = 50
_CHROMA_MIN_VAL = 40
#: Length ``D`` of an :func:`appearance_embeddings` vector.
APPEARANCE_DIM = _HUE_BINS * _SAT_BINS + _VALUE_BINS
# Torso band of a standing athlete's box, as fractions of its height and width: below the head,
# above the shorts, inside the arms.
_TORSO_ROWS = (0.15, 0.55)
_TORSO_COLS = (0.2, 0.8)


def appearance_embeddings(
    image: np.ndarray, xyxy: np.ndarray, grass: GrassColour | None = None
) -> np.ndarray:
    """Colour features of each athlete's upper body, for telling teams and referees apart.

    For each box, the torso band (rows 15-55 % of the box height, columns 20-80 % of its width)
    is taken, its grass-coloured pixels are dropped (:meth:`GrassColour.is_grass`, the pitch
    seen between arms and body), and the rest is histogrammed in HSV: pixels with saturation
    >= 50 and value >= 40 into 16 hue x 3 saturation bins, the others (white, black, grey) into
    4 value bins. The histogram is normalised to sum 1 and square-rooted, which gives unit L2
    norm, so the cosine similarity of two embeddings is the Bhattacharyya coefficient of their
    colour distributions.

    Args:
        image: ``uint8`` ``(H, W, 3)`` BGR frame.
        xyxy: ``float32`` ``(N, 4)`` boxes in pixels of that frame.
        grass: The pitch colour; estimated from ``image`` when ``None``.

    Returns:
        ``float32`` ``(N, D)`` L2-normalised embeddings, ``D =`` :data:`APPEARANCE_DIM` ``= 52``.
        A box with no usable pixel (outside the frame, or all grass) gets the uniform vector
        ``1 / sqrt(D)``, equally far from every kit.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be uint8 (H, W, 3) BGR, got {image.dtype} {image.shape}")
    xyxy = np.asarray(xyxy, dtype=np.float32)
    if xyxy.size == 0:
        return np.zeros((0, APPEARANCE_DIM), dtype=np.float32)
    if xyxy.ndim != 2 or xyxy.shape[1] != 4:
        raise ValueError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
    height, width = image.shape[:2]
    if grass is None:
        grass = estimate_grass(image)
    w = xyxy[:, 2] - xyxy[:, 0]
    h = xyxy[:, 3] - xyxy[:, 1]
    x0 = np.floor(xyxy[:, 0] + _TORSO_COLS[0] * w).astype(np.int64)
    x1 = np.ceil(xyxy[:, 0] + _TORSO_COLS[1] * w).astype(np.int64)
    y0 = np.floor(xyxy[:, 1] + _TORSO_ROWS[0] * h).astype(np.int64)
    y1 = np.ceil(xyxy[:, 1] + _TORSO_ROWS[1] * h).astype(np.int64)
    x0, x1 = np.clip(x0, 0, width), np.clip(np.maximum(x1, x0 + 1), 0, width)
    y0, y1 = np.clip(y0, 0, height), np.clip(np.maximum(y1, y0 + 1), 0, height)

    out = np.full((len(xyxy), APPEARANCE_DIM), 1.0 / np.sqrt(APPEARANCE_DIM), dtype=np.float32)
    for i in range(len(xyxy)):
        if x1[i] <= x0[i] or y1[i] <= y0[i]:
            continue
        patch = np.ascontiguousarray(image[y0[i] : y1[i], x0[i] : x1[i]])
        hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV).reshape(-1, 3)
        if grass is not None:
            hsv = hsv[~grass.is_grass(patch).reshape(-1)]
        if hsv.shape[0] == 0:
            continue
        hue, sat, val = (hsv[:, k].astype(np.int64) for k in range(3))
        chromatic = (sat >= _CHROMA_MIN_SAT) & (val >= _CHROMA_MIN_VAL)
        hue_bin = np.minimum(hue * _HUE_BINS // 180, _HUE_BINS - 1)
        sat_bin = np.minimum((sat - _CHROMA_MIN_SAT) * _SAT_BINS // (256 - _CHROMA_MIN_SAT), _SAT_BINS - 1)
        val_bin = np.minimum(val * _VALUE_BINS // 256, _VALUE_BINS - 1)
        index = np.where(chromatic, hue_bin * _SAT_BINS + sat_bin, _HUE_BINS * _SAT_BINS + val_bin)
        counts = np.bincount(index, minlength=APPEARANCE_DIM).astype(np.float64)
        out[i] = np.sqrt(counts / counts.sum())
    return out


# --------------------------------------------------------------------------- camera pan


class CameraPan:
    """Cumulative camera pan of a clip, from phase correlation of consecutive frames.

    Broadcast cameras pan fast: a far athlete only a few pixels wide can move by more than its
    own width between frames, so boxes of consecutive frames stop overlapping and a motion
    tracker loses it. Tracking in *stabilised* coordinates (image pixels minus the cumulative
    pan) takes that motion out. Only translation is modelled: zoom and rotation between two
    frames 40 ms apart are small next to the pan.

    Args:
        work_width: Frames are downscaled to this width (pixels) before correlating.
        min_response: Phase-correlation peaks weaker than this (a cut, a replay wipe) count as
            no motion.
    """

    def __init__(self, work_width: int = 320, min_response: float = 0.05) -> None:
        if work_width < 16:
            raise ValueError(f"CameraPan work_width must be >= 16, got {work_width}")
        self.work_width = int(work_width)
        self.min_response = float(min_response)
        self._previous: np.ndarray | None = None
        self._window: np.ndarray | None = None
        self.offset = np.zeros(2, dtype=np.float64)

    def update(self, image: np.ndarray) -> np.ndarray:
        """Advance to the next frame; returns the cumulative shift ``(dx, dy)`` in its pixels.

        A point at pixel ``p`` of this frame shows what was at ``p - offset + previous offset``
        in the frame before, so ``p - offset`` is a stabilised coordinate.
        """
        height, width = image.shape[:2]
        scale = min(1.0, self.work_width / width)
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        current = gray.astype(np.float32)
        if self._previous is not None and self._previous.shape == current.shape:
            if self._window is None or self._window.shape != current.shape:
                self._window = cv2.createHanningWindow(current.shape[::-1], cv2.CV_32F)
            (dx, dy), response = cv2.phaseCorrelate(self._previous, current, self._window)
            if response >= self.min_response:
                self.offset = self.offset + np.array([dx, dy]) / scale
        self._previous = current
        return self.offset.copy()


# --------------------------------------------------------------------------- boxmot wrapper


class BoxmotTracker:
    """A boxmot tracker behind the :class:`Tracker` protocol (use :func:`build_tracker`).

    Each frame of a batch is one tracker step (a frame with no detection still ages the
    tracks), so batches must come in frame order without repeating a frame. Boxes with zero
    width or height, which boxmot refuses, are not tracked.

    Track ids are remapped to ``0, 1, 2, ...`` in order of first output, so they are dense per
    clip whatever boxmot's own numbering.

    Args:
        tracker: A constructed boxmot tracker (``BaseTracker``).
        name: Backend name, for messages.
        embeddings: Pass appearance embeddings with the detections (always, empty frames
            included, so boxmot never builds a ReID model of its own): ``reid``'s when given,
            else :func:`appearance_embeddings`.
        stabilise: Give the tracker pan-stabilised boxes (:class:`CameraPan`); the output boxes
            are still the input's.
        reid: Identity embedder (``(image, xyxy) -> float32 (N, D)``, e.g.
            :class:`~soccerfactory.curation.tracking.reid.ReidEmbedder`); its embeddings are
            attached as ``data["reid"]``.
    """

    def __init__(
        self, tracker: Any, name: str, embeddings: bool, stabilise: bool = False, reid: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    ) -> None:
        from boxmot.structures import Boxes
        from boxmot.structures import Detections as BoxmotDetections

        self._tracker = tracker
        self._boxes_type = Boxes
        self._detections_type = BoxmotDetections
        self.name = name
        self.embeddings = bool(embeddings)
        self._last_frame: int | None = None
        self._ids: dict[int, int] = {}
        self._pan = CameraPan() if stabilise else None
        self._reid = reid

    def __repr__(self) -> str:
        return f"BoxmotTracker({self.name!r}, last_frame={self._last_frame}, tracks={len(self._ids)})"

    def update(self, frames: Frames, detections: Detections) -> Tracks:
        """See :meth:`Tracker.update`."""
        owner = f"{self.name} tracker"
        if not isinstance(frames, Frames):
            raise TypeError(f"{owner}: frames must be Frames, got {type(frames).__name__}")
        if not isinstance(detections, Detections):
            raise TypeError(f"{owner}: detections must be Detections, got {type(detections).__name__}")
        if len(detections):
            missing = np.setdiff1d(detections.frames, frames.frame_index)
            if len(missing):
                raise ValueError(
                    f"{owner}: detections reference frames {missing.tolist()[:10]} that are not in frames"
                )
        if len(frames) and self._last_frame is not None and frames.frame_index[0] <= self._last_frame:
            raise ValueError(
                f"{owner}: frames must follow the previous batch (last frame {self._last_frame}), "
                f"got frame {int(frames.frame_index[0])}; build a new tracker for a new clip"
            )

        x1, y1, x2, y2 = detections.xyxy.T
        trackable = np.isin(detections.class_id, ATHLETE_CLASSES) & (x2 > x1) & (y2 > y1)
        picked: list[np.ndarray] = []
        ids: list[np.ndarray] = []
        looks: list[np.ndarray] = []
        who: list[np.ndarray] = []
        with _single_threaded_blas():
            for position, frame_index in enumerate(frames.frame_index.tolist()):
                rows = np.flatnonzero(trackable & (detections.frame_index == frame_index))
                det_rows, track_ids, appearance, identity = self._step(frames, position, detections, rows)
                picked.append(det_rows)
                ids.append(track_ids)
                looks.append(appearance)
                who.append(identity)
        if len(frames):
            self._last_frame = int(frames.frame_index[-1])

        det_index = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
        track_id = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        appearance = np.concatenate(looks) if looks else np.zeros((0, APPEARANCE_DIM), dtype=np.float32)
        extra = {}
        if self._reid is not None:
            extra["reid"] = np.concatenate(who) if who else self._reid(np.zeros((1, 1, 3), np.uint8), np.zeros((0, 4), np.float32))
        return (
            detections[det_index]
            .with_tracks(track_id)
            .with_data(det_index=det_index, appearance=appearance, **extra)
            .to_tracks()
        )

    def _step(
        self, frames: Frames, position: int, detections: Detections, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """One tracker step on frame ``position``; returns (input rows, track ids, appearance, reid)."""
        import torch

        image = frames.images[position]
        boxes = np.ascontiguousarray(detections.xyxy[rows], dtype=np.float32).reshape(-1, 4)
        # Computed for every backend: track clean-up compares kits even when the tracker does not.
        looks = appearance_embeddings(image, boxes)
        identity = self._reid(image, boxes) if self._reid is not None else None
        embs = None
        if self.embeddings:
            embs = torch.from_numpy(identity if identity is not None else looks)
        track_boxes = boxes
        if self._pan is not None:
            shift = self._pan.update(image)
            track_boxes = (boxes - np.tile(shift, 2)).astype(np.float32)
        batch = self._detections_type(
            geometry=self._boxes_type(torch.from_numpy(track_boxes)),
            scores=torch.from_numpy(np.ascontiguousarray(detections.confidence[rows], dtype=np.float32)),
            class_ids=torch.from_numpy(np.ascontiguousarray(detections.class_id[rows], dtype=np.int64)),
            sample_id=f"{frames.source}#{int(frames.frame_index[position])}",
            embeddings=embs,
        )
        # boxmot's CMC and the lazy ReID use OpenCV BGR arrays; a contiguous copy, as it may warp it.
        out = self._tracker.update(batch, np.ascontiguousarray(image))
        local = out.detection_indices.numpy().astype(np.int64)
        raw_ids = out.track_ids.numpy().astype(np.int64).tolist()
        if len(local) and (local.min() < 0 or local.max() >= len(rows)):
            raise RuntimeError(f"{self.name} returned detection indices outside the frame's detections")
        track_ids = np.array([self._ids.setdefault(t, len(self._ids)) for t in raw_ids], dtype=np.int64)
        return rows[local], track_ids, looks[local], (identity[local] if identity is not None else None)


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Run BLAS calls on one thread for the duration (when threadpoolctl is installed).

    Tracker updates do linear algebra on a great many 4x4 to 8x8 matrices (Kalman gating),
    where BLAS worker threads only add synchronisation: on a loaded two-core machine StrongSORT
    ran 4-6 times slower with them.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up, not a dependency
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --------------------------------------------------------------------------- builders


def _boxmot(cmc: str, choices: tuple[str, ...] = ("pan", "none")):
    """Check ``cmc`` against ``choices`` and import boxmot, offline and quiet."""
    if cmc not in choices:
        raise ValueError(f"cmc must be one of {choices}, got {cmc!r}")
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    import boxmot

    # boxmot logs its settings at INFO on every tracker it builds: one block per clip is noise in a
    # run over hundreds of clips. Its warnings still come through. A filter on the logger itself,
    # not its level: boxmot's configure_logging() resets the level and handlers when called again.
    quiet = logging.getLogger("boxmot")
    if not any(isinstance(f, _BelowWarning) for f in quiet.filters):
        quiet.addFilter(_BelowWarning())
    return boxmot


class _BelowWarning(logging.Filter):
    """Drops records below WARNING unless ``SOCCERFACTORY_VERBOSE`` is set (``-v``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or bool(os.environ.get("SOCCERFACTORY_VERBOSE"))


def _embedder(appearance: str, reid_weights: str | None):
    """The identity embedder for ``appearance`` (``"reid"``), or ``None`` (``"colour"``)."""
    if appearance not in APPEARANCES:
        raise ValueError(f"appearance must be one of {APPEARANCES}, got {appearance!r}")
    if appearance == "colour":
        return None
    from soccerfactory.curation.tracking.reid import ReidEmbedder

    return ReidEmbedder(reid_weights)


def build_strongsort(
    fps: float = 25.0,
    min_conf: float = 0.3,
    max_cos_dist: float = 0.25,
    max_iou_dist: float = 0.7,
    max_age_s: float = 2.0,
    n_init: int = 1,
    nn_budget: int = 50,
    mc_lambda: float = 0.98,
    ema_alpha: float = 0.9,
    cmc: str = "pan",
    appearance: str = "reid",
    reid_weights: str | None = None,
) -> BoxmotTracker:
    """StrongSORT with the project's own appearance embeddings (nothing is downloaded).

    Args:
        fps: Frame rate of the clip, to turn ``max_age_s`` into frames.
        min_conf: Detections below this confidence are not tracked.
        max_cos_dist: Largest cosine distance between a detection's and a track's appearance
            for them to match in the appearance stage. With ReID, 0.15 scored higher than
            0.25 on dev clips (HOTA 85.2 / 84.8 on seeds 400-402, 85.3 / 84.8 on 403-404, a
            third to a half fewer id switches) but split tracks of 10-20 px athletes with missed
            detections (a 360p clip: IDF1 0.89 against 0.95), so 0.25 stays the default.
        max_iou_dist: Largest ``1 - IoU`` for the overlap stage that follows it.
        max_age_s: Seconds a track survives without a detection (an athlete hidden behind
            another, a missed detection) before its id is retired.
        n_init: Consecutive detections before a track is confirmed and reported. 1, as for
            OC-SORT's ``min_hits``: a broadcast cuts every few seconds and every shot starts
            its tracks afresh, so waiting 3 frames dropped the first rows of every athlete
            (and a tentative track missed once is deleted); short false tracks are dropped by
            the clip-level clean-up instead. Dev broadcast seed 400 (30 s, 8 shots, `quality
            gamestate`): GS-HOTA 61.0 -> 64.6, image-box HOTA 68.5 -> 69.1; tracker alone on
            replayed detections, image-box HOTA per shot 77.5 -> 79.0 (seed 400) and 76.5 ->
            77.9 (first 3 shots of 401), at 2-3 times the id switches (15 -> 39 on 400).
        nn_budget: Appearance samples kept per track.
        mc_lambda: Weight of appearance against motion (Mahalanobis) in the appearance stage.
        ema_alpha: Smoothing of a track's appearance over time.
        cmc: Camera-motion compensation: ``"pan"`` tracks in pan-stabilised coordinates
            (:class:`CameraPan`), ``"ecc"`` uses boxmot's own ECC alignment of the track states
            (several times slower), ``"none"`` turns it off.
        appearance: ``"reid"`` (default): the re-identification network
            (:class:`~soccerfactory.curation.tracking.reid.ReidEmbedder`), which also tells
            teammates apart; ``"colour"``: :func:`appearance_embeddings` (kits only).
        reid_weights: Its weights file (default: the shipped ``curation/weights/reid.pt``).
    """
    boxmot = _boxmot(cmc, ("pan", "ecc", "none"))
    tracker = boxmot.StrongSort(
        min_conf=min_conf,
        max_cos_dist=max_cos_dist,
        max_iou_dist=max_iou_dist,
        n_init=n_init,
        nn_budget=nn_budget,
        mc_lambda=mc_lambda,
        ema_alpha=ema_alpha,
        max_age=max(1, int(round(max_age_s * fps))),
    )
    if cmc != "ecc":
        tracker.cmc = None
    reid = _embedder(appearance, reid_weights)
    return BoxmotTracker(tracker, "strongsort", embeddings=True, stabilise=cmc == "pan", reid=reid)


def build_bytetrack(
    fps: float = 25.0,
    min_conf: float = 0.1,
    track_thresh: float = 0.45,
    match_thresh: float = 0.8,
    track_buffer_s: float = 2.0,
    cmc: str = "pan",
    appearance: str = "colour",
    reid_weights: str | None = None,
) -> BoxmotTracker:
    """ByteTrack: motion and overlap only, with low-confidence detections kept for recovery.

    Args:
        fps: Frame rate of the clip.
        min_conf: Detections below this confidence are dropped.
        track_thresh: Detections at or above it enter the first association and may start
            tracks; those between ``min_conf`` and it only extend existing tracks.
        match_thresh: Largest (score-fused) ``1 - IoU`` of a first-stage match.
        track_buffer_s: Seconds a lost track can still be recovered with its id.
        cmc: ``"pan"`` tracks in pan-stabilised coordinates (:class:`CameraPan`; boxmot's
            ByteTrack has no camera-motion compensation of its own), ``"none"`` does not.
        appearance: ``"reid"`` attaches identity embeddings (``data["reid"]``) for tracklet
            joining; ByteTrack itself never uses appearance.
        reid_weights: Their weights file (default: the shipped one).
    """
    boxmot = _boxmot(cmc)
    # boxmot scales the buffer by frame_rate / 30, so give it frames at 30 fps to mean seconds.
    tracker = boxmot.ByteTrack(
        min_conf=min_conf,
        track_thresh=track_thresh,
        match_thresh=match_thresh,
        track_buffer=max(1, int(round(track_buffer_s * 30))),
        frame_rate=max(1, int(round(fps))),
    )
    return BoxmotTracker(tracker, "bytetrack", embeddings=False, stabilise=cmc == "pan", reid=_embedder(appearance, reid_weights))


def build_ocsort(
    fps: float = 25.0,
    min_conf: float = 0.3,
    iou_threshold: float = 0.3,
    max_age_s: float = 2.0,
    min_hits: int = 1,
    delta_t: int = 3,
    inertia: float = 0.2,
    asso_func: str = "iou",
    cmc: str = "pan",
    appearance: str = "colour",
    reid_weights: str | None = None,
) -> BoxmotTracker:
    """OC-SORT: observation-centric Kalman tracking (re-updates a lost track from its last
    observation, adds the motion direction to the association cost); motion and overlap only.

    Args:
        fps: Frame rate of the clip.
        min_conf: Detections below this confidence are dropped.
        iou_threshold: Smallest overlap (of ``asso_func``) for a match.
        max_age_s: Seconds a lost track is kept.
        min_hits: Consecutive detections before a track is reported; OC-SORT counts them again
            after every missed frame, so with 3 a detector missing one box in seven lost a
            third of the rows (IDF1 0.83 against 0.98 with 1 on a test clip). Short false
            tracks are dropped by the clip-level clean-up instead.
        delta_t: Frames back for the observation-centric velocity.
        inertia: Weight of the motion-direction term.
        asso_func: ``"iou"``, ``"giou"`` (also scores boxes that stopped overlapping),
            ``"diou"``, ...
        cmc: ``"pan"`` tracks in pan-stabilised coordinates, ``"none"`` does not.
        appearance: ``"reid"`` attaches identity embeddings (``data["reid"]``), as for ByteTrack.
        reid_weights: Their weights file (default: the shipped one).
    """
    boxmot = _boxmot(cmc)
    tracker = boxmot.OcSort(
        min_conf=min_conf,
        det_thresh=min_conf,
        iou_threshold=iou_threshold,
        max_age=max(1, int(round(max_age_s * fps))),
        min_hits=min_hits,
        delta_t=delta_t,
        inertia=inertia,
        asso_func=asso_func,
    )
    return BoxmotTracker(tracker, "ocsort", embeddings=False, stabilise=cmc == "pan", reid=_embedder(appearance, reid_weights))


TRACKERS: dict[str, Callable[..., Tracker]] = {
    "bytetrack": build_bytetrack,
    "ocsort": build_ocsort,
    "strongsort": build_strongsort,
}


def build_tracker(name: str, **params: Any) -> Tracker:
    """A new tracker (one per clip) by name; ``params`` go to its builder.

    No default here: the curation config's ``track.backend`` is the one place it is chosen
    (by measurement; README "Detection and tracking quality").

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    return pick_builder(TRACKERS, name, "tracker")(**params)
