"""Each truth row of a small hand-built clip lands on the stage that lost it."""

import numpy as np

from soccerfactory.curation.quality.misses import MISS_REASONS, class_aware_nms, greedy_match, miss_breakdown
from soccerfactory.curation.types import BALL, PLAYER, REFEREE


def _box(x, y, w=20, h=50):
    return [x, y, x + w, y + h]


def test_greedy_match_is_one_to_one_by_iou():
    truth = np.array([_box(0, 0), _box(5, 0)], dtype=float)
    other = np.array([_box(4, 0)], dtype=float)  # closer to the second truth box
    assert greedy_match(truth, other).tolist() == [-1, 0]
    assert greedy_match(truth, np.zeros((0, 4))).tolist() == [-1, -1]


def test_class_aware_nms_keeps_other_classes():
    xyxy = np.array([_box(0, 0), _box(1, 0), _box(1, 0)], dtype=float)
    kept = class_aware_nms(xyxy, np.array([0.9, 0.8, 0.7]), np.array([PLAYER, PLAYER, REFEREE]), 0.6)
    assert kept.tolist() == [0, 2]


def test_every_stage_gets_its_reason():
    # Athletes 0..7 on frame 10; athlete 8 tracked on frames 0 and 20 only (a gap at 10).
    truth_frame = np.array([10] * 9 + [0, 20])
    truth_track = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 8])
    xs = [0, 100, 200, 300, 400, 500, 600, 404, 800, 800, 800]  # 7 stands behind 4 (IoU 0.67)
    truth_xyxy = np.array([_box(x, 100) for x in xs], dtype=float)
    truth_xyxy[6] = _box(600, 100, 8, 10)  # a tiny one the detector never sees
    truth_pitch = np.zeros((11, 2))
    # Final rows: athlete 0 right, 1 without position, 2 ten metres off; 8 on frames 0 and 20.
    final_frame = np.array([10, 10, 10, 0, 20])
    final_xyxy = truth_xyxy[[0, 1, 2, 9, 10]]
    final_pitch = np.array([[0, 0], [np.nan, np.nan], [10, 0], [0, 0], [0, 0]], dtype=float)
    # Tracks: all final rows plus athlete 3 (a rule removed it afterwards).
    track_frame = np.array([10, 10, 10, 10, 0, 20])
    track_xyxy = truth_xyxy[[0, 1, 2, 3, 9, 10]]
    # Candidates: 0-4 and 8 at 0.9; 5 at 0.15 (under 0.25); 7 at 0.3, which NMS removes behind 4.
    cand = [(0, 0.9), (1, 0.9), (2, 0.9), (3, 0.9), (4, 0.9), (8, 0.9), (5, 0.15)]
    cand_xyxy = [truth_xyxy[i] for i, _ in cand] + [truth_xyxy[7]]
    cand_conf = [c for _, c in cand] + [0.3]
    cand_frame = np.full(len(cand_xyxy), 10)
    cand_class = np.full(len(cand_xyxy), PLAYER)
    # A ball on athlete 6 must not count as a person box.
    cand_xyxy.append(truth_xyxy[6])
    cand_conf.append(0.9)
    cand_frame = np.append(cand_frame, 10)
    cand_class = np.append(cand_class, BALL)
    result = miss_breakdown(
        truth_frame, truth_xyxy, truth_track, final_frame, final_xyxy, track_frame, track_xyxy,
        cand_frame, np.array(cand_xyxy, dtype=float), np.array(cand_conf), cand_class, conf=0.25, iou=0.6,
        truth_pitch=truth_pitch, final_pitch=final_pitch, window=15,
    )
    assert result.reason.tolist() == [
        "found", "no_position", "position_off", "removed_after_tracking", "never_tracked",
        "below_threshold", "no_box", "suppressed_by_nms", "track_gap", "found", "found",
    ]
    assert np.isclose(result.best_confidence[5], 0.15)
    counts = result.counts()
    assert list(counts) == list(MISS_REASONS) and sum(counts.values()) == 11
    assert result.counts(truth_frame == 10)["found"] == 1
    assert np.isclose(result.occlusion_iou[7], 16 / 24)
    profile = result.no_box_profile()
    assert profile["height_0_20px"] == 1 and sum(profile.values()) == 1


def test_head_tail_and_role_dedup():
    # One athlete on frames 0..4, tracked on 2..3 only; a second box on it at IoU 0.8 in frame 2.
    frames = np.arange(5)
    truth_xyxy = np.array([_box(0, 0, 40, 100)] * 5, dtype=float)
    tracked = np.array([2, 3])
    cand_xyxy = np.array([_box(0, 0, 40, 100)] * 5 + [_box(0, 0, 40, 100)], dtype=float)
    cand_conf = np.array([0.9] * 5 + [0.95])
    cand_class = np.array([PLAYER] * 5 + [REFEREE])
    cand_frame = np.append(frames, 2)
    result = miss_breakdown(
        frames, truth_xyxy, np.zeros(5), np.zeros(0), np.zeros((0, 4)), tracked, truth_xyxy[tracked],
        cand_frame, cand_xyxy, cand_conf, cand_class, conf=0.25, iou=0.6, window=10, dedup_iou=0.7,
    )
    assert result.reason.tolist() == ["track_head", "track_head", "removed_after_tracking", "removed_after_tracking", "track_tail"]


def test_role_dedup_counts_as_suppression():
    # Two athletes one behind the other (IoU 0.82): the detector keeps a player and a referee box,
    # the role stage's class-agnostic dedup at 0.7 keeps only the more confident one.
    truth_xyxy = np.array([_box(0, 0, 40, 100), _box(4, 0, 40, 100)], dtype=float)
    args = (np.array([7, 7]), truth_xyxy, np.array([0, 1]), np.zeros(0), np.zeros((0, 4)), np.zeros(0), np.zeros((0, 4)),
            np.array([7, 7]), truth_xyxy.copy(), np.array([0.9, 0.8]), np.array([PLAYER, REFEREE]))
    assert miss_breakdown(*args, conf=0.25, iou=0.6).reason.tolist() == ["never_tracked", "never_tracked"]
    assert miss_breakdown(*args, conf=0.25, iou=0.6, dedup_iou=0.7).reason.tolist() == ["never_tracked", "suppressed_by_nms"]
