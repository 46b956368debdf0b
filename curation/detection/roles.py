"""Second-stage role classifier: player, goalkeeper or referee for every person box the detector finds.

The detector finds people well on real broadcast frames (persons AP50 0.967 on the real
football-players ``valid`` split) but ranks the class badly: referee AP50 0.50, goalkeeper 0.70.
Its class comes from colours it memorised on one league. :class:`CropRoleClassifier` decides the
class again from a crop of every person box, cut from the frame at its own resolution, and from
the frame's other boxes (:class:`~soccerfactory.curation.detection.role_net.RoleNet`: does anyone
else wear this kit, and how many), then writes one class per box:

* class = the most probable role after the frame's relational evidence
  (:mod:`~soccerfactory.curation.detection.frame_evidence`: a shirt inside one of the frame's two
  team kits counts for ``player``, one far from both against it; a box with more than a few
  people beyond it on both sides is no goalkeeper; of two goalkeepers near one goal the less
  sure is more likely a player);
* confidence = the detector's (the box's existence: the tracker thresholds on it, so tracking and
  the persons AP stay what they were); the box's score for its class is :func:`class_confidence`
  (detector confidence x role probability, from :meth:`CropRoleClassifier.decide`);
* person boxes on one person (IoU >= ``dedup_iou``) that the detector kept as two classes
  become one box, the most confident, since both would now carry the same class.

Backends sit behind :class:`RoleClassifier`; :func:`build_role_classifier` picks one by name
(``detect.role_classifier``: ``crops`` or ``none``). Torch is imported only when a model is built.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from soccerfactory.curation.bundled import bundled_weights, require_weights
from soccerfactory.curation.detection.frame_evidence import FrameEvidence
from soccerfactory.curation.registry import pick_builder
from soccerfactory.curation.types import BALL, GOALKEEPER, PLAYER, REFEREE, Detections, Frames

__all__ = [
    "CONTEXT_IOU",
    "HOW_TO_GET",
    "ROLE_CLASS_IDS",
    "ROLE_CLASSIFIERS",
    "CropRoleClassifier",
    "RoleClassifier",
    "box_geometry",
    "build_role_classifier",
    "class_confidence",
    "configured_roles",
    "context_pairs",
    "cut_crops",
    "cut_windows",
    "nms_keep",
]

#: Our class id of each output of the network (``role_net.ROLE_NAMES`` order).
ROLE_CLASS_IDS: tuple[int, ...] = (PLAYER, GOALKEEPER, REFEREE)
#: Two boxes overlapping this much show the same person: neither is context of the other.
CONTEXT_IOU = 0.5
#: How to get the bundled weights when they are missing.
HOW_TO_GET = (
    "python -m soccerfactory.curation.training.role_classifier (see curation/weights/README.md), "
    "or set detect.role_classifier=none"
)
_GROW = 3 / 32  # each side, fraction of the box: role_net.STORED_HW around role_net.BOX_HW


class RoleClassifier(Protocol):
    """Re-decides the class of every person box of a batch.

    ``__call__(frames, detections)`` returns ``detections`` (all frames of the batch, boxes in
    pixels of ``frames``) with each person box's ``class_id`` re-decided; ball rows are unchanged.
    """

    name: str
    version: str

    def __call__(self, frames: Frames, detections: Detections) -> Detections: ...

    def decide(self, frames: Frames, detections: Detections) -> tuple[Detections, np.ndarray]:
        """``__call__``'s rows and the probability of each row's role (NaN on ball rows)."""
        ...


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: ``(N, 4)`` x ``(M, 4)`` -> ``float32`` ``(N, M)``."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    union = np.prod(a[:, 2:] - a[:, :2], axis=1)[:, None] + np.prod(b[:, 2:] - b[:, :2], axis=1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms_keep(xyxy: np.ndarray, confidence: np.ndarray, iou: float) -> np.ndarray:
    """Class-agnostic greedy NMS: ``bool`` ``(N,)``, True for the boxes kept."""
    order = np.argsort(-np.asarray(confidence), kind="stable")
    overlap = box_iou(xyxy, xyxy)
    keep = np.zeros(len(order), dtype=bool)
    removed = np.zeros(len(order), dtype=bool)
    for i in order:
        if removed[i]:
            continue
        keep[i] = True
        removed |= overlap[i] >= iou
    return keep


def cut_crops(image: np.ndarray, xyxy: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Crops of boxes, each grown by 3/32 of its size per side and resized (the network's stored crop).

    Parts outside the frame repeat the border row or column.

    Args:
        image: ``uint8`` ``(H, W, 3)`` BGR frame at its own resolution.
        xyxy: ``float`` ``(N, 4)`` boxes in pixels of ``image``.
        size: ``(height, width)`` of a crop (default :data:`role_net.STORED_HW`, 76 x 38).

    Returns:
        ``uint8`` ``(N, height, width, 3)``.
    """
    import cv2

    out_h, out_w = size or (76, 38)
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    height, width = image.shape[:2]
    crops = np.zeros((len(boxes), out_h, out_w, 3), dtype=np.uint8)
    for n, (x1, y1, x2, y2) in enumerate(boxes):
        bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        gx1, gy1 = int(np.floor(x1 - _GROW * bw)), int(np.floor(y1 - _GROW * bh))
        gx2, gy2 = max(int(np.ceil(x2 + _GROW * bw)), gx1 + 1), max(int(np.ceil(y2 + _GROW * bh)), gy1 + 1)
        cx1, cy1, cx2, cy2 = max(gx1, 0), max(gy1, 0), min(gx2, width), min(gy2, height)
        if cx2 <= cx1 or cy2 <= cy1:
            continue  # wholly outside the frame: a grey crop would be a guess; zeros say nothing
        patch = image[cy1:cy2, cx1:cx2]
        if (cx1, cy1, cx2, cy2) != (gx1, gy1, gx2, gy2):
            patch = cv2.copyMakeBorder(patch, cy1 - gy1, gy2 - cy2, cx1 - gx1, gx2 - cx2, cv2.BORDER_REPLICATE)
        shrink = patch.shape[0] > out_h or patch.shape[1] > out_w
        crops[n] = cv2.resize(patch, (out_w, out_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return crops


def cut_windows(
    image: np.ndarray, xyxy: np.ndarray, size: tuple[int, int] = (24, 48), span: tuple[float, float] = (3.0, 6.0)
) -> np.ndarray:
    """Context windows of boxes: ``span`` box heights (tall, wide) centred on each box, resized to ``size``.

    What surrounds a person (goal frame, net, penalty-area lines) is the goalkeeper's cue that no
    kit colour gives (``role_net.CONTEXT_HW`` and ``CONTEXT_SPAN`` are these defaults). Parts
    outside the frame are black: the frame's edge is itself a cue, and repeating a border row
    would paint lines that are not there.

    Args:
        image: ``uint8`` ``(H, W, 3)`` BGR frame at its own resolution.
        xyxy: ``float`` ``(N, 4)`` boxes in pixels of ``image``.
        size: ``(height, width)`` of a window.
        span: ``(height, width)`` of a window in box heights.

    Returns:
        ``uint8`` ``(N, height, width, 3)``.
    """
    import cv2

    out_h, out_w = size
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    height, width = image.shape[:2]
    windows = np.zeros((len(boxes), out_h, out_w, 3), dtype=np.uint8)
    for n, (x1, y1, x2, y2) in enumerate(boxes):
        bh = max(y2 - y1, 1.0)
        cx, cy, half_h, half_w = (x1 + x2) / 2, (y1 + y2) / 2, span[0] * bh / 2, span[1] * bh / 2
        gx1, gy1 = int(np.floor(cx - half_w)), int(np.floor(cy - half_h))
        gx2, gy2 = max(int(np.ceil(cx + half_w)), gx1 + 1), max(int(np.ceil(cy + half_h)), gy1 + 1)
        cx1, cy1, cx2, cy2 = max(gx1, 0), max(gy1, 0), min(gx2, width), min(gy2, height)
        if cx2 <= cx1 or cy2 <= cy1:
            continue
        # Resize the part inside the frame straight into its place of the output window.
        sx, sy = out_w / (gx2 - gx1), out_h / (gy2 - gy1)
        ox1, oy1 = int(round((cx1 - gx1) * sx)), int(round((cy1 - gy1) * sy))
        ox2, oy2 = max(int(round((cx2 - gx1) * sx)), ox1 + 1), max(int(round((cy2 - gy1) * sy)), oy1 + 1)
        ox2, oy2 = min(ox2, out_w), min(oy2, out_h)
        if ox2 <= ox1 or oy2 <= oy1:
            continue
        patch = image[cy1:cy2, cx1:cx2]
        shrink = patch.shape[0] > oy2 - oy1 or patch.shape[1] > ox2 - ox1
        windows[n, oy1:oy2, ox1:ox2] = cv2.resize(
            patch, (ox2 - ox1, oy2 - oy1), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        )
    return windows


def box_geometry(xyxy: np.ndarray, width: int, height: int, context: np.ndarray) -> np.ndarray:
    """Where each box is and how tall against the frame's other people: ``float32`` ``(N, 6)``.

    Columns: centre x / width, bottom y / height, log(box height / frame height), log(box height
    / median height of the ``context`` boxes) (0 without context), log(width / height), share of
    context boxes (0 without context).

    Args:
        xyxy: ``(N, 4)`` boxes in pixels.
        width, height: The frame's size.
        context: ``bool`` ``(N,)``: the confident boxes that describe the frame.
    """
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    bw, bh = np.maximum(b[:, 2] - b[:, 0], 1.0), np.maximum(b[:, 3] - b[:, 1], 1.0)
    median = float(np.median(bh[context])) if context.any() else float("nan")
    relative = np.log(bh / median) if np.isfinite(median) else np.zeros(len(b))
    share = np.full(len(b), context.mean() if len(b) else 0.0)
    return np.column_stack([
        (b[:, 0] + b[:, 2]) / 2 / width, b[:, 3] / height, np.log(bh / height), relative, np.log(bw / bh), share,
    ]).astype(np.float32)


def context_pairs(xyxy: np.ndarray, context: np.ndarray) -> np.ndarray:
    """``bool`` ``(N, N)``: box ``j`` is context of box ``i`` (``context[j]``, and ``j`` is not ``i``
    nor overlaps it by :data:`CONTEXT_IOU` or more: a second box on the same person is no witness)."""
    overlap = box_iou(xyxy, xyxy)
    return np.asarray(context, bool)[None, :] & (overlap < CONTEXT_IOU)


class CropRoleClassifier:
    """Role of every person box from its crop and the frame's other boxes (:class:`RoleNet`).

    Args:
        weights: The trainer's file (default: the bundled ``role-classifier.pt``); a plain dict
            (``state_dict`` and settings) read with ``torch.load(weights_only=True)``. A file whose
            ``window`` is above 0 also gets each box's context window (:func:`cut_windows`).
        device: ``"cpu"``, ``"cuda:0"``, ...
        context_conf: Boxes at or above this detector confidence describe the frame (the kits
            around); every person box is classified, whatever its confidence.
        dedup_iou: Person boxes overlapping this much are one person: the less confident goes.
        max_batch: Most boxes per forward pass (frames are never split).
        kit: The frame-level relational evidence, kits and the goalkeeper's depth
            (:class:`~.frame_evidence.FrameEvidence`); None = the network's probabilities alone.
    """

    name = "crops"

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        device: str = "cpu",
        context_conf: float = 0.25,
        dedup_iou: float = 0.7,
        max_batch: int = 512,
        kit: FrameEvidence | None = None,
    ) -> None:
        from soccerfactory.curation.hashing import sha256_file
        from soccerfactory.curation.safe_load import UnsafeCheckpointError, load_state

        path = require_weights(weights or bundled_weights("role-classifier.pt"), "role classifier weights (detect.role_weights)", HOW_TO_GET)
        if not (0 <= context_conf <= 1 and 0 < dedup_iou <= 1):
            raise ValueError(f"context_conf must be in [0, 1] and dedup_iou in (0, 1], got {context_conf}, {dedup_iou}")
        try:
            saved = load_state(path, "role classifier weights", map_location="cpu")
        except UnsafeCheckpointError as error:
            raise ValueError(f"{error}; expected a file written by soccerfactory.curation.training.role_classifier") from None
        if not isinstance(saved, dict) or "state_dict" not in saved:
            raise ValueError(f"role classifier weights {path} hold no 'state_dict'; expected a file written by "
                             "soccerfactory.curation.training.role_classifier")
        from soccerfactory.curation.detection.role_net import RoleNet

        device = f"cuda:{device}" if str(device).isdigit() else str(device)  # ultralytics' "0" is torch's "cuda:0"

        self.net = RoleNet(int(saved.get("embed", 64)), int(saved.get("counts", 8)), int(saved.get("window", 0)))
        self.net.load_state_dict({k: v.float() for k, v in saved["state_dict"].items()})
        self.net.eval().to(device)
        self.device, self.context_conf, self.dedup_iou, self.max_batch = device, float(context_conf), float(dedup_iou), int(max_batch)
        self.weights = path
        self.kit = kit
        # The kit evidence changes the classes written, so it is part of what the run record names.
        self.version = f"{path.name}@{sha256_file(path)[:12]}" + (
            "" if kit is None else f"+kit:{kit.slope:g}/{kit.cap:g}+depth:{kit.depth_slope:g}/{kit.depth_free}"
            + (f"+rival:{kit.rival_slope:g}/{kit.rival_span:g}" if kit.rival_slope > 0 else "")
        )

    def probabilities(self, images: list[np.ndarray], boxes: list[np.ndarray], confidences: list[np.ndarray]) -> list[np.ndarray]:
        """Role probabilities of the person boxes of several frames.

        Args:
            images: ``uint8`` ``(H, W, 3)`` BGR frames.
            boxes: Per frame ``(N_f, 4)`` person boxes in pixels of that frame.
            confidences: Per frame ``(N_f,)`` detector confidences (which boxes are context).

        Returns:
            Per frame ``float32`` ``(N_f, 3)``, :data:`role_net.ROLE_NAMES` order, rows sum to 1.
        """
        import torch

        from soccerfactory.curation.detection.role_net import CONTEXT_HW, CONTEXT_SPAN, CROP_HW, STORED_HW, network_crops

        out: list[np.ndarray] = [np.zeros((0, 3), np.float32) for _ in images]
        todo = [f for f in range(len(images)) if len(boxes[f])]
        start = 0
        while start < len(todo):
            group, total = [], 0
            while start < len(todo) and (not group or total + len(boxes[todo[start]]) <= self.max_batch):
                group.append(todo[start])
                total += len(boxes[todo[start]])
                start += 1
            k = max(len(boxes[f]) for f in group)
            crops = np.zeros((len(group), k, STORED_HW[0], STORED_HW[1], 3), np.uint8)
            geometry = np.zeros((len(group), k, 6), np.float32)
            pairs = np.zeros((len(group), k, k), bool)
            windows = np.zeros((len(group), k, CONTEXT_HW[0], CONTEXT_HW[1], 3), np.uint8) if self.net.window else None
            for g, f in enumerate(group):
                xyxy = np.asarray(boxes[f], np.float32)
                n = len(xyxy)
                context = np.asarray(confidences[f]) >= self.context_conf
                context &= nms_keep(xyxy, confidences[f], self.dedup_iou)
                crops[g, :n] = cut_crops(images[f], xyxy, STORED_HW)
                geometry[g, :n] = box_geometry(xyxy, images[f].shape[1], images[f].shape[0], context)
                pairs[g, :n, :n] = context_pairs(xyxy, context)
                if windows is not None:
                    windows[g, :n] = cut_windows(images[f], xyxy, CONTEXT_HW, CONTEXT_SPAN)
            with torch.inference_mode():
                stored = torch.from_numpy(crops).to(self.device).permute(0, 1, 4, 2, 3).reshape(len(group) * k, 3, *STORED_HW)
                tensor = network_crops(stored).view(len(group), k, 3, *CROP_HW)
                window_tensor = None
                if windows is not None:
                    window_tensor = torch.from_numpy(windows).to(self.device).permute(0, 1, 4, 2, 3).float().div_(255.0)
                logits = self.net(
                    tensor, torch.from_numpy(geometry).to(self.device), torch.from_numpy(pairs).to(self.device), window_tensor
                )
                probs = torch.softmax(logits, dim=-1).cpu().numpy()
            for g, f in enumerate(group):
                out[f] = probs[g, : len(boxes[f])].astype(np.float32)
        return out

    def __call__(self, frames: Frames, detections: Detections) -> Detections:
        """``detections`` with every person box's class re-decided (see the module docstring).

        Returns:
            The kept rows in their input order: ball rows unchanged, person rows with the most
            probable role as ``class_id`` and the detector's confidence; of person boxes on one
            person (IoU >= ``dedup_iou``) only the most confident stays.
        """
        return self.decide(frames, detections)[0]

    def decide(self, frames: Frames, detections: Detections) -> tuple[Detections, np.ndarray]:
        """What :meth:`__call__` returns, and the probability of each kept row's role.

        Returns:
            ``(detections, role_probability)``: ``float32`` ``(N_kept,)`` the (kit-adjusted)
            probability of the written class, NaN on ball rows. ``confidence * role_probability``
            ranks a class's boxes by how likely they are that class (``soccerfactory quality
            detector`` reports the AP50 of that ranking beside the detector confidence's).
        """
        person = detections.class_id != BALL
        role_probability = np.full(len(detections), np.nan, np.float32)
        if not person.any():
            return detections, role_probability
        positions = {int(f): p for p, f in enumerate(frames.frame_index.tolist())}
        stray = person & ~np.isin(detections.frame_index, list(positions))
        if stray.any():
            raise ValueError(f"detections of frames {sorted(set(detections.frame_index[stray].tolist()))} are not in the batch")
        rows_of = [np.flatnonzero(person & (detections.frame_index == f)) for f in frames.frame_index.tolist()]
        probs = self.probabilities(
            list(frames.images), [detections.xyxy[r] for r in rows_of], [detections.confidence[r] for r in rows_of]
        )
        class_id = detections.class_id.copy()
        keep = np.ones(len(detections), bool)
        lookup = np.asarray(ROLE_CLASS_IDS, np.int64)
        shirts = None
        if self.kit is not None and self.kit.slope > 0:
            from soccerfactory.curation.detection.kit_colours import sampled_shirt_colours

            # Every person box of the batch at once (the per-call cost is paid once a batch).
            slots = np.concatenate([np.full(len(r), s, np.int64) for s, r in enumerate(rows_of)])
            shirts = sampled_shirt_colours(frames.images, detections.xyxy[np.concatenate(rows_of)], slots)
            shirts = np.split(shirts, np.cumsum([len(r) for r in rows_of])[:-1])
        for slot, (rows, p) in enumerate(zip(rows_of, probs)):
            if not len(rows):
                continue
            unique = nms_keep(detections.xyxy[rows], detections.confidence[rows], self.dedup_iou)
            if self.kit is not None:
                from soccerfactory.curation.detection.frame_evidence import (
                    depth_adjusted,
                    depth_rank,
                    frame_kit_spreads,
                    keeper_rivals_adjusted,
                    kit_adjusted,
                )

                context = (detections.confidence[rows] >= self.context_conf) & unique
                if shirts is not None:
                    # The kits are the confident players of the frame, one box per person (the
                    # network's context boxes that it calls player).
                    _, spreads = frame_kit_spreads(None, detections.xyxy[rows], context & (p.argmax(axis=1) == 0), self.kit, shirts[slot])
                    p = kit_adjusted(p, spreads, self.kit)
                if self.kit.depth_slope > 0:
                    p = depth_adjusted(p, depth_rank(detections.xyxy[rows], context), self.kit)
                if self.kit.rival_slope > 0:
                    p = keeper_rivals_adjusted(p, detections.xyxy[rows], detections.confidence[rows], context,
                                               frames.images.shape[2], self.kit)
            best = p.argmax(axis=1)
            class_id[rows] = lookup[best]
            role_probability[rows] = p[np.arange(len(rows)), best]
            keep[rows] = unique
        return Detections(
            xyxy=detections.xyxy[keep], confidence=detections.confidence[keep], class_id=class_id[keep],
            frame_index=detections.frame_index[keep],
            track_id=None if detections.track_id is None else detections.track_id[keep],
            mask=None if detections.mask is None else detections.mask[keep],
            data={k: v[keep] for k, v in detections.data.items()}, class_names=detections.class_names,
        ), role_probability[keep]


def class_confidence(confidence: np.ndarray, role_probability: np.ndarray) -> np.ndarray:
    """A role box's confidence for its class: detector confidence x the probability of the role written.

    The detection convention (a box's score for a class is its objectness times the class's
    probability): a goalkeeper box the classifier is unsure of ranks below a sure one of the same
    detector confidence. The detector confidence alone stays the box's existence (the tracker's
    thresholds, the persons AP); ``soccerfactory quality detector`` ranks each role by this.

    Args:
        confidence: ``float`` ``(N,)`` detector confidences.
        role_probability: ``float`` ``(N,)`` from :meth:`CropRoleClassifier.decide` (NaN on ball rows).

    Returns:
        ``float32`` ``(N,)``: the product, the confidence itself where the probability is NaN.
    """
    confidence = np.asarray(confidence, np.float32)
    probability = np.asarray(role_probability, np.float32)
    return np.where(np.isnan(probability), confidence, confidence * probability).astype(np.float32)


def _build_crops(weights: str | os.PathLike | None = None, **params: Any) -> CropRoleClassifier:
    return CropRoleClassifier(weights, **params)


ROLE_CLASSIFIERS: dict[str, Callable[..., RoleClassifier | None]] = {
    "crops": _build_crops,
    "none": lambda **params: None,
}


def build_role_classifier(name: str = "crops", **params: Any) -> RoleClassifier | None:
    """The role classifier called ``name`` (``none`` -> None: the detector's class stands).

    Raises:
        ValueError: an unknown name (listing the valid ones) or an unreadable weights file.
        FileNotFoundError: the weights file is missing (one line naming it and how to retrain).
    """
    return pick_builder(ROLE_CLASSIFIERS, name, "role classifier")(**params)


def configured_roles(detect: Any, attribute: Any) -> RoleClassifier | None:
    """The role classifier of a ``DetectConfig`` (``detect.role_classifier``, ``role_weights``, ``device``,
    ``role_kit_*``, ``role_keeper_depth_*``, ``role_keeper_rival_*``), None for ``none``. Its context is the boxes the pipeline keeps
    (``detect.conf`` and above); the frame's kit evidence uses the ``AttributeConfig``'s kit thresholds."""
    if detect.role_classifier == "none":
        return None
    return build_role_classifier(
        detect.role_classifier, weights=detect.resolved_role_weights(), device=detect.device, context_conf=detect.conf,
        kit=FrameEvidence(slope=detect.role_kit_slope, cap=detect.role_kit_cap, depth_slope=detect.role_keeper_depth_slope,
                          depth_free=detect.role_keeper_depth_free, rival_slope=detect.role_keeper_rival_slope,
                          rival_span=detect.role_keeper_rival_span, member=attribute.kit_member,
                          min_spread=attribute.kit_min_spread, outlier=attribute.kit_outlier)
        if detect.role_kit_slope > 0 or detect.role_keeper_depth_slope > 0 or detect.role_keeper_rival_slope > 0 else None,
    )
