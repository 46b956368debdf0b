"""COCO export: the file faster-coco-eval loads, and the renderer's truth scoring AP 1.0 against itself.

The round trip: the session catalog's perfect shard is exported; faster-coco-eval loads the
export and scores its annotations (as detections, score 1) against a COCO ground truth built
here from the renderer's ``gt/athletes.parquet`` and ``gt/ball.parquet``, not by the exporter:
box AP 1.0; and the other way round for masks (the export as ground truth): mask AP 1.0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from faster_coco_eval import COCO, COCOeval_faster

from soccerfactory.storage.formats.coco import COCO_FILE, export_coco, rle_segmentation
from soccerfactory.storage.gamestate import CATEGORIES
from soccerfactory.storage.groundtruth import read_ground_truth

_IDS = {c["name"]: c["id"] for c in CATEGORIES}


def _truth_document(catalog: Path, clip, athletes) -> dict:
    """COCO ground truth of the rendered clip, straight from the renderer's tables."""
    ball = read_ground_truth(Path(catalog).parent / "clip" / "gt", "ball").to_pylist()
    frames = range(clip.start_frame, clip.stop_frame)
    images = [{"id": f + 1, "width": clip.width, "height": clip.height, "file_name": f"{f}.jpg"} for f in frames]
    annotations = []
    for r in athletes.to_pylist():
        w, h = r["x2"] - r["x1"], r["y2"] - r["y1"]
        annotations.append({
            "image_id": r["frame_index"] + 1, "category_id": _IDS[r["role"]], "bbox": [r["x1"], r["y1"], w, h], "area": w * h, "iscrowd": 0,
            "segmentation": {"size": [clip.height, clip.width], "counts": json.loads(r["mask_rle"])},
        })
    for r in ball:
        if r["visible"] and r["x1"] is not None:
            w, h = r["x2"] - r["x1"], r["y2"] - r["y1"]
            annotations.append({"image_id": r["frame_index"] + 1, "category_id": _IDS["ball"], "bbox": [r["x1"], r["y1"], w, h], "area": w * h, "iscrowd": 0})
    for n, annotation in enumerate(annotations, start=1):
        annotation["id"] = n
    return {"images": images, "annotations": annotations, "categories": CATEGORIES}


def _average_precision(truth: COCO, detections: list[dict], kind: str) -> float:
    evaluation = COCOeval_faster(truth, truth.loadRes(detections), kind, print_function=lambda *_: None)
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return float(evaluation.stats[0])  # AP at IoU 0.50:0.95, all areas


def test_the_renderers_truth_exported_scores_ap_1_in_faster_coco_eval(truth, tmp_path):
    catalog, clip, athletes = truth
    summary = export_coco(catalog, None, tmp_path / "coco")
    exported = COCO(str(tmp_path / "coco" / COCO_FILE))  # the export loads as a COCO ground truth itself
    assert len(exported.getImgIds()) == clip.num_frames == summary.images
    assert summary.labels == len(exported.getAnnIds())
    frame_of = {image["id"]: image["frame_index"] for image in exported.dataset["images"]}
    reference = COCO(_truth_document(catalog, clip, athletes))
    assert len(reference.getAnnIds()) == summary.labels  # every true athlete and visible ball, once
    boxes = [
        {"image_id": frame_of[a["image_id"]] + 1, "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
        for a in exported.dataset["annotations"]
    ]
    assert _average_precision(reference, boxes, "bbox") == pytest.approx(1.0)
    # Masks the other way round: the export as the ground truth (its uncompressed RLE as stored),
    # the renderer's masks as detections (loadRes wants them compressed).
    from faster_coco_eval.core import mask

    image_of = {f: i for i, f in frame_of.items()}
    detections = [
        {"image_id": image_of[r["frame_index"]], "category_id": _IDS[r["role"]], "score": 1.0,
         "segmentation": mask.frPyObjects({"size": [clip.height, clip.width], "counts": json.loads(r["mask_rle"])}, clip.height, clip.width)}
        for r in athletes.to_pylist()
    ]
    with_masks = [a for a in exported.dataset["annotations"] if "segmentation" in a]
    assert len(with_masks) == len(detections)  # every athlete of the truth has its mask
    mask_truth = COCO({**exported.dataset, "annotations": with_masks})
    assert _average_precision(mask_truth, detections, "segm") == pytest.approx(1.0)

def test_annotations_carry_category_track_and_attributes(examples, tmp_path):
    summary = export_coco(examples, "match_id = 'match-1' AND clip_id = 'clip-1'", tmp_path / "coco")
    document = json.loads((tmp_path / "coco" / COCO_FILE).read_text())
    assert [i["file_name"] for i in document["images"]] == [f"clip-1/img1/{n:06d}.jpg" for n in (1, 2, 3, 4)]
    assert [i["frame_index"] for i in document["images"]] == [200, 201, 202, 203]
    athletes = [a for a in document["annotations"] if a["track_id"] is not None]
    balls = [a for a in document["annotations"] if a["category_id"] == _IDS["ball"]]
    assert len(athletes) == 4 * 3 and len(balls) == 2  # the example's ball is seen on even frames
    assert summary.labels == len(athletes) + len(balls) and len({a["id"] for a in document["annotations"]}) == summary.labels
    first = athletes[0]
    assert first["category_id"] == _IDS["player"] and first["attributes"] == {"track_id": 1, "role": "player", "team": "A", "jersey": 7, "flags": None}
    assert first["bbox"][2:] == pytest.approx([20.0, 60.0])
    assert {a["category_id"] for a in athletes} == {_IDS["player"], _IDS["referee"]}
    # The example's masks do not cover their image: boxes only, never a made-up mask.
    assert not any("segmentation" in a for a in athletes) and document["info"]["athletes_without_mask"] == len(athletes)


def test_a_mask_is_kept_only_when_it_fits_its_image():
    assert rle_segmentation('{"size": [2, 3], "counts": [1, 2, 3]}', 2, 3) == {"size": [2, 3], "counts": [1, 2, 3]}
    for stored in (None, "", "not json", '{"size": [2, 3], "counts": [1, 2]}', '{"size": [3, 2], "counts": [1, 2, 3]}', '{"counts": [6]}'):
        assert rle_segmentation(stored, 2, 3) is None
