"""Per-task losses of :class:`~soccerfactory.model.network.SoccerMasterNet` and their weighted sum.

Targets (a dict, any subset; a task without its target is skipped, so one batch may mix samples
from datasets that label different things, the paper's cross-dataset training):

* ``athletes``: ``(B, T, 5, rows, cols)``: channel 0 a Gaussian centre heatmap in [0, 1] (1 at a
  box centre cell), channels 1-2 the box width and height (fractions of the image) and 3-4 the
  centre's offset inside the cell, at centre cells; ``athletes_mask`` ``(B, T)`` says which
  frames carry athlete labels.
* ``keypoints``: ``(B, T, K, rows, cols)`` normalised Gaussians (each sums to 1) for visible
  keypoints, zeros otherwise; ``keypoints_visible`` ``(B, T, K)`` bool.
* ``camera``: ``(B, T, 9, 2)`` pitch positions of the image grid (:mod:`soccerfactory.model.camera`);
  ``camera_mask`` ``(B, T, 9)`` bool says which points are labelled.
* ``event``: ``(B,)`` class index (``-1`` = unlabelled).
* ``text``: ``(B, align_dim)`` L2-normalised caption embeddings (the text encoder's; when the
  outputs carry ``text``, the model's projection of them, that is what the windows align with).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["COUNTED_TASKS", "DEFAULT_WEIGHTS", "MultiTaskLoss", "centre_focal_loss", "contrastive_loss", "heatmap_cross_entropy"]

DEFAULT_WEIGHTS = {"athletes": 1.0, "keypoints": 1.0, "camera": 1.0, "event": 0.5, "align": 0.5}

#: The tasks whose loss is a sum over labelled targets divided by :meth:`MultiTaskLoss.normalisers`,
#: and whether that count is clamped at 1 (a batch with no centre cell still has its focal
#: negatives). Distributed training all-reduces exactly these counts
#: (:func:`soccerfactory.model.distributed.global_normalisation`); the contrastive loss is not
#: counted (it is the gathered global batch's on every rank).
COUNTED_TASKS = {"athletes": True, "keypoints": True, "camera": False, "event": False}


def centre_focal_loss(logits, target, alpha: float = 2.0, beta: float = 4.0, normaliser: float | None = None):
    """CenterNet's penalty-reduced focal loss, summed and divided by ``normaliser`` (default the
    number of centre cells, at least 1)."""
    import torch

    prob = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    centres = target.ge(0.99).float()
    positive = -((1 - prob) ** alpha) * torch.log(prob) * centres
    negative = -((1 - target) ** beta) * (prob**alpha) * torch.log(1 - prob) * (1 - centres)
    return (positive.sum() + negative.sum()) / (centres.sum().clamp_min(1.0) if normaliser is None else normaliser)


def heatmap_cross_entropy(logits, target, visible, normaliser: float | None = None):
    """Cross-entropy between each map's softmax and its target distribution, summed over visible
    maps and divided by ``normaliser`` (default their number, at least 1)."""
    import torch

    log_prob = torch.log_softmax(logits.flatten(-2), dim=-1)
    per_map = -(target.flatten(-2) * log_prob).sum(dim=-1)
    weight = visible.float()
    return (per_map * weight).sum() / (weight.sum().clamp_min(1.0) if normaliser is None else normaliser)


def contrastive_loss(video, text, temperature: float = 0.07, same_caption=None):
    """Symmetric InfoNCE between window and caption embeddings.

    Row ``i`` of ``video`` pairs with row ``i`` of ``text``; windows whose captions are the same
    text (``same_caption``, ``(B, B)`` bool; default: equal ``text`` rows) are all positives of each other (captions repeat within a batch, and calling a correct
    match a negative teaches the head to tell identical captions apart, which it cannot).
    """
    import torch

    logits = video @ text.T / temperature
    same = ((text @ text.T).gt(0.9999) if same_caption is None else same_caption).float()
    targets = same / same.sum(dim=1, keepdim=True)
    return 0.5 * (-(targets * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
                  - (targets * torch.log_softmax(logits.T, dim=1)).sum(dim=1).mean())


@dataclass
class MultiTaskLoss:
    """Weighted sum of the task losses present in both outputs and targets.

    Attributes:
        weights: Task -> weight (the paper weights tasks and clips gradients; see the trainer).
        event_class_weights: Per event class weight of the cross-entropy (the trainer sets the
            inverse class frequency: most windows hold no event, and unweighted the head learns to
            always answer "none").
    """

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    event_class_weights: list[float] | None = None

    def normalisers(self, targets: Mapping) -> dict[str, float]:
        """What each task of :data:`COUNTED_TASKS` divides its summed loss by on these targets,
        before the clamp: athlete centre cells (of the frames with athlete labels), visible
        keypoint maps, labelled camera grid points, and the class weights of the labelled events
        (their number without weights). The one rule for both the loss and the ranks of
        distributed training, which all-reduce these counts."""
        counts = {}
        if "athletes" in targets:
            mask, target = targets.get("athletes_mask"), targets["athletes"]
            target = target[mask] if mask is not None else target
            counts["athletes"] = float(target.reshape(-1, *target.shape[-3:])[:, 0].ge(0.99).sum())
        if "keypoints" in targets and "keypoints_visible" in targets:
            counts["keypoints"] = float(targets["keypoints_visible"].float().sum())
        if "camera" in targets:
            mask = targets.get("camera_mask")
            counts["camera"] = float(mask.sum()) if mask is not None else float(targets["camera"].shape[:-1].numel())
        if "event" in targets:
            labels = targets["event"][targets["event"] >= 0]
            weights = self.event_class_weights
            counts["event"] = float(labels.new_tensor(weights, dtype=float)[labels].sum()) if weights else float(len(labels))
        return counts

    def __call__(self, outputs: Mapping, targets: Mapping) -> tuple[object, dict[str, float]]:
        """``(total, {task: value})``; ``total`` is a scalar tensor to backpropagate."""
        from torch.nn import functional as F

        parts = {}
        counts = {task: max(n, 1.0) if COUNTED_TASKS[task] else n for task, n in self.normalisers(targets).items()}
        if "athletes" in outputs and "athletes" in targets:
            mask = targets.get("athletes_mask")
            predicted, target = outputs["athletes"], targets["athletes"]
            if mask is not None:
                predicted, target = predicted[mask], target[mask]
            predicted, target = predicted.reshape(-1, *predicted.shape[-3:]), target.reshape(-1, *target.shape[-3:])
            if len(predicted):
                centres = target[:, 0].ge(0.99)
                # The size and offset L1 is a mean over the centre cells' 4 channels.
                size = F.l1_loss(predicted[:, 1:].permute(0, 2, 3, 1)[centres], target[:, 1:].permute(0, 2, 3, 1)[centres], reduction="sum") / (4 * counts["athletes"]) if centres.any() else predicted.sum() * 0
                parts["athletes"] = centre_focal_loss(predicted[:, 0], target[:, 0], normaliser=counts["athletes"]) + 5.0 * size
        if "keypoints" in outputs and "keypoints" in targets:
            parts["keypoints"] = heatmap_cross_entropy(outputs["keypoints"], targets["keypoints"], targets["keypoints_visible"], normaliser=counts["keypoints"])
        if "camera" in outputs and "camera" in targets:
            mask = targets.get("camera_mask")
            predicted, target = outputs["camera"], targets["camera"]
            if mask is not None:
                predicted, target = predicted[mask], target[mask]
            if len(predicted):
                # Nearly L1 (beta 0.1 unit = 5 m): far grid points must not dominate the near ones.
                parts["camera"] = F.smooth_l1_loss(predicted, target, beta=0.1, reduction="sum") / (2 * counts["camera"])  # mean over x and y
        if "event" in outputs and "event" in targets:
            labelled = targets["event"] >= 0
            if labelled.any():
                logits = outputs["event"][labelled]
                weight = None if self.event_class_weights is None else logits.new_tensor(self.event_class_weights)
                parts["event"] = F.cross_entropy(logits, targets["event"][labelled], weight=weight, reduction="sum") / counts["event"]
        if "align" in outputs and "text" in targets and len(outputs["align"]) > 1:
            # Positives are decided on the captions themselves, before the learnt text projection.
            same = (targets["text"] @ targets["text"].T).gt(0.9999)
            parts["align"] = contrastive_loss(outputs["align"], outputs.get("text", targets["text"]), same_caption=same)
        if not parts:
            raise ValueError(f"no task has both an output and a target: outputs {sorted(outputs)}, targets {sorted(targets)}")
        total = sum(self.weights.get(name, 1.0) * value for name, value in parts.items())
        return total, {name: float(value.detach()) for name, value in parts.items()}
