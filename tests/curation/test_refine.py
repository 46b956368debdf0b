"""Mask refiners: the Refiner contract for every backend, chroma masks against rendered ground truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from soccerfactory.curation.masks import rle_decode, rle_to_bbox
from soccerfactory.curation.refine import (
    REFINERS,
    ChromaRefiner,
    build_refiner,
    enlarge_boxes,
)
from soccerfactory.curation.synth.config import SynthConfig
from soccerfactory.curation.synth.render import render_clip
from soccerfactory.curation.testing import decode_video, make_detections, make_frames
from soccerfactory.curation.types import BALL, PLAYER, Detections, Frames

SAM2_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
BACKENDS = ["chroma", pytest.param("sam2", marks=pytest.mark.slow)]
assert {"chroma", "sam2"} == set(REFINERS)


@pytest.fixture(scope="session")
def clip(tmp_path_factory):
    """Two seconds of 640x360 synthetic broadcast: decoded frames and ground-truth athlete rows."""
    output = tmp_path_factory.mktemp("refine-clip")
    render_clip(SynthConfig(seconds=2.0, seed=1, width=640, height=360), output)
    frames = decode_video(output / "video.mp4", fps=25.0)
    return frames, pd.read_parquet(output / "gt" / "athletes.parquet")


def gt_detections(gt: pd.DataFrame) -> Detections:
    return Detections(
        xyxy=gt[["x1", "y1", "x2", "y2"]].to_numpy(np.float32),
        confidence=np.full(len(gt), 0.9, dtype=np.float32),
        class_id=np.full(len(gt), PLAYER),
        frame_index=gt.frame_index.to_numpy(),
    )


def gt_mask(rle_counts: str, height: int, width: int) -> np.ndarray:
    # The renderer stores only the counts (a JSON list); the size is the frame's.
    return rle_decode({"size": [height, width], "counts": json.loads(rle_counts)})


@pytest.fixture(scope="session")
def random_sam2_checkpoint(tmp_path_factory):
    """A SAM 2.1 tiny checkpoint with random weights, in the official {"model": state_dict} layout."""
    import torch

    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    from sam2.build_sam import build_sam2

    model = build_sam2(SAM2_CONFIG, ckpt_path=None, device="cpu")
    path = tmp_path_factory.mktemp("sam2") / "sam2.1_hiera_tiny_random.pt"
    torch.save({"model": model.state_dict()}, path)
    return path


@pytest.fixture
def refiner(request):
    if request.param == "sam2":
        return build_refiner("sam2", config=SAM2_CONFIG, checkpoint=request.getfixturevalue("random_sam2_checkpoint"))
    return build_refiner(request.param)


def check_refinement(frames: Frames, detections: Detections, out: Detections, margin: float, margin_px: float) -> None:
    """Everything the Refiner protocol promises about ``out``."""
    assert len(out) == len(detections)
    np.testing.assert_array_equal(out.frame_index, detections.frame_index)
    np.testing.assert_array_equal(out.xyxy, detections.xyxy)
    np.testing.assert_array_equal(out.class_id, detections.class_id)
    rle, refined, score = out.data["mask_rle"], out.data["refined_xyxy"], out.data["mask_score"]
    assert rle.dtype == object and rle.shape == (len(out),)
    assert refined.dtype == np.float32 and refined.shape == (len(out), 4)
    assert score.dtype == np.float32 and ((score >= 0) & (score <= 1)).all()
    bounds = enlarge_boxes(detections.xyxy, margin, margin_px, frames.width, frames.height)
    for i, text in enumerate(rle):
        if text is None:
            np.testing.assert_array_equal(refined[i], detections.xyxy[i])
            assert score[i] == 0
            continue
        decoded = json.loads(text)
        assert decoded["size"] == [frames.height, frames.width]
        assert rle_decode(decoded).any()
        np.testing.assert_array_equal(rle_to_bbox(decoded), refined[i])
        assert (refined[i, :2] >= bounds[i, :2]).all() and (refined[i, 2:] <= bounds[i, 2:]).all()


# --------------------------------------------------------------------------- contract


def test_unknown_backend_lists_choices():
    with pytest.raises(ValueError, match="chroma.*sam2"):
        build_refiner("grabcut")


@pytest.mark.parametrize("refiner", BACKENDS, indirect=True)
def test_empty_detections_give_empty_refinement(refiner):
    frames = make_frames(2, height=64, width=96)
    out = refiner(frames, Detections.empty())
    assert len(out) == 0
    assert out.data["mask_rle"].shape == (0,)
    assert out.data["refined_xyxy"].shape == (0, 4)
    assert out.data["mask_score"].shape == (0,)


@pytest.mark.parametrize("refiner", BACKENDS, indirect=True)
def test_rows_stay_aligned_on_synthetic_frames(refiner, clip):
    frames, gt = clip
    frames, gt = frames[10:12], gt[gt.frame_index.isin([10, 11])]
    extra = Detections(
        # the ball, boxes hanging off the frame, a zero-area box, a box entirely outside
        xyxy=[
            [300, 150, 304, 154],
            [620, 300, 660, 380],
            [-10, -5, 15, 40],
            [50, 50, 50, 60],
            [700, 400, 720, 420],
        ],
        confidence=[0.5] * 5,
        class_id=[BALL, PLAYER, PLAYER, PLAYER, PLAYER],
        frame_index=[10, 11, 10, 11, 10],
    )
    detections = Detections.merge([gt_detections(gt), extra])
    detections = detections[np.random.default_rng(0).permutation(len(detections))]
    out = refiner(frames, detections)
    check_refinement(frames, detections, out, refiner.margin, refiner.margin_px)
    outside = np.flatnonzero(detections.xyxy[:, 0] >= 700)
    assert out.data["mask_rle"][outside[0]] is None


@pytest.mark.parametrize("refiner", BACKENDS, indirect=True)
def test_rows_stay_aligned_on_random_frames(refiner):
    frames = make_frames(3, height=72, width=128, start=5)
    detections = make_detections(6, frame_index=[7, 5, 7, 6, 5, 7], image_size=(128, 72))
    out = refiner(frames, detections)
    check_refinement(frames, detections, out, refiner.margin, refiner.margin_px)


@pytest.mark.parametrize("refiner", BACKENDS, indirect=True)
def test_rows_of_other_frames_are_refused(refiner):
    frames = make_frames(2, height=72, width=128)
    with pytest.raises(ValueError, match="not in frames"):
        refiner(frames, make_detections(2, frame_index=[0, 4], image_size=(128, 72)))


# --------------------------------------------------------------------------- chroma


def test_chroma_masks_match_rendered_masks(clip):
    frames, gt = clip
    out = build_refiner("chroma")(frames, gt_detections(gt))
    ious = []
    for text, truth in zip(out.data["mask_rle"], gt.mask_rle):
        expected = gt_mask(truth, frames.height, frames.width)
        got = rle_decode(json.loads(text)) if text is not None else np.zeros_like(expected)
        ious.append((got & expected).sum() / max(1, (got | expected).sum()))
    ious = np.array(ious)
    # Measured on this clip (599 athletes, 137 of them under 150 px): mean IoU 0.78, median
    # 0.80; what is left is mostly the one-pixel colour bleed of the video's chroma subsampling.
    assert ious.mean() > 0.72
    assert np.median(ious) > 0.74
    # The score ranks the masks: the best-scored half is better than the worst-scored half
    # (measured: mean IoU 0.83 against 0.74).
    score = out.data["mask_score"]
    high = score >= np.median(score)
    assert ious[high].mean() > ious[~high].mean() + 0.03


def test_chroma_finds_nothing_without_a_pitch():
    frames = make_frames(1, height=72, width=128)  # noise: no dominant green
    out = build_refiner("chroma")(frames, make_detections(4, image_size=(128, 72)))
    assert all(text is None for text in out.data["mask_rle"])
    assert (out.data["mask_score"] == 0).all()


def test_chroma_ignores_bare_grass_and_keeps_the_athlete():
    image = np.zeros((120, 160, 3), dtype=np.uint8)
    image[:] = (60, 150, 70)  # BGR grass
    image[40:80:2] = (50, 120, 55)  # darker mowing stripes are grass too
    image[30:90, 100:112] = (200, 60, 230)  # a pink athlete, 12 x 60 px
    frames = Frames(image[None], [0], [0.0], 25.0, "test")
    detections = Detections([[96, 26, 116, 94], [20, 20, 40, 80]], [0.9, 0.9], [PLAYER, PLAYER], [0, 0])
    out = ChromaRefiner()(frames, detections)
    np.testing.assert_array_equal(out.data["refined_xyxy"][0], [100, 30, 112, 90])
    assert out.data["mask_score"][0] > 0.8
    assert out.data["mask_rle"][1] is None


def test_chroma_refiner_validates_its_margin():
    # The grass estimate's half of this test lives in test_pitch_colour.py with the model.
    with pytest.raises(ValueError, match="margin"):
        ChromaRefiner(margin=-0.1)


# --------------------------------------------------------------------------- sam2


class _PickledObject:
    """Stands for any non-tensor object a checkpoint could smuggle in."""


def test_sam2_missing_checkpoint_says_where_to_get_one(tmp_path):
    missing = tmp_path / "sam2.1_hiera_tiny.pt"
    with pytest.raises(FileNotFoundError) as info:
        build_refiner("sam2", checkpoint=missing)
    message = str(info.value)
    assert str(missing) in message
    assert "facebookresearch/sam2" in message and "sam2.1_hiera_tiny.pt" in message
    assert "chroma" in message


def test_sam2_checkpoint_is_loaded_weights_only(tmp_path):
    import torch

    path = tmp_path / "pickled.pt"
    # An arbitrary Python object: only an unrestricted (weights_only=False) load accepts it.
    torch.save({"model": {}, "note": _PickledObject()}, path)
    with pytest.raises(ValueError, match="weights_only=True"):
        build_refiner("sam2", checkpoint=path)


@pytest.mark.slow
def test_sam2_runs_offline_from_a_local_checkpoint(random_sam2_checkpoint, no_network):
    refiner = build_refiner("sam2", config=SAM2_CONFIG, checkpoint=random_sam2_checkpoint, batch_size=2)
    frames = make_frames(1, height=48, width=64)
    detections = make_detections(3, image_size=(64, 48))
    check_refinement(frames, detections, refiner(frames, detections), refiner.margin, refiner.margin_px)


@pytest.mark.slow
def test_sam2_rejects_a_checkpoint_of_another_model(tmp_path):
    import torch

    path = tmp_path / "wrong.pt"
    torch.save({"model": {"image_encoder.bogus": torch.zeros(1)}}, path)
    with pytest.raises(ValueError, match="does not match"):
        build_refiner("sam2", config=SAM2_CONFIG, checkpoint=path)
