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
from soccerfactory.curation.detection.roles import class_confidence, configured_roles
from soccerfactory.curation.quality.metrics import ball_recall, detection_ap50, load_yolo_split, rounded
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.curation.types import CLASS_NAMES, Detections, Frames

__all__ = ["DEFAULT_SPLIT", "detector_quality", "kit_colour_cost"]

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
            class_score = dataclasses.replace(predictions, confidence=class_confidence(predictions.confidence, role_probability))
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


def kit_colour_cost(split_dir: str | Path = DEFAULT_DATA_ROOT / "football-players" / "train", limit: int | None = 20) -> dict:
    """What the role classifier's kit evidence pays for shirt colours, per person box, and how far it is from the per-crop rule.

    Times :func:`~soccerfactory.curation.detection.kit_colours.sampled_shirt_colours` (what the
    frame evidence reads, all boxes of a frame at once) against the team classifier's per-crop
    :func:`~soccerfactory.curation.attribute.crops.shirt_colours` on the labelled person boxes of
    a split (no detector run: seconds), one pass each; nothing calls it but a person measuring
    (``python -c "from soccerfactory.curation.quality.detection import kit_colour_cost as k; print(k())"``). Frames are
    read 8 at a time by the batched reader, as the pipeline reads them (they must share a size).

    Args:
        split_dir: A YOLO split of real frames (the ``train`` split by default: ``valid`` is evaluated
            once, for the reported figures).
        limit: Only the first ``limit`` images.

    Returns:
        ``{"images", "boxes", "ms_per_box": {"sampled", "per_crop"}, "delta_e": {"median", "p95"},
        "unread": {"sampled", "per_crop"}}``: delta E (CIE76) between the two colours of a box
        where both read one; ``unread`` counts boxes with too little shirt.
    """
    from soccerfactory.curation.attribute.crops import AthleteCrops, shirt_colours
    from soccerfactory.curation.detection.kit_colours import sampled_shirt_colours
    from soccerfactory.curation.types import BALL, PLAYER, Tracks

    images = load_yolo_split(split_dir, limit=limit)
    sampled, per_crop, seconds = [], [], [0.0, 0.0]
    loaded = [(image.load(), image.labels.xyxy[image.labels.class_id != BALL]) for image in images]
    # The pipeline reads a batch of frames at a time (CropRoleClassifier.decide); batches of 8.
    for start in range(0, len(loaded), 8):
        batch = loaded[start:start + 8]
        slots = np.concatenate([np.full(len(boxes), k, np.int64) for k, (_, boxes) in enumerate(batch)])
        stacked, xyxy = np.stack([pixels for pixels, _ in batch]), np.concatenate([b for _, b in batch])  # Frames.images already is
        started = time.perf_counter()
        sampled.append(sampled_shirt_colours(stacked, xyxy, slots))
        seconds[0] += time.perf_counter() - started
    for position, (image, (pixels, boxes)) in enumerate(zip(images, loaded)):
        n = len(boxes)
        frame = Frames(images=pixels[None], frame_index=np.array([position]), timestamp_s=np.zeros(1), fps=25.0, source=str(image.path))
        rows = Tracks(xyxy=boxes, confidence=np.ones(n, np.float32), class_id=np.full(n, PLAYER, np.int64),
                      frame_index=np.full(n, position, np.int64), track_id=np.arange(n, dtype=np.int64))
        started = time.perf_counter()
        per_crop.append(shirt_colours(AthleteCrops.from_frames(frame, rows)))
        seconds[1] += time.perf_counter() - started
    fast, slow = np.concatenate(sampled), np.concatenate(per_crop)
    both = np.isfinite(fast).all(axis=1) & np.isfinite(slow).all(axis=1)
    delta = np.linalg.norm(fast[both] - slow[both], axis=1)
    boxes = max(len(fast), 1)
    return {
        "split": str(split_dir), "images": len(images), "boxes": len(fast),
        "ms_per_box": {"sampled": round(1000 * seconds[0] / boxes, 3), "per_crop": round(1000 * seconds[1] / boxes, 3)},
        "delta_e": {"median": round(float(np.median(delta)), 3) if len(delta) else None,
                    "p95": round(float(np.percentile(delta, 95)), 3) if len(delta) else None},
        "unread": {"sampled": int((~np.isfinite(fast).all(axis=1)).sum()), "per_crop": int((~np.isfinite(slow).all(axis=1)).sum())},
    }
