"""Role of each athlete (player, goalkeeper, referee) from its detector class."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from soccerfactory.curation.types import BALL, CLASS_NAMES

__all__ = ["role_from_class"]


def role_from_class(class_id: np.ndarray | Sequence[int]) -> np.ndarray:
    """Role of each athlete from its detector class.

    Args:
        class_id: ``(N,)`` integer ids of :data:`CLASS_NAMES`.

    Returns:
        ``object`` ``(N,)`` of ``"player"``, ``"goalkeeper"`` or ``"referee"``; ``None`` for the
        ball, which has no role.
    """
    ids = np.asarray(class_id)
    if ids.size == 0:
        return np.empty(0, dtype=object)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ValueError(f"class_id must be a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}")
    if ((ids < 0) | (ids >= len(CLASS_NAMES))).any():
        raise ValueError(f"class_id must index CLASS_NAMES {CLASS_NAMES}, got {sorted(set(ids.tolist()))}")
    names = np.array([None if i == BALL else CLASS_NAMES[i] for i in range(len(CLASS_NAMES))], dtype=object)
    return names[ids]
