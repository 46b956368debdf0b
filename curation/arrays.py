"""Validation helpers for the typed containers' numpy fields.

Each helper checks or coerces one array and raises ``ValueError`` (``TypeError`` /
``IndexError`` for row indices) naming the owning container and field, e.g.
``Detections.xyxy must have shape (N, 4), got (3,)``. :func:`readonly` hands out
read-only views without copying, which is how every container (here and in the stage
packages) keeps its arrays immutable.

Only numpy is imported here, so the containers stay free of torch (:func:`to_numpy`
converts tensors by duck typing).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "as_float",
    "as_int64",
    "check_length",
    "check_shape",
    "components",
    "readonly",
    "row_index",
    "to_numpy",
    "vector",
]


def readonly(arr: np.ndarray) -> np.ndarray:
    # A view, so the caller's array keeps its own flags and no data is copied.
    view = arr.view()
    view.flags.writeable = False
    return view


def as_float(owner: str, name: str, value: Any, dtype: type) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size and arr.dtype.kind not in "iuf":
        raise ValueError(f"{owner}.{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(dtype, copy=False)
    if not np.isfinite(arr).all():
        bad = arr[~np.isfinite(arr)].ravel()[:3]
        raise ValueError(f"{owner}.{name} must be finite, got non-finite values {bad.tolist()}")
    return arr


def as_int64(owner: str, name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        # Ids that arrive as floats (torch class tensors) are fine; fractional ones are a bug.
        if not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr)):
            raise ValueError(f"{owner}.{name} must hold integers, got non-integral values")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{owner}.{name} must be integer, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def vector(arr: np.ndarray) -> np.ndarray:
    # `[]` and `np.array([])` are the natural spelling of "no rows"; give them shape (0,).
    return arr.reshape(0) if arr.size == 0 else arr


def check_shape(owner: str, name: str, arr: np.ndarray, expected: tuple[int | None, ...]) -> None:
    ok = arr.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, arr.shape))
    if not ok:
        dims = ["N" if e is None else str(e) for e in expected]
        pretty = f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
        raise ValueError(f"{owner}.{name} must have shape {pretty}, got {arr.shape}")


def check_length(owner: str, name: str, arr: np.ndarray, n: int) -> None:
    if arr.ndim == 0 or arr.shape[0] != n:
        raise ValueError(f"{owner}.{name} must have length {n} (one entry per row), got shape {arr.shape}")


def row_index(index: Any, n: int) -> slice | np.ndarray:
    """Turn any supported row index into a slice or a 1-D bool/int array.

    An int becomes a one-row slice so that indexing never drops the row axis.
    """
    if isinstance(index, (bool, np.bool_)):
        raise TypeError("cannot index rows with a bare bool; use a boolean mask array")
    if isinstance(index, (int, np.integer)):
        i = operator.index(index)
        if not -n <= i < n:
            raise IndexError(f"row index {i} out of range for {n} rows")
        i %= n
        return slice(i, i + 1)
    if isinstance(index, slice):
        return index
    arr = np.asarray(index)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise IndexError(f"row index array must be 1-D, got shape {arr.shape}")
    if arr.dtype == bool:
        if arr.shape[0] != n:
            raise IndexError(f"boolean row mask has length {arr.shape[0]}, expected {n}")
        return arr
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    raise TypeError(f"unsupported row index of dtype {arr.dtype}")


def to_numpy(x: Any) -> np.ndarray:
    # Duck-typed so torch tensors (possibly on GPU, possibly requiring grad) convert
    # without importing torch here.
    if hasattr(x, "detach"):
        x = x.detach()
    if hasattr(x, "cpu"):
        x = x.cpu()
    if hasattr(x, "numpy"):
        x = x.numpy()
    return np.asarray(x)


def components(n: int, pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected components of the undirected graph on nodes ``0 .. n-1`` with edges ``pairs``.

    The one union-find of the package: duplicate tracks joined transitively
    (:func:`~soccerfactory.curation.tracking.tracklets.find_duplicates`), referees in one kit
    (:mod:`~soccerfactory.curation.attribute.one_referee`), a shot cut's competing link candidates
    (:mod:`~soccerfactory.curation.tracking.shot_geometry`).

    Args:
        n: Number of nodes (``>= 0``).
        pairs: ``(i, j)`` edges, ``0 <= i, j < n`` (a self-edge or a repeated edge is harmless).

    Returns:
        Every node in exactly one component (a node without an edge is a component of its own);
        each component's nodes ascending, the components ordered by their smallest node, so the
        result does not depend on the order of ``pairs``.

    Raises:
        ValueError: ``n < 0`` or an edge names a node outside ``0 .. n-1``.
    """
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"components: n must be >= 0, got {n}")
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees shallow
            i = parent[i]
        return i

    for i, j in pairs:
        i, j = operator.index(i), operator.index(j)
        if not (0 <= i < n and 0 <= j < n):
            raise ValueError(f"components: edge ({i}, {j}) names a node outside 0..{n - 1}")
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(n):  # ascending, so each component is ascending and keyed in order of its smallest node
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())
