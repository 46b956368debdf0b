"""Validation, indexing, immutability and geometry of the pipeline's typed containers.

The camera's tests are in ``test_camera.py``.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from soccerfactory.curation.testing import make_detections, make_frames, make_tracks
from soccerfactory.curation.types import (
    BALL,
    CLASS_NAMES,
    GOALKEEPER,
    PLAYER,
    REFEREE,
    Detections,
    Frames,
    Tracks,
)


def _fields(**overrides):
    base = dict(
        xyxy=[[0, 0, 10, 20], [5, 5, 6, 6]],
        confidence=[0.5, 1.0],
        class_id=[PLAYER, BALL],
        frame_index=[3, 3],
    )
    base.update(overrides)
    return base


# --------------------------------------------------------------------------- module


def test_importing_types_does_not_import_torch():
    code = "import sys, soccerfactory.curation.types, soccerfactory.curation.masks; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_class_constants_follow_dataset_label_order():
    assert CLASS_NAMES == ("ball", "goalkeeper", "player", "referee")
    assert (BALL, GOALKEEPER, PLAYER, REFEREE) == (0, 1, 2, 3)


# --------------------------------------------------------------------------- Frames


def test_frames_builder_and_properties():
    frames = make_frames(n=4, height=72, width=128)
    assert len(frames) == 4
    assert (frames.height, frames.width) == (72, 128)
    assert frames.images.dtype == np.uint8 and frames.frame_index.dtype == np.int64
    assert frames.timestamp_s.dtype == np.float64
    np.testing.assert_array_equal(make_frames(seed=0).images, frames.images)  # deterministic


def test_frames_indexing():
    frames = make_frames(n=5)
    one = frames[2]
    assert isinstance(one, Frames) and len(one) == 1
    assert one.frame_index.tolist() == [2]
    assert np.shares_memory(one.images, frames.images)  # an int index is a view
    assert frames[-1].frame_index.tolist() == [4]
    assert frames[1:4].frame_index.tolist() == [1, 2, 3]
    sub = frames[np.array([True, False, True, False, True])]
    assert sub.frame_index.tolist() == [0, 2, 4]
    np.testing.assert_array_equal(sub.images[1], frames.images[2])
    np.testing.assert_array_equal(sub.timestamp_s, frames.timestamp_s[[0, 2, 4]])
    with pytest.raises(IndexError):
        frames[5]
    with pytest.raises(ValueError, match="strictly increasing"):
        frames[[3, 1]]


def test_frames_empty():
    empty = Frames.empty(height=720, width=1280, fps=25.0, source="x.mp4")
    assert len(empty) == 0 and (empty.height, empty.width) == (720, 1280)
    assert len(empty[:]) == 0 and len(empty[np.zeros(0, dtype=bool)]) == 0


@pytest.mark.parametrize(
    ("override", "match"),
    [
        (dict(images=np.zeros((2, 8, 8, 3), dtype=np.float32)), "images must have dtype uint8"),
        (dict(images=np.zeros((2, 8, 8), dtype=np.uint8)), r"images must have shape \(N, H, W, 3\)"),
        (dict(frame_index=[0, 1, 2]), "frame_index must have length 2"),
        (dict(frame_index=[1, 1]), "strictly increasing"),
        (dict(frame_index=[-1, 0]), "frame_index must be >= 0"),
        (dict(timestamp_s=[0.0, np.nan]), "timestamp_s must be finite"),
        (dict(timestamp_s=[1.0, 0.5]), "non-decreasing"),
        (dict(fps=0.0), "fps must be finite and > 0"),
        (dict(source=None), "source must be a str"),
    ],
)
def test_frames_validation(override, match):
    fields = dict(
        images=np.zeros((2, 8, 8, 3), dtype=np.uint8),
        frame_index=[0, 1],
        timestamp_s=[0.0, 0.04],
        fps=25.0,
        source="clip.mp4",
    )
    fields.update(override)
    with pytest.raises(ValueError, match=match):
        Frames(**fields)


def test_frames_are_frozen():
    frames = make_frames()
    with pytest.raises(dataclasses.FrozenInstanceError):
        frames.fps = 30.0
    with pytest.raises(ValueError):
        frames.images[0, 0, 0, 0] = 1


def test_frames_do_not_change_callers_array_flags():
    images = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    Frames(images=images, frame_index=[0], timestamp_s=[0.0], fps=25.0, source="s")
    assert images.flags.writeable


# --------------------------------------------------------------------------- Detections


def test_detections_coerce_lists_to_documented_dtypes():
    det = Detections(**_fields())
    assert det.xyxy.dtype == np.float32 and det.xyxy.shape == (2, 4)
    assert det.confidence.dtype == np.float32
    assert det.class_id.dtype == np.int64 and det.frame_index.dtype == np.int64
    assert det.track_id is None and det.mask is None and dict(det.data) == {}
    assert det.class_names == CLASS_NAMES
    # Integral floats (as torch class tensors are) are accepted.
    assert Detections(**_fields(class_id=np.array([2.0, 0.0]))).class_id.tolist() == [2, 0]


@pytest.mark.parametrize(
    ("override", "match"),
    [
        (dict(xyxy=[[0, 0, 10]] * 2), r"xyxy must have shape \(N, 4\), got \(2, 3\)"),
        (dict(xyxy=[[0, 0, np.nan, 1], [0, 0, 1, 1]]), "xyxy must be finite"),
        (dict(xyxy=[[10, 0, 5, 1], [0, 0, 1, 1]]), r"x1 <= x2 and y1 <= y2, row 0"),
        (dict(xyxy=[[0, 0, 1, 1], [0, 5, 1, 4]]), r"x1 <= x2 and y1 <= y2, row 1"),
        (dict(xyxy=[["a", "b", "c", "d"]] * 2), "xyxy must be numeric"),
        (dict(confidence=[0.5]), "confidence must have length 2"),
        (dict(confidence=[0.5, 1.5]), r"confidence must be in \[0, 1\]"),
        (dict(confidence=[-0.1, 0.5]), r"confidence must be in \[0, 1\]"),
        (dict(confidence=[0.5, np.inf]), "confidence must be finite"),
        (dict(class_id=[0, 4]), r"class_id must be in \[0, 4\)"),
        (dict(class_id=[0.5, 1]), "class_id must hold integers"),
        (dict(class_id=[[0, 1]]), r"class_id must have shape \(N,\)"),
        (dict(frame_index=[0, 1, 2]), "frame_index must have length 2"),
        (dict(frame_index=[-1, 0]), "frame_index must be >= 0"),
        (dict(track_id=[1]), "track_id must have length 2"),
        (dict(track_id=[-2, 0]), "track_id must be >= -1"),
        (dict(mask=np.zeros((2, 4, 4), dtype=np.uint8)), "mask must have dtype bool"),
        (dict(mask=np.zeros((3, 4, 4), dtype=bool)), "mask must have length 2"),
        (dict(mask=np.zeros((2, 4), dtype=bool)), r"mask must have shape \(N, H, W\)"),
        (dict(data={"team": [0, 1, 1]}), r"data\['team'\] must have length 2"),
        (dict(class_names=()), "class_names must be a non-empty tuple"),
    ],
)
def test_detections_validation(override, match):
    with pytest.raises(ValueError, match=match):
        Detections(**_fields(**override))


def test_detections_empty_and_indexing_empty():
    empty = Detections.empty()
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4)
    assert len(empty[:]) == 0
    assert len(empty[np.zeros(0, dtype=bool)]) == 0
    assert len(empty[[]]) == 0
    assert empty.area.shape == (0,) and empty.centers.shape == (0, 2) and empty.frames.shape == (0,)
    with pytest.raises(IndexError):
        empty[0]
    assert len(Detections(xyxy=[], confidence=[], class_id=[], frame_index=[])) == 0


def _rich(n=6, seed=1):
    rng = np.random.default_rng(seed)
    det = make_detections(n=n, frame_index=np.arange(n) % 3, seed=seed)
    return dataclasses.replace(
        det,
        track_id=np.arange(n) * 10,
        mask=rng.random((n, 5, 7)) > 0.5,
        data={"team": np.arange(n) % 2, "embedding": rng.random((n, 8)).astype(np.float32)},
    )


@pytest.mark.parametrize(
    "index",
    [
        np.array([True, False, True, True, False, True]),
        [False, True, False, False, True, True],
        np.array([5, 0, 3]),
        [4, 4, 1],
        slice(1, 5, 2),
        slice(None, None, -1),
    ],
    ids=["bool-array", "bool-list", "int-array", "int-list-dup", "slice-step", "reverse"],
)
def test_detections_indexing_keeps_rows_aligned(index):
    det = _rich()
    rows = np.arange(len(det))[index]
    sub = det[index]
    assert type(sub) is Detections and len(sub) == len(rows)
    np.testing.assert_array_equal(sub.xyxy, det.xyxy[rows])
    np.testing.assert_array_equal(sub.confidence, det.confidence[rows])
    np.testing.assert_array_equal(sub.class_id, det.class_id[rows])
    np.testing.assert_array_equal(sub.frame_index, det.frame_index[rows])
    np.testing.assert_array_equal(sub.track_id, det.track_id[rows])
    np.testing.assert_array_equal(sub.mask, det.mask[rows])
    assert set(sub.data) == {"team", "embedding"}
    np.testing.assert_array_equal(sub.data["team"], det.data["team"][rows])
    np.testing.assert_array_equal(sub.data["embedding"], det.data["embedding"][rows])


def test_detections_int_index_returns_one_row():
    det = _rich()
    last = det[-1]
    assert len(last) == 1 and last.xyxy.shape == (1, 4) and last.mask.shape == (1, 5, 7)
    assert last.track_id.tolist() == [50] and last.data["embedding"].shape == (1, 8)
    assert det[np.int64(2)].track_id.tolist() == [20]
    with pytest.raises(IndexError):
        det[6]
    with pytest.raises(IndexError):
        det[np.array([True, False])]  # wrong-length mask
    with pytest.raises(TypeError):
        det[True]


def test_detections_are_frozen_and_read_only():
    det = _rich()
    with pytest.raises(dataclasses.FrozenInstanceError):
        det.xyxy = np.zeros((6, 4))
    for arr in (det.xyxy, det.confidence, det.class_id, det.frame_index, det.track_id, det.mask, det.data["team"]):
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[0] = 0
    with pytest.raises(TypeError):
        det.data["new"] = np.zeros(6)
    # Views produced by indexing stay read-only too.
    assert not det[1:3].xyxy.flags.writeable


def test_detections_do_not_change_callers_array_flags():
    xyxy = np.array([[0, 0, 1, 1]], dtype=np.float32)
    Detections(xyxy=xyxy, confidence=[1.0], class_id=[0], frame_index=[0])
    assert xyxy.flags.writeable


def test_detections_geometry():
    det = Detections(**_fields())
    np.testing.assert_allclose(det.area, [200.0, 1.0])
    np.testing.assert_allclose(det.centers, [[5, 10], [5.5, 5.5]])
    np.testing.assert_allclose(det.bottom_center, [[5, 20], [5.5, 6]])


def test_detections_frames_and_for_frame():
    det = make_detections(n=6, frame_index=[4, 2, 4, 9, 2, 4])
    assert det.frames.tolist() == [2, 4, 9]
    at4 = det.for_frame(4)
    assert at4.frame_index.tolist() == [4, 4, 4]
    np.testing.assert_array_equal(at4.xyxy, det.xyxy[[0, 2, 5]])
    assert len(det.for_frame(7)) == 0


def test_detections_with_tracks_and_with_data():
    det = make_detections(n=3)
    tracked = det.with_tracks([7, -1, 8])
    assert tracked.track_id.tolist() == [7, -1, 8] and det.track_id is None
    assert not tracked.is_tracked and det.with_tracks([1, 2, 3]).is_tracked
    enriched = det.with_data(team=[0, 1, 0]).with_data(role=np.array(["a", "b", "c"]))
    assert set(enriched.data) == {"team", "role"} and dict(det.data) == {}
    with pytest.raises(ValueError, match="data"):
        det.with_data(team=[0, 1])


def test_merge():
    a = make_detections(n=3, frame_index=0, seed=0).with_data(team=[0, 1, 1])
    b = make_detections(n=2, frame_index=1, seed=1).with_data(team=[1, 0]).with_tracks([4, 5])
    merged = Detections.merge([a, b])
    assert len(merged) == 5
    np.testing.assert_array_equal(merged.xyxy, np.concatenate([a.xyxy, b.xyxy]))
    assert merged.frame_index.tolist() == [0, 0, 0, 1, 1]
    assert merged.track_id.tolist() == [-1, -1, -1, 4, 5]  # missing tracks become unassigned
    assert merged.data["team"].tolist() == [0, 1, 1, 1, 0]
    # Empty placeholders are skipped and an empty list gives an empty result.
    assert len(Detections.merge([Detections.empty(), a])) == 3
    assert len(Detections.merge([])) == 0
    with pytest.raises(ValueError, match="data keys differ"):
        Detections.merge([a, make_detections(n=1)])
    with pytest.raises(ValueError, match="class_names differ"):
        Detections.merge([make_detections(n=1), dataclasses.replace(make_detections(n=1), class_names=("x",) * 4)])


def test_merge_masks():
    a = dataclasses.replace(make_detections(n=2), mask=np.ones((2, 4, 6), dtype=bool))
    b = dataclasses.replace(make_detections(n=1), mask=np.zeros((1, 4, 6), dtype=bool))
    merged = Detections.merge([a, b])
    assert merged.mask.shape == (3, 4, 6) and merged.mask[:2].all() and not merged.mask[2].any()
    with pytest.raises(ValueError, match="masks"):
        Detections.merge([a, make_detections(n=1)])
    with pytest.raises(ValueError, match="mask sizes differ"):
        Detections.merge([a, dataclasses.replace(b, mask=np.zeros((1, 5, 6), dtype=bool))])


# --------------------------------------------------------------------------- Tracks


def test_tracks_validation():
    with pytest.raises(ValueError, match="track_id is required"):
        Tracks(**_fields())
    with pytest.raises(ValueError, match="track_id must be >= 0"):
        Tracks(**_fields(track_id=[-1, 0]))
    with pytest.raises(ValueError, match="appears more than once in frame 3"):
        Tracks(**_fields(track_id=[1, 1]))
    with pytest.raises(ValueError, match="track_id must be >= 0"):
        make_detections(n=2).with_tracks([0, -1]).to_tracks()


def test_tracks_helpers():
    tracks = make_tracks(n_tracks=3, n_frames=4)
    assert isinstance(tracks, Tracks) and len(tracks) == 12
    assert tracks.track_ids().tolist() == [0, 1, 2]
    reversed_rows = tracks[::-1]
    assert type(reversed_rows) is Tracks  # indexing keeps the subclass
    one = reversed_rows.tracklet(1)
    assert type(one) is Tracks
    assert one.frame_index.tolist() == [0, 1, 2, 3] and set(one.track_id.tolist()) == {1}
    assert len(tracks.tracklet(99)) == 0
    assert len(Tracks.empty()) == 0 and Tracks.empty().track_id.shape == (0,)
    merged = Tracks.merge([tracks.for_frame(0), tracks.for_frame(1)])
    assert type(merged) is Tracks and len(merged) == 6
    assert make_detections(n=3, with_tracks=True).is_tracked


# --------------------------------------------------------------------------- ultralytics adapter


def _fake_results(n=3, with_id=False):
    det = make_detections(n=n, seed=3)
    boxes = SimpleNamespace(
        xyxy=det.xyxy.astype(np.float64),
        conf=det.confidence,
        cls=det.class_id.astype(np.float32),  # ultralytics returns classes as floats
        id=np.arange(n, dtype=np.float32) + 1 if with_id else None,
    )
    names = {0: "football", 1: "goalkeeper", 2: "player", 3: "referee"}
    return SimpleNamespace(boxes=boxes, names=names, orig_shape=(720, 1280)), det


def test_from_ultralytics_duck_typed():
    results, det = _fake_results()
    out = Detections.from_ultralytics(results, frame_index=17)
    np.testing.assert_allclose(out.xyxy, det.xyxy)
    np.testing.assert_array_equal(out.class_id, det.class_id)
    np.testing.assert_allclose(out.confidence, det.confidence)
    assert out.frame_index.tolist() == [17] * 3
    assert out.track_id is None
    assert out.class_names == ("football", "goalkeeper", "player", "referee")
    tracked = Detections.from_ultralytics(_fake_results(with_id=True)[0])
    assert tracked.track_id.tolist() == [1, 2, 3]
    no_boxes = SimpleNamespace(boxes=None, names={0: "a"}, orig_shape=(4, 4))
    assert len(Detections.from_ultralytics(no_boxes)) == 0
    with pytest.raises(TypeError, match="one Results"):
        Detections.from_ultralytics([results])


def test_from_ultralytics_masks_must_be_full_resolution():
    results, _ = _fake_results(n=2)
    results.masks = SimpleNamespace(data=np.ones((2, 720, 1280), dtype=np.float32))
    assert Detections.from_ultralytics(results, with_masks=True).mask.shape == (2, 720, 1280)
    results.masks = SimpleNamespace(data=np.ones((2, 384, 640), dtype=np.float32))
    with pytest.raises(ValueError, match="retina_masks=True"):
        Detections.from_ultralytics(results, with_masks=True)
    assert Detections.from_ultralytics(results).mask is None


def test_from_real_ultralytics_results():
    torch = pytest.importorskip("torch")
    results_mod = pytest.importorskip("ultralytics.engine.results")
    boxes = torch.tensor([[10.0, 20.0, 50.0, 120.0, 0.9, 2.0], [100.0, 100.0, 104.0, 104.0, 0.4, 0.0]])
    res = results_mod.Results(
        orig_img=np.zeros((720, 1280, 3), dtype=np.uint8),
        path="frame.jpg",
        names={0: "football", 1: "goalkeeper", 2: "player", 3: "referee"},
        boxes=boxes,
    )
    out = Detections.from_ultralytics(res, frame_index=5)
    np.testing.assert_allclose(out.xyxy, boxes[:, :4].numpy())
    np.testing.assert_allclose(out.confidence, [0.9, 0.4], rtol=1e-6)
    assert out.class_id.tolist() == [2, 0] and out.frame_index.tolist() == [5, 5]
    assert out.track_id is None
    tracked = results_mod.Results(
        orig_img=np.zeros((720, 1280, 3), dtype=np.uint8),
        path="frame.jpg",
        names={0: "football", 1: "goalkeeper", 2: "player", 3: "referee"},
        boxes=torch.tensor([[10.0, 20.0, 50.0, 120.0, 7.0, 0.9, 2.0]]),
    )
    assert Detections.from_ultralytics(tracked).track_id.tolist() == [7]
