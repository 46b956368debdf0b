"""The SAM 2 refiner's device path (CUDA's: frames embedded together, masks chosen and cut on the
device) gives the rows of the per-frame ``predict`` path. Run on the CPU, in fp32, where both exist."""

from __future__ import annotations

import json

import numpy as np
import pytest

from soccerfactory.curation.masks import rle_decode
from soccerfactory.curation.refine import Sam2Refiner, enlarge_boxes
from soccerfactory.curation.testing import make_detections, make_frames

SAM2_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"


@pytest.fixture(scope="module")
def predictor():
    import torch

    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    torch.manual_seed(0)  # random weights: the comparison needs masks, not good ones
    return SAM2ImagePredictor(build_sam2(SAM2_CONFIG, ckpt_path=None, device="cpu", mode="eval"))


def test_cpu_defaults_keep_the_host_path(predictor):
    refiner = Sam2Refiner(predictor)
    assert refiner.on_device is False and refiner.batch_size == 8


@pytest.mark.slow
def test_device_path_matches_the_predict_path(predictor):
    frames = make_frames(2, height=72, width=128, seed=3)
    detections = make_detections(5, frame_index=[0, 0, 0, 1, 1], image_size=(128, 72), seed=4)
    host = Sam2Refiner(predictor, batch_size=2)(frames, detections)
    device = Sam2Refiner(predictor, batch_size=3, on_device=True)(frames, detections)
    masks = [m for m in host.data["mask_rle"] if m is not None]
    assert masks, "random weights gave no mask at all: the comparison would be empty"
    assert [m is None for m in host.data["mask_rle"]] == [m is None for m in device.data["mask_rle"]]
    bounds = enlarge_boxes(detections.xyxy, 0.1, 2.0, frames.width, frames.height)
    for a, b, (x0, y0, x1, y1) in zip(host.data["mask_rle"], device.data["mask_rle"], bounds):
        if a is None:
            continue
        ma, mb = rle_decode(json.loads(a)), rle_decode(json.loads(b))
        assert not ma[:y0].any() and not ma[:, :x0].any() and not mb[y1:].any() and not mb[:, x1:].any()
        # One batched image embedding against single ones: float sums in another order may flip a
        # pixel at the threshold, no more.
        assert (ma != mb).sum() <= 0.01 * max(ma.sum(), 1)
    np.testing.assert_allclose(host.data["mask_score"], device.data["mask_score"], atol=1e-4)
    np.testing.assert_allclose(host.data["refined_xyxy"], device.data["refined_xyxy"], atol=1.0)
