"""The role classifier's network: player / goalkeeper / referee of every person box of a frame.

Imported only when a role classifier is built or trained (it imports torch); see
:mod:`~soccerfactory.curation.detection.roles` for the backend and
:mod:`~soccerfactory.curation.training.role_classifier` for the trainer.

A crop alone says "yellow shirt", which names the referee in one league and a team in the next.
What holds in every league is relational: the two teams wear two kits that many people share,
a referee wears a third kit shared by at most the assistants, and a goalkeeper wears a kit nobody
else on the pitch wears. So each box is described by

* an appearance embedding of its crop (a small CNN),
* its shirt and shorts colours (means of fixed regions of the crop),
* soft counts of the *other* confident boxes of the same frame that look like it (embedding
  cosine above learned thresholds, shirt colour within fixed distances), and the number of them,
* an attention summary of those other boxes (what the frame's kits look like),
* its geometry (place in the image, height against the frame's median person),
* optionally (weights trained with it) a context window around the box, 3 box heights tall and
  6 wide, at 24 x 48 px: the goal frame, net and penalty-area lines a goalkeeper stands among
  (the crop alone put the real held-out goalkeepers at F1 0.65; see role-classifier.json),

and an MLP maps that to three logits. Trained with frame-wide hue rotations, the absolute colour
carries little; the counts and the attention carry the relations.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "BOX_HW", "CONTEXT_HW", "CONTEXT_SPAN", "CROP_HW", "GEOMETRY", "ROLE_NAMES", "RoleNet", "STORED_HW", "colour_features",
    "network_crops",
]

#: Output order of the network's logits.
ROLE_NAMES: tuple[str, ...] = ("player", "goalkeeper", "referee")
#: ``(height, width)`` the network sees: the box itself, resized. 48 x 24 rather than 64 x 32:
#: far players are 15-30 px tall at 720p anyway, and it costs 0.56 of the compute.
CROP_HW: tuple[int, int] = (48, 24)
#: ``(height, width)`` of a stored crop: the box grown by 3/32 of its size on every side, so that
#: training can jitter the box (a detector box is never the label's box) and still cut the box.
STORED_HW: tuple[int, int] = (76, 38)
#: Where the box itself is in a stored crop: the central ``(64, 32)``.
BOX_HW: tuple[int, int] = (64, 32)
#: ``(height, width)`` of the context window the network sees (and the trainer stores).
CONTEXT_HW: tuple[int, int] = (24, 48)
#: ``(height, width)`` of the context window in box heights, centred on the box: a goal is 2.44 m
#: tall and 7.32 m wide, 1.4 and 4 heights of a 1.8 m goalkeeper, so one standing in it sees it whole.
CONTEXT_SPAN: tuple[float, float] = (3.0, 6.0)
#: Geometry features per box (see :func:`soccerfactory.curation.detection.roles.box_geometry`).
GEOMETRY = 6
# Shirt colour distances (RGB in [0, 1]) at which the colour soft counts switch.
_COLOUR_THRESHOLDS = (0.06, 0.1, 0.15, 0.22, 0.32)
_MEAN = torch.tensor([0.45, 0.45, 0.45]).view(1, 3, 1, 1)
_STD = torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def colour_features(crops: torch.Tensor) -> torch.Tensor:
    """Mean colour of the shirt (rows 20-45 %, middle half) and shorts (rows 52-68 %) of box crops.

    Args:
        crops: ``float32`` ``(N, 3, 48, 24)`` in ``[0, 1]`` (BGR, as cut from the frame).

    Returns:
        ``float32`` ``(N, 6)``: shirt BGR, shorts BGR.
    """
    h, w = crops.shape[-2:]
    cols = slice(w // 4, w - w // 4)
    shirt = crops[:, :, int(0.20 * h):int(0.45 * h), cols].mean(dim=(2, 3))
    shorts = crops[:, :, int(0.52 * h):int(0.68 * h), cols].mean(dim=(2, 3))
    return torch.cat([shirt, shorts], dim=1)


def network_crops(stored: torch.Tensor) -> torch.Tensor:
    """Stored crops -> the network's input: the box (central :data:`BOX_HW`) resized to :data:`CROP_HW`.

    Args:
        stored: ``uint8`` or ``float32`` ``(N, 3, 76, 38)`` (:data:`STORED_HW`).

    Returns:
        ``float32`` ``(N, 3, 48, 24)`` in ``[0, 1]``.
    """
    x = stored.float() / 255.0 if stored.dtype == torch.uint8 else stored
    top, left = (STORED_HW[0] - BOX_HW[0]) // 2, (STORED_HW[1] - BOX_HW[1]) // 2
    return F.interpolate(x[:, :, top:top + BOX_HW[0], left:left + BOX_HW[1]], size=CROP_HW, mode="area")


class RoleNet(nn.Module):
    """Three role logits per person box, from its crop and the frame's other boxes.

    Args:
        embed: Width of the crop embedding.
        counts: Learned similarity thresholds of the embedding soft counts.
        window: Width of the context window's embedding; 0 = no context window (older weights).
    """

    def __init__(self, embed: int = 64, counts: int = 8, window: int = 0) -> None:
        super().__init__()
        self.embed, self.counts, self.window = int(embed), int(counts), int(window)
        # ~6 MFLOPs per crop: a 2-core CPU classifies a 720p frame's ~25 boxes in a few ms.
        self.cnn = nn.Sequential(
            _conv(3, 16, 2),  # 24 x 12
            _conv(16, 32, 2), _conv(32, 32),  # 12 x 6
            _conv(32, 64, 2), _conv(64, 64),  # 6 x 3
            _conv(64, 96),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(96, embed),
        )
        self.thresholds = nn.Parameter(torch.linspace(0.2, 0.95, counts))
        self.sharpness = 12.0
        token = embed + 6
        self.query, self.key, self.value = nn.Linear(token, 32), nn.Linear(token, 32), nn.Linear(token, embed)
        relational = 2 * (counts + len(_COLOUR_THRESHOLDS)) + 1
        if self.window:
            # ~1.5 MFLOPs per window: lines and posts are coarse, a few channels see them.
            self.window_cnn = nn.Sequential(
                _conv(3, 16, 2),  # 12 x 24
                _conv(16, 32, 2),  # 6 x 12
                _conv(32, 48, 2), _conv(48, 48),  # 3 x 6
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(48, self.window),
            )
        self.head = nn.Sequential(
            nn.Linear(embed + 6 + GEOMETRY + relational + embed + self.window, 128), nn.ReLU(inplace=True), nn.Dropout(0.1),
            nn.Linear(128, 64), nn.ReLU(inplace=True), nn.Linear(64, len(ROLE_NAMES)),
        )

    def forward(
        self, crops: torch.Tensor, geometry: torch.Tensor, pairs: torch.Tensor, windows: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits of every box of a batch of frames.

        Args:
            crops: ``float32`` ``(B, K, 3, 48, 24)`` in ``[0, 1]`` (padding rows anything).
            geometry: ``float32`` ``(B, K, GEOMETRY)``.
            pairs: ``bool`` ``(B, K, K)``: box ``j`` is context of box ``i`` (a confident, real
                box of the same frame that is not ``i`` itself or a box on the same person).
            windows: ``float32`` ``(B, K, 3, 24, 48)`` in ``[0, 1]``: the context windows
                (:data:`CONTEXT_HW`); required when the network has a context branch, else ignored.

        Returns:
            ``float32`` ``(B, K, 3)`` logits in :data:`ROLE_NAMES` order.
        """
        b, k = crops.shape[:2]
        flat = crops.reshape(b * k, *crops.shape[2:])
        colour = colour_features(flat).view(b, k, 6)
        embedding = self.cnn((flat - _MEAN.to(flat)) / _STD.to(flat)).view(b, k, self.embed)
        unit = F.normalize(embedding, dim=-1)
        mask = pairs.float()
        n_context = mask.sum(-1, keepdim=True)
        similarity = unit @ unit.transpose(1, 2)  # (B, K, K)
        soft = torch.sigmoid((similarity.unsqueeze(-1) - self.thresholds) * self.sharpness)  # (B, K, K, T)
        embed_counts = (soft * mask.unsqueeze(-1)).sum(2)
        shirt = colour[..., :3]
        distance = torch.cdist(shirt, shirt)  # (B, K, K)
        limits = torch.tensor(_COLOUR_THRESHOLDS, dtype=distance.dtype, device=distance.device)
        near = torch.sigmoid((limits - distance.unsqueeze(-1)) / 0.02)
        colour_counts = (near * mask.unsqueeze(-1)).sum(2)
        counts = torch.cat([embed_counts, colour_counts], dim=-1)
        # Counts (how many look like me) and shares (which fraction of the frame does).
        relational = torch.cat([torch.log1p(counts), counts / n_context.clamp(min=1.0), torch.log1p(n_context)], dim=-1)
        token = torch.cat([embedding, colour], dim=-1)
        scores = (self.query(token) @ self.key(token).transpose(1, 2)) / math.sqrt(32)
        scores = scores.masked_fill(~pairs, -1e4)
        weights = torch.softmax(scores, dim=-1) * (n_context > 0).float()
        context = weights @ self.value(token)
        parts = [embedding, colour, geometry, relational, context]
        if self.window:
            if windows is None:
                raise ValueError("this role network has a context branch: pass the context windows")
            flat_windows = windows.reshape(b * k, *windows.shape[2:])
            parts.append(self.window_cnn((flat_windows - _MEAN.to(flat_windows)) / _STD.to(flat_windows)).view(b, k, self.window))
        return self.head(torch.cat(parts, dim=-1))
