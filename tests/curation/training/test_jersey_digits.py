"""Jersey digit training: drawn and rendered patches and their labels, targets, metrics, a tiny real run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from soccerfactory.curation.attribute.jersey_digits import NO_TENS, PATCH_SIZE, load_digit_net
from soccerfactory.curation.hashing import sha256_file
from soccerfactory.curation.training.jersey_crops import PatchSet, font_patches, render_patches
from soccerfactory.curation.training.jersey_digits import TrainDigits, crop_metrics, digit_targets, main, train_digits


def test_drawn_patches_are_deterministic_and_labelled():
    a, b = font_patches(60, seed=5), font_patches(60, seed=5)
    assert np.array_equal(a.patches, b.patches) and np.array_equal(a.number, b.number)
    assert a.patches.shape == (60, *PATCH_SIZE, 3) and a.patches.dtype == np.uint8
    assert 0 < a.legible.sum() < 60  # numbers and "no number" athletes both
    assert ((a.number >= 1) & (a.number <= 99))[a.legible].all() and (a.number[~a.legible] == -1).all()
    assert not np.array_equal(font_patches(60, seed=6).patches, a.patches)


def test_rendered_patches_carry_the_renderer_truth(tmp_path):
    patches = render_patches([100], seconds=2.0, work=tmp_path, progress=lambda _: None)
    truth = pd.read_parquet(tmp_path / "seed-100" / "gt" / "athletes.parquet")
    assert len(patches) > 0 and patches.patches.shape[1:] == (*PATCH_SIZE, 3)
    legible_numbers = set(truth.jersey[truth.jersey_legible].dropna().astype(int))
    assert set(patches.number[patches.legible].tolist()) <= legible_numbers
    assert (patches.number[~patches.legible] == -1).all()
    saved = tmp_path / "p.npz"
    patches.save(saved)
    again = PatchSet.load(saved)
    assert np.array_equal(again.patches, patches.patches) and again.source == "render"


def test_targets_and_metrics():
    tens, units = digit_targets(np.array([23, 7, -1, 10]), np.array([True, True, False, True]))
    assert tens.tolist() == [2, NO_TENS, -100, 1] and units.tolist() == [3, 7, -100, 0]
    metrics = crop_metrics(
        read=np.array([23, 7, 5, -1]), confidence=np.array([0.99, 0.6, 0.97, 0.0]),
        legible=np.array([True, True, False, True]), number=np.array([23, 8, -1, 10]), thresholds=(0.5, 0.9),
    )
    assert metrics["t0.5"] == {"reads": 3, "precision": round(1 / 3, 4), "coverage": round(1 / 3, 4), "false_on_illegible": 1.0}
    assert metrics["t0.9"]["reads"] == 2 and metrics["t0.9"]["precision"] == 0.5


def test_held_out_seeds_are_refused():
    with pytest.raises(SystemExit):
        main(["--work", "/nonexistent", "--render-seeds", "300:310", "--data-only"])


@pytest.mark.slow
def test_a_tiny_run_writes_loadable_weights_and_manifest(tmp_path):
    settings = TrainDigits(render_seeds=(100, 101), render_seconds=1.0, font_count=200, valid_render_seeds=(410, 411),
                           valid_font_count=50, epochs=1, batch=64)
    out = tmp_path / "jersey-digits.pt"
    manifest = train_digits(settings, tmp_path / "work", out, progress=lambda _: None, command="test")
    written = json.loads(out.with_suffix(".json").read_text())
    assert written["sha256"] == sha256_file(out) == manifest["sha256"]
    assert written["data"]["train_font"]["patches"] == 200 and written["settings"]["epochs"] == 1
    # valid-real (the hand-labelled valid crops) only where ../shared/data is present.
    assert {"valid-render", "valid-font"} <= set(written["metrics"]) <= {"valid-render", "valid-font", "valid-real"}
    net = load_digit_net(out)
    assert sum(p.numel() for p in net.parameters()) == written["architecture"]["parameters"]
