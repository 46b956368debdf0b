"""Pitch keypoints from heatmaps: a YOLOv8s backbone with a small upsampling decoder.

The YOLOv8-pose route regresses all 32 keypoints from the one anchor cell of one pitch-sized box;
trained on 246 real frames it lands a median ~27 px off at 960x540, too coarse to calibrate
from. Here each keypoint gets its own heatmap at stride 4 (a 128 x 72 map for the 512 x 288
input), so a keypoint is found where the image shows it, and only *which* keypoint it is needs
the global context that the stride-32 features (with two coordinate channels) provide.

* :class:`~soccerfactory.curation.calibration.heatmap_net.PitchKeypointNet` (in its own module,
  the one that imports torch): backbone (the first ten layers of ultralytics' YOLOv8s, the
  architecture built from the yaml that ships with ultralytics: nothing is downloaded) and
  decoder; per keypoint a heatmap (softmax over the map) and a visibility logit.
* :func:`decode_heatmaps`: the peak of each heatmap, refined to sub-cell precision by the
  probability-weighted mean of its 5 x 5 neighbourhood, mapped back to image pixels.
* :class:`HeatmapKeypointDetector`: the ``heatmap`` backend of
  :func:`~soccerfactory.curation.calibration.builders.build_feature_detector`, from a plain
  ``state_dict`` file loaded with ``torch.load(weights_only=True)``.

Heatmap coordinates: cell ``(u, v)`` of a ``(h, w)`` map covers the input pixels whose centres
map to ``u = (x + 0.5) * w / W - 0.5``; the same relation, inverted, maps back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from soccerfactory.curation.bundled import bundled_weights, require_weights
from soccerfactory.curation.calibration.observations import PitchObservations
from soccerfactory.curation.devices import autocast
from soccerfactory.curation.hashing import sha256_file
from soccerfactory.curation.types import Frames

__all__ = [
    "INPUT_SIZE",
    "HeatmapKeypointDetector",
    "decode_heatmaps",
    "image_to_heatmap",
    "heatmap_to_image",
    "load_keypoint_net",
    "prepare_array",
    "prepare_input",
]

#: ``(width, height)`` the network sees: 16:9 like broadcast frames, a multiple of 32.
INPUT_SIZE = (512, 288)
STRIDE = 4


def image_to_heatmap(xy: np.ndarray, image_size: tuple[int, int], map_size: tuple[int, int]) -> np.ndarray:
    """Pixel ``(x, y)`` of an ``image_size = (W, H)`` image -> cells of a ``map_size = (w, h)`` map."""
    scale = np.array([map_size[0] / image_size[0], map_size[1] / image_size[1]])
    return (np.asarray(xy, dtype=np.float64) + 0.5) * scale - 0.5


def heatmap_to_image(uv: np.ndarray, image_size: tuple[int, int], map_size: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`image_to_heatmap`."""
    scale = np.array([image_size[0] / map_size[0], image_size[1] / map_size[1]])
    return (np.asarray(uv, dtype=np.float64) + 0.5) * scale - 0.5


def prepare_array(images: Sequence[np.ndarray]) -> np.ndarray:
    """BGR ``uint8`` frames of any 16:9-ish size -> ``float32`` ``(B, 3, 288, 512)`` RGB in [0, 1] (numpy)."""
    import cv2

    batch = np.stack([cv2.resize(image, INPUT_SIZE, interpolation=cv2.INTER_AREA)[:, :, ::-1] for image in images])
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)


def prepare_input(images: Sequence[np.ndarray]) -> Any:
    """:func:`prepare_array` as a torch tensor."""
    import torch

    return torch.from_numpy(prepare_array(images))


def decode_heatmaps(heatmaps: np.ndarray, visibility: np.ndarray, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keypoints of one frame from its network outputs.

    Args:
        heatmaps: ``float32`` ``(K, h, w)`` logits.
        visibility: ``float32`` ``(K,)`` logits.
        image_size: ``(W, H)`` of the frame the keypoints are wanted in.

    Returns:
        ``xy`` ``float64`` ``(K, 2)`` pixels, ``visible`` ``float64`` ``(K,)`` probability that the
        keypoint is in the frame, ``peak`` ``float64`` ``(K,)`` probability mass of the 5 x 5
        neighbourhood of the peak (how sure the position is).
    """
    k, h, w = heatmaps.shape
    flat = heatmaps.reshape(k, -1).astype(np.float64)
    flat = np.exp(flat - flat.max(axis=1, keepdims=True))
    flat /= flat.sum(axis=1, keepdims=True)
    prob = flat.reshape(k, h, w)
    best = flat.argmax(axis=1)
    rows, cols = np.divmod(best, w)
    uv = np.zeros((k, 2))
    peak = np.zeros(k)
    for i in range(k):
        r0, r1 = max(0, rows[i] - 2), min(h, rows[i] + 3)
        c0, c1 = max(0, cols[i] - 2), min(w, cols[i] + 3)
        window = prob[i, r0:r1, c0:c1]
        mass = window.sum()
        vv, uu = np.mgrid[r0:r1, c0:c1]
        uv[i] = ((window * uu).sum() / mass, (window * vv).sum() / mass)
        peak[i] = mass
    xy = heatmap_to_image(uv, image_size, (w, h))
    return xy, 1.0 / (1.0 + np.exp(-visibility.astype(np.float64))), peak


def load_keypoint_net(path: str | Path, device: str = "cpu") -> tuple[Any, dict]:
    """A :class:`PitchKeypointNet` and its metadata from a file written by the trainer.

    The file is a plain dict (``state_dict``, ``n_keypoints``, ``width``, ``input_size``, ...)
    read with ``torch.load(weights_only=True)``: no pickled code runs.
    """
    from soccerfactory.curation.safe_load import UnsafeCheckpointError, load_state

    path = require_weights(path, "pitch keypoint weights")
    try:
        saved = load_state(path, "pitch keypoint weights", map_location=device)
    except UnsafeCheckpointError as error:  # a truncated or foreign file: say which and what it should be
        raise ValueError(f"{error}; expected a file written by soccerfactory.curation.training.keypoints") from None
    if not isinstance(saved, dict) or "state_dict" not in saved:
        raise ValueError(f"pitch keypoint weights {path} hold no 'state_dict'; expected a file written by "
                         "soccerfactory.curation.training.keypoints")
    if tuple(saved.get("input_size", INPUT_SIZE)) != INPUT_SIZE:
        raise ValueError(f"pitch keypoint weights {path} were trained at {saved['input_size']}, this code runs {INPUT_SIZE}")
    from soccerfactory.curation.calibration.heatmap_net import PitchKeypointNet  # torch, only when a model is loaded

    net = PitchKeypointNet(int(saved.get("n_keypoints", 32)), int(saved.get("width", 32)))
    net.load_state_dict({k: v.float() for k, v in saved["state_dict"].items()})
    net.eval().to(device)
    meta = {k: v for k, v in saved.items() if k != "state_dict"}
    return net, meta


class HeatmapKeypointDetector:
    """Pitch keypoints from a :class:`PitchKeypointNet` (feature backend ``heatmap``).

    Args:
        weights: Trained file (default: the bundled ``pitch-keypoints-heatmap.pt``).
        keypoint_conf: Least visibility probability of a kept keypoint.
        min_peak: Least probability mass around the heatmap peak (a flat map is a guess).
        device: ``"cpu"``, ``"cuda:0"``, ...
        batch_size: Frames per forward pass.
        runtime: ``"torch"``, ``"onnx"`` or ``"openvino"`` (the latter two: an export of
            ``weights`` made locally and cached, :mod:`~soccerfactory.curation.calibration.heatmap_runtime`;
            CPU only).
        threads: Intra-op threads of an onnx/openvino session (default: half the CPUs this process may use).
    """

    name = "heatmap"

    def __init__(
        self,
        weights: str | Path | None = None,
        keypoint_conf: float = 0.5,
        min_peak: float = 0.3,
        device: str = "cpu",
        batch_size: int = 8,
        runtime: str = "torch",
        threads: int | None = None,
    ) -> None:
        if not 0 <= keypoint_conf <= 1 or not 0 <= min_peak <= 1 or batch_size < 1:
            raise ValueError(f"keypoint_conf and min_peak must be in [0, 1] and batch_size >= 1, got {keypoint_conf}, {min_peak}, {batch_size}")
        if runtime not in ("torch", "onnx", "openvino"):
            raise ValueError(f"pitch keypoint runtime must be 'torch', 'onnx' or 'openvino', got {runtime!r}")
        if runtime != "torch" and str(device) != "cpu":
            raise ValueError(f"calibrate.runtime={runtime} runs on the CPU; use calibrate.runtime=torch for device {device!r}")
        self.weights = Path(weights) if weights is not None else bundled_weights("pitch-keypoints-heatmap.pt")
        self.runtime = runtime
        if runtime == "torch":
            self.net, self.meta = load_keypoint_net(self.weights, device)
        else:
            from soccerfactory.curation.calibration.heatmap_runtime import ExportedKeypointNet

            require_weights(self.weights, "pitch keypoint weights")
            self.net = ExportedKeypointNet(self.weights, runtime, load_keypoint_net, INPUT_SIZE, threads)
            self.meta = self.net.meta
        self.keypoint_conf, self.min_peak, self.device, self.batch_size = keypoint_conf, min_peak, device, batch_size
        self.version = f"{self.weights.name}@{sha256_file(self.weights)[:12]}" + ("" if runtime == "torch" else f"+{runtime}")

    @classmethod
    def from_net(cls, net: Any, keypoint_conf: float = 0.5, min_peak: float = 0.3, device: str = "cpu", batch_size: int = 8) -> HeatmapKeypointDetector:
        """A detector around a network in memory (a model being trained, before it has a file)."""
        detector = cls.__new__(cls)
        detector.weights, detector.net, detector.meta, detector.version = None, net, {}, "in-memory"
        detector.runtime = "torch"
        detector.keypoint_conf, detector.min_peak, detector.device, detector.batch_size = keypoint_conf, min_peak, device, batch_size
        return detector

    def predict(self, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(xy, visible, peak)`` of every keypoint (see :func:`decode_heatmaps`) per image."""
        if self.runtime != "torch":
            return self._predict_exported(images)
        import torch

        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = list(images[start:start + self.batch_size])
            # fp16 on CUDA (the heatmaps are decoded in float64 below); fp32 on the CPU, unchanged.
            with torch.inference_mode(), autocast(self.device):
                heatmaps, visibility = self.net(prepare_input(chunk).to(self.device))
            for image, heat, vis in zip(chunk, heatmaps.float().cpu().numpy(), visibility.float().cpu().numpy()):
                out.append(decode_heatmaps(heat, vis, (image.shape[1], image.shape[0])))
        return out

    def _predict_exported(self, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """:meth:`predict` on the onnx/openvino session (numpy in and out, no torch)."""
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = list(images[start:start + self.batch_size])
            heatmaps, visibility = self.net(prepare_array(chunk))
            for image, heat, vis in zip(chunk, heatmaps, visibility):
                out.append(decode_heatmaps(heat, vis, (image.shape[1], image.shape[0])))
        return out

    def __call__(self, frames: Frames):
        observations = []
        for xy, visible, peak in self.predict(list(frames.images)):
            inside = (xy[:, 0] >= 0) & (xy[:, 0] < frames.width) & (xy[:, 1] >= 0) & (xy[:, 1] < frames.height)
            keep = np.flatnonzero((visible >= self.keypoint_conf) & (peak >= self.min_peak) & inside)
            observations.append(
                PitchObservations(
                    keypoints=xy[keep].astype(np.float32),
                    keypoint_ids=keep.astype(np.int64),
                    keypoint_confidence=np.clip(visible[keep] * peak[keep], 0, 1).astype(np.float32),
                )
            )
        return observations
