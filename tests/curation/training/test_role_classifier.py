"""The role classifier's trainer: held-out splits, augmentation that keeps relations, a deterministic run that ships a loadable file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from soccerfactory.curation.detection.role_net import CONTEXT_HW, CROP_HW
from soccerfactory.curation.detection.roles import CropRoleClassifier
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.curation.training.role_classifier import (
    HOLDOUT_VIDEOS,
    TrainRoles,
    _batch,
    _hue_matrix,
    _warm_start,
    build_role_data,
    split_records,
    train_role_classifier,
)

REAL_TRAIN = DEFAULT_DATA_ROOT / "football-players" / "train"
needs_real = pytest.mark.skipif(not REAL_TRAIN.is_dir(), reason="../shared/data not present")


def test_hue_rotation_keeps_grey_and_distances_between_kits():
    assert np.allclose(_hue_matrix(0.0, 1.0), np.eye(3))
    m = _hue_matrix(2.0, 1.0)
    assert np.allclose(m @ np.ones(3), np.ones(3))  # grey stays grey
    a, b = np.array([0.9, 0.1, 0.1]), np.array([0.1, 0.1, 0.9])
    assert np.linalg.norm(m @ a - m @ b) == pytest.approx(np.linalg.norm(a - b))  # a rotation: relations survive
    assert not np.allclose(m @ a, a)


def _small_real_split(tmp_path, videos=("121364", "08fd33"), per_video=2):
    out = tmp_path / "real"
    for sub in ("images", "labels"):
        (out / sub).mkdir(parents=True)
    for video in videos:
        for image in sorted((REAL_TRAIN / "images").glob(f"{video}_*.jpg"))[:per_video]:
            shutil.copy(image, out / "images" / image.name)
            shutil.copy(REAL_TRAIN / "labels" / f"{image.stem}.txt", out / "labels" / f"{image.stem}.txt")
    return out


@needs_real
def test_training_is_deterministic_holds_out_and_writes_a_safe_loadable_file(tmp_path):
    settings = TrainRoles(
        work_dir=tmp_path / "work", real_split=_small_real_split(tmp_path), synth_seeds=(100, 102), synth_holdout=1,
        synth_seconds=1.0, synth_every=12, epochs=1, batch_frames=4, threads=1, window=16,
    )
    records = build_role_data(settings)
    train, real_out, synth_out = split_records(records, settings)
    assert real_out and all(r["group"] in HOLDOUT_VIDEOS for r in real_out)
    assert synth_out and all(r["group"] == "101" for r in synth_out)
    assert not any(r["group"] in HOLDOUT_VIDEOS or r["group"] == "101" for r in train)
    assert all(r["crops"].shape[1:] == (76, 38, 3) for r in records)
    # Staff (role other) are context, never targets; every target is a role.
    roles = np.concatenate([r["roles"] for r in records])
    assert set(roles.tolist()) <= {-1, 0, 1, 2} and (roles >= 0).any()

    assert all(r["windows"].shape == (len(r["roles"]), *CONTEXT_HW, 3) for r in records)
    crops, geometry, pairs, targets, windows = _batch(train[:2], np.random.default_rng(0), settings)
    assert crops.shape[2:] == (3, *CROP_HW) and float(crops.min()) >= 0 and float(crops.max()) <= 1
    assert windows.shape[:2] == crops.shape[:2] and windows.shape[2:] == (3, *CONTEXT_HW)
    assert float(windows.min()) >= 0 and float(windows.max()) <= 1
    assert not pairs.diagonal(dim1=1, dim2=2).any()

    first = train_role_classifier(settings, tmp_path / "a.pt", log=lambda line: None)
    second = train_role_classifier(settings, tmp_path / "b.pt", log=lambda line: None)
    assert first["history"][0]["loss"] == second["history"][0]["loss"]
    a = torch.load(tmp_path / "a.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.load(tmp_path / "a.pt", weights_only=True)["window"] == settings.window > 0
    classifier = CropRoleClassifier(tmp_path / "a.pt")
    assert classifier.net.window == settings.window
    p = classifier.probabilities([np.zeros((720, 1280, 3), np.uint8)], [np.array([[10, 10, 40, 90]], np.float32)], [np.ones(1)])[0]
    assert p.shape == (1, 3) and p.sum() == pytest.approx(1, abs=1e-5)


def test_warm_start_adds_a_context_window_without_changing_the_old_decisions(tmp_path):
    from soccerfactory.curation.detection.role_net import RoleNet

    torch.manual_seed(0)
    old = RoleNet().eval()
    torch.save({"state_dict": old.state_dict()}, tmp_path / "old.pt")
    new = RoleNet(window=32)
    assert "1 widened" in _warm_start(new, tmp_path / "old.pt")
    new.eval()
    crops, geometry = torch.rand(1, 4, 3, *CROP_HW), torch.rand(1, 4, 6)
    pairs = ~torch.eye(4, dtype=torch.bool)[None]
    with torch.inference_mode():
        torch.testing.assert_close(new(crops, geometry, pairs, torch.rand(1, 4, 3, *CONTEXT_HW)), old(crops, geometry, pairs))


def test_refuses_the_held_out_synthetic_seeds(tmp_path):
    settings = TrainRoles(work_dir=tmp_path, real_split=tmp_path / "none", synth_seeds=(300, 303))
    from soccerfactory.curation.training.role_classifier import _synth_frames

    with pytest.raises(ValueError, match="301-305"):
        _synth_frames(settings, tmp_path / "renders")
