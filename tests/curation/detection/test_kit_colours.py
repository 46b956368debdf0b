"""Shirt colours of all boxes of a frame at once (the frame evidence's) against the team classifier's per-crop rule."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.attribute.crops import AthleteCrops, shirt_colours
from soccerfactory.curation.config import AttributeConfig, DetectConfig
from soccerfactory.curation.detection.frame_evidence import FrameEvidence, frame_kit_spreads, kit_adjusted
from soccerfactory.curation.detection.kit_colours import sampled_shirt_colours
from soccerfactory.curation.types import BALL, PLAYER, Frames, Tracks

FULL = (4000, 4000)  # a grid larger than any crop: every pixel read


def _per_crop(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    n = len(boxes)
    frames = Frames(images=image[None], frame_index=np.zeros(1, np.int64), timestamp_s=np.zeros(1), fps=25.0, source="t")
    rows = Tracks(xyxy=boxes, confidence=np.ones(n, np.float32), class_id=np.full(n, PLAYER, np.int64),
                  frame_index=np.zeros(n, np.int64), track_id=np.arange(n, dtype=np.int64))
    return shirt_colours(AthleteCrops.from_frames(frames, rows))


def _real_frames(prefixes: tuple[str, ...], count: int):
    from soccerfactory.curation.quality.metrics import load_yolo_split
    from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT

    split = DEFAULT_DATA_ROOT / "football-players" / "train"
    if not split.is_dir():
        pytest.skip("../shared/data not present")
    chosen = [i for i in load_yolo_split(split) if i.path.name.split("_")[0] in prefixes][:count]
    return [(i.load(), i.labels[i.labels.class_id != BALL]) for i in chosen]


def _painted() -> tuple[np.ndarray, np.ndarray]:
    """Grass with red, white, lime (the grass's hue, brighter) and skin-armed players; one box over the frame's edge."""
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal((40, 140, 50), 6, (300, 700, 3)), 0, 255).astype(np.uint8)
    kits = [(30, 30, 200), (235, 235, 235), (40, 240, 150), (20, 20, 20)]
    boxes = []
    for n, kit in enumerate(kits * 2):
        x, y = 15 + 85 * n, 60 + 40 * (n % 3)
        image[y:y + 40, x:x + 36] = kit
        image[y + 8:y + 30, x:x + 6] = (120, 160, 220)  # an arm (skin)
        image[y + 40:y + 80, x + 6:x + 30] = (25, 25, 25)
        boxes.append((x - 3, y - 12, x + 39, y + 82))
    boxes.append((660, 250, 720, 330))  # partly outside the frame
    return image, np.array(boxes, np.float32)


def test_full_grid_is_the_per_crop_rule_exactly_on_a_painted_frame():
    image, boxes = _painted()
    expected = _per_crop(image, boxes)
    got = sampled_shirt_colours(image, boxes, shirt_grid=FULL, crop_grid=FULL)
    assert np.isfinite(expected[:8]).all()  # the lime kit keeps a colour (its fallback ran)
    np.testing.assert_allclose(got, expected, atol=1e-3)
    assert sampled_shirt_colours(image, np.zeros((0, 4), np.float32)).shape == (0, 3)


def test_real_frames_full_grid_exact_and_default_grid_close():
    """Frames of the role classifier's held-out train videos (121364, c01561): every labelled person box."""
    frames = _real_frames(("121364", "c01561"), 6)
    exact, default, reference = [], [], []
    for image, persons in frames:
        reference.append(_per_crop(image, persons.xyxy))
        exact.append(sampled_shirt_colours(image, persons.xyxy, shirt_grid=FULL, crop_grid=FULL))
        default.append(sampled_shirt_colours(image, persons.xyxy))
    reference, exact, default = (np.concatenate(v) for v in (reference, exact, default))
    assert len(reference) >= 100
    np.testing.assert_allclose(exact, reference, atol=1e-3)
    both = np.isfinite(default).all(axis=1) & np.isfinite(reference).all(axis=1)
    assert both.mean() >= 0.98
    delta = np.linalg.norm(default[both] - reference[both], axis=1)
    # A subsampled region moves a median a little; a borderline fallback (grass hue, skin) more.
    assert np.median(delta) <= 0.5 and np.percentile(delta, 90) <= 3.0


def test_frame_evidence_decisions_match_the_per_crop_rule_on_real_frames():
    """Kit spreads and the kit-adjusted role of each labelled box, sampled vs read crop by crop."""
    from soccerfactory.curation.attribute.kits import fit_kit_model
    from soccerfactory.curation.attribute.team import KMeansColorTeams

    attribute = AttributeConfig()
    detect = DetectConfig()
    rules = FrameEvidence(member=attribute.kit_member, min_spread=attribute.kit_min_spread, outlier=attribute.kit_outlier,
                          rival_slope=detect.role_keeper_rival_slope, rival_span=detect.role_keeper_rival_span)
    changed = total = 0
    for image, persons in _real_frames(("54745b", "cd987c"), 6):
        players = persons.class_id == PLAYER
        _, fast = frame_kit_spreads(image, persons.xyxy, players, rules)
        # The per-crop reference: the team classifier on crops, then the kit model.
        n = len(persons)
        frames = Frames(images=image[None], frame_index=np.zeros(1, np.int64), timestamp_s=np.zeros(1), fps=25.0, source="t")
        crops = AthleteCrops.from_frames(frames, Tracks(xyxy=persons.xyxy, confidence=np.ones(n, np.float32),
                                                        class_id=np.where(players, PLAYER, 1).astype(np.int64),
                                                        frame_index=np.zeros(n, np.int64), track_id=np.arange(n, dtype=np.int64)))
        labels = KMeansColorTeams().fit_predict(crops)
        model = fit_kit_model(labels.colours, labels.team, rules.min_spread, rules.outlier)
        if model is None:  # one kit in view (a zoomed frame): neither reads a kit
            assert np.isnan(fast).all()
            continue
        slow = model.distance(labels.colours).min(axis=1)
        both = np.isfinite(fast) & np.isfinite(slow)
        assert np.median(np.abs(fast[both] - slow[both])) <= 0.2
        probs = np.full((n, 3), 1 / 3, np.float32)
        changed += int((kit_adjusted(probs, fast, rules).argmax(axis=1) != kit_adjusted(probs, slow, rules).argmax(axis=1)).sum())
        total += n
    assert total >= 100 and changed <= 0.02 * total
