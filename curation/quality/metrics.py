"""Quality of detection and tracking against labels, with the field's reference implementations.

* Detection: COCO-style AP@50 per class and for classes merged into groups (all persons), computed
  by ``faster-coco-eval`` (the COCO evaluation protocol: 101-point interpolated precision, at most
  100 detections per image).
* Ball: recall and precision of the one-ball-per-frame output at a loose IoU (0.3), since a ball is
  a few pixels wide and a box one pixel off already loses half its overlap.
* Tracking: HOTA / DetA / AssA / LocA (Luiten et al. 2020), IDF1 and MOTA from ``trackeval``, the
  code the MOT and SoccerNet tracking benchmarks run.

Every function takes the project's own :class:`~soccerfactory.curation.types.Detections` /
:class:`~soccerfactory.curation.types.Tracks` (xyxy, pixels), with ``frame_index`` as the image
key, so a curated shard, a detector's raw output and a renderer's ground truth compare the same way.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soccerfactory.curation.types import BALL, CLASS_NAMES, GOALKEEPER, PLAYER, REFEREE, Detections, Tracks

__all__ = [
    "PERSON_CLASSES",
    "LabelledImage",
    "ball_recall",
    "box_iou",
    "detection_ap50",
    "load_yolo_split",
    "rounded",
    "tracking_scores",
]

#: Classes merged into "person" for the all-athletes AP.
PERSON_CLASSES: tuple[int, ...] = (GOALKEEPER, PLAYER, REFEREE)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two sets of xyxy boxes: ``(N, 4)`` x ``(M, 4)`` -> ``float64`` ``(N, M)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


# --------------------------------------------------------------------------- labelled images


@dataclass(frozen=True)
class LabelledImage:
    """One labelled image of a YOLO split, unstretched to ``size``.

    Attributes:
        path: The JPEG on disk (any size: it is resized to ``size`` by :meth:`load`).
        size: ``(width, height)`` the image and ``labels`` are expressed in.
        labels: Ground-truth boxes (xyxy, pixels of ``size``), ``frame_index`` = position in the split.
    """

    path: Path
    size: tuple[int, int]
    labels: Detections

    def load(self) -> np.ndarray:
        """The image as ``uint8`` ``(H, W, 3)`` BGR at ``size``.

        Raises:
            ValueError: when the file cannot be decoded (the message names it).
        """
        import cv2

        image = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot decode labelled image {self.path}")
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_LINEAR)
        return image


def load_yolo_split(
    split_dir: str | Path,
    size: tuple[int, int] = (1920, 1080),
    class_names: Sequence[str] = ("ball", "goalkeeper", "player", "referee"),
    limit: int | None = None,
) -> list[LabelledImage]:
    """The images and boxes of a YOLO detection split (``images/``, ``labels/``).

    The shared football-players set was stretched from 1920x1080 to 1280x1280 by its publisher;
    normalised YOLO boxes describe the same pixels after any resize, so they are mapped straight
    to ``size`` (the original broadcast frame) and the image is resized there by
    :meth:`LabelledImage.load`.

    Args:
        split_dir: e.g. ``../shared/data/football-players/valid``.
        size: ``(width, height)`` to express boxes in.
        class_names: The split's class names by id, mapped to ours through
            :data:`~soccerfactory.curation.detection.detector.CLASS_SYNONYMS` (``football`` = ball).
        limit: Only the first ``limit`` images (sorted by name).

    Raises:
        FileNotFoundError: when ``images/`` is missing or an image has no label file.
        ValueError: for a malformed label line or an unknown class, naming the file.
    """
    from soccerfactory.curation.detection.detector import CLASS_SYNONYMS

    split_dir = Path(split_dir)
    images_dir, labels_dir = split_dir / "images", split_dir / "labels"
    if not images_dir.is_dir():
        raise FileNotFoundError(f"{images_dir} does not exist; a YOLO split holds images/ and labels/")
    ours = []
    for name in class_names:
        name = CLASS_SYNONYMS.get(name.lower(), name.lower())
        if name not in CLASS_NAMES:
            raise ValueError(f"class {name!r} of {split_dir} is not one of {CLASS_NAMES}")
        ours.append(CLASS_NAMES.index(name))
    paths = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if limit is not None:
        paths = paths[:limit]
    width, height = size
    out = []
    for position, path in enumerate(paths):
        label_path = labels_dir / f"{path.stem}.txt"
        if not label_path.is_file():
            raise FileNotFoundError(f"label file {label_path} for image {path} is missing")
        try:
            rows = np.loadtxt(label_path, ndmin=2, dtype=np.float64)
        except ValueError as error:
            raise ValueError(f"malformed YOLO label file {label_path}: {error}") from None
        if rows.size == 0:
            rows = np.zeros((0, 5))
        if rows.shape[1] != 5 or (rows[:, 0] < 0).any() or (rows[:, 0] >= len(ours)).any():
            raise ValueError(f"{label_path}: expected lines 'class cx cy w h' with class < {len(ours)}")
        cx, cy, w, h = rows[:, 1] * width, rows[:, 2] * height, rows[:, 3] * width, rows[:, 4] * height
        xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).clip(0, [width, height, width, height])
        labels = Detections(
            xyxy=xyxy,
            confidence=np.ones(len(rows)),
            class_id=np.asarray(ours, dtype=np.int64)[rows[:, 0].astype(np.int64)],
            frame_index=np.full(len(rows), position),
        )
        out.append(LabelledImage(path=path, size=(width, height), labels=labels))
    return out


# --------------------------------------------------------------------------- detection AP


def _coco_json(detections: Detections, class_of: np.ndarray, with_scores: bool) -> list[dict]:
    rows = []
    xywh = np.column_stack([detections.xyxy[:, :2], detections.xyxy[:, 2:] - detections.xyxy[:, :2]]).astype(float)
    for i in range(len(detections)):
        category = int(class_of[detections.class_id[i]])
        if category < 0:
            continue
        row = {"image_id": int(detections.frame_index[i]), "category_id": category, "bbox": xywh[i].tolist()}
        if with_scores:
            row["score"] = float(detections.confidence[i])
        else:
            row.update(id=len(rows) + 1, area=float(xywh[i, 2] * xywh[i, 3]), iscrowd=0)
        rows.append(row)
    return rows


def detection_ap50(
    truth: Detections,
    predictions: Detections,
    image_ids: Sequence[int] | np.ndarray,
    groups: Mapping[str, Sequence[int]] | None = None,
) -> dict[str, float]:
    """COCO AP at IoU 0.5, per class and per group of classes merged into one.

    Args:
        truth: Labelled boxes of every image (``frame_index`` = image id).
        predictions: Detector output for the same images, with confidences.
        image_ids: Every evaluated image id, including those with no box at all (their
            detections are false positives).
        groups: Extra ``name -> class ids`` to evaluate as one class; default
            ``{"person": PERSON_CLASSES}``.

    Returns:
        ``{class name: AP50, ..., group name: AP50}`` in ``[0, 1]``; a class with no labelled box
        is left out (COCO's -1).
    """
    from faster_coco_eval import COCO, COCOeval_faster

    groups = {"person": PERSON_CLASSES} if groups is None else groups
    image_ids = np.unique(np.asarray(image_ids, dtype=np.int64))
    n_classes = len(truth.class_names)
    plans = {name: {c: c + 1 for c in range(n_classes)} for name in ("classes",)}
    for name, members in groups.items():
        plans[name] = {c: 1 for c in members}
    results: dict[str, float] = {}
    for plan_name, mapping in plans.items():
        class_of = np.full(n_classes, -1, dtype=np.int64)
        for c, category in mapping.items():
            class_of[c] = category
        categories = sorted(set(mapping.values()))
        gt = COCO()
        gt.dataset = {
            "images": [{"id": int(i), "width": 1, "height": 1} for i in image_ids],
            "annotations": _coco_json(truth, class_of, with_scores=False),
            "categories": [{"id": c} for c in categories],
        }
        gt.createIndex()
        detections = _coco_json(predictions, class_of, with_scores=True)
        for category in categories:
            label = plan_name if plan_name != "classes" else truth.class_names[category - 1]
            if not any(a["category_id"] == category for a in gt.dataset["annotations"]):
                continue
            if not any(d["category_id"] == category for d in detections):
                results[label] = 0.0
                continue
            with contextlib.redirect_stdout(io.StringIO()):
                evaluator = COCOeval_faster(gt, gt.loadRes(detections), "bbox", print_function=lambda *a: None)
                evaluator.params.catIds = [category]
                evaluator.params.imgIds = image_ids.tolist()
                evaluator.evaluate()
                evaluator.accumulate()
                evaluator.summarize()
            results[label] = float(max(evaluator.stats[1], 0.0))
    return results


def ball_recall(truth: Detections, predictions: Detections, iou: float = 0.3) -> dict[str, float]:
    """Share of labelled balls found, and share of predicted balls that are right, at ``iou``.

    Args:
        truth: Boxes of any classes; only ``BALL`` rows are used (one or none per image).
        predictions: Detector or pipeline output; only ``BALL`` rows count, every one of them
            (so pick the final, thresholded output to evaluate).

    Returns:
        ``{"recall", "precision", "labelled", "predicted", "found"}``.
    """
    gt = truth[truth.class_id == BALL]
    pred = predictions[predictions.class_id == BALL]
    found = 0
    correct = 0
    for frame in np.union1d(gt.frame_index, pred.frame_index):
        g, p = gt.for_frame(int(frame)), pred.for_frame(int(frame))
        if len(g) == 0 or len(p) == 0:
            continue
        overlap = box_iou(g.xyxy, p.xyxy) >= iou
        found += int(overlap.any(axis=1).sum())
        correct += int(overlap.any(axis=0).sum())
    return {
        "recall": found / len(gt) if len(gt) else float("nan"),
        "precision": correct / len(pred) if len(pred) else float("nan"),
        "labelled": int(len(gt)),
        "predicted": int(len(pred)),
        "found": int(found),
    }


# --------------------------------------------------------------------------- tracking


def _trackeval_sequence(truth: Tracks, predictions: Tracks, frames: np.ndarray) -> dict:
    """One sequence in trackeval's in-memory format (dense ids, per-frame IoU matrices)."""
    gt_ids = {t: i for i, t in enumerate(np.unique(truth.track_id).tolist())}
    pred_ids = {t: i for i, t in enumerate(np.unique(predictions.track_id).tolist())}
    data: dict = {"gt_ids": [], "tracker_ids": [], "similarity_scores": []}
    gt_order = np.argsort(truth.frame_index, kind="stable")
    pred_order = np.argsort(predictions.frame_index, kind="stable")
    gt_frames, pred_frames = truth.frame_index[gt_order], predictions.frame_index[pred_order]
    for frame in frames.tolist():
        g = gt_order[np.searchsorted(gt_frames, frame, "left") : np.searchsorted(gt_frames, frame, "right")]
        p = pred_order[np.searchsorted(pred_frames, frame, "left") : np.searchsorted(pred_frames, frame, "right")]
        data["gt_ids"].append(np.array([gt_ids[t] for t in truth.track_id[g].tolist()], dtype=int))
        data["tracker_ids"].append(np.array([pred_ids[t] for t in predictions.track_id[p].tolist()], dtype=int))
        data["similarity_scores"].append(box_iou(truth.xyxy[g], predictions.xyxy[p]))
    data.update(
        num_timesteps=len(frames),
        num_gt_ids=len(gt_ids),
        num_tracker_ids=len(pred_ids),
        num_gt_dets=len(truth),
        num_tracker_dets=len(predictions),
    )
    return data


def tracking_scores(
    sequences: Sequence[tuple[Tracks, Tracks, np.ndarray]],
) -> dict[str, dict[str, float]]:
    """HOTA, DetA, AssA, LocA, IDF1, MOTA and ID switches, per sequence and combined.

    Args:
        sequences: ``(truth, predictions, frames)`` per clip: ground-truth and predicted athlete
            tracks (ids need only be unique within a clip) and every evaluated frame index.

    Returns:
        ``{"combined": scores, "0": scores of the first sequence, ...}``; HOTA, DetA, AssA, LocA,
        IDF1 and MOTA are percentages (0-100, as benchmarks print them), ``IDSW`` a count.
        Sequences are combined the trackeval way (HOTA over the pooled matches, not a mean).
    """
    from trackeval.metrics import CLEAR, HOTA, Identity

    metrics = {"HOTA": HOTA(), "Identity": Identity({"PRINT_CONFIG": False}), "CLEAR": CLEAR({"PRINT_CONFIG": False})}
    per_sequence: dict[str, dict[str, dict]] = {}
    for position, (truth, predictions, frames) in enumerate(sequences):
        data = _trackeval_sequence(truth, predictions, np.asarray(frames, dtype=np.int64))
        with contextlib.redirect_stdout(io.StringIO()):
            per_sequence[str(position)] = {name: metric.eval_sequence(data) for name, metric in metrics.items()}
    combined = {name: metric.combine_sequences({k: v[name] for k, v in per_sequence.items()}) for name, metric in metrics.items()}

    def summary(result: dict) -> dict[str, float]:
        hota = result["HOTA"]
        return {
            "HOTA": round(100 * float(np.mean(hota["HOTA"])), 2),
            "DetA": round(100 * float(np.mean(hota["DetA"])), 2),
            "AssA": round(100 * float(np.mean(hota["AssA"])), 2),
            "LocA": round(100 * float(np.mean(hota["LocA"])), 2),
            "IDF1": round(100 * float(result["Identity"]["IDF1"]), 2),
            "MOTA": round(100 * float(result["CLEAR"]["MOTA"]), 2),
            "IDSW": int(result["CLEAR"]["IDSW"]),
        }

    out = {"combined": summary(combined)}
    out.update({key: summary(value) for key, value in per_sequence.items()})
    return out


def rounded(values: Mapping[str, float]) -> dict:
    """The figures of a metric dict with floats rounded to 4 decimals, as the reports print them."""
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in values.items()}
