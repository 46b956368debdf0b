"""Measured quality of the ball slicing settings, as ``make bench`` and ``soccerfactory quality ball`` report it.

:func:`ball_quality`: ball recall and precision of the ball slicing settings on held-out
synthetic clips, where the ``detect.ball_*`` defaults are chosen (never on the real split).
Every setting is scored by the detector's own :class:`~soccerfactory.curation.detection.detector.BallSlicer`
replayed over one recorded slicing pass, so the measured rule is the pipeline's.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from soccerfactory.curation.detection.ball import best_ball_per_frame
from soccerfactory.curation.config import CurateConfig, DetectConfig
from soccerfactory.curation.detection.detector import BallSlicer, build_detector
from soccerfactory.curation.quality.clips import HELD_OUT_SEEDS, clip_of, held_out_clip
from soccerfactory.curation.quality.metrics import ball_recall, rounded
from soccerfactory.curation.types import BALL, Detections, Frames
from soccerfactory.storage.groundtruth import read_ground_truth

__all__ = ["ball_quality"]


def ball_quality(
    work_dir: str | Path,
    seeds: Sequence[int] = HELD_OUT_SEEDS,
    seconds: float = 30.0,
    every: int = 25,
    config: CurateConfig | None = None,
    slices: Sequence[int] | None = None,
    slice_conf: Sequence[float] = (0.05, 0.1, 0.15, 0.25),
    retry_below: Sequence[float] = (0.0, 0.25, 0.5, 0.75),
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Ball recall and precision at IoU 0.3 of the ball slicing settings, on held-out synthetic clips.

    This is where the ``detect.ball_*`` defaults are chosen, so that the real ``valid`` split
    :func:`detector_quality` reports on is never tuned on. Every ``every``-th frame of each clip
    (rendered into ``work_dir/seed-N`` as for :func:`tracking_quality`) is run once through the
    full-frame detector at the config's operating point and once through every slice grid at the
    lowest ``slice_conf``; each (grid, slice confidence, retry threshold) is then scored by
    replaying those candidates through :class:`~soccerfactory.curation.detection.detector.BallSlicer` itself
    followed by :func:`~soccerfactory.curation.detection.ball.best_ball_per_frame`, without re-detecting.

    The slicer runs with ``every=1``: the frames here are independent samples, one every
    ``every`` source frames, and ``detect.ball_slice_every`` thins slicing over a video's
    consecutive frames, not over such samples (with the default ``every`` of 25 every sampled
    frame is a multiple of the configured 5 anyway, so the pipeline would slice each of them too).

    Args:
        work_dir: Folder of the rendered clips (shared with :func:`tracking_quality`).
        seeds, seconds: The clips (seeds the bundled detector never trained on).
        every: Frame stride (consecutive frames are near-duplicates).
        config: Curation config whose ``detect`` section is the baseline (default: defaults).
        slices: Slice grids to compare (default: the config's).
        slice_conf, retry_below: Values of ``detect.ball_slice_conf`` and
            ``detect.ball_slice_retry_below`` to compare.
        progress: Called with a line of text after each step.

    Returns:
        ``{"frames", "labelled", "full_frame": {...}, "configured": {...}, "grid": [{"slices",
        "slice_conf", "retry_below", "recall", "precision", ...}], "ms_per_frame_slices": {...}}``.
    """
    from soccerfactory.curation.video.decode import read_frames

    say = progress or (lambda line: None)
    detect = (config or CurateConfig()).detect
    grids = list(slices or [detect.ball_slices or 3])
    detector = build_detector(
        detect.backend, weights=detect.resolved_weights(), imgsz=detect.imgsz, conf=detect.conf, iou=detect.iou, device=detect.device
    )
    images, truths = [], []
    for seed in seeds:
        clip_dir = held_out_clip(Path(work_dir), seed, seconds, say)
        labels = read_ground_truth(clip_dir / "gt", "ball").select(["frame_index", "x1", "y1", "x2", "y2", "visible"]).to_pandas()
        labels = labels[labels.visible & labels.x1.notna()].set_index("frame_index")
        for batch in read_frames(clip_of(clip_dir), batch_size=every):
            for image, frame in zip(batch.images, batch.frame_index.tolist()):
                if frame % every:
                    continue
                if frame in labels.index:
                    row = labels.loc[frame]
                    box = np.array([[row.x1, row.y1, row.x2, row.y2]], dtype=np.float32)
                    truths.append(Detections(box, np.ones(1, np.float32), np.array([BALL]), np.array([len(images)])))
                images.append(image.copy())  # a view would pin the whole decoded batch
    truth = Detections.merge(truths)
    positions = np.arange(len(images))
    full = Detections.merge([detector.detect_each([image], [i])[0] for i, image in zip(positions, images)])
    full = full[full.class_id == BALL]
    say(f"full-frame pass over {len(images)} frames: ball recall {ball_recall(truth, best_ball_per_frame(full))['recall']:.3f}")
    candidates, slice_ms = {}, {}
    for grid in grids:
        # retry_below=1 slices every frame; the policies below decide which of them would have been.
        # The slices run on the detector the pipeline's slicer uses (fp32 onnx under detect.runtime=onnx-int8).
        record = _SliceRecord(getattr(detector, "slice_detector", detector))
        slicer = BallSlicer(record, slices=grid, overlap=detect.ball_slice_overlap, conf=min(slice_conf), every=1, imgsz=detect.imgsz,
                            retry_below=1.0)
        started = time.perf_counter()
        for position, image in zip(positions, images):
            slicer(_frame(position, image), Detections.empty())
        slice_ms[str(grid)] = round(1000 * (time.perf_counter() - started) / len(images), 1)
        candidates[grid] = record
        say(f"{grid}x{grid} slices: {slice_ms[str(grid)]} ms per frame")
    rows = []
    for grid in grids:
        for conf in slice_conf:
            for retry in retry_below:
                chosen, frames_sliced = _slicing_policy(images, full, candidates[grid], grid, detect, conf, retry)
                scores = rounded(ball_recall(truth, chosen))
                rows.append({"slices": grid, "slice_conf": conf, "retry_below": retry, **scores, "frames_sliced": frames_sliced})
    configured = None
    if detect.ball_slices in candidates and detect.ball_slice_conf >= min(slice_conf):
        chosen, _ = _slicing_policy(
            images, full, candidates[detect.ball_slices], detect.ball_slices, detect, detect.ball_slice_conf, detect.ball_slice_retry_below
        )
        configured = {
            "slices": detect.ball_slices, "slice_conf": detect.ball_slice_conf, "retry_below": detect.ball_slice_retry_below,
            **rounded(ball_recall(truth, chosen)),
        }
    return {
        "seeds": list(seeds),
        "every": every,
        "frames": len(images),
        "labelled": int(len(truth)),
        "ball_iou": 0.3,
        "weights": str(detect.resolved_weights()),
        "imgsz": detect.imgsz,
        "full_frame": rounded(ball_recall(truth, best_ball_per_frame(full))),
        "configured": configured,
        "grid": rows,
        "ms_per_frame_slices": slice_ms,
    }


def _frame(position: int, image: np.ndarray) -> Frames:
    """One sampled image as a one-frame batch whose frame index is its position in the sample."""
    return Frames(images=image[None], frame_index=np.array([position]), timestamp_s=np.array([0.0]), fps=25.0, source=f"frame {position}")


class _SliceRecord:
    """The detector of the slicing pass, keeping what it found in every slice of every frame.

    ``found[(frame, k)]`` holds the boxes of the ``k``-th slice of ``frame`` (slice
    coordinates, all classes, at the pass's lowest confidence), in the order
    :class:`~soccerfactory.curation.detection.detector.BallSlicer` cuts the slices.
    """

    def __init__(self, detector: Any) -> None:
        self.detector = detector
        self.imgsz = detector.imgsz
        self.found: dict[tuple[int, int], Detections] = {}
        self._slices_seen: Counter[int] = Counter()

    def detect_each(self, images: list[np.ndarray], frame_index: Sequence[int], imgsz: int | None = None,
                    conf: float | None = None) -> list[Detections]:
        found = self.detector.detect_each(images, frame_index, imgsz=imgsz, conf=conf)
        for frame, boxes in zip(frame_index, found):
            self.found[(int(frame), self._slices_seen[int(frame)])] = boxes
            self._slices_seen[int(frame)] += 1
        return found


class _SliceReplay:
    """A detector for :class:`BallSlicer` that answers each slice with the recorded boxes at or
    above the asked confidence, and notes which frames the slicer chose to slice."""

    def __init__(self, record: _SliceRecord) -> None:
        self.record = record
        self.imgsz = record.imgsz
        self.slices_asked: Counter[int] = Counter()

    def detect_each(self, images: list[np.ndarray], frame_index: Sequence[int], imgsz: int | None = None,
                    conf: float | None = None) -> list[Detections]:
        answers = []
        for frame in frame_index:
            boxes = self.record.found[(int(frame), self.slices_asked[int(frame)])]
            self.slices_asked[int(frame)] += 1
            answers.append(boxes if conf is None else boxes[boxes.confidence >= conf])
        return answers


def _slicing_policy(images: Sequence[np.ndarray], full: Detections, record: _SliceRecord, grid: int, detect: DetectConfig,
                    slice_conf: float, retry_below: float) -> tuple[Detections, int]:
    """The ball per frame that :class:`BallSlicer` (``slice_conf``, ``retry_below``) then
    :func:`best_ball_per_frame` keep from the full-frame balls and the recorded slices, and the
    number of frames the slicer sliced."""
    replay = _SliceReplay(record)
    slicer = BallSlicer(replay, slices=grid, overlap=detect.ball_slice_overlap, conf=slice_conf, every=1, imgsz=detect.imgsz,
                        retry_below=retry_below)
    kept = [slicer(_frame(position, image), full.for_frame(position)) for position, image in enumerate(images)]
    return best_ball_per_frame(Detections.merge(kept)), len(replay.slices_asked)
