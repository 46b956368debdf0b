"""The heatmap pitch keypoint network, :class:`PitchKeypointNet` (torch is imported here).

Backbone: the first ten layers of ultralytics' YOLOv8s, the architecture built from the yaml that
ships with ultralytics (nothing is downloaded); decoder: lateral 1 x 1 convolutions and fusion
blocks from stride 32 (with two coordinate channels) down to stride 4; per keypoint a heatmap
(softmax over the map) and a visibility logit. Only the loader
(:func:`~soccerfactory.curation.calibration.heatmap.load_keypoint_net`) and the trainer import this
module, so importing the calibration stage does not import torch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["PitchKeypointNet"]

#: Channels of the YOLOv8s backbone outputs at strides 4, 8, 16 and 32 (layers 2, 4, 6, 9).
_BACKBONE_CHANNELS = (64, 128, 256, 512)
_TAPS = (2, 4, 6, 9)


def _yolov8s_backbone() -> Any:
    """The first ten layers of YOLOv8s (untrained), as ultralytics builds them from its own yaml."""
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    from ultralytics.nn.tasks import DetectionModel

    return DetectionModel("yolov8s.yaml", nc=4, verbose=False).model[:10]


def _block(channels_in: int, channels_out: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False), nn.BatchNorm2d(channels_out), nn.SiLU())


class PitchKeypointNet(nn.Module):
    """Heatmaps and visibility of ``n_keypoints`` pitch keypoints.

    ``forward(x)`` with ``x`` ``float32`` ``(B, 3, 288, 512)`` RGB in [0, 1] returns
    ``(heatmaps, visibility)``: logits ``(B, K, 72, 128)`` (a softmax over each map is the
    keypoint's position) and ``(B, K)`` (sigmoid: the keypoint is in the image).
    """

    def __init__(self, n_keypoints: int = 32, width: int = 32) -> None:
        super().__init__()
        self.n_keypoints, self.width = int(n_keypoints), int(width)
        self.backbone = _yolov8s_backbone()
        c2, c3, c4, c5 = _BACKBONE_CHANNELS
        # Channels shrink as resolution grows, so every level costs about the same.
        w = self.width
        self.lateral5 = nn.Conv2d(c5 + 2, 4 * w, 1)
        self.lateral4 = nn.Conv2d(c4, 4 * w, 1)
        self.lateral3 = nn.Conv2d(c3, 2 * w, 1)
        self.lateral2 = nn.Conv2d(c2, w, 1)
        self.context = nn.Sequential(_block(4 * w, 4 * w), _block(4 * w, 4 * w))
        self.fuse4 = _block(4 * w, 4 * w)
        self.reduce4 = nn.Conv2d(4 * w, 2 * w, 1)
        self.fuse3 = _block(2 * w, 2 * w)
        self.reduce3 = nn.Conv2d(2 * w, w, 1)
        self.fuse2 = _block(w, w)
        self.heatmap = nn.Conv2d(w, self.n_keypoints, 1)
        self.visibility = nn.Linear(4 * w, self.n_keypoints)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Backbone outputs at strides 4, 8, 16, 32."""
        taps = []
        for index, layer in enumerate(self.backbone):
            x = layer(x)
            if index in _TAPS:
                taps.append(x)
        return taps

    def head(self, p2: torch.Tensor, p3: torch.Tensor, p4: torch.Tensor, p5: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, h, w = p5.shape
        ys = torch.linspace(-1, 1, h, device=p5.device, dtype=p5.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=p5.device, dtype=p5.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
        # Coordinates let the coarsest level tell the left penalty box from the right one.
        top = self.context(self.lateral5(torch.cat([p5, xs, ys], dim=1)))
        visibility = self.visibility(top.mean(dim=(2, 3)))
        x = self.fuse4(self.lateral4(p4) + F.interpolate(top, size=p4.shape[-2:], mode="nearest"))
        x = self.fuse3(self.lateral3(p3) + F.interpolate(self.reduce4(x), size=p3.shape[-2:], mode="nearest"))
        x = self.fuse2(self.lateral2(p2) + F.interpolate(self.reduce3(x), size=p2.shape[-2:], mode="bilinear", align_corners=False))
        return self.heatmap(x), visibility

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(*self.features(x))
