"""YOLO dataset files (the ultralytics conventions): image folders and label lines.

* ``<split>/images/<name>.jpg`` beside ``<split>/labels/<name>.txt``;
* a detection label line is ``class cx cy w h``, normalised to the image (:func:`normalised_boxes`
  turns pixel boxes into it); a pose line adds ``x y v`` per keypoint;
* :func:`write_label` writes label lines, :func:`label_rows` reads them back;
* :func:`unstretch_yolo_split` resizes a published split (stretched to a square) back to 16:9,
  its normalised labels unchanged; :func:`link_subset` links the first images of a split (tests).

The dataset builders of :mod:`soccerfactory.curation.training.datasets` write through these.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "IMAGE_SUFFIXES",
    "images_in",
    "label_rows",
    "link_subset",
    "normalised_boxes",
    "unstretch_yolo_split",
    "write_label",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def images_in(folder: Path) -> list[Path]:
    """The images of ``folder`` (by :data:`IMAGE_SUFFIXES`), sorted by name."""
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def unstretch_yolo_split(
    source: str | Path,
    images_out: str | Path,
    labels_out: str | Path,
    size: tuple[int, int],
    prefix: str = "",
) -> int:
    """Resize a YOLO split (``source/images``, ``source/labels``) to ``size`` and copy its labels.

    Normalised YOLO labels (boxes and keypoints alike) describe the same pixels after any resize of
    the whole image, so they are copied verbatim.

    Args:
        source: a split folder holding ``images/`` and ``labels/``.
        images_out: folder for the resized JPEGs (created).
        labels_out: folder for the label files (created).
        size: output ``(width, height)`` in pixels, e.g. ``(1280, 720)``.
        prefix: prepended to every file name (keeps real and synthetic names apart).

    Returns:
        The number of images written.

    Raises:
        FileNotFoundError: when ``source/images`` is missing or an image has no label file.
        ValueError: when an image cannot be decoded.
    """
    import cv2

    source = Path(source)
    images_out, labels_out = Path(images_out), Path(labels_out)
    images_out.mkdir(parents=True, exist_ok=True)
    labels_out.mkdir(parents=True, exist_ok=True)
    count = 0
    for image_path in images_in(source / "images"):
        label_path = source / "labels" / f"{image_path.stem}.txt"
        if not label_path.is_file():
            raise FileNotFoundError(f"label file {label_path} for image {image_path} is missing")
        image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot decode image {image_path}")
        # INTER_AREA when shrinking keeps thin pitch lines and far players from aliasing away.
        shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        resized = cv2.resize(image, size, interpolation=interpolation)
        cv2.imwrite(str(images_out / f"{prefix}{image_path.stem}.jpg"), resized, [cv2.IMWRITE_JPEG_QUALITY, 95])
        shutil.copyfile(label_path, labels_out / f"{prefix}{image_path.stem}.txt")
        count += 1
    return count


def normalised_boxes(xyxy: np.ndarray, width: int, height: int, min_side: float) -> tuple[np.ndarray, np.ndarray]:
    """Clip pixel xyxy boxes to the image; return (cx, cy, w, h) normalised and the kept mask."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    finite = np.isfinite(xyxy).all(axis=1)
    clipped = np.where(np.isfinite(xyxy), xyxy, 0.0)
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, width)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, height)
    w = clipped[:, 2] - clipped[:, 0]
    h = clipped[:, 3] - clipped[:, 1]
    keep = finite & (w >= min_side) & (h >= min_side)
    boxes = np.stack(
        [(clipped[:, 0] + clipped[:, 2]) / 2 / width, (clipped[:, 1] + clipped[:, 3]) / 2 / height, w / width, h / height],
        axis=1,
    )
    return boxes[keep], keep


def write_label(path: Path, rows: np.ndarray, integer_columns: Sequence[int] = (0,)) -> None:
    """Write ``rows`` as label lines: ``integer_columns`` as integers, the rest with 6 decimals."""
    lines = []
    for row in np.atleast_2d(rows):
        values = [str(int(v)) if i in integer_columns else f"{v:.6f}" for i, v in enumerate(row)]
        lines.append(" ".join(values))
    path.write_text("\n".join(lines) + ("\n" if lines else ""))


def link_subset(source: Path, target: Path, limit: int) -> Path:
    """Symlink the first ``limit`` images of a split (and their labels) into ``target``."""
    if target.exists():
        shutil.rmtree(target)
    (target / "images").mkdir(parents=True)
    (target / "labels").mkdir(parents=True)
    for image in images_in(source / "images")[:limit]:
        (target / "images" / image.name).symlink_to(image.resolve())
        label = source / "labels" / f"{image.stem}.txt"
        if label.is_file():
            (target / "labels" / label.name).symlink_to(label.resolve())
    return target


def label_rows(path: str | Path) -> list[list[float]]:
    """The rows of a YOLO label file as lists of floats (empty file: no rows)."""
    return [[float(v) for v in line.split()] for line in Path(path).read_text().splitlines() if line.strip()]
