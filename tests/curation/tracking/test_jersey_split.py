"""Cutting a tracklet where its jersey reads switch from one number to another."""

from __future__ import annotations

import numpy as np

from soccerfactory.curation.tracking.jersey_split import jersey_splits, remap_tracklets


def _reads(*rows):
    """rows: (track, frame, number, confidence)."""
    t, f, n, c = (np.array(v) for v in zip(*rows))
    return t.astype(np.int64), f.astype(np.int64), n.astype(np.int32), c.astype(np.float32)


def test_a_switch_cuts_the_tracklet_into_one_piece_per_number_and_a_numberless_gap():
    t, f, n, c = _reads((7, 10, 30, 0.9), (7, 15, 30, 0.9), (7, 20, 30, 0.9), (7, 40, 29, 0.9), (7, 45, 29, 0.9), (3, 5, 11, 0.9))
    cuts = jersey_splits(t, f, n, c, min_confidence=0.6, min_reads=2, first_new_id=100)
    assert cuts == {7: [(21, 100), (40, 101)]}
    rows_track = np.array([7, 7, 7, 7, 7, 3])
    rows_frame = np.array([0, 20, 21, 39, 60, 60])
    assert remap_tracklets(rows_track, rows_frame, cuts).tolist() == [7, 7, 100, 100, 101, 3]


def test_adjacent_reads_leave_no_gap_piece():
    t, f, n, c = _reads((1, 10, 8, 0.9), (1, 11, 8, 0.9), (1, 12, 9, 0.9), (1, 13, 9, 0.9))
    assert jersey_splits(t, f, n, c, 0.6, 2, 50) == {1: [(12, 50)]}


def test_no_cut_without_clean_evidence():
    # One stray misread, weak reads, and numbers that alternate (the consensus handles those).
    stray = _reads((1, 1, 8, 0.9), (1, 2, 8, 0.9), (1, 3, 3, 0.9), (1, 4, 8, 0.9))
    weak = _reads((1, 1, 8, 0.9), (1, 2, 8, 0.9), (1, 3, 9, 0.5), (1, 4, 9, 0.5))
    alternating = _reads((1, 1, 8, 0.9), (1, 2, 9, 0.9), (1, 3, 8, 0.9), (1, 4, 9, 0.9))
    for reads in (stray, weak, alternating):
        assert jersey_splits(*reads, min_confidence=0.6, min_reads=2, first_new_id=10) == {}


def test_three_numbers_in_turn_give_three_pieces_with_fresh_ids():
    t, f, n, c = _reads(*[(4, k, 5, 0.9) for k in (0, 1)], *[(4, k, 6, 0.9) for k in (10, 11)], *[(4, k, 7, 0.9) for k in (20, 21)])
    cuts = jersey_splits(t, f, n, c, 0.6, 2, 9)
    assert cuts == {4: [(2, 9), (10, 10), (12, 11), (20, 12)]}
    frames = np.arange(25)
    new = remap_tracklets(np.full(25, 4), frames, cuts)
    assert new[0] == 4 and new[5] == 9 and new[10] == 10 and new[15] == 11 and new[24] == 12


def test_a_crossing_after_the_last_read_cuts_off_the_unproven_rest():
    from soccerfactory.curation.tracking.jersey_split import crossing_cuts

    # Track 1 read #30 on frames 2-3; on frames 5-7 track 2 overlaps it (IoU 0.33, 1, 0.33: they
    # cross); track 3 never overlaps anyone. Rows of track 1 from frame 5 on get a new id.
    frames = np.array([f for f in range(10) for _ in range(3)])
    track = np.tile([1, 2, 3], 10)
    boxes = []
    for f in range(10):
        x2 = 100 + (40 - 20 * abs(f - 6)) if abs(f - 6) <= 1 else 300  # track 2 sits on track 1 at frames 5-7
        boxes += [[100, 100, 140, 200], [x2, 100, x2 + 40, 200], [600, 100, 640, 200]]
    reads = _reads((1, 2, 30, 0.9), (1, 3, 30, 0.9), (3, 4, 7, 0.9), (3, 5, 7, 0.9))
    cuts = crossing_cuts(track, frames, np.array(boxes, float), *reads, min_confidence=0.6, min_iou=0.3, first_new_id=50)
    assert cuts == {1: [(5, 50)]}
    new = remap_tracklets(track, frames, cuts)
    assert set(new[(track == 1) & (frames >= 5)]) == {50} and set(new[(track == 1) & (frames < 5)]) == {1}
    assert set(new[track == 3]) == {3}


def test_a_crossing_before_the_first_read_cuts_off_the_unproven_start():
    from soccerfactory.curation.tracking.jersey_split import crossing_cuts

    frames = np.repeat(np.arange(6), 2)
    track = np.tile([1, 2], 6)
    boxes = [b for f in range(6) for b in ([0, 0, 10, 10], [0, 0, 10, 10] if f == 1 else [50, 50, 60, 60])]
    reads = _reads((1, 4, 9, 0.9), (1, 5, 9, 0.9))
    cuts = crossing_cuts(track, frames, np.array(boxes, float), *reads, min_confidence=0.6, min_iou=0.3, first_new_id=10)
    new = remap_tracklets(track, frames, cuts)
    assert new[(track == 1)].tolist() == [10, 10, 1, 1, 1, 1]
