"""The second-stage role classifier: crops, context, the network's masking, the shipped weights on real and synthetic frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from soccerfactory.curation.bundled import bundled_weights
from soccerfactory.curation.config import AttributeConfig, CurateConfig, DetectConfig
from soccerfactory.curation.detection.role_net import CONTEXT_HW, CONTEXT_SPAN, CROP_HW, RoleNet
from soccerfactory.curation.detection.roles import (
    CropRoleClassifier,
    box_geometry,
    build_role_classifier,
    configured_roles,
    context_pairs,
    cut_crops,
    cut_windows,
    nms_keep,
)
from soccerfactory.curation.types import BALL, GOALKEEPER, PLAYER, REFEREE, Detections, Frames

WEIGHTS = bundled_weights("role-classifier.pt")
needs_weights = pytest.mark.skipif(not WEIGHTS.is_file(), reason="role-classifier.pt not shipped in this checkout")


def test_crop_is_the_box_grown_and_repeats_the_border_outside_the_frame():
    image = np.zeros((100, 200, 3), np.uint8)
    image[20:84, 50:82] = (0, 0, 255)  # a red 32 x 64 person
    crop = cut_crops(image, np.array([[50, 20, 82, 84]]), (76, 38))[0]
    assert crop.shape == (76, 38, 3)
    assert (crop[6:70, 3:35] == (0, 0, 255)).all()  # the box is the central 64 x 32
    assert (crop[:4, :, 2] == 0).all()  # the margin above is background
    # A box hanging over the right edge: the last column is repeated, not black.
    image[:, 199] = (0, 255, 0)
    edge = cut_crops(image, np.array([[180, 10, 200, 90]]), (76, 38))[0]
    assert (edge[40, -1] == (0, 255, 0)).all()


def test_context_window_is_centred_on_the_box_scales_with_it_and_is_black_outside_the_frame():
    image = np.zeros((200, 400, 3), np.uint8)
    image[:, 200:] = 255  # right half white: the edge runs through the box's centre
    box = np.array([[190, 80, 210, 120]], np.float32)  # 40 px tall: window 120 x 240 px
    window = cut_windows(image, box, CONTEXT_HW, CONTEXT_SPAN)[0]
    assert window.shape == (*CONTEXT_HW, 3)
    assert (window[:, : CONTEXT_HW[1] // 2 - 1] == 0).all() and (window[:, CONTEXT_HW[1] // 2 + 1:] == 255).all()
    # Twice the box in a twice larger frame: the same window (it is measured in box heights).
    big = cv2.resize(image, (800, 400), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(cut_windows(big, box * 2, CONTEXT_HW, CONTEXT_SPAN)[0], window)
    # A box at the top-left corner: what lies outside the frame is black, not a repeated border.
    corner = cut_windows(np.full((200, 400, 3), 90, np.uint8), np.array([[0, 0, 10, 20]], np.float32))[0]
    assert (corner[0, 0] == 0).all() and (corner[-1, -1] == 90).all()


def test_network_with_a_context_window_needs_it_and_reads_it():
    torch.manual_seed(0)
    net = RoleNet(window=32).eval()
    crops, geometry = torch.rand(1, 3, 3, *CROP_HW), torch.rand(1, 3, 6)
    pairs = ~torch.eye(3, dtype=torch.bool)[None]
    windows = torch.rand(1, 3, 3, *CONTEXT_HW)
    with torch.inference_mode():
        with pytest.raises(ValueError, match="context windows"):
            net(crops, geometry, pairs)
        before = net(crops, geometry, pairs, windows)
        moved = windows.clone()
        moved[0, 1] = torch.rand(3, *CONTEXT_HW)
        after = net(crops, geometry, pairs, moved)
    assert not torch.allclose(before[0, 1], after[0, 1])
    torch.testing.assert_close(before[0, [0, 2]], after[0, [0, 2]])  # a window speaks for its own box only


def test_context_excludes_itself_duplicates_and_unconfident_boxes():
    xyxy = np.array([[0, 0, 10, 30], [1, 0, 11, 30], [50, 0, 60, 30], [100, 0, 110, 30]], np.float32)
    confidence = np.array([0.9, 0.5, 0.8, 0.1])
    context = (confidence >= 0.25) & nms_keep(xyxy, confidence, 0.7)
    assert context.tolist() == [True, False, True, False]  # box 1 is box 0's duplicate, box 3 too weak
    pairs = context_pairs(xyxy, context)
    assert not pairs[0, 0] and not pairs[1, 0]  # neither itself nor the same person
    assert pairs[3].tolist() == [True, False, True, False]  # a weak box is still told about the frame


def test_geometry_is_relative_to_the_frames_people():
    xyxy = np.array([[0, 0, 10, 20], [100, 50, 110, 90], [500, 0, 520, 40]], np.float32)
    g = box_geometry(xyxy, 1000, 100, np.array([True, True, False]))
    assert g.shape == (3, 6) and g.dtype == np.float32
    np.testing.assert_allclose(g[:, 0], [0.005, 0.105, 0.51], atol=1e-6)
    np.testing.assert_allclose(g[:, 3], np.log([20 / 30, 40 / 30, 40 / 30]), atol=1e-6)  # median of the context: 30


def test_network_ignores_boxes_outside_the_context():
    torch.manual_seed(0)
    net = RoleNet().eval()
    crops = torch.rand(1, 4, 3, *CROP_HW)
    geometry = torch.rand(1, 4, 6)
    pairs = torch.ones(1, 4, 4, dtype=torch.bool)
    pairs[0, :, 3] = False  # box 3 is nobody's context
    pairs[0, torch.arange(4), torch.arange(4)] = False
    with torch.inference_mode():
        before = net(crops, geometry, pairs)
        changed = crops.clone()
        changed[0, 3] = torch.rand(3, *CROP_HW)
        after = net(changed, geometry, pairs)
        pairs[0, :, 2] = False  # box 2 leaves the context: the others' logits move
        fewer = net(crops, geometry, pairs)
    torch.testing.assert_close(before[0, :3], after[0, :3])
    assert not torch.allclose(before[0, :2], fewer[0, :2])


def test_missing_weights_say_which_file_and_how_to_retrain(tmp_path):
    missing = tmp_path / "role-classifier.pt"
    with pytest.raises(FileNotFoundError) as error:
        build_role_classifier("crops", weights=missing)
    message = str(error.value)
    assert "\n" not in message and str(missing) in message and "training.role_classifier" in message


def test_none_keeps_the_detector_class_and_unknown_names_are_refused():
    assert configured_roles(DetectConfig(role_classifier="none"), AttributeConfig()) is None
    with pytest.raises(ValueError, match="valid choices: crops, none"):
        build_role_classifier("vit")


def test_config_names_the_role_weights_among_its_model_files(tmp_path):
    config = CurateConfig.model_validate({"detect": {"role_weights": str(tmp_path / "nope.pt")}})
    files = {f.what: f for f in config.model_files()}
    assert files["detect.role_weights (role classifier)"].path == tmp_path / "nope.pt"
    off = CurateConfig.model_validate({"detect": {"role_classifier": "none"}})
    assert not any("role" in f.what for f in off.model_files())


def test_a_pickled_module_is_refused(tmp_path):
    bad = tmp_path / "role-classifier.pt"
    torch.save(RoleNet(), bad)  # a whole module: loading it would run code
    with pytest.raises(ValueError, match="refused"):
        CropRoleClassifier(bad)


@needs_weights
def test_relabels_person_boxes_keeps_ball_and_confidence_and_merges_duplicates():
    from soccerfactory.curation.quality.metrics import load_yolo_split
    from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT

    split = DEFAULT_DATA_ROOT / "football-players" / "valid"
    if not split.is_dir():
        pytest.skip("../shared/data not present")
    image = load_yolo_split(split, limit=1)[0]
    labels = image.labels
    persons = labels[labels.class_id != BALL]
    # The labelled boxes as a detector would give them, plus a duplicate of box 0 labelled the
    # other way and a ball.
    first = persons[:1]
    duplicate = Detections(first.xyxy + 1, np.array([0.4]), np.array([REFEREE if first.class_id[0] == PLAYER else PLAYER]),
                           first.frame_index)
    ball = Detections(np.array([[10, 10, 20, 20]]), np.array([0.6]), np.array([BALL]), np.array([0]))
    detections = Detections.merge([
        Detections(persons.xyxy, np.full(len(persons), 0.9), persons.class_id, persons.frame_index), duplicate, ball,
    ])
    frames = Frames(images=image.load()[None], frame_index=np.array([0]), timestamp_s=np.array([0.0]), fps=25.0, source="t")
    out = CropRoleClassifier()(frames, detections)
    assert len(out) == len(persons) + 1  # the duplicate went, the ball stayed
    assert out.class_id[-1] == BALL and out.confidence[-1] == pytest.approx(0.6)
    assert set(out.class_id[:-1].tolist()) <= {GOALKEEPER, PLAYER, REFEREE}
    np.testing.assert_allclose(out.confidence[:-1], 0.9)
    # The labelled roles come back on a labelled frame of the real broadcasts.
    assert (out.class_id[:-1] == persons.class_id).mean() >= 0.9


@needs_weights
def test_unseen_synthetic_kits_roles_per_box(tmp_path):
    """A dev-seed clip (kits never trained on): ground-truth boxes get their role back."""
    import cv2

    from soccerfactory.curation.synth import SynthConfig, render_clip
    from soccerfactory.storage.groundtruth import read_ground_truth

    render_clip(SynthConfig(seconds=1.0, seed=470, shots="main"), tmp_path, images=True)
    athletes = read_ground_truth(tmp_path / "gt", "athletes").to_pandas().dropna(subset=["x1"])
    classifier = CropRoleClassifier()
    truth, said = [], []
    for frame in (5, 15):
        rows = athletes[(athletes.frame_index == frame) & (athletes["class"] != "other")]
        rows = rows[(rows.y2 - rows.y1) >= 10]
        image = cv2.imread(str(tmp_path / "img1" / f"{frame + 1:06d}.jpg"))
        p = classifier.probabilities([image], [rows[["x1", "y1", "x2", "y2"]].to_numpy(np.float32)], [np.ones(len(rows))])[0]
        np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
        truth += rows["class"].tolist()
        said += [("player", "goalkeeper", "referee")[i] for i in p.argmax(axis=1)]
    truth, said = np.array(truth), np.array(said)
    assert (truth == said).mean() >= 0.9
    assert (said[truth == "referee"] == "referee").mean() >= 0.5
