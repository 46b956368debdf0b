"""Re-identification embeddings of athlete boxes: who this is, not only which kit.

StrongSORT matches a detection to a track by motion *and* appearance. A kit colour histogram
(:func:`~soccerfactory.curation.tracking.trackers.appearance_embeddings`) tells the teams apart
but not two teammates, who wear the same kit. :class:`ReidNet` is a small CNN trained on renderer
crops with true identities (:mod:`soccerfactory.curation.training.reid`), in batches drawn from
one clip, so that the crops it must tell apart are mostly teammates: what separates them is the
number, skin, hair, build and boots, not the shirt. Training rotates the hue of every batch, so
a kit colour is never an identity.

Imported only when StrongSORT is built with ``appearance="reid"`` or the network is trained (it
imports torch). The weights are a plain ``state_dict`` (``curation/weights/reid.pt``, loaded
``weights_only``) with a JSON manifest beside them (data, command, metrics, sha256).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from soccerfactory.curation.bundled import bundled_weights, require_weights
from soccerfactory.curation.safe_load import load_state

__all__ = [
    "CROP_HW",
    "DEFAULT_REID_WEIGHTS",
    "HOW_TO_GET",
    "MARGIN",
    "REID_DIM",
    "ReidEmbedder",
    "ReidNet",
    "cut_crops",
    "load_reid",
]

#: ``(height, width)`` the network sees: the box resized. 48 x 24, as the role classifier: far
#: athletes are 15-40 px tall at 720p anyway, and 64 x 32 cost 1.8x the compute (training on the
#: busy 2-core machine ran at 3.5 s a batch with it).
CROP_HW: tuple[int, int] = (48, 24)
#: Length ``D`` of an embedding.
REID_DIM = 64
#: Context added around a box on every side when it is cut (fraction of its width/height), so
#: that training can jitter the box inside the cut as a detector's box differs from the truth.
MARGIN = 0.1
#: The shipped weights.
DEFAULT_REID_WEIGHTS = bundled_weights("reid.pt")
#: How to get the weights when they are missing.
HOW_TO_GET = (
    "python -m soccerfactory.curation.training.reid --work DIR (see curation/weights/README.md), "
    "or set track.params.appearance=colour"
)
_MEAN = torch.tensor([0.45, 0.45, 0.45]).view(1, 3, 1, 1)
_STD = torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ReidNet(nn.Module):
    """A unit-length identity embedding per crop.

    Average and max pooling both feed the embedding: the average carries the build and the
    colours, the max a small sharp cue (a number, a boot) that an average would wash out.

    Args:
        width: Channels of the first stage (later stages have 2x, 3x and 4x).
        dim: Embedding length.
    """

    def __init__(self, width: int = 16, dim: int = REID_DIM) -> None:
        super().__init__()
        self.width, self.dim = int(width), int(dim)
        w = self.width
        self.features = nn.Sequential(
            _conv(3, w), _conv(w, 2 * w, 2),  # 24 x 12
            _conv(2 * w, 2 * w), _conv(2 * w, 3 * w, 2),  # 12 x 6
            _conv(3 * w, 3 * w), _conv(3 * w, 4 * w, 2),  # 6 x 3
            _conv(4 * w, 4 * w),
        )
        self.project = nn.Linear(8 * w, self.dim)
        # BNNeck: the classifier of training sees the normalised feature, the metric loss the raw one.
        self.neck = nn.BatchNorm1d(self.dim)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Embeddings before normalisation.

        Args:
            crops: ``float32`` ``(N, 3, 48, 24)`` BGR in ``[0, 1]``.

        Returns:
            ``float32`` ``(N, D)``.
        """
        x = self.features((crops - _MEAN.to(crops)) / _STD.to(crops))
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return self.project(pooled)

    def embed(self, crops: torch.Tensor) -> torch.Tensor:
        """``float32`` ``(N, D)`` unit-length embeddings (after the neck) of ``(N, 3, 48, 24)`` crops."""
        return F.normalize(self.neck(self(crops)), dim=1)


def cut_crops(image: np.ndarray, xyxy: np.ndarray, margin: float = 0.0, size: tuple[int, int] = CROP_HW) -> np.ndarray:
    """Each box of a frame, grown by ``margin`` per side, resized to ``size`` (outside the frame is black).

    Args:
        image: ``uint8`` ``(H, W, 3)`` BGR frame.
        xyxy: ``float32`` ``(N, 4)`` boxes in its pixels.
        margin: Fraction of the box's width/height added on every side.
        size: ``(height, width)`` of the output.

    Returns:
        ``uint8`` ``(N, height, width, 3)``.
    """
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    out = np.zeros((len(xyxy), size[0], size[1], 3), np.uint8)
    height, width = image.shape[:2]
    for i, (x1, y1, x2, y2) in enumerate(xyxy):
        w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        left, right = int(np.floor(x1 - margin * w)), int(np.ceil(x2 + margin * w))
        top, bottom = int(np.floor(y1 - margin * h)), int(np.ceil(y2 + margin * h))
        canvas = np.zeros((bottom - top, right - left, 3), np.uint8)
        cx0, cx1, cy0, cy1 = max(left, 0), min(right, width), max(top, 0), min(bottom, height)
        if cx1 > cx0 and cy1 > cy0:
            canvas[cy0 - top : cy1 - top, cx0 - left : cx1 - left] = image[cy0:cy1, cx0:cx1]
        # Area averaging when shrinking (a close-up cut to 48 px), linear when growing a far athlete.
        shrink = canvas.shape[0] > size[0]
        out[i] = cv2.resize(canvas, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out


def to_tensor(crops: np.ndarray) -> torch.Tensor:
    """``uint8`` ``(N, H, W, 3)`` -> ``float32`` ``(N, 3, H, W)`` in ``[0, 1]``."""
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float().div_(255.0)


def load_reid(path: str | Path = DEFAULT_REID_WEIGHTS) -> ReidNet:
    """The trained :class:`ReidNet` in eval mode, from a plain ``state_dict`` (``weights_only``).

    The width and embedding length are read from the manifest beside the weights
    (``<name>.json``, ``architecture``); without one the defaults are used.

    Raises:
        FileNotFoundError: when the weights are missing, naming the file and how to train them.
        UnsafeCheckpointError: when the file holds anything but tensors.
    """
    what = "track.params.appearance=reid (ReID weights)"
    path = require_weights(path, what, HOW_TO_GET)
    settings = {}
    manifest = path.with_suffix(".json")
    if manifest.is_file():
        settings = json.loads(manifest.read_text()).get("architecture", {})
    net = ReidNet(width=int(settings.get("width", 16)), dim=int(settings.get("dim", REID_DIM)))
    state = load_state(path, what)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return net.eval()


_CACHE: dict[str, ReidNet] = {}
_LOCK = threading.Lock()


class ReidEmbedder:
    """Embeds the boxes of a frame with a :class:`ReidNet` (one loaded network per file and process).

    Args:
        weights: The ``state_dict`` file (default: the shipped ``curation/weights/reid.pt``).
    """

    def __init__(self, weights: str | Path | None = None) -> None:
        key = str(Path(weights or DEFAULT_REID_WEIGHTS).expanduser().resolve())
        with _LOCK:
            if key not in _CACHE:
                _CACHE[key] = load_reid(key)
        self.net = _CACHE[key]
        self.weights = key

    def __repr__(self) -> str:
        return f"ReidEmbedder({self.weights!r})"

    def __call__(self, image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        """Identity embeddings of the boxes of one frame.

        Args:
            image: ``uint8`` ``(H, W, 3)`` BGR frame.
            xyxy: ``float32`` ``(N, 4)`` boxes in its pixels.

        Returns:
            ``float32`` ``(N, D)`` unit-length embeddings (cosine similarity = dot product).
        """
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be uint8 (H, W, 3) BGR, got {image.dtype} {image.shape}")
        xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        if len(xyxy) == 0:
            return np.zeros((0, self.net.dim), np.float32)
        with torch.inference_mode():
            return self.net.embed(to_tensor(cut_crops(image, xyxy))).numpy().astype(np.float32)
