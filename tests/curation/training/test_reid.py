"""The ReID trainer: renderer crops with identities, batches of one clip, augmentation, loss, retrieval figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soccerfactory.curation.tracking.reid import CROP_HW, REID_DIM
from soccerfactory.curation.training.reid import (
    STORED_HW,
    CropSet,
    _augment,
    _batch,
    _seeds,
    evaluate_reid,
    render_crops,
    train_reid,
)


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    work = tmp_path_factory.mktemp("reid-train")
    data, colour = render_crops([470], 2.0, work, colour=True, progress=lambda line: None)
    return data, colour


def test_render_crops_label_each_athlete(crops):
    data, colour = crops
    assert data.crops.shape[1:] == (*STORED_HW, 3) and data.crops.dtype == np.uint8
    assert len(np.unique(data.identity)) >= 4 and len(data) >= 30  # the broadcast preset may open on a close shot
    assert colour.shape == (len(data), 52)
    assert set(np.unique(data.team)) <= {0, 1, 2} and (data.team < 2).any()
    # One identity never sits in two places in one frame.
    key = np.stack([data.identity, np.round(data.time_s * 100).astype(int)], 1)
    assert len(np.unique(key, axis=0)) == len(data)
    # The stored crop is the box plus a margin: its centre is not grass-green more than the border.
    assert data.crops[:, STORED_HW[0] // 2].std() > 0


def test_held_out_seeds_are_refused(tmp_path):
    with pytest.raises(ValueError, match="301-305"):
        render_crops([302], 1.0, tmp_path)
    with pytest.raises(Exception, match="301-305"):
        _seeds("300:310")


def test_batches_come_from_one_clip_and_augment_keeps_shape(crops):
    data, _ = crops
    two = CropSet(*(np.concatenate([getattr(data, f)] * 2) for f in ("crops", "identity", "clip", "team", "time_s", "xyxy")))
    two = CropSet(two.crops, np.concatenate([data.identity, data.identity + 1000]), np.repeat([0, 1], len(data)), two.team, two.time_s, two.xyxy)
    by_clip = [{int(i): np.flatnonzero((two.clip == c) & (two.identity == i)) for i in np.unique(two.identity[two.clip == c])} for c in (0, 1)]
    rng = np.random.default_rng(0)
    rows = _batch(two, by_clip, rng, 4, 4)
    assert len(rows) == 16 and len(np.unique(two.clip[rows])) == 1
    assert (np.bincount(np.unique(two.identity[rows], return_inverse=True)[1]) == 4).all()
    x = _augment(two.crops[rows], rng)
    assert x.shape == (16, 3, *CROP_HW) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def test_a_few_steps_train_and_embed(crops):
    data, _ = crops
    lines = []
    net, log = train_reid(data, 12, width=8, p=4, k=4, progress=lines.append)
    assert not net.training and log[-1]["step"] == 12 and lines
    assert np.isfinite(log[-1]["triplet"]) and np.isfinite(log[-1]["ce"])
    out = net.embed(torch.rand(3, 3, *CROP_HW))
    assert out.shape == (3, REID_DIM)


def test_evaluate_reid_scores_a_perfect_and_a_useless_embedding(crops):
    data, _ = crops
    perfect = np.eye(int(data.identity.max()) + 1, dtype=np.float32)[data.identity]
    useless = np.ones((len(data), 4), np.float32) / 2
    figures = evaluate_reid({"perfect": perfect, "useless": useless}, data, gap_s=1.0)
    assert figures["perfect"]["all"]["rank1"] == 1.0 and figures["perfect"]["all"]["mAP"] == 1.0
    assert figures["perfect"]["all"]["queries"] > 0
    assert figures["useless"]["all"]["mAP"] < 0.5
