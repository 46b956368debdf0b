"""Evaluation: decoded boxes, and a trained checkpoint beating the untrained model on every metric."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.model.data import ShardWindowDataset, select_windows
from soccerfactory.model.evaluate import decode_centres, evaluate_checkpoint
from soccerfactory.model.config import ModelConfig
from soccerfactory.model.train import TrainConfig, load_checkpoint, train


def test_centres_are_local_maxima_with_their_sizes():
    out = np.full((5, 9, 16), -9.0)
    out[0, 2, 3], out[0, 2, 4], out[0, 7, 10] = 3.0, 1.0, 0.0  # (2, 4) is next to a stronger peak
    out[1:, 2, 3] = 0.1, 0.2, 0.25, 0.75
    boxes = decode_centres(out)
    assert len(boxes) == 2
    np.testing.assert_allclose(boxes[0, :4], [(3 + 0.25) / 16, (2 + 0.75) / 9, 0.1, 0.2])
    assert boxes[0, 4] > boxes[1, 4] > 0.4


def test_a_trained_checkpoint_beats_the_untrained_model_on_every_metric(catalog, tmp_path):
    path, _, _ = catalog
    config = ModelConfig.tiny(window=2, depth=2)
    dataset = ShardWindowDataset(select_windows(path, window=2, step=2), config)
    train(dataset, config, TrainConfig(steps=40, batch_size=2, lr_backbone=3e-4, lr_heads=2e-3, warmup_steps=2, checkpoint_every=40),
          str(tmp_path / "ckpt.pt"))
    before = evaluate_checkpoint(None, config, dataset)
    after = evaluate_checkpoint(load_checkpoint(str(tmp_path / "ckpt.pt")), config, dataset)
    assert set(before) == {"athletes/ap50", "keypoints/pck_cell", "camera/reprojection_px", "align/recall@1", "align/recall@5", "event/accuracy", "event/balanced_accuracy"}
    assert after["event/accuracy"] is None  # the ground-truth shards carry no event labels
    assert after["athletes/ap50"] > before["athletes/ap50"]
    assert after["keypoints/pck_cell"] > before["keypoints/pck_cell"]
    assert after["camera/reprojection_px"] < before["camera/reprojection_px"]
    assert after["align/recall@5"] >= before["align/recall@5"]
