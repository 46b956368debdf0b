"""Detection stage: athletes and the ball in every frame.

Backends hide behind :class:`Detector`, a callable from a batch of frames to
:class:`~soccerfactory.curation.types.Detections` in the project's class vocabulary
(:data:`~soccerfactory.curation.types.CLASS_NAMES`). ``build_detector`` picks one by name; heavy
libraries are imported inside the builders so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from soccerfactory.curation.bundled import bundled_weights, require_weights
from soccerfactory.curation.devices import is_cuda
from soccerfactory.curation.hashing import sha256_file
from soccerfactory.curation.registry import pick_builder
from soccerfactory.curation.types import BALL, CLASS_NAMES, Detections, Frames

__all__ = ["BallSlicer", "CLASS_SYNONYMS", "DETECTORS", "Detector", "NMS_TIME_LIMIT_S", "UltralyticsDetector", "build_detector", "predict_uncut", "slice_grid"]

#: Names other datasets use for our classes; the Roboflow football sets call the ball "football".
CLASS_SYNONYMS: dict[str, str] = {"football": "ball", "sports ball": "ball", "soccer ball": "ball", "keeper": "goalkeeper"}

logger = logging.getLogger(__name__)


#: Ultralytics' NMS (``ultralytics/utils/nms.py``) stops after the image it is on once a batch's
#: NMS has run ``2.0 + 0.05 * batch`` seconds of wall time, and the images after it come back with
#: no boxes, with a warning that ``YOLO_VERBOSE=False`` (runtime.py) silences. On two cores at
#: load 14-40 with the memory full this cut batch 719..726 of dev seed 400 after its first frame: 7
#: frames of 22-23 athletes came back empty and were called close-ups (~180 rows lost, silently).
#: A batch whose post-processing took longer than the limit's fixed part is suspect, and its empty
#: images are detected again one at a time; it normally takes milliseconds.
NMS_TIME_LIMIT_S = 2.0


def _postprocess_seconds(results: list[Any]) -> float:
    """Seconds ultralytics spent post-processing (NMS included) the batch of ``results``; infinite
    when a result does not say (an ultralytics that no longer reports it: assume the worst)."""
    speeds = [getattr(result, "speed", None) or {} for result in results]
    if not all("postprocess" in speed for speed in speeds):
        return float("inf")
    return sum(float(speed["postprocess"]) for speed in speeds) / 1e3  # ms per image, times the images


def predict_uncut(model: Any, images: Any, **options: Any) -> list[Any]:
    """``model.predict(images, **options)`` (an ultralytics model) whose NMS time limit cannot drop images.

    Where the batch's post-processing took longer than :data:`NMS_TIME_LIMIT_S`, the NMS may have
    stopped early: an image it reached kept all its boxes, the others came back empty. Those are
    predicted again one at a time (one image per call cannot be cut short) and a warning says so.
    Used by the detector, its ball slices and the ``yolo-pose`` pitch keypoints.

    Returns:
        One ultralytics ``Results`` per image, in order.
    """
    images = list(images)
    results = model.predict(images, **options)
    if len(images) > 1 and (seconds := _postprocess_seconds(results)) > NMS_TIME_LIMIT_S:
        empty = [k for k, result in enumerate(results) if result.boxes is None or len(result.boxes) == 0]
        logger.warning("NMS of %d images took %.1f s (ultralytics stops at %.1f s): %d empty ones predicted again one at a time",
                       len(images), seconds, NMS_TIME_LIMIT_S + 0.05 * len(images), len(empty))
        for k in empty:
            results[k] = model.predict([images[k]], **options)[0]
    return results


class Detector(Protocol):
    """Finds athletes and the ball.

    ``__call__(frames)`` returns the boxes of every frame in the batch (xyxy, pixels of the full
    frame), ``frame_index`` taken from ``frames``, ``class_names == CLASS_NAMES``.
    """

    name: str
    version: str

    def __call__(self, frames: Frames) -> Detections: ...


def _class_lookup(model_names: Mapping[int, str], class_map: Mapping[str, str] | None, weights: Path) -> np.ndarray:
    """Model class id -> our class id (``-1`` = drop), or raise naming what cannot be mapped."""
    mapping = {**CLASS_SYNONYMS, **(class_map or {})}
    lookup = np.full(max(model_names) + 1, -1, dtype=np.int64)
    unknown = []
    for model_id, raw in model_names.items():
        name = mapping.get(str(raw).lower(), str(raw).lower())
        if name in CLASS_NAMES:
            lookup[model_id] = CLASS_NAMES.index(name)
        elif name != "ignore":
            unknown.append(str(raw))
    if unknown and (lookup >= 0).sum() == 0:
        raise ValueError(
            f"detector weights {weights} predict classes {sorted(unknown)}, none of which is one of {CLASS_NAMES}; "
            "pass class_map={'their name': 'player'} (or 'ignore') to map them"
        )
    return lookup


class UltralyticsDetector:
    """A YOLOv8 (ultralytics) detector with the project's class vocabulary.

    Args:
        weights: Local ``.pt`` file. Never downloaded: a missing file raises FileNotFoundError.
        imgsz: Inference size (long side, pixels). Far players are 20-40 px tall at 1080p, so
            going below 640 loses them.
        conf: Minimum confidence kept.
        iou: NMS IoU threshold.
        device: ``"cpu"``, ``"cuda:0"``, ...
        class_map: Extra model-class-name -> our-class-name mapping (``"ignore"`` drops a class).
        half: fp16 inference; ``None`` (default) = on CUDA devices only (the CPU stays fp32).
        runtime: ``"torch"`` (the ``.pt`` file), ``"onnx"`` (ONNX Runtime), ``"openvino"`` or
            ``"onnx-int8"`` (ONNX Runtime, int8): the others run an export of ``weights`` made locally and cached
            (:mod:`~soccerfactory.curation.detection.yolo_export`), on the CPU only.
        threads: Intra-op threads of an onnx/openvino session (default: half the CPUs this
            process may use); torch keeps its own setting.
        roles: A second-stage :class:`~soccerfactory.curation.detection.roles.RoleClassifier` that
            re-decides the class of every person box of a full frame (``__call__``; not the
            ball slices of :meth:`detect_each`); None: the detector's class stands.
    """

    name = "yolov8"

    def __init__(
        self,
        weights: str | os.PathLike,
        imgsz: int = 960,
        conf: float = 0.25,
        iou: float = 0.6,
        device: str = "cpu",
        class_map: Mapping[str, str] | None = None,
        half: bool | None = None,
        runtime: str = "torch",
        threads: int | None = None,
        roles: Any = None,
    ) -> None:
        self.weights = require_weights(weights, "detector weights")
        from soccerfactory.curation.runtimes import RUNTIMES

        if runtime not in RUNTIMES:
            raise ValueError(f"detector runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        if runtime != "torch" and str(device) != "cpu":
            raise ValueError(f"detect.runtime={runtime} runs on the CPU; use detect.runtime=torch for device {device!r}")
        if not (32 <= int(imgsz) <= 4096):
            raise ValueError(f"imgsz must be in [32, 4096], got {imgsz}")
        if not (0.0 <= conf <= 1.0 and 0.0 < iou <= 1.0):
            raise ValueError(f"conf must be in [0, 1] and iou in (0, 1], got conf={conf}, iou={iou}")
        if runtime == "torch":
            from soccerfactory.curation.safe_load import load_yolo

            # Scanned, then loaded weights_only: a pickled payload in the file never runs.
            self._model = load_yolo(self.weights, "detector weights", task="detect")
        else:
            from soccerfactory.curation.detection.yolo_export import load_exported_yolo

            # ONNX / OpenVINO files are data; the .pt goes through load_yolo only when exported.
            self._model = load_exported_yolo(self.weights, runtime, int(imgsz), threads)
        self.runtime = runtime
        self._lookup = _class_lookup(self._model.names, class_map, self.weights)
        self.imgsz, self.conf, self.iou, self.device = int(imgsz), float(conf), float(iou), device
        # fp16 on CUDA: tensor cores, half the memory per batch; ultralytics would ignore it on CPU.
        self.half = is_cuda(device) if half is None else bool(half)
        self.version = f"{self.weights.name}@{sha256_file(self.weights)[:12]}" + ("" if runtime == "torch" else f"+{runtime}")
        self.roles = roles
        if roles is not None:  # a shard's classes depend on the role classifier's weights too
            self.version += f"+roles:{roles.version}"
        # One ultralytics predictor is not safe to call from two threads at once.
        self._lock = threading.Lock()
        # What BallSlicer runs its slices on. They look for a ball of a few pixels at confidence
        # 0.1: on the int8 model borderline balls crossed that line (real valid split: 30-32 of
        # torch's 33 balls found, three quantizations), so onnx-int8 slices on the fp32 onnx
        # model (33 of 33; person AP50 0.9675 against torch's 0.9672) and detects whole frames on int8.
        self.slice_detector = self
        if runtime == "onnx-int8":
            self.slice_detector = UltralyticsDetector(self.weights, imgsz, conf, iou, device, class_map, half, "onnx", threads)

    def __call__(self, frames: Frames) -> Detections:
        detections = Detections.merge(self.detect_each(list(frames.images), frames.frame_index))
        return detections if self.roles is None else self.roles(frames, detections)

    def detect_each(
        self,
        images: list[np.ndarray],
        frame_index: np.ndarray | list[int],
        imgsz: int | None = None,
        conf: float | None = None,
    ) -> Detections:
        """Detect in a batch of images of any size (whole frames or slices of them).

        Args:
            images: ``uint8`` ``(H, W, 3)`` BGR images, one predict call for all of them.
            frame_index: ``(len(images),)`` frame each image belongs to (slices of one frame
                share it).
            imgsz: Inference size for this call (default: the detector's).
            conf: Minimum confidence for this call (default: the detector's).

        Returns:
            One :class:`Detections` per image, boxes in pixels of that *image* (a slice's own
            coordinates), our class ids.
        """
        if len(images) == 0:
            return []
        options = {
            "imgsz": int(imgsz or self.imgsz),
            "conf": self.conf if conf is None else float(conf),
            "iou": self.iou,
            "device": self.device,
            "verbose": False,
        }
        if self.half:  # ultralytics warns about `half` whenever it is passed, even False
            options["half"] = True
        import torch  # loaded with ultralytics already

        with self._lock:
            threads = torch.get_num_threads()
            results = predict_uncut(self._model, images, **options)
            # Ultralytics' first predict (select_device) sets the whole process's torch to
            # cpu_count - 1 threads: 1 on a 2-core machine, where the torch detector and the
            # keypoint model then ran on one core. The process's own setting stands.
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
        parts = []
        for result, index in zip(results, np.asarray(frame_index).tolist()):
            raw = Detections.from_ultralytics(result, frame_index=index)
            ours = self._lookup[raw.class_id]
            keep = ours >= 0
            parts.append(
                Detections(
                    xyxy=raw.xyxy[keep],
                    confidence=raw.confidence[keep],
                    class_id=ours[keep],
                    frame_index=raw.frame_index[keep],
                )
            )
        return parts


def slice_grid(width: int, height: int, slices: int = 2, overlap: float = 0.1) -> np.ndarray:
    """Overlapping slices covering a ``width x height`` frame, ``slices x slices`` of them.

    Each slice keeps the frame's aspect ratio (so it runs letterbox-free at the detector's
    rectangular input) and overlaps its neighbours by ``overlap`` of its size, so a ball on a
    seam is whole in at least one slice.

    Returns:
        ``int64`` ``(slices**2, 4)`` xyxy pixel windows inside the frame.
    """
    if slices < 1 or not 0 <= overlap < 1:
        raise ValueError(f"slices must be >= 1 and overlap in [0, 1), got {slices}, {overlap}")
    windows = []
    tile_w = min(width, int(np.ceil(width / slices * (1 + overlap))))
    tile_h = min(height, int(np.ceil(height / slices * (1 + overlap))))
    xs = np.linspace(0, width - tile_w, slices).round().astype(np.int64) if slices > 1 else np.array([0])
    ys = np.linspace(0, height - tile_h, slices).round().astype(np.int64) if slices > 1 else np.array([0])
    for y in ys:
        for x in xs:
            windows.append((x, y, x + tile_w, y + tile_h))
    return np.asarray(windows, dtype=np.int64)


class BallSlicer:
    """A second look for the ball in slices of the frame cut at native resolution.

    A ball is ~10 px at 1080p; the full-frame pass at ``imgsz`` 768 shrinks it to ~4 px, near
    the detector's smallest stride, and misses most of them. On frames where the full-frame pass
    found no ball, this runs the same detector on ``slices x slices`` overlapping slices of the
    full-resolution frame (each slice shrunk by ~0.7 instead of ~0.4 at 1080p) and keeps the ball
    boxes, mapped back to frame pixels. Athletes are not re-detected: the full frame finds them.

    A weak full-frame ball (confidence below ``retry_below``) is no reason to stop looking: a
    white sock or a penalty mark at 0.3 would otherwise hide the real ball from the slices. Such
    frames are sliced too; the full-frame row stays and the most confident candidate wins
    downstream (:func:`~soccerfactory.curation.detection.ball.best_ball_per_frame`).

    Slicing multiplies the detector's cost by ``slices**2`` on the frames it runs on, so it runs
    on every ``every``-th frame only (by source frame index); the ball track interpolates between
    (:func:`~soccerfactory.curation.detection.ball.follow_ball`).

    Args:
        detector: The detector of the full-frame pass (its weights and classes); its
            ``slice_detector`` runs the slices when it has one.
        slices: Slices per side (2 = four slices; the pipeline's default is 3).
        overlap: Overlap of neighbouring slices, fraction of a slice.
        conf: Minimum ball confidence in a slice.
        every: Look in slices on frames whose index is a multiple of this (1 = every frame).
        imgsz: Largest inference size of a slice (default: the detector's, the size the bundled
            model was trained on slices at); a slice smaller than that runs at its own size.
        retry_below: Also slice frames whose most confident full-frame ball is below this
            (``0`` = only frames with no ball at all).
        target: :meth:`for_clip` slices only the windows where the ball can be (:class:`_BallSearch`);
            False: the whole grid on every frame looked at.
        search_speed: How far from a ball seen on another frame the targeted search reaches,
            frame widths per second. 0.5 is a 30 m/s shot across a wide view; the ball track's
            bound (``detect.ball_max_speed``, 1.5) also allows for the camera's pan, but the camera
            pans with the ball, and a ball that outruns the search costs one look: the next one
            cuts the whole grid.
        margin: Added to the search radius, fraction of the frame width (the ball's own size,
            and a box centre that is off by a few pixels).
    """

    def __init__(
        self,
        detector: UltralyticsDetector,
        slices: int = 2,
        overlap: float = 0.1,
        conf: float = 0.25,
        every: int = 1,
        imgsz: int | None = None,
        retry_below: float = 0.0,
        target: bool = True,
        search_speed: float = 0.5,
        margin: float = 0.03,
    ) -> None:
        if (
            slices < 1 or not 0 <= overlap < 1 or not 0 <= conf <= 1 or every < 1
            or (imgsz is not None and imgsz < 32) or not 0 <= retry_below <= 1 or search_speed <= 0 or not 0 <= margin < 1
        ):
            raise ValueError(
                f"invalid ball slicing: slices={slices}, overlap={overlap}, conf={conf}, every={every}, imgsz={imgsz}, "
                f"retry_below={retry_below}, search_speed={search_speed}, margin={margin}"
            )
        # The detector's slice_detector when it has one (onnx-int8: the fp32 model).
        detector = getattr(detector, "slice_detector", detector)
        self.detector, self.slices, self.overlap, self.conf = detector, int(slices), float(overlap), float(conf)
        self.every = int(every)
        self.imgsz = int(imgsz or detector.imgsz)
        self.retry_below = float(retry_below)
        self.target, self.search_speed, self.margin = bool(target), float(search_speed), float(margin)

    def __call__(self, frames: Frames, detections: Detections) -> Detections:
        """``detections`` plus the ball boxes found in slices of the frames that had no confident one.

        Every such frame is cut into the whole grid: each call stands alone (``soccerfactory
        quality ball`` scores independent frames this way). :meth:`for_clip` looks only where
        the ball can be on consecutive frames.

        Returns:
            The input rows first, unchanged, then the new ball rows (frame pixels).
        """
        windows = slice_grid(frames.width, frames.height, self.slices, self.overlap)
        return self._look(frames, detections, self.to_slice(frames, detections), lambda position: windows)[0]

    def for_clip(self) -> Callable[[Frames, Detections], Detections]:
        """The slicer for one clip's batches, in frame order: a :class:`_BallSearch` when
        ``target`` (it remembers where the ball was), else this stateless slicer."""
        return _BallSearch(self) if self.target else self

    def to_slice(self, frames: Frames, detections: Detections) -> np.ndarray:
        """``int64`` positions in ``frames`` of the frames to look at again: no ball at or above
        ``retry_below`` from the full frame, and a frame index that is a multiple of ``every``."""
        confident = (detections.class_id == BALL) & (detections.confidence >= self.retry_below)
        has_ball = np.isin(frames.frame_index, detections.frame_index[confident])
        return np.flatnonzero(~has_ball & (frames.frame_index % self.every == 0))

    def _look(
        self, frames: Frames, detections: Detections, positions: np.ndarray, windows_of: Callable[[int], np.ndarray],
    ) -> tuple[Detections, dict[int, np.ndarray | None]]:
        """Detect the ball in the windows ``windows_of(position)`` (``int64`` ``(K, 4)`` xyxy, all
        of the grid's slice size) of each frame at ``positions``, all frames' slices batched into
        detector calls of :data:`_SLICE_BATCH`.

        Returns:
            ``detections`` plus the new ball rows (frame pixels), and per position the centre
            ``(x, y)`` of the most confident ball found there, or None.
        """
        if len(positions) == 0:
            return detections, {}
        windows = slice_grid(frames.width, frames.height, self.slices, self.overlap)
        # Never enlarge a slice past its native size: that costs time and adds no pixel.
        native = int(np.ceil(max(windows[0, 2] - windows[0, 0], windows[0, 3] - windows[0, 1]) / 32) * 32)
        imgsz = min(self.imgsz, native)
        crops, owners, offsets, where = [], [], [], []
        for position in positions.tolist():
            image = frames.images[position]
            for x0, y0, x1, y1 in windows_of(position).tolist():
                crops.append(np.ascontiguousarray(image[y0:y1, x0:x1]))
                owners.append(int(frames.frame_index[position]))
                offsets.append((x0, y0))
                where.append(position)
        found: list[Detections] = []
        hit: dict[int, np.ndarray | None] = {p: None for p in positions.tolist()}
        best: dict[int, float] = {}
        for start in range(0, len(crops), _SLICE_BATCH):
            batch = slice(start, start + _SLICE_BATCH)
            per_crop = self.detector.detect_each(crops[batch], owners[batch], imgsz=imgsz, conf=self.conf)
            for boxes, (dx, dy), position in zip(per_crop, offsets[batch], where[batch]):
                balls = boxes[boxes.class_id == BALL]
                if len(balls):
                    shifted = balls.xyxy + np.array([dx, dy, dx, dy], dtype=np.float32)
                    found.append(Detections(shifted, balls.confidence, balls.class_id, balls.frame_index))
                    top = int(np.argmax(balls.confidence))
                    if balls.confidence[top] > best.get(position, -1.0):
                        best[position] = float(balls.confidence[top])
                        hit[position] = found[-1].centers[top]
        if not found:
            return detections, hit
        return Detections.merge([detections, *found]), hit


#: Slices per detector call: every sliced frame of a batch goes in one call where they fit (8 frames
#: of 3 x 3 slices used to be cut into calls of 8 slices; one call amortises ultralytics' per-call setup).
_SLICE_BATCH = 16


class _BallSearch:
    """One clip's :class:`BallSlicer` that slices only where the ball can be.

    A frame to look at again is searched around the nearest *anchor* (a ball seen on another
    frame: a full-frame ball at or above ``max(retry_below, conf)`` of this batch, before or after
    the frame, a ball the slices found, or the last ball of earlier batches): the disc of radius
    ``search_speed`` frame widths per second times the time since, plus ``margin`` of the frame
    width, is covered by as few windows of the grid's slice size as fit it (usually one: a slice
    centred on the ball, the same scale as the grid's, one inference shape). Frames within
    ``every`` frames of an anchor are searched first, in one detector call; the rest then, in a
    second, anchored by what the first found. Without any anchor the first frame to look at is
    cut into the whole grid on its own, and anchors the others. Once a targeted look finds
    nothing (the ball outran the bound, or the anchor was a white sock), the whole grid is cut
    until a ball is seen again; so is a frame whose disc would need as many windows as the grid.

    Call it on a clip's batches in frame order (it remembers the last ball); one per clip.
    """

    def __init__(self, slicer: BallSlicer) -> None:
        self.slicer = slicer
        self.anchor: tuple[int, np.ndarray] | None = None  #: (frame, centre xy) of the last ball seen
        self.missed_at: int | None = None  #: frame of the last targeted look that found nothing
        self.windows_cut = 0  #: slices cut so far (for the benchmarks)

    def __call__(self, frames: Frames, detections: Detections) -> Detections:
        slicer = self.slicer
        grid = slice_grid(frames.width, frames.height, slicer.slices, slicer.overlap)
        tile_w, tile_h = int(grid[0, 2] - grid[0, 0]), int(grid[0, 3] - grid[0, 1])
        index = frames.frame_index.tolist()
        balls = detections[(detections.class_id == BALL) & (detections.confidence >= max(slicer.retry_below, slicer.conf))]
        anchors: dict[int, np.ndarray] = {} if self.anchor is None else {self.anchor[0]: self.anchor[1]}
        order = np.argsort(-balls.confidence, kind="stable")  # a frame's most confident ball is its anchor
        for frame, centre in zip(balls.frame_index[order].tolist(), balls.centers[order]):
            anchors.setdefault(frame, centre)
        reach = slicer.search_speed * frames.width / frames.fps  # pixels per source frame
        margin = slicer.margin * frames.width

        def nearest(position: int) -> int | None:
            frame = index[position]
            usable = [f for f in anchors if f != frame and (self.missed_at is None or f > self.missed_at)]
            return min(usable, key=lambda f: abs(f - frame)) if usable else None

        def windows_for(position: int) -> np.ndarray:
            anchor = nearest(position)
            if anchor is None:
                return grid
            radius = reach * abs(anchor - index[position]) + margin
            cover = _cover(anchors[anchor], radius, tile_w, tile_h, frames.width, frames.height, len(grid))
            return grid if cover is None else cover

        positions = slicer.to_slice(frames, detections).tolist()
        near = [p for p in positions if (a := nearest(p)) is not None and abs(a - index[p]) <= slicer.every]
        if not near and positions and not anchors:
            near = positions[:1]  # the whole grid on one frame first: what it finds anchors the rest
        rounds = [near, [p for p in positions if p not in near]]
        merged = detections
        for group in rounds:
            if not group:
                continue
            chosen = {p: windows_for(p) for p in group}  # decided before the round's slices are looked at
            self.windows_cut += sum(len(w) for w in chosen.values())
            merged, found = slicer._look(frames, merged, np.array(group), chosen.__getitem__)
            for position, centre in found.items():
                if centre is not None:
                    anchors[index[position]] = centre
                elif chosen[position] is not grid:
                    self.missed_at = max(self.missed_at if self.missed_at is not None else -1, index[position])
        # The newest ball of this batch (full frame or slices) anchors the next one.
        usable = [f for f in anchors if self.missed_at is None or f > self.missed_at]
        if usable:
            newest = max(usable)
            self.anchor = (newest, anchors[newest])
        return merged


def _cover(centre: np.ndarray, radius: float, tile_w: int, tile_h: int, width: int, height: int, limit: int) -> np.ndarray | None:
    """Windows ``tile_w x tile_h`` inside the frame covering the square of half-side ``radius``
    around ``centre``: ``int64`` ``(K, 4)`` xyxy, or None when it takes ``limit`` or more."""
    columns, rows = int(np.ceil(2 * radius / tile_w)), int(np.ceil(2 * radius / tile_h))
    if columns * rows >= limit:
        return None
    cx, cy = float(centre[0]), float(centre[1])
    xs = np.linspace(cx - radius, cx + radius - tile_w, columns) if columns > 1 else np.array([cx - tile_w / 2])
    ys = np.linspace(cy - radius, cy + radius - tile_h, rows) if rows > 1 else np.array([cy - tile_h / 2])
    xs = np.clip(np.round(xs), 0, width - tile_w).astype(np.int64)
    ys = np.clip(np.round(ys), 0, height - tile_h).astype(np.int64)
    return np.array([(x, y, x + tile_w, y + tile_h) for y in ys for x in xs], dtype=np.int64)


def _build_yolov8(weights: str | os.PathLike | None = None, **params: Any) -> UltralyticsDetector:
    return UltralyticsDetector(weights or bundled_weights("detector.pt"), **params)


DETECTORS: dict[str, Callable[..., Detector]] = {"yolov8": _build_yolov8}


def build_detector(name: str = "yolov8", **params: Any) -> Detector:
    """Build a detector backend by name (``weights=None`` means the bundled default model).

    Raises:
        ValueError: for an unknown name, listing the valid ones.
        FileNotFoundError: when the weights file is missing, saying how to get one.
    """
    return pick_builder(DETECTORS, name, "detector")(**params)
