"""COCO run-length encoding of binary masks, in plain numpy.

The format is COCO's *uncompressed* RLE: ``{"size": [H, W], "counts": [...]}`` where
``counts`` are run lengths over the mask flattened in column-major (Fortran) order,
alternating background / foreground and always starting with a background run
(which is ``0`` when the first pixel is foreground). Runs are maximal, so there is
never a zero-length run except possibly the first, and the encoding of a mask is
unique; this is what ``pycocotools.mask.frPyObjects`` accepts for uncompressed RLE.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["rle_area", "rle_decode", "rle_encode", "rle_encode_roi", "rle_to_bbox"]

RLE = dict[str, list[int]]


def _runs(flat: np.ndarray) -> list[int]:
    """Run lengths of a 1-D bool array, starting with a (possibly empty) False run."""
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(bounds)
    if flat[0]:
        counts = np.concatenate(([0], counts))
    return counts.tolist()


def _check_mask(name: str, mask: Any) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.dtype != bool:
        # uint8 0/255 and float probability maps both exist; guessing the threshold is the caller's call.
        raise ValueError(f"{name} must have dtype bool, got {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (H, W), got {arr.shape}")
    return arr


def rle_encode(mask: np.ndarray) -> RLE:
    """Encode a full-image mask.

    Args:
        mask: ``bool`` ``(H, W)``.

    Returns:
        ``{"size": [H, W], "counts": [int, ...]}`` (COCO uncompressed RLE).
    """
    mask = _check_mask("mask", mask)
    height, width = mask.shape
    # mask.T is (W, H); flattening it row-major is the column-major order of the mask.
    return {"size": [int(height), int(width)], "counts": _runs(mask.T.ravel())}


def rle_encode_roi(roi_mask: np.ndarray, x0: int, y0: int, height: int, width: int) -> RLE:
    """Encode a mask given only inside a region of interest, as if it were full-image.

    Produces exactly ``rle_encode(full)`` where ``full`` is an all-False ``(height,
    width)`` image with ``roi_mask`` pasted at ``(x0, y0)``, but only materialises the
    ``w`` columns the ROI spans (``height x w`` pixels): columns left and right of the
    ROI are entirely background, so in column-major order they only lengthen the
    first and last background runs. This keeps encoding cheap for the many small
    instance masks of a full-HD frame.

    Args:
        roi_mask: ``bool`` ``(h, w)`` mask of the region.
        x0: Column of the region's left edge in the full image.
        y0: Row of the region's top edge in the full image.
        height: Full image height ``H``.
        width: Full image width ``W``.

    Raises:
        ValueError: if the region does not fit inside the image (clip it first).
    """
    roi = _check_mask("roi_mask", roi_mask)
    h, w = roi.shape
    x0, y0, height, width = int(x0), int(y0), int(height), int(width)
    if height < 0 or width < 0:
        raise ValueError(f"image size must be non-negative, got height={height}, width={width}")
    if x0 < 0 or y0 < 0 or x0 + w > width or y0 + h > height:
        raise ValueError(
            f"ROI of shape {roi.shape} at (x0={x0}, y0={y0}) does not fit in a {height}x{width} image"
        )
    if height * width == 0:
        return {"size": [height, width], "counts": []}

    # Band stored transposed, (w, H), so its row-major ravel is column-major image order.
    band = np.zeros((w, height), dtype=bool)
    band[:, y0 : y0 + h] = roi.T
    counts = _runs(band.ravel())
    before = x0 * height
    after = (width - x0 - w) * height
    if not counts:  # zero-width ROI: the whole image is one background run
        return {"size": [height, width], "counts": [height * width]}
    counts[0] += before
    if len(counts) % 2 == 1:  # odd number of runs: the last one is background
        counts[-1] += after
    elif after:
        counts.append(after)
    return {"size": [height, width], "counts": counts}


def _parse(rle: Mapping[str, Any]) -> tuple[int, int, np.ndarray]:
    try:
        height, width = (int(v) for v in rle["size"])
        counts = np.asarray(rle["counts"], dtype=np.int64).reshape(-1)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not an uncompressed COCO RLE ({{'size': [H, W], 'counts': [...]}}): {exc}") from exc
    if (counts < 0).any():
        raise ValueError("rle['counts'] must be non-negative")
    if int(counts.sum()) != height * width:
        raise ValueError(f"rle['counts'] sum to {int(counts.sum())}, expected H*W = {height * width}")
    return height, width, counts


def rle_decode(rle: Mapping[str, Any]) -> np.ndarray:
    """Decode an RLE back into a ``bool`` ``(H, W)`` mask."""
    height, width, counts = _parse(rle)
    values = np.arange(len(counts)) % 2 == 1
    flat = np.repeat(values, counts)
    return flat.reshape(width, height).T


def rle_area(rle: Mapping[str, Any]) -> int:
    """Number of foreground pixels."""
    _, _, counts = _parse(rle)
    return int(counts[1::2].sum())


def rle_to_bbox(rle: Mapping[str, Any]) -> np.ndarray:
    """Tight box around the foreground, ``float32`` ``(4,)`` ``xyxy`` in pixels.

    ``x2``/``y2`` are exclusive (last foreground column/row + 1), so the box of a
    single pixel at ``(x, y)`` is ``(x, y, x + 1, y + 1)``. An empty mask gives zeros.
    """
    height, _, counts = _parse(rle)
    ends = np.cumsum(counts)
    starts = ends - counts
    fg = np.arange(len(counts)) % 2 == 1
    fg &= counts > 0
    if not fg.any():
        return np.zeros(4, dtype=np.float32)
    first, last = starts[fg], ends[fg] - 1  # inclusive flat indices of each foreground run
    col0, col1 = first // height, last // height
    # A run that wraps into the next column covers the bottom of one column and the
    # top of the next, so it spans every row.
    wraps = col1 > col0
    row0 = np.where(wraps, 0, first % height)
    row1 = np.where(wraps, height - 1, last % height)
    return np.array([col0.min(), row0.min(), col1.max() + 1, row1.max() + 1], dtype=np.float32)
