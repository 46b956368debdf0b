"""The keypoint model's quality measure, shared by its trainer and `soccerfactory quality calibration`."""

from __future__ import annotations

from soccerfactory.curation.training.keypoints import keypoint_pck


def test_keypoint_pck_counts_unreported_labels_as_misses():
    scores = keypoint_pck([1.0, 4.0, 7.0, 30.0], n_labelled=5, reported_unlabelled=2)
    assert scores == {"pck5": 0.4, "pck10": 0.6, "reported_labelled": 4, "reported_unlabelled": 2, "median_error_px": 5.5}
    empty = keypoint_pck([], n_labelled=3)
    assert empty["pck5"] == 0.0 and empty["median_error_px"] is None
