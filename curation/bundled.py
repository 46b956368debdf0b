"""Where the project's own small default models live, and how a missing one is reported.

The weights ship inside the package (``soccerfactory/curation/weights/``, see its README for the
data, command and metrics of each) so an air-gapped install has working defaults without any
download. Every path a user configures goes through :func:`require_weights`, so a missing file is
always reported the same way: which file, and how to get one.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["WEIGHTS_DIR", "bundled_weights", "require_weights"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# How to obtain each bundled file when it is missing (a partial checkout, a stripped wheel).
_HOW_TO_GET = {
    "detector.pt": "python -m soccerfactory.curation.training.yolo detector",
    "pitch-keypoints.pt": "python -m soccerfactory.curation.training.yolo pitch-keypoints",
    "pitch-keypoints-heatmap.pt": "python -m soccerfactory.curation.training.keypoints --data DATASET (see curation/weights/README.md)",
}


def bundled_weights(name: str) -> Path:
    """Path of a weights file shipped with the package (it may not exist; see :func:`require_weights`)."""
    return WEIGHTS_DIR / name


def require_weights(path: str | os.PathLike, what: str, how_to_get: str | None = None) -> Path:
    """Return ``path`` as a ``Path`` if it is a readable file, else raise saying how to get one.

    Args:
        path: Configured weights file.
        what: What the file is for, e.g. ``"detector weights"``; starts the error message.
        how_to_get: Instructions for obtaining the file; defaults to the retraining command for
            bundled files.

    Raises:
        FileNotFoundError: naming the file and how to get one. Nothing is ever downloaded.
    """
    path = Path(path).expanduser()
    if path.is_file():
        return path
    hint = how_to_get or _HOW_TO_GET.get(path.name)
    message = f"{what} not found: {path}"
    if hint:
        message += f". To get it: {hint}"
    message += " (nothing is downloaded at run time; point the config at a local file)"
    raise FileNotFoundError(message)
