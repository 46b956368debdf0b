"""Frame-level relational evidence of the role classifier: team kits (inside one: player; far from both: not) and the
goalkeeper's depth (the last man)."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.bundled import bundled_weights
from soccerfactory.curation.config import AttributeConfig, DetectConfig
from soccerfactory.curation.detection.frame_evidence import (
    FrameEvidence,
    depth_adjusted,
    depth_rank,
    frame_kit_spreads,
    keeper_rivals_adjusted,
    kit_adjusted,
)
from soccerfactory.curation.detection.roles import CropRoleClassifier, configured_roles
from soccerfactory.curation.types import BALL, GOALKEEPER, PLAYER, Detections, Frames

WEIGHTS = bundled_weights("role-classifier.pt")
needs_weights = pytest.mark.skipif(not WEIGHTS.is_file(), reason="role-classifier.pt not shipped in this checkout")


def _rules(**changes) -> FrameEvidence:
    """The frame evidence with the kit thresholds of the default AttributeConfig and the rival rule of
    the default DetectConfig (what the pipeline passes)."""
    attribute, detect = AttributeConfig(), DetectConfig()
    kit = {"member": attribute.kit_member, "min_spread": attribute.kit_min_spread, "outlier": attribute.kit_outlier,
           "rival_slope": detect.role_keeper_rival_slope, "rival_span": detect.role_keeper_rival_span}
    return FrameEvidence(**{**kit, **changes})


def _painted_frame() -> tuple[np.ndarray, np.ndarray]:
    """A grass frame with 6 players in red, 6 in white and one goalkeeper in yellow (BGR), boxes ``(13, 4)``."""
    image = np.zeros((400, 900, 3), np.uint8)
    image[:] = (40, 140, 50)  # grass
    kits = [(30, 30, 200)] * 6 + [(235, 235, 235)] * 6 + [(0, 230, 240)]
    boxes = []
    for n, kit in enumerate(kits):
        x, y = 20 + 65 * n, 100 + 17 * (n % 4)
        image[y:y + 30, x:x + 30] = kit  # shirt and shorts
        image[y + 30:y + 60, x + 5:x + 25] = (20, 20, 20)  # legs
        boxes.append((x - 2, y - 10, x + 32, y + 62))
    return image, np.array(boxes, np.float32)


def test_team_shirts_sit_inside_a_kit_and_the_keeper_outside_both():
    image, boxes = _painted_frame()
    players = np.ones(len(boxes), bool)
    players[-1] = False
    lab, spreads = frame_kit_spreads(image, boxes, players, _rules())
    assert lab.shape == (13, 3) and np.isfinite(lab).all()
    assert (spreads[:12] <= _rules().member).all()
    assert spreads[12] > 3 * _rules().member
    # One kit only in view: no two kits, no evidence.
    _, alone = frame_kit_spreads(image, boxes[:6], np.ones(6, bool), _rules())
    assert np.isnan(alone).all()


def test_adjustment_moves_player_odds_keeps_keeper_against_referee_and_is_capped():
    rules = _rules(slope=1.0, cap=2.0, member=2.5)
    p = np.array([[0.3, 0.6, 0.1], [0.3, 0.6, 0.1], [0.3, 0.6, 0.1], [0.3, 0.6, 0.1]], np.float32)
    out = kit_adjusted(p, np.array([0.5, 20.0, np.nan, 2.5]), rules)
    np.testing.assert_allclose(out.sum(axis=1), 1, atol=1e-6)
    assert out[0, 0] > p[0, 0] and out[0].argmax() == 0  # inside a kit: now a player
    assert out[1, 0] < p[1, 0]  # far from both kits: less a player
    np.testing.assert_allclose(out[2], p[2], atol=1e-6)  # no evidence: unchanged
    np.testing.assert_allclose(out[3], p[3], atol=1e-6)  # on the boundary: unchanged
    np.testing.assert_allclose(out[:, 1] / out[:, 2], 6.0, rtol=1e-4)  # keeper : referee untouched
    # Capped at 2 logits: odds player / keeper multiplied by exactly e^2 at 0.5 spreads.
    assert out[0, 0] / out[0, 1] == pytest.approx(0.5 * np.exp(2.0), rel=1e-4)
    with pytest.raises(ValueError):
        _rules(slope=-1)


def test_keeper_depth_counts_people_beyond_on_the_nearer_side_and_costs_only_beyond_free():
    # Ten people in a row; box 0 and 9 are the last men, box 4 has four beyond on either side.
    xyxy = np.array([[100 * i, 0, 100 * i + 20, 60] for i in range(10)], np.float32)
    context = np.ones(10, bool)
    context[8] = False  # a second box on someone, or an unsure one: no witness
    rank = depth_rank(xyxy, context)
    assert rank.tolist() == [0, 1, 2, 3, 4, 3, 2, 1, 1, 0]
    rules = _rules(depth_slope=2.0, depth_free=3)
    p = np.tile(np.array([[0.2, 0.7, 0.1]], np.float32), (10, 1))
    out = depth_adjusted(p, rank, rules)
    np.testing.assert_allclose(out.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(out[rank <= 3], p[rank <= 3], atol=1e-6)  # the last few men keep their odds
    assert (out[rank == 4, 1] < 0.7).all() and (out[rank == 4].argmax(axis=1) == 0).all()
    np.testing.assert_allclose(out[:, 0] / out[:, 2], 2.0, rtol=1e-4)  # player : referee untouched
    # At most two people count: a crowded goal mouth does not bury a confident keeper.
    crowded = depth_adjusted(np.array([[0.005, 0.99, 0.005]]), np.array([30]), rules)
    assert crowded[0].argmax() == 1


def test_config_turns_it_on_and_off():
    detect = DetectConfig()
    assert detect.role_kit_slope > 0 and detect.role_keeper_depth_slope > 0
    if WEIGHTS.is_file():
        assert configured_roles(detect, AttributeConfig()).kit == _rules(
            slope=detect.role_kit_slope, cap=detect.role_kit_cap, depth_slope=detect.role_keeper_depth_slope,
            depth_free=detect.role_keeper_depth_free,
        )
        assert configured_roles(DetectConfig(role_kit_slope=0, role_keeper_depth_slope=0), AttributeConfig()).kit is None
        assert detect.role_keeper_rival_slope == 0  # off: it lost on valid (frame_evidence.keeper_rivals_adjusted)
        rival = configured_roles(DetectConfig(role_kit_slope=0, role_keeper_depth_slope=0, role_keeper_rival_slope=3), AttributeConfig())
        assert rival.kit.rival_slope == 3 and "+rival:3/0.5" in rival.version
        assert configured_roles(DetectConfig(role_kit_slope=0), AttributeConfig()).kit.slope == 0


@needs_weights
def test_real_frame_roles_and_role_probability():
    """A labelled frame of a train video the role classifier never trained on (``c01561``)."""
    from soccerfactory.curation.quality.metrics import load_yolo_split
    from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT

    split = DEFAULT_DATA_ROOT / "football-players" / "train"
    if not split.is_dir():
        pytest.skip("../shared/data not present")
    image = next(i for i in load_yolo_split(split) if i.path.name.startswith("c01561_1_1_"))
    labels = image.labels
    persons = labels[labels.class_id != BALL]
    pixels = image.load()
    _, spreads = frame_kit_spreads(pixels, persons.xyxy, persons.class_id == PLAYER, _rules())
    inside = spreads[persons.class_id == PLAYER]
    # Most players wear the two kits (small far-side players and shadows misread: 0.75 here).
    assert np.nanmedian(inside) <= 1.5 and np.nanmean(inside <= _rules().member) >= 0.7
    assert (spreads[persons.class_id == GOALKEEPER] > _rules().member).all()  # the keeper wears neither

    ball = Detections(np.array([[10, 10, 20, 20]]), np.array([0.6]), np.array([BALL]), np.array([0]))
    detections = Detections.merge([Detections(persons.xyxy, np.full(len(persons), 0.9), persons.class_id, np.zeros(len(persons), np.int64)), ball])
    frames = Frames(images=pixels[None], frame_index=np.array([0]), timestamp_s=np.array([0.0]), fps=25.0, source="t")
    out = CropRoleClassifier(kit=_rules())(frames, detections)
    again, probability = CropRoleClassifier(kit=_rules()).decide(frames, detections)
    np.testing.assert_array_equal(out.class_id, again.class_id)
    assert np.isnan(probability[-1]) and out.class_id[-1] == BALL
    assert ((probability[:-1] >= 1 / 3) & (probability[:-1] <= 1)).all()
    assert (out.class_id[:-1] == persons.class_id).mean() >= 0.9
    assert (out.class_id[:-1][persons.class_id == GOALKEEPER] == GOALKEEPER).all()


@needs_weights
@pytest.mark.slow
def test_quality_reports_the_class_score_ranking_beside_the_written_one():
    from soccerfactory.curation.quality.detection import detector_quality
    from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT

    split = DEFAULT_DATA_ROOT / "football-players" / "valid"
    if not split.is_dir():
        pytest.skip("../shared/data not present")
    (run,) = detector_quality(split, limit=2)["runs"]
    roles = run["role_classifier"]
    assert "+kit:0.75/4.5+depth:2/3" in roles["version"]
    scored = roles["ap50_class_score"]
    assert "person" not in scored and "player" in scored  # persons are ranked by the detector alone
    assert all(0 <= v <= 1 for v in scored.values())
    assert scored["player"] > 0.5


def test_one_keeper_per_goal_moves_the_weaker_rival_to_player_and_keeps_both_keepers_of_a_wide_shot():
    rules = _rules(rival_slope=3.0, rival_span=0.5)
    # A sure keeper at x 100, a second "keeper" beside it, a far keeper at x 900 (a wide shot), a
    # player and a referee; frame 1000 px wide.
    xyxy = np.array([[90, 0, 110, 60], [150, 0, 170, 60], [890, 0, 910, 60], [300, 0, 320, 60], [200, 0, 220, 60]], np.float32)
    conf = np.array([0.9, 0.8, 0.7, 0.9, 0.9], np.float32)
    p = np.array([[0.02, 0.97, 0.01], [0.1, 0.8, 0.1], [0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.1, 0.3, 0.6]], np.float32)
    out = keeper_rivals_adjusted(p, xyxy, conf, np.ones(5, bool), 1000, rules)
    np.testing.assert_allclose(out.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(out[[0, 2]], p[[0, 2]], atol=1e-6)  # the surest keeper of each side, untouched
    assert out[1].argmax() == 0 and out[1, 1] == pytest.approx(0.8 * np.exp(-3 * 0.97), rel=1e-4)
    assert out[1, 2] == pytest.approx(0.1)  # referee odds not moved: the goalkeeper mass goes to player
    assert out[4].argmax() == 2 and out[4, 2] == pytest.approx(0.6)
    # A rival must be a confident box called goalkeeper; off = unchanged.
    alone = keeper_rivals_adjusted(p, xyxy, conf, np.array([False, True, True, True, True]), 1000, rules)
    np.testing.assert_allclose(alone[1], p[1], atol=1e-6)
    np.testing.assert_allclose(keeper_rivals_adjusted(p, xyxy, conf, np.ones(5, bool), 1000, _rules(rival_slope=0)), p, atol=1e-6)
    with pytest.raises(ValueError):
        _rules(rival_span=0)


@needs_weights
@pytest.mark.slow
def test_real_frames_one_keeper_per_goal():
    """Detector boxes of held-out train frames (c01561: a dark-kitted defender beside the keeper was called goalkeeper)."""
    from soccerfactory.curation.config import CurateConfig
    from soccerfactory.curation.detection.detector import build_detector
    from soccerfactory.curation.detection.roles import box_iou
    from soccerfactory.curation.quality.metrics import load_yolo_split
    from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT

    split = DEFAULT_DATA_ROOT / "football-players" / "train"
    if not split.is_dir():
        pytest.skip("../shared/data not present")
    images = [i for i in load_yolo_split(split) if i.path.name.startswith(("c01561_1_1_", "c01561_1_2_", "c01561_1_3_"))]
    detect = CurateConfig().detect
    detector = build_detector(detect.backend, weights=detect.resolved_weights(), imgsz=detect.imgsz, conf=detect.conf,
                              iou=detect.iou, device="cpu", runtime=detect.device_runtime())
    with_rule, without = CropRoleClassifier(kit=_rules(rival_slope=3.0)), CropRoleClassifier(kit=_rules())
    pairs_before = pairs_after = keepers_kept = keepers = 0
    for image in images:
        pixels = image.load()
        frames = Frames(images=pixels[None], frame_index=np.array([0]), timestamp_s=np.array([0.0]), fps=25.0, source="t")
        found = detector(frames)  # built without a role classifier: the detector's boxes and classes
        truth = image.labels[image.labels.class_id == GOALKEEPER]
        for out, after in ((without(frames, found), False), (with_rule(frames, found), True)):
            called = out[out.class_id == GOALKEEPER]
            centre = (called.xyxy[:, 0] + called.xyxy[:, 2]) / 2
            pairs = int(np.triu(np.abs(centre[:, None] - centre[None, :]) < 0.5 * pixels.shape[1], k=1).sum())
            hits = int((box_iou(truth.xyxy, called.xyxy) >= 0.5).any(axis=1).sum()) if len(called) else 0
            if after:
                pairs_after += pairs
                keepers_kept += hits
            else:
                pairs_before += pairs
                keepers += hits
    assert pairs_before >= 1 and pairs_after == 0  # two keepers beside each other: one now
    assert keepers_kept == keepers >= 2  # every keeper found before is found after
