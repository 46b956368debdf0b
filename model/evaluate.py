"""Metrics of a multi-task checkpoint on held-out windows, comparable across checkpoints.

* ``athletes/ap50``: COCO AP at IoU 0.5 (faster-coco-eval, :func:`~soccerfactory.curation.quality.metrics.detection_ap50`)
  of boxes decoded from the centre heatmap (local maxima, confidence = sigmoid) and the size
  channels, against every labelled athlete box; in source pixels.
* ``keypoints/pck_cell``: share of visible pitch keypoints whose heatmap peak is within one
  patch cell of the true position (the tiny model's grid is 16x9: a cell is 60 px at 960x540,
  so this is the honest precision of that grid; a larger ``image_size`` tightens it).
* ``camera/reprojection_px``: median distance, in pixels of a 960x540 frame, between the pitch
  keypoints in view projected with the true homography and with the one fitted to the camera
  head's grid (:mod:`soccerfactory.model.camera`); a frame whose grid is degenerate (an
  untrained head) counts 10,000 px a point.
* ``align/recall@1`` and ``recall@5``: caption -> window retrieval among the evaluated windows.
* ``event/accuracy`` and ``event/balanced_accuracy`` (mean recall over the event classes
  present): only when the windows carry event labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from soccerfactory.model.camera import homography_from_points, reprojection_errors
from soccerfactory.model.data import frame_homography
from soccerfactory.model.network import build_model
from soccerfactory.model.text import HashedTextEncoder

__all__ = ["decode_centres", "evaluate_checkpoint", "evaluate_model"]


def decode_centres(athletes: np.ndarray, threshold: float = 0.05, top_k: int = 50) -> np.ndarray:
    """Boxes from one frame's ``(5, rows, cols)`` athlete output.

    Returns:
        ``float64`` ``(N, 5)``: ``cx, cy, w, h`` as fractions of the image, and the confidence;
        local maxima of the centre map (3x3) above ``threshold``, most confident first.
    """
    logits, sizes = athletes[0], athletes[1:]
    prob = 1 / (1 + np.exp(-logits))
    rows, cols = prob.shape
    padded = np.pad(prob, 1, constant_values=-1)
    neighbours = np.stack([padded[1 + dr:1 + dr + rows, 1 + dc:1 + dc + cols] for dr in (-1, 0, 1) for dc in (-1, 0, 1)])
    peaks = (prob >= neighbours.max(axis=0)) & (prob >= threshold)
    r, c = np.nonzero(peaks)
    order = np.argsort(-prob[r, c])[:top_k]
    r, c = r[order], c[order]
    return np.column_stack([(c + sizes[2, r, c]) / cols, (r + sizes[3, r, c]) / rows, sizes[0, r, c], sizes[1, r, c], prob[r, c]])


def evaluate_model(
    net: Any, dataset: Any, indices: Sequence[int] | None = None, batch_size: int = 4, progress: Callable[[int, int], None] | None = None
) -> dict[str, float | None]:
    """Every metric of the module docstring for ``net`` on ``dataset`` (all windows by default);
    ``progress(windows_done, windows_total)`` after each batch."""
    import torch

    from soccerfactory.curation.quality.metrics import detection_ap50
    from soccerfactory.curation.pitch import PitchModel
    from soccerfactory.curation.types import Detections

    indices = list(range(len(dataset))) if indices is None else list(indices)
    if not indices:
        raise ValueError("nothing to evaluate: the held-out selection has no windows")
    encoder = HashedTextEncoder(net.config.align_dim)
    pitch_points = PitchModel().keypoints[:, :2]
    truth_boxes, predicted_boxes, image_ids = [], [], []
    keypoint_hits = keypoint_total = 0
    camera_errors: list[float] = []
    video_embeddings, captions, event_pairs = [], [], []
    net.eval()
    image = 0
    with torch.inference_mode():
        for start in range(0, len(indices), batch_size):
            samples = [dataset[i] for i in indices[start:start + batch_size]]
            outputs = net(torch.stack([s[0] for s in samples]))
            if progress is not None:
                progress(min(start + batch_size, len(indices)), len(indices))
            for b, (_, targets) in enumerate(samples):
                window = dataset.windows[indices[start + b]]
                _, labels = dataset._clip(window)
                width, height = labels["size"]
                for f, frame in enumerate(window.frames):
                    rows = labels["athletes"][labels["athletes"].frame_index == frame]
                    if "athletes" in outputs:
                        boxes = rows[["x1", "y1", "x2", "y2"]].to_numpy(np.float32)
                        truth_boxes.append(Detections(boxes, np.ones(len(boxes), np.float32), np.full(len(boxes), 2), np.full(len(boxes), image)))
                        found = decode_centres(outputs["athletes"][b, f].numpy())
                        xyxy = np.column_stack([
                            (found[:, 0] - found[:, 2] / 2) * width, (found[:, 1] - found[:, 3] / 2) * height,
                            (found[:, 0] + found[:, 2] / 2) * width, (found[:, 1] + found[:, 3] / 2) * height,
                        ]).astype(np.float32)
                        predicted_boxes.append(Detections(xyxy, found[:, 4].astype(np.float32), np.full(len(found), 2), np.full(len(found), image)))
                        image_ids.append(image)
                        image += 1
                    if "keypoints" in outputs:
                        visible = targets["keypoints_visible"][f].numpy()
                        heat = outputs["keypoints"][b, f].numpy()
                        truth = targets["keypoints"][f].numpy()
                        for k in np.flatnonzero(visible):
                            p = np.unravel_index(heat[k].argmax(), heat[k].shape)
                            t = np.unravel_index(truth[k].argmax(), truth[k].shape)
                            keypoint_hits += int(max(abs(p[0] - t[0]), abs(p[1] - t[1])) <= 1)
                            keypoint_total += 1
                    if "camera" in outputs:
                        truth = frame_homography(labels["cameras"], frame)
                        if truth is not None:
                            predicted = homography_from_points(outputs["camera"][b, f].numpy(), width, height)
                            camera_errors.extend(reprojection_errors(predicted, truth, pitch_points, width, height, scale=960 / width))
                if "align" in outputs:
                    video_embeddings.append(outputs["align"][b].numpy())
                    captions.append(targets["caption"])
                if "event" in outputs and int(targets["event"]) >= 0:
                    event_pairs.append((int(targets["event"]), int(outputs["event"][b].argmax())))
    metrics: dict[str, float | None] = {}
    if truth_boxes:
        ap = detection_ap50(Detections.merge(truth_boxes), Detections.merge(predicted_boxes), image_ids=image_ids, groups={})
        metrics["athletes/ap50"] = round(float(ap.get("player", 0.0)), 4)
    if keypoint_total:
        metrics["keypoints/pck_cell"] = round(keypoint_hits / keypoint_total, 4)
    if camera_errors:
        metrics["camera/reprojection_px"] = round(float(np.median(camera_errors)), 2)
    if len(video_embeddings) > 1:
        with torch.inference_mode():
            text = net.embed_text(torch.from_numpy(encoder.encode(captions))).numpy()
        similarity = text @ np.stack(video_embeddings).T
        # Windows with the same caption are all right answers.
        same = np.array([[a == b for b in captions] for a in captions])
        ranks = np.argsort(-similarity, axis=1)
        for k in (1, 5):
            hits = [same[i, ranks[i, :k]].any() for i in range(len(captions))]
            metrics[f"align/recall@{k}"] = round(float(np.mean(hits)), 4)
    metrics["event/accuracy"] = round(float(np.mean([t == p for t, p in event_pairs])), 4) if event_pairs else None
    # Most windows hold no event, so a model that never predicts one scores the "none" share in
    # accuracy; balanced accuracy (the mean recall of the classes present) scores it 1 / classes.
    if event_pairs:
        truth = np.array([t for t, _ in event_pairs])
        predicted = np.array([p for _, p in event_pairs])
        metrics["event/balanced_accuracy"] = round(float(np.mean([np.mean(predicted[truth == c] == c) for c in np.unique(truth)])), 4)
    else:
        metrics["event/balanced_accuracy"] = None
    return metrics


def evaluate_checkpoint(
    checkpoint: dict | None, model_config: Any, dataset: Any, indices: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """:func:`evaluate_model` of a checkpoint dict (``None``: the untrained model, same seed)."""
    import torch

    torch.manual_seed(0)
    net = build_model(model_config)
    if checkpoint is not None:
        net.load_state_dict(checkpoint["model"])
    return evaluate_model(net, dataset, indices, progress=progress)
