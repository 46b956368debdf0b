"""Detection AP, ball recall and tracking scores computed by the field's reference code."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.quality.metrics import ball_recall, box_iou, detection_ap50, load_yolo_split, tracking_scores
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.curation.types import BALL, GOALKEEPER, PLAYER, REFEREE, Detections, Tracks

VALID = DEFAULT_DATA_ROOT / "football-players" / "valid"


def _boxes(rows):
    """rows of (frame, class, x1, y1, x2, y2[, conf])."""
    rows = [tuple(r) + ((1.0,) if len(r) == 6 else ()) for r in rows]
    return Detections(
        xyxy=[r[2:6] for r in rows], confidence=[r[6] for r in rows], class_id=[r[1] for r in rows], frame_index=[r[0] for r in rows]
    )


def test_box_iou_matches_hand_computed_values():
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]))
    np.testing.assert_allclose(iou, [[1.0, 50 / 150, 0.0]])
    assert box_iou(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)


TRUTH = _boxes([(0, PLAYER, 10, 10, 30, 60), (0, REFEREE, 100, 10, 120, 60), (1, GOALKEEPER, 50, 50, 70, 100), (1, PLAYER, 200, 10, 220, 60)])


def test_perfect_detections_score_one_and_person_group_merges_classes():
    scores = detection_ap50(TRUTH, TRUTH, image_ids=[0, 1])
    assert scores == pytest.approx({"goalkeeper": 1.0, "player": 1.0, "referee": 1.0, "person": 1.0})
    # The referee detected as a player: the referee class loses it, "person" does not.
    confused = Detections(TRUTH.xyxy, TRUTH.confidence, [PLAYER, PLAYER, GOALKEEPER, PLAYER], TRUTH.frame_index)
    scores = detection_ap50(TRUTH, confused, image_ids=[0, 1])
    assert scores["referee"] == 0.0 and scores["person"] == pytest.approx(1.0)
    assert scores["player"] < 1.0  # a false positive ranked with the true ones


def test_missed_and_misplaced_boxes_lower_ap():
    shifted = TRUTH.xyxy.copy()
    shifted[3] += 15  # IoU with its truth < 0.5: a miss plus a false positive
    scores = detection_ap50(TRUTH, Detections(shifted, TRUTH.confidence, TRUTH.class_id, TRUTH.frame_index), image_ids=[0, 1])
    assert scores["player"] == pytest.approx(0.5, abs=0.02)
    assert detection_ap50(TRUTH, TRUTH[:0], image_ids=[0, 1])["person"] == 0.0


def test_ball_recall_uses_the_loose_overlap():
    truth = _boxes([(0, BALL, 100, 100, 110, 110), (1, BALL, 200, 200, 210, 210), (2, PLAYER, 0, 0, 10, 30)])
    found = _boxes([(0, BALL, 103, 103, 113, 113), (1, BALL, 400, 400, 410, 410), (3, BALL, 5, 5, 15, 15)])
    scores = ball_recall(truth, found)  # frame 0: IoU 0.32 >= 0.3; frame 1 elsewhere; frame 3 unlabelled
    assert scores["recall"] == 0.5 and scores["precision"] == pytest.approx(1 / 3)
    assert ball_recall(truth, found, iou=0.5)["recall"] == 0.0


def _tracks(rows):
    """rows of (frame, track, x1)."""
    return Tracks(
        xyxy=[(x, 10, x + 20, 60) for _, _, x in rows], confidence=np.ones(len(rows)), class_id=np.full(len(rows), PLAYER),
        frame_index=[f for f, _, _ in rows], track_id=[t for _, t, _ in rows],
    )


def test_tracking_scores_perfect_then_with_an_identity_swap():
    frames = np.arange(20)
    truth = _tracks([(f, t, 100 * t + f) for f in frames for t in (1, 2)])
    perfect = tracking_scores([(truth, truth, frames)])["combined"]
    assert perfect["HOTA"] == pytest.approx(100.0) and perfect["IDF1"] == pytest.approx(100.0) and perfect["IDSW"] == 0
    # Half-way through, the tracker swaps the two ids: detection stays perfect; each match's
    # association is 10 right frames against 10 missed and 10 wrong ones, 1/3.
    swapped = _tracks([(f, t if f < 10 else 3 - t, 100 * t + f) for f in frames for t in (1, 2)])
    scores = tracking_scores([(truth, swapped, frames), (truth, truth, frames)])
    assert scores["0"]["DetA"] == pytest.approx(100.0)
    assert scores["0"]["AssA"] == pytest.approx(100 / 3, abs=0.5) and scores["0"]["IDSW"] == 2
    assert scores["0"]["HOTA"] < scores["combined"]["HOTA"] < scores["1"]["HOTA"]


@pytest.mark.skipif(not VALID.is_dir(), reason="needs ../shared/data/football-players")
def test_real_split_boxes_are_unstretched_to_1080p():
    images = load_yolo_split(VALID, limit=3)
    assert len(images) == 3 and images[0].size == (1920, 1080)
    image = images[0].load()
    assert image.shape == (1080, 1920, 3)
    boxes = images[0].labels
    assert len(boxes) > 5 and boxes.xyxy[:, 2].max() <= 1920 and boxes.xyxy[:, 3].max() <= 1080
    players = boxes[boxes.class_id == PLAYER]
    heights = players.xyxy[:, 3] - players.xyxy[:, 1]
    assert 20 < np.median(heights) < 120  # athletes are 20-120 px tall in a 1080p main-camera frame


def test_malformed_label_file_is_named(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"")
    (tmp_path / "labels" / "a.txt").write_text("2 0.5 0.5\n")
    with pytest.raises(ValueError, match="a.txt"):
        load_yolo_split(tmp_path)
    (tmp_path / "labels" / "a.txt").unlink()
    with pytest.raises(FileNotFoundError, match="a.txt"):
        load_yolo_split(tmp_path)
