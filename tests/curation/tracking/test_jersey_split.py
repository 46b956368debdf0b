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
