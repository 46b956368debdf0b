"""Measured quality of the detector on real broadcast frames, as ``make bench`` and
``soccerfactory quality detector`` report it.

:func:`detector_quality`: COCO AP@50 per class and for all persons merged, and ball recall at
IoU 0.3, on a labelled YOLO split of real broadcast frames (``../shared/data/football-players/valid``
by default), for one or more inference sizes, with and without the ball slices. It runs the
detector and the :class:`~soccerfactory.curation.detection.detector.BallSlicer` the ``curate`` flow runs,
with the run's config.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from soccerfactory.curation.detection.ball import best_ball_per_frame
from soccerfactory.curation.config import CurateConfig
from soccerfactory.curation.detection.detector import BallSlicer, build_detector
from soccerfactory.curation.detection.roles import configured_roles
from soccerfactory.curation.quality.metrics import ball_recall, detection_ap50, load_yolo_split, rounded
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.curation.types import CLASS_NAMES, Detections, Frames

__all__ = ["DEFAULT_SPLIT", "detector_quality"]

DEFAULT_SPLIT = DEFAULT_DATA_ROOT / "football-players" / "valid"


def detector_quality(
    split_dir: str | Path = DEFAULT_SPLIT,
    config: CurateConfig | None = None,
    imgsz: Sequence[int] | None = None,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """AP@50 and ball recall of the configured detector on a labelled split.

    AP uses every box down to confidence 0.01 (the COCO protocol ranks them), with the class the
    pipeline writes: the configured ``detect.role_classifier``'s (its context: the boxes at
    ``detect.conf`` and above), and the detector's own under ``role_classifier``; ball recall uses
    the pipeline's operating point: the most confident ball at ``detect.conf`` or above per frame,
    and, when ``detect.ball_slices`` > 0, the slices' ball where the full frame had none.

    Args:
        split_dir: A YOLO split (``images/``, ``labels/``) of 1920x1080 frames (any stretch).
        config: The curation config whose ``detect`` section is measured (default: defaults).
        imgsz: Inference sizes to compare (default: the config's).
        limit: Only the first ``limit`` images.
        progress: Called with a line of text after each size.

    Returns:
        ``{"images", "runs": [{"imgsz", "ap50": {...}, "ball_full_frame": {...},
        "ball_with_slices": {...}, "ms_per_image", "ms_per_image_slices", "role_classifier": {"name",
        "version", "ms_per_image", "ap50_detector_class": {...}, "ap50_class_score": {...} (classes ranked by
        confidence x role probability)} (with a role classifier)}], ...}``.
    """
    config = config or CurateConfig()
    detect = config.detect
    images = load_yolo_split(split_dir, limit=limit)
    if not images:
        raise FileNotFoundError(f"no labelled images in {split_dir}")
    truth = Detections.merge([image.labels for image in images])
    pixels = [image.load() for image in images]
    roles = configured_roles(detect, config.attribute)
    runs = []
    for size in imgsz or [detect.imgsz]:
        detector = build_detector(
            detect.backend, weights=detect.resolved_weights(), imgsz=size, conf=0.01, iou=detect.iou, device=detect.device,
            runtime=detect.device_runtime(),
        )
        started = time.perf_counter()
        found = []
        for position, image in enumerate(pixels):
            found.extend(detector.detect_each([image], [position]))
        ms = 1000 * (time.perf_counter() - started) / len(pixels)
        predictions = Detections.merge(found)
        detector_ap = None
        if roles is not None:
            # What the pipeline writes: UltralyticsDetector.__call__ runs the role classifier on
            # each frame's boxes (context: those at detect.conf and above).
            detector_ap = detection_ap50(truth, predictions, image_ids=np.arange(len(images)))
            started = time.perf_counter()
            decided = [
                roles.decide(Frames(images=image[None], frame_index=np.array([position]), timestamp_s=np.array([0.0]), fps=25.0,
                                    source=str(images[position].path)), part)
                for position, (image, part) in enumerate(zip(pixels, found))
            ]
            roles_ms = 1000 * (time.perf_counter() - started) / len(pixels)
            predictions = Detections.merge([part for part, _ in decided])
            # Each class ranked by how likely its boxes are that class (detector confidence x role
            # probability), beside the written confidence's ranking; persons stay the detector's.
            role_probability = np.concatenate([p for _, p in decided])
            class_score = dataclasses.replace(
                predictions, confidence=(predictions.confidence * np.where(np.isnan(role_probability), 1.0, role_probability)).astype(np.float32)
            )
            class_score_ap = detection_ap50(truth, class_score, image_ids=np.arange(len(images)), groups={})
        ap = detection_ap50(truth, predictions, image_ids=np.arange(len(images)))
        at_operating_point = predictions[predictions.confidence >= detect.conf]
        best_ball = best_ball_per_frame(at_operating_point)
        run = {
            "imgsz": size,
            "ap50": {name: round(value, 4) for name, value in ap.items()},
            "ball_full_frame": rounded(ball_recall(truth, best_ball)),
            "ms_per_image": round(ms, 1),
        }
        if roles is not None:
            run["role_classifier"] = {"name": roles.name, "version": roles.version, "ms_per_image": round(roles_ms, 1),
                                      "ap50_detector_class": {name: round(value, 4) for name, value in detector_ap.items()},
                                      "ap50_class_score": {name: round(value, 4) for name, value in class_score_ap.items()}}
        if detect.ball_slices:
            # Every labelled image is sliced when its ball is missing: ``ball_slice_every`` thins
            # slicing over a video's frames, not over independent images (every=1).
            slicer = BallSlicer(
                detector, slices=detect.ball_slices, overlap=detect.ball_slice_overlap, conf=detect.ball_slice_conf, every=1,
                imgsz=size, retry_below=detect.ball_slice_retry_below,
            )
            started = time.perf_counter()
            sliced = []
            for position, image in enumerate(pixels):
                frame = Frames(
                    images=image[None], frame_index=np.array([position]), timestamp_s=np.array([0.0]), fps=25.0, source=str(images[position].path)
                )
                sliced.append(slicer(frame, at_operating_point.for_frame(position)))
            run["ms_per_image_slices"] = round(1000 * (time.perf_counter() - started) / len(pixels), 1)
            with_slices = best_ball_per_frame(Detections.merge(sliced))
            run["ball_with_slices"] = rounded(ball_recall(truth, with_slices))
            run["frames_sliced"] = int(len(pixels) - len(np.unique(best_ball.frame_index)))
        runs.append(run)
        if progress is not None:
            progress(f"imgsz {size}: person AP50 {run['ap50'].get('person')}, ball recall {run.get('ball_with_slices', run['ball_full_frame'])['recall']}")
    counts = {name: int((truth.class_id == i).sum()) for i, name in enumerate(CLASS_NAMES)}
    return {
        "split": str(split_dir),
        "images": len(images),
        "labelled_boxes": counts,
        "image_size": list(images[0].size),
        "weights": str(detect.resolved_weights()),
        "conf_operating_point": detect.conf,
        "ball_iou": 0.3,
        "runs": runs,
    }
