"""Heatmap pitch keypoints: coordinate mapping, peak decoding, weights files and the detector contract."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.calibration.heatmap import (
    INPUT_SIZE,
    HeatmapKeypointDetector,
    decode_heatmaps,
    heatmap_to_image,
    image_to_heatmap,
    load_keypoint_net,
)
from soccerfactory.curation.types import Frames


def test_heatmap_coordinates_round_trip_and_align_pixel_centres():
    xy = np.array([[0.0, 0.0], [959.0, 539.0], [123.4, 321.7]])
    uv = image_to_heatmap(xy, (960, 540), (128, 72))
    np.testing.assert_allclose(heatmap_to_image(uv, (960, 540), (128, 72)), xy, atol=1e-9)
    # The centre of the image is the centre of the map.
    np.testing.assert_allclose(image_to_heatmap([[479.5, 269.5]], (960, 540), (128, 72)), [[63.5, 35.5]])


def test_decode_finds_a_sub_cell_peak_and_its_certainty():
    h, w = 72, 128
    vs, us = np.mgrid[0:h, 0:w]
    truth_uv = np.array([[40.3, 20.6], [100.0, 60.0]])
    logits = np.stack([-((us - u) ** 2 + (vs - v) ** 2) / (2 * 0.8**2) for u, v in truth_uv]).astype(np.float32)
    logits[1] = 0.0  # a flat map: no idea where keypoint 1 is
    xy, visible, peak = decode_heatmaps(logits, np.array([4.0, -4.0], np.float32), (960, 540))
    expected = heatmap_to_image(truth_uv[:1], (960, 540), (w, h))[0]
    assert np.linalg.norm(xy[0] - expected) < 0.5  # sub-pixel at 960x540, from a 7.5 px cell
    assert visible[0] > 0.98 and visible[1] < 0.02
    assert peak[0] > 0.9 and peak[1] < 0.01


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    import torch

    from soccerfactory.curation.calibration.heatmap_net import PitchKeypointNet

    torch.manual_seed(0)
    net = PitchKeypointNet(32, width=8)
    path = tmp_path_factory.mktemp("kp") / "random.pt"
    torch.save({"state_dict": net.state_dict(), "n_keypoints": 32, "width": 8, "input_size": list(INPUT_SIZE)}, path)
    return path


def test_weights_load_without_pickled_code_and_bad_files_are_named(random_weights, tmp_path):
    net, meta = load_keypoint_net(random_weights)
    assert meta["width"] == 8 and not net.training
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_keypoint_net(tmp_path / "missing.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(random_weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match="truncated.pt"):
        load_keypoint_net(truncated)


@pytest.mark.parametrize("n_frames", [0, 1, 3])
def test_detector_contract_one_observation_per_frame(random_weights, n_frames):
    detector = HeatmapKeypointDetector(random_weights, keypoint_conf=0.0, min_peak=0.0)
    images = np.random.default_rng(1).integers(0, 255, (n_frames, 360, 640, 3), dtype=np.uint8)
    frames = Frames(images=images, frame_index=np.arange(n_frames), timestamp_s=np.zeros(n_frames), fps=25.0, source="random")
    observations = detector(frames)
    assert len(observations) == n_frames
    for obs in observations:
        # Every keypoint is reported at threshold 0 when the decoded peak lies inside the frame.
        assert (obs.keypoints[:, 0] < 640).all() and (obs.keypoints[:, 1] < 360).all()
        assert len(np.unique(obs.keypoint_ids)) == len(obs.keypoint_ids)
