"""Curated athletes and ball as one COCO detection / instance-segmentation file.

``OUT/annotations.json`` holds the COCO keys ``info``, ``licenses``, ``images``,
``annotations`` and ``categories``:

* ``images``: one per curated frame (the ``frames`` view; a frame without a box is a negative):
  ``id`` (1..), ``file_name`` ``<sequence>/img1/<frame:06d>.jpg`` (the MOT / SoccerNet layout,
  1-based from the clip's first frame), ``width``, ``height``, and ``match_id``, ``clip_id``,
  ``frame_index`` (in the source video), ``sequence``, ``frame_number``.
* ``annotations``: ``bbox`` ``[x, y, w, h]`` in source pixels (top left, width, height),
  ``area`` (of the mask where there is one, else of the box), ``iscrowd`` 0, ``category_id`` by
  role (the ids of :data:`~soccerfactory.storage.gamestate.CATEGORIES`: player 1, goalkeeper 2,
  referee 3, ball 4, other 7), ``score`` (the curated confidence), ``track_id`` (athletes: the
  curated track, one athlete in the clip; ball: null) and ``attributes`` ``{track_id, role,
  team, jersey, flags}`` for athletes, ``{detected, interpolated}`` for the ball.
  ``segmentation`` is the athlete's ``mask_rle`` as stored, COCO's uncompressed RLE
  ``{"size": [H, W], "counts": [...]}`` (column-major); an athlete without a mask, or whose
  mask does not fit its image, has no ``segmentation`` key (a box is never passed off as a
  mask); ``info.athletes_without_mask`` counts them.

Loads in faster-coco-eval and pycocotools (``COCO("annotations.json")``); ``bbox`` evaluation
needs nothing else, ``segm`` evaluation only the annotations with a ``segmentation``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from soccerfactory.storage.formats.selection import (
    ExportSummary, Progress, SelectedClip, athlete_rows, clip_rows, curated_frames, selected_clips,
)
from soccerfactory.storage.gamestate import CATEGORIES

__all__ = ["COCO_FILE", "export_coco", "clip_annotations", "rle_segmentation"]

#: The file an export writes under its folder.
COCO_FILE = "annotations.json"
_CATEGORY_ID = {c["name"]: c["id"] for c in CATEGORIES}


def rle_segmentation(mask_rle: str | None, height: int, width: int) -> dict[str, Any] | None:
    """A stored ``mask_rle`` as a COCO RLE segmentation, or None when it is missing or does not fit.

    Args:
        mask_rle: JSON ``{"size": [H, W], "counts": [...]}`` (COCO uncompressed RLE, column-major).
        height, width: The image's size; the mask must have it and its runs must cover it exactly.
    """
    if not mask_rle:
        return None
    try:
        rle = json.loads(mask_rle)
        size, counts = [int(v) for v in rle["size"]], [int(v) for v in rle["counts"]]
    except (ValueError, TypeError, KeyError):
        return None
    if size != [int(height), int(width)] or min(counts, default=0) < 0 or sum(counts) != height * width:
        return None
    return {"size": size, "counts": counts}


def _area(segmentation: Mapping[str, Any] | None, w: float, h: float) -> float:
    if segmentation is None:
        return round(w * h, 2)
    return float(sum(segmentation["counts"][1::2]))  # foreground runs: every second one


def clip_annotations(
    clip: SelectedClip,
    athletes: Sequence[Mapping[str, Any]],
    ball: Sequence[Mapping[str, Any]],
    image_ids: Mapping[int, int],
    skipped: Counter,
) -> list[dict[str, Any]]:
    """One clip's annotations (ids not yet set), for the frames in ``image_ids`` (frame_index -> image id).

    Rows on frames without an image are left out and counted in ``skipped`` (``box on a frame
    not curated``); an athlete without a usable mask keeps its box, without ``segmentation``.

    Raises:
        ValueError: an athlete role with no COCO category.
    """
    height, width = int(clip.row["height"]), int(clip.row["width"])
    annotations = []
    for row in athletes:
        image = image_ids.get(int(row["frame_index"]))
        if image is None:
            skipped["box on a frame not curated"] += 1
            continue
        if row["role"] not in _CATEGORY_ID or row["role"] == "ball":
            raise ValueError(f"clip {clip.name} frame {row['frame_index']}: athlete role {row['role']!r} has no COCO category")
        x1, y1, x2, y2 = (float(row[k]) for k in ("x1", "y1", "x2", "y2"))
        segmentation = rle_segmentation(row.get("mask_rle"), height, width)
        annotation = {
            "image_id": image, "category_id": _CATEGORY_ID[row["role"]],
            "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
            "area": _area(segmentation, x2 - x1, y2 - y1), "iscrowd": 0,
            "score": round(float(row["confidence"]), 4), "track_id": int(row["track_id"]),
            "attributes": {
                "track_id": int(row["track_id"]), "role": row["role"], "team": row.get("team"),
                "jersey": None if row.get("jersey") is None else int(row["jersey"]), "flags": row.get("flags"),
            },
        }
        if segmentation is not None:
            annotation["segmentation"] = segmentation
        annotations.append(annotation)
    for row in ball:
        if row["x1"] is None or not (row["x2"] > row["x1"] and row["y2"] > row["y1"]):
            continue
        image = image_ids.get(int(row["frame_index"]))
        if image is None:
            skipped["box on a frame not curated"] += 1
            continue
        x1, y1, x2, y2 = (float(row[k]) for k in ("x1", "y1", "x2", "y2"))
        annotations.append({
            "image_id": image, "category_id": _CATEGORY_ID["ball"],
            "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
            "area": round((x2 - x1) * (y2 - y1), 2), "iscrowd": 0,
            "score": None if row.get("confidence") is None else round(float(row["confidence"]), 4), "track_id": None,
            "attributes": {"detected": bool(row["detected"]), "interpolated": bool(row["interpolated"])},
        })
    return annotations


def export_coco(
    catalog: str | os.PathLike, where: str | None, out: str | os.PathLike, *, drop_flagged: bool = False, progress: Progress | None = None
) -> ExportSummary:
    """Write the clips a catalog selection names as ``out/annotations.json`` (COCO).

    Args:
        catalog: The DuckDB catalog file.
        where: SQL condition on the ``clips`` columns (e.g. ``match_id = 'm1'``); None for all.
        out: The export folder (created; ``annotations.json`` is replaced).
        drop_flagged: Leave out the rows of tracks the curation flagged (``athletes.flags``).
        progress: Called with one line per clip.

    Raises:
        FileNotFoundError, ValueError: as :func:`~soccerfactory.storage.formats.selection.selected_clips`.
    """
    out = Path(out)
    skipped: Counter = Counter()
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    with selected_clips(catalog, where) as (connection, clips):
        for k, clip in enumerate(clips, start=1):
            athletes = athlete_rows(connection, clip, skipped, drop_flagged=drop_flagged)
            frames = curated_frames(connection, clip, athletes)
            image_ids = {f: len(images) + n for n, f in enumerate(frames, start=1)}
            images += [
                {
                    "id": image_ids[f], "file_name": f"{clip.name}/img1/{clip.frame_number(f):06d}.jpg",
                    "width": int(clip.row["width"]), "height": int(clip.row["height"]),
                    "match_id": clip.key[0], "clip_id": clip.key[1], "sequence": clip.name,
                    "frame_index": f, "frame_number": clip.frame_number(f),
                }
                for f in frames
            ]
            found = clip_annotations(clip, athletes, clip_rows(connection, clip, "ball"), image_ids, skipped)
            annotations += found
            if progress is not None:
                progress(f"coco {k}/{len(clips)}: {clip.name} ({len(found)} annotations, {len(frames)} images)")
        for n, annotation in enumerate(annotations, start=1):
            annotation["id"] = n
        document = {
            "info": {
                "description": "soccerfactory curated labels", "catalog": os.fspath(catalog), "where": where,
                "bbox": "[x, y, w, h] in source pixels", "segmentation": "COCO uncompressed RLE, column-major",
                "left_out": dict(skipped),
                "athletes_without_mask": sum(1 for a in annotations if a["track_id"] is not None and "segmentation" not in a),
            },
            "licenses": [],
            "images": images,
            "annotations": annotations,
            "categories": CATEGORIES,
        }
    out.mkdir(parents=True, exist_ok=True)
    path = out / COCO_FILE
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w") as handle:
        json.dump(document, handle, separators=(",", ":"))
    os.replace(temporary, path)
    return ExportSummary("coco", out, len(clips), len(images), len(annotations), dict(skipped))
