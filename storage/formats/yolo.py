"""Curated labels as an ultralytics YOLO detection dataset: frames, label files and ``data.yaml``.

Layout (the ultralytics conventions, as the project's own detector sets)::

    OUT/images/<split>/<sequence>-<frame:06d>.jpg   the frame, decoded from the clip's source
    OUT/labels/<split>/<sequence>-<frame:06d>.txt   one line per box: class cx cy w h (normalised)
    OUT/data.yaml                                    path, train, val, names

Classes are the project detector's (:data:`DETECTOR_CLASSES`, the order of
``curation.types.CLASS_NAMES``), so ``soccerfactory train-detector``'s models and weights read
the same ids: an athlete's class is its curated role; the ball is its curated box. Left out
(counted in the summary): role ``other`` (people off the pitch: the detector has no class for
them), interpolated ball boxes (filled in over a gap where the detector did not see the ball:
it may be hidden behind a player), boxes under 1 px once clipped to the image, and with
``drop_flagged`` the rows of flagged tracks. Frame ``<frame>`` is 1-based from the clip's first
frame, as in the MOT and COCO exports; every curated frame is an image (one without a box is a
negative), or every ``every``-th of them (neighbouring frames are near-duplicates).

``val`` is the clips ``val_where`` selects (whole clips, so no frame of a validation clip is
a near-duplicate of a training one); without it ``val`` is the training images themselves and
``data.yaml`` says so. This module never decodes video itself (storage knows no curation): the
caller passes ``read_frames``, e.g. the CLI's, which decodes with ``curation.video``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from soccerfactory.storage.formats.selection import (
    ExportSummary, Progress, SelectedClip, athlete_rows, clip_rows, curated_frames, selected_clips,
)

__all__ = ["DETECTOR_CLASSES", "FrameReader", "export_yolo", "yolo_lines"]

#: Class ids of the labels: the project detector's classes (``curation.types.CLASS_NAMES``).
DETECTOR_CLASSES: tuple[str, ...] = ("ball", "goalkeeper", "player", "referee")
#: ``read_frames(clip, frame_indices)`` -> ``(frame_index, image)`` pairs, ``image`` ``uint8``
#: ``(height, width, 3)`` BGR at the clip's size, for every requested source frame index.
FrameReader = Callable[[SelectedClip, Sequence[int]], Iterable[tuple[int, np.ndarray]]]
_CLASS_ID = {name: k for k, name in enumerate(DETECTOR_CLASSES)}
# A box thinner than a pixel once clipped to the image says nothing a detector can learn.
_MIN_SIDE_PX = 1.0
_JPEG_QUALITY = 95


def yolo_lines(boxes: Sequence[tuple[str, float, float, float, float]], width: int, height: int, skipped: Counter) -> list[str]:
    """``class cx cy w h`` lines (normalised, 6 decimals) of ``(class name, x1, y1, x2, y2)`` pixel boxes.

    Boxes are clipped to the image; one thinner than 1 px after that is counted in ``skipped``
    (``box under 1 px in the image``) and left out.
    """
    lines = []
    for name, x1, y1, x2, y2 in boxes:
        x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
        y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
        if x2 - x1 < _MIN_SIDE_PX or y2 - y1 < _MIN_SIDE_PX:
            skipped["box under 1 px in the image"] += 1
            continue
        cx, cy, w, h = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height
        lines.append(f"{_CLASS_ID[name]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return lines


def _boxes(athletes: Sequence[Mapping[str, Any]], ball: Sequence[Mapping[str, Any]], skipped: Counter) -> dict[int, list[tuple]]:
    """frame_index -> ``(class name, x1, y1, x2, y2)`` boxes of one clip."""
    by_frame: dict[int, list[tuple]] = {}
    for row in athletes:
        if row["role"] not in _CLASS_ID or row["role"] == "ball":
            skipped[f"role {row['role']} (no detector class)"] += 1
            continue
        by_frame.setdefault(int(row["frame_index"]), []).append((row["role"], *(float(row[k]) for k in ("x1", "y1", "x2", "y2"))))
    for row in ball:
        if row["x1"] is None:
            continue
        if row["interpolated"] and not row["detected"]:
            skipped["interpolated ball (not seen)"] += 1
            continue
        by_frame.setdefault(int(row["frame_index"]), []).append(("ball", *(float(row[k]) for k in ("x1", "y1", "x2", "y2"))))
    return by_frame


def _val_keys(connection: duckdb.DuckDBPyConnection, where: str | None, val_where: str, clips: Sequence[SelectedClip]) -> set[tuple[str, str]]:
    condition = f"({where}) AND ({val_where})" if where and where.strip() else f"({val_where})"
    try:
        keys = set(connection.sql(f"SELECT match_id, clip_id FROM clips WHERE {condition}").fetchall())
    except duckdb.Error as error:
        raise ValueError(f"--val-where {val_where!r} cannot select clips: {str(error).splitlines()[0]}") from None
    if not keys:
        raise ValueError(f"--val-where {val_where!r} selects none of the exported clips; name some of them, or leave it out")
    if len(keys) == len(clips):
        raise ValueError(f"--val-where {val_where!r} selects every exported clip; leave some for training")
    return keys


def _data_yaml(out: Path, held_out: bool) -> str:
    import yaml

    body = yaml.safe_dump(
        {"path": str(out.resolve()), "train": "images/train", "val": "images/val" if held_out else "images/train",
         "names": dict(enumerate(DETECTOR_CLASSES))},
        sort_keys=False,
    )
    note = "" if held_out else "# No --val-where given: val is the training images themselves (no held-out clips).\n"
    return "# soccerfactory export yolo: curated labels, classes of the project detector.\n" + note + body


def export_yolo(
    catalog: str | os.PathLike,
    where: str | None,
    out: str | os.PathLike,
    read_frames: FrameReader,
    *,
    val_where: str | None = None,
    every: int = 1,
    drop_flagged: bool = False,
    progress: Progress | None = None,
) -> ExportSummary:
    """Write the clips a catalog selection names as a YOLO dataset under ``out``.

    Args:
        catalog: The DuckDB catalog file.
        where: SQL condition on the ``clips`` columns (e.g. ``match_id = 'm1'``); None for all.
        out: The export folder (created; files of the same names are replaced).
        read_frames: Decodes a clip's frames (see :data:`FrameReader`).
        val_where: SQL condition on ``clips`` naming the clips that go to ``val``; None: no
            held-out clips (``val`` is ``train``).
        every: Keep every ``every``-th curated frame of a clip (>= 1), from its first.
        drop_flagged: Leave out the rows of tracks the curation flagged (``athletes.flags``).
        progress: Called with one line per clip.

    Raises:
        FileNotFoundError, ValueError: as :func:`~soccerfactory.storage.formats.selection.selected_clips`;
            a ``val_where`` that selects no exported clip or all of them; an ``out`` that already
            holds images or labels; a frame the reader did not return or returned at another size.
    """
    import cv2

    if int(every) < 1:
        raise ValueError(f"--every must be >= 1, got {every}")
    out = Path(out)
    # ultralytics trains on every image under images/: an earlier export's frames would join in.
    if any(path.is_file() for folder in ("images", "labels") for path in (out / folder).rglob("*")):
        raise ValueError(f"{out} already holds a YOLO dataset (images/ or labels/); remove them or export to another folder")
    skipped: Counter = Counter()
    images = labels = 0
    with selected_clips(catalog, where) as (connection, clips):
        val = _val_keys(connection, where, val_where, clips) if val_where and val_where.strip() else set()
        for k, clip in enumerate(clips, start=1):
            split = "val" if clip.key in val else "train"
            athletes = athlete_rows(connection, clip, skipped, drop_flagged=drop_flagged)
            frames = curated_frames(connection, clip, athletes)[:: int(every)]
            by_frame = _boxes(athletes, clip_rows(connection, clip, "ball"), skipped)
            width, height = int(clip.row["width"]), int(clip.row["height"])
            (out / "images" / split).mkdir(parents=True, exist_ok=True)
            (out / "labels" / split).mkdir(parents=True, exist_ok=True)
            wanted, written = set(frames), 0
            for frame_index, image in read_frames(clip, frames):
                if frame_index not in wanted:
                    continue
                if image.shape != (height, width, 3):
                    raise ValueError(f"clip {clip.name} frame {frame_index} decoded at {image.shape}, the catalog says {height}x{width}x3")
                stem = f"{clip.name}-{clip.frame_number(frame_index):06d}"
                lines = yolo_lines(by_frame.get(frame_index, []), width, height, skipped)
                if not cv2.imwrite(str(out / "images" / split / f"{stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY]):
                    raise OSError(f"cannot write {out / 'images' / split / f'{stem}.jpg'}")
                (out / "labels" / split / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
                wanted.discard(frame_index)
                written += 1
                labels += len(lines)
            if wanted:
                raise ValueError(f"clip {clip.name}: frames {sorted(wanted)[:5]} of {clip.row['source_url']} could not be decoded")
            images += written
            if progress is not None:
                progress(f"yolo {k}/{len(clips)}: {clip.name} -> {split} ({written} images)")
    out.mkdir(parents=True, exist_ok=True)
    (out / "data.yaml").write_text(_data_yaml(out, bool(val)))
    return ExportSummary("yolo", out, len(clips), images, labels, dict(skipped))
