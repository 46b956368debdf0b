"""Mask refinement: an instance mask and a tight box for every athlete detection.

Detector boxes of broadcast players are loose and jitter from frame to frame; the pixels of the
athlete are what later stages want (team colour, jersey crops, foot point, training masks). A
:class:`Refiner` adds, for every input row and without reordering or dropping any:

* ``data["mask_rle"]``: ``object`` ``(N,)``, a JSON string of the COCO *uncompressed* RLE of the
  mask over the full frame (``{"size": [H, W], "counts": [...]}``, see :mod:`.masks`), or
  ``None`` where no mask was found;
* ``data["refined_xyxy"]``: ``float32`` ``(N, 4)``, the tight box of the mask in full-frame
  pixels (``x2``/``y2`` exclusive, as :func:`.masks.rle_to_bbox`), or the input box where there
  is no mask;
* ``data["mask_score"]``: ``float32`` ``(N,)`` in ``[0, 1]``, how much to trust the mask
  (0 where there is none).

Every mask is confined to the *search box*, the input box enlarged by :func:`enlarge_boxes`, so
the refined box always lies inside it; a detector box may be a little tight, but a mask that leaks
further than that has followed a pitch line or a neighbour, not the athlete.

Backends:

* ``chroma`` (default): no weights, a few milliseconds per 720p frame on a CPU. The pitch is the
  one large uniformly coloured surface of a broadcast, so pixels of the search box that are not
  grass-coloured (:func:`.pitch_colour.estimate_grass`, the project's one pitch-colour model)
  are the athlete, cleaned by a morphological opening and closing, keeping the connected
  component anchored on the box.
* ``sam2``: SAM 2.1 prompted with each box (needs a checkpoint file, see :func:`build_sam2_refiner`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from soccerfactory.curation.devices import autocast, is_cuda
from soccerfactory.curation.masks import rle_encode_roi
from soccerfactory.curation.pitch_colour import GrassColour, estimate_grass
from soccerfactory.curation.registry import pick_builder
from soccerfactory.curation.types import Detections, Frames

__all__ = [
    "REFINERS",
    "ChromaRefiner",
    "Refiner",
    "Sam2Refiner",
    "build_chroma_refiner",
    "build_refiner",
    "build_sam2_refiner",
    "enlarge_boxes",
]

#: Official SAM 2.1 checkpoints and where to get them, for the missing-checkpoint error.
SAM2_CHECKPOINT_URL = "https://github.com/facebookresearch/sam2#download-checkpoints"
_SAM2_CHECKPOINTS = {
    "configs/sam2.1/sam2.1_hiera_t.yaml": "sam2.1_hiera_tiny.pt",
    "configs/sam2.1/sam2.1_hiera_s.yaml": "sam2.1_hiera_small.pt",
    "configs/sam2.1/sam2.1_hiera_b+.yaml": "sam2.1_hiera_base_plus.pt",
    "configs/sam2.1/sam2.1_hiera_l.yaml": "sam2.1_hiera_large.pt",
}


class Refiner(Protocol):
    """Adds ``mask_rle``, ``refined_xyxy`` and ``mask_score`` to every detection (module docstring)."""

    def __call__(self, frames: Frames, detections: Detections) -> Detections:
        """Refine every row of ``detections``.

        Args:
            frames: The frames the rows belong to; every row's ``frame_index`` must be among them.
            detections: Boxes ``xyxy`` in full-frame pixels, any classes, any order.

        Returns:
            The same rows in the same order (``xyxy``, ``frame_index`` and all other fields
            unchanged) with the three arrays added to ``data`` (replacing any of the same name).
        """
        ...


# --------------------------------------------------------------------------- shared helpers


def enlarge_boxes(xyxy: np.ndarray, margin: float, margin_px: float, width: int, height: int) -> np.ndarray:
    """The search box of each detection: grown on every side, then clipped to the frame.

    Args:
        xyxy: ``float32`` ``(N, 4)`` boxes in full-frame pixels.
        margin: Fraction of the box's width (left/right) and height (top/bottom) added per side.
        margin_px: Pixels added per side on top of that, so tiny boxes still gain some context.
        width: Frame width in pixels.
        height: Frame height in pixels.

    Returns:
        ``int64`` ``(N, 4)`` ``(x0, y0, x1, y1)`` pixel bounds, ``x1``/``y1`` exclusive, inside
        ``[0, width] x [0, height]``; an empty range (``x1 <= x0``) for a box outside the frame.
    """
    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    w = xyxy[:, 2] - xyxy[:, 0]
    h = xyxy[:, 3] - xyxy[:, 1]
    dx = margin * w + margin_px
    dy = margin * h + margin_px
    grown = np.stack([xyxy[:, 0] - dx, xyxy[:, 1] - dy, xyxy[:, 2] + dx, xyxy[:, 3] + dy], axis=1)
    # Floor the start and ceil the end so the pixel range always covers the (real-valued) box.
    bounds = np.concatenate([np.floor(grown[:, :2]), np.ceil(grown[:, 2:])], axis=1).astype(np.int64)
    bounds[:, [0, 2]] = np.clip(bounds[:, [0, 2]], 0, width)
    bounds[:, [1, 3]] = np.clip(bounds[:, [1, 3]], 0, height)
    return bounds


def _rows_by_frame(frames: Frames, detections: Detections, owner: str) -> list[tuple[int, np.ndarray]]:
    """``(position in frames, row indices)`` for every frame that has rows."""
    if len(detections) == 0:
        return []
    missing = np.setdiff1d(detections.frames, frames.frame_index)
    if len(missing):
        raise ValueError(
            f"{owner}: detections reference frames {missing.tolist()[:10]} that are not in frames "
            f"(frames hold {frames.frame_index.tolist()[:10]}{'...' if len(frames) > 10 else ''})"
        )
    position = np.searchsorted(frames.frame_index, detections.frame_index)
    order = np.argsort(position, kind="stable")
    cuts = np.flatnonzero(np.diff(position[order])) + 1
    return [(int(position[rows[0]]), rows) for rows in np.split(order, cuts)]


def _with_refinement(
    detections: Detections, mask_rle: np.ndarray, refined: np.ndarray, score: np.ndarray
) -> Detections:
    return detections.with_data(
        mask_rle=mask_rle,
        refined_xyxy=refined.astype(np.float32, copy=False),
        mask_score=np.clip(score, 0.0, 1.0).astype(np.float32, copy=False),
    )


def _empty_outputs(detections: Detections) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(detections)
    mask_rle = np.full(n, None, dtype=object)
    refined = detections.xyxy.astype(np.float32, copy=True).reshape(n, 4)
    score = np.zeros(n, dtype=np.float32)
    return mask_rle, refined, score


def _encode(roi_mask: np.ndarray, x0: int, y0: int, height: int, width: int) -> tuple[str, np.ndarray]:
    """JSON RLE of a search-box mask and its tight full-frame box (``x2``/``y2`` exclusive)."""
    rle = rle_encode_roi(roi_mask, x0, y0, height, width)
    cols = np.flatnonzero(roi_mask.any(axis=0))
    rows = np.flatnonzero(roi_mask.any(axis=1))
    box = np.array([x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1], dtype=np.float32)
    return json.dumps(rle, separators=(",", ":")), box


# --------------------------------------------------------------------------- chroma backend


def _kernel(size: int) -> np.ndarray | None:
    return None if size <= 1 else cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


@dataclasses.dataclass(frozen=True)
class ChromaRefiner:
    """Athlete masks as the non-grass pixels of the search box (no weights, CPU-cheap).

    Per frame the grass colour is estimated once (:func:`estimate_grass`); per box, the pixels of
    its search box (:func:`enlarge_boxes`) that are not grass form the foreground, which is
    opened (removes compression speckle and thin pitch lines), optionally closed (joins limbs
    split by a one-pixel gap; off by default, as filling the gaps between the legs cost a point
    of IoU on the synthetic clips) and reduced to its connected component holding the most
    pixels of the central band of the input box, plus any component lying mostly inside the box
    (a detached head or boot). Morphology is skipped for boxes shorter than ``morph_min_height`` pixels,
    whose limbs are no thicker than the speckle it would remove.

    ``mask_score`` multiplies how plausibly the mask fills the box (a standing athlete covers
    about a third to two thirds of a tight box; much less is a miss, much more is a box full of
    non-grass such as an advertising board) by the share of the mask inside the input box
    (a mask that spreads over the margin has leaked). Frames with no detectable pitch give no
    masks (``None``, score 0).

    Attributes:
        margin: Fraction of the box size added per side to form the search box.
        margin_px: Pixels added per side to the search box.
        open_px: Diameter of the opening kernel (``<= 1`` disables it).
        close_px: Diameter of the closing kernel (``<= 1`` disables it).
        morph_min_height: Boxes shorter than this (pixels) are not opened or closed.
        min_area_px: Masks smaller than this many pixels are dropped.
        grass: A fixed grass colour; ``None`` estimates it per frame.
    """

    margin: float = 0.1
    margin_px: float = 2.0
    open_px: int = 3
    close_px: int = 0
    morph_min_height: float = 40.0
    min_area_px: int = 6
    grass: GrassColour | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.margin <= 1:
            raise ValueError(f"ChromaRefiner.margin must be in [0, 1], got {self.margin}")
        if self.margin_px < 0:
            raise ValueError(f"ChromaRefiner.margin_px must be >= 0, got {self.margin_px}")
        for name in ("open_px", "close_px", "min_area_px"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"ChromaRefiner.{name} must be >= 0, got {getattr(self, name)}")
        if self.grass is not None and not isinstance(self.grass, GrassColour):
            raise ValueError(f"ChromaRefiner.grass must be a GrassColour or None, got {type(self.grass).__name__}")

    def __call__(self, frames: Frames, detections: Detections) -> Detections:
        """See :class:`Refiner`."""
        mask_rle, refined, score = _empty_outputs(detections)
        open_k, close_k = _kernel(int(self.open_px)), _kernel(int(self.close_px))
        for position, rows in _rows_by_frame(frames, detections, "ChromaRefiner"):
            image = frames.images[position]
            grass = self.grass or estimate_grass(image)
            if grass is None:
                continue
            height, width = image.shape[:2]
            boxes = detections.xyxy[rows]
            bounds = enlarge_boxes(boxes, self.margin, self.margin_px, width, height)
            for row, box, (x0, y0, x1, y1) in zip(rows, boxes, bounds):
                # The input box in search-box pixels, clipped to it (boxes may overhang the frame).
                inner = np.concatenate([np.floor(box[:2]), np.ceil(box[2:])]) - (x0, y0, x0, y0)
                inner = np.clip(inner, 0, (x1 - x0, y1 - y0, x1 - x0, y1 - y0)).astype(int)
                if inner[2] <= inner[0] or inner[3] <= inner[1]:
                    continue
                roi = self._mask(image[y0:y1, x0:x1], inner, grass, open_k, close_k)
                if roi is None:
                    continue
                mask_rle[row], refined[row] = _encode(roi, int(x0), int(y0), height, width)
                score[row] = self._score(roi, inner)
        return _with_refinement(detections, mask_rle, refined, score)

    def _mask(
        self,
        patch: np.ndarray,
        box: np.ndarray,
        grass: GrassColour,
        open_k: np.ndarray | None,
        close_k: np.ndarray | None,
    ) -> np.ndarray | None:
        """``bool`` mask of the athlete in a search-box ``patch``.

        ``box`` is the input box in patch pixels, ``int`` ``(x0, y0, x1, y1)``, non-empty.
        """
        fg = (~grass.is_grass(patch)).view(np.uint8)
        if box[3] - box[1] >= self.morph_min_height:
            if open_k is not None:
                fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, open_k)
            if close_k is not None:
                fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, close_k)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        if count <= 1:
            return None
        bx0, by0, bx1, by1 = (int(v) for v in box)
        inside = np.bincount(labels[by0:by1, bx0:bx1].ravel(), minlength=count)
        # The athlete stands on the vertical axis of its box: rank components by their pixels in
        # the central half of the box so that a neighbour clipped by the box edge is not chosen.
        w = bx1 - bx0
        cx0, cx1 = bx0 + w // 4, bx1 - w // 4
        central = np.bincount(labels[by0:by1, cx0:max(cx1, cx0 + 1)].ravel(), minlength=count)
        central[0] = inside[0] = 0
        best = int(np.argmax(central)) if central.max() > 0 else int(np.argmax(inside))
        if inside[best] == 0:
            return None
        area = stats[:, cv2.CC_STAT_AREA]
        keep = (inside >= 0.8 * area) & (area >= max(self.min_area_px, 0.1 * area[best]))
        keep[0] = False
        keep[best] = True
        mask = keep[labels]
        if int(mask.sum()) < self.min_area_px:
            return None
        return mask

    @staticmethod
    def _score(mask: np.ndarray, box: np.ndarray) -> float:
        bx0, by0, bx1, by1 = (int(v) for v in box)
        inside = float(mask[by0:by1, bx0:bx1].sum())
        total = float(mask.sum())
        box_area = float((bx1 - bx0) * (by1 - by0))
        fill = inside / box_area
        # Plausible fill of a tight athlete box is roughly 0.3..0.7: full marks there, falling
        # linearly to 0 at an empty box and at a box entirely covered.
        plausible = min(1.0, fill / 0.3, max(0.0, (1.0 - fill) / 0.3))
        return plausible * (inside / total if total else 0.0)


def build_chroma_refiner(**params: Any) -> ChromaRefiner:
    """The ``chroma`` refiner; ``params`` are :class:`ChromaRefiner` fields."""
    return ChromaRefiner(**params)


# --------------------------------------------------------------------------- sam2 backend


class Sam2Refiner:
    """SAM 2.1 masks from box prompts (see :func:`build_sam2_refiner`).

    Per frame the image is embedded once; the boxes of that frame are prompted in batches of
    ``batch_size`` with ``multimask_output=True`` and the mask with the highest predicted IoU is
    kept, clipped to the row's search box (:func:`enlarge_boxes`). ``mask_score`` is that
    predicted IoU, clipped to ``[0, 1]``.

    On CUDA (``on_device``, the default there) the frames of a batch are embedded together
    (``set_image_batch``) under bfloat16 autocast (as SAM 2's authors run it), all boxes of a
    frame are prompted at once, and the best mask is chosen and cut to its search box on the
    GPU: only those crops cross to the host, not the three full-frame masks per box (about
    11 MB a box at 720p in float32, 280 MB a frame of 25 athletes) that ``predict`` returns. On
    the CPU the per-frame ``predict`` path runs in fp32, as before; both paths give the same
    rows (tests/curation/test_refine_cuda.py runs the device path on the CPU against it).

    Args:
        predictor: A ``SAM2ImagePredictor``.
        margin, margin_px: See :func:`enlarge_boxes`.
        batch_size: Boxes prompted together; ``None`` = 8 on the CPU, 64 on CUDA (every athlete
            of a frame in one decoder call; about 8 MB of GPU memory a box at 720p).
        on_device: Take the device path described above; ``None`` = exactly when the predictor
            runs on CUDA.
    """

    def __init__(
        self, predictor: Any, margin: float = 0.1, margin_px: float = 2.0, batch_size: int | None = None,
        on_device: bool | None = None,
    ) -> None:
        device = str(getattr(predictor, "device", "cpu"))
        if batch_size is None:
            batch_size = 64 if is_cuda(device) else 8
        if not 0 <= margin <= 1:
            raise ValueError(f"Sam2Refiner margin must be in [0, 1], got {margin}")
        if margin_px < 0:
            raise ValueError(f"Sam2Refiner margin_px must be >= 0, got {margin_px}")
        if int(batch_size) < 1:
            raise ValueError(f"Sam2Refiner batch_size must be >= 1, got {batch_size}")
        self.predictor = predictor
        self.margin = float(margin)
        self.margin_px = float(margin_px)
        self.batch_size = int(batch_size)
        self.device = device
        self.on_device = is_cuda(device) if on_device is None else bool(on_device)

    def __call__(self, frames: Frames, detections: Detections) -> Detections:
        """See :class:`Refiner`."""
        mask_rle, refined, score = _empty_outputs(detections)
        work = []  # (position, rows, boxes, search boxes) of every frame with a box inside it
        for position, rows in _rows_by_frame(frames, detections, "Sam2Refiner"):
            height, width = frames.images[position].shape[:2]
            boxes = detections.xyxy[rows]
            bounds = enlarge_boxes(boxes, self.margin, self.margin_px, width, height)
            valid = (bounds[:, 2] > bounds[:, 0]) & (bounds[:, 3] > bounds[:, 1])
            if valid.any():
                work.append((position, rows[valid], boxes[valid], bounds[valid]))
        picks = self._pick_on_device(frames, work) if self.on_device else self._pick(frames, work)
        for (position, rows, _, bounds), picked in zip(work, picks):
            height, width = frames.images[position].shape[:2]
            for row, (x0, y0, _, _), (roi, iou) in zip(rows, bounds.tolist(), picked):
                if not roi.any():
                    continue
                mask_rle[row], refined[row] = _encode(roi, x0, y0, height, width)
                score[row] = iou
        return _with_refinement(detections, mask_rle, refined, score)

    def _pick(self, frames: Frames, work: list) -> Iterator[list[tuple[np.ndarray, float]]]:
        """Per frame of ``work``, ``(bool mask of the search box, predicted IoU)`` of each box:
        one frame embedded at a time, masks chosen on the host (the CPU path)."""
        for position, _, boxes, bounds in work:
            image = frames.images[position]
            height, width = image.shape[:2]
            # SAM 2 takes RGB; frames are BGR.
            self.predictor.set_image(np.ascontiguousarray(image[:, :, ::-1]))
            picked = []
            for start in range(0, len(boxes), self.batch_size):
                chunk = slice(start, start + self.batch_size)
                n = len(boxes[chunk])
                masks, ious, _ = self.predictor.predict(box=boxes[chunk], multimask_output=True)
                # predict() squeezes the batch axis when there is a single box.
                masks = np.asarray(masks).reshape(n, -1, height, width)
                ious = np.asarray(ious, dtype=np.float32).reshape(n, -1)
                for j, (x0, y0, x1, y1) in enumerate(bounds[chunk].tolist()):
                    best = int(np.argmax(ious[j]))
                    picked.append((masks[j, best, y0:y1, x0:x1] > 0.5, float(ious[j, best])))
            yield picked

    def _pick_on_device(self, frames: Frames, work: list) -> list[list[tuple[np.ndarray, float]]]:
        """What :meth:`_pick` gives, computed where the model runs: the batch's frames embedded
        together, the best of the three masks chosen and cut to the search box on the device."""
        import torch

        predictor, out = self.predictor, []
        if not work:
            return out
        with torch.inference_mode(), autocast(self.device, "bfloat16"):
            predictor.set_image_batch([np.ascontiguousarray(frames.images[position][:, :, ::-1]) for position, *_ in work])
            for index, (_, _, boxes, bounds) in enumerate(work):
                picked = []
                for start in range(0, len(boxes), self.batch_size):
                    chunk = slice(start, start + self.batch_size)
                    # The steps of predictor.predict(), minus its copy of every full-frame mask to numpy.
                    _, _, _, prompt = predictor._prep_prompts(None, None, boxes[chunk], None, True, img_idx=index)
                    masks, ious, _ = predictor._predict(None, None, prompt, None, multimask_output=True, img_idx=index)
                    best = ious.argmax(dim=1)
                    chosen = masks[torch.arange(len(best), device=masks.device), best]  # (n, H, W) bool
                    best_iou = ious.gather(1, best[:, None])[:, 0].float().cpu().numpy()
                    for j, (x0, y0, x1, y1) in enumerate(bounds[chunk].tolist()):
                        picked.append((chosen[j, y0:y1, x0:x1].cpu().numpy(), float(best_iou[j])))
                out.append(picked)
        return out


def _missing_checkpoint(checkpoint: Any, config: str) -> FileNotFoundError:
    name = _SAM2_CHECKPOINTS.get(config, "sam2.1_hiera_tiny.pt")
    return FileNotFoundError(
        f"SAM 2 checkpoint not found: {checkpoint!s}. Download the official SAM 2.1 checkpoint for "
        f"{config} ({name}) from the facebookresearch/sam2 release ({SAM2_CHECKPOINT_URL}) and pass "
        "its path as checkpoint=...; nothing is downloaded at run time. The 'chroma' refiner needs "
        "no weights at all."
    )


def build_sam2_refiner(
    config: str = "configs/sam2.1/sam2.1_hiera_t.yaml",
    checkpoint: str | Path | None = None,
    device: str = "cpu",
    margin: float = 0.1,
    margin_px: float = 2.0,
    batch_size: int | None = None,
) -> Sam2Refiner:
    """The ``sam2`` refiner: SAM 2.1 from a local checkpoint, loaded with ``weights_only=True``.

    Args:
        config: SAM 2 model config, relative to the installed ``sam2`` package
            (``configs/sam2.1/sam2.1_hiera_t.yaml`` is the tiny model).
        checkpoint: Path of a checkpoint matching ``config``: a ``{"model": state_dict}`` file as
            released by facebookresearch/sam2 (e.g. ``sam2.1_hiera_tiny.pt``), or a bare state dict.
        device: Torch device to run on.
        margin: See :func:`enlarge_boxes`.
        margin_px: See :func:`enlarge_boxes`.
        batch_size: Boxes prompted together (memory grows with it: three full-frame masks each);
            ``None`` = 8 on the CPU, 64 on CUDA (see :class:`Sam2Refiner`).

    Raises:
        FileNotFoundError: the checkpoint is missing (the message says where to get one).
        ValueError: the checkpoint does not match the config.
    """
    if checkpoint is None or not Path(checkpoint).is_file():
        raise _missing_checkpoint(checkpoint, config)
    from soccerfactory.curation.safe_load import UnsafeCheckpointError, load_state

    # Loaded here rather than by sam2's builder so the rule is visible (scanned, then
    # weights_only=True) and a bad or mismatched file is reported with its name instead of sam2's
    # bare RuntimeError.
    try:
        state = load_state(Path(checkpoint), "SAM 2 checkpoint")
    except UnsafeCheckpointError as exc:
        raise ValueError(
            f"{exc} (it must load with weights_only=True: tensors only; use an official checkpoint or re-save its state dict)"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise ValueError(f"SAM 2 checkpoint {checkpoint} holds a {type(state).__name__}, not a state dict")

    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    model = build_sam2(config, ckpt_path=None, device="cpu", mode="eval")  # random init, loaded below
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches raise even when not strict
        raise ValueError(f"SAM 2 checkpoint {checkpoint} does not match {config}: {exc}") from exc
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"SAM 2 checkpoint {checkpoint} does not match {config}: "
            f"{len(result.missing_keys)} missing keys (e.g. {result.missing_keys[:3]}), "
            f"{len(result.unexpected_keys)} unexpected keys (e.g. {result.unexpected_keys[:3]})"
        )
    model = model.to(device).eval()
    return Sam2Refiner(SAM2ImagePredictor(model), margin=margin, margin_px=margin_px, batch_size=batch_size)


# --------------------------------------------------------------------------- registry

REFINERS: dict[str, Callable[..., Refiner]] = {
    "chroma": build_chroma_refiner,
    "sam2": build_sam2_refiner,
}


def build_refiner(name: str = "chroma", **params: Any) -> Refiner:
    """Build a refiner by name (``chroma`` or ``sam2``); ``params`` go to its builder.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    return pick_builder(REFINERS, name, "refiner")(**params)
