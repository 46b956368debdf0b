"""Training windows from a real catalog of real shards, decoded from the rendered video."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.model.data import ShardWindowDataset, select_windows, split_of
from soccerfactory.model.config import ModelConfig


def test_windows_cover_consecutive_selected_frames(catalog):
    path, clip, _ = catalog
    windows = select_windows(path, window=4)
    assert len(windows) == clip.num_frames // 4
    assert all(np.all(np.diff(w.frames) == 1) for w in windows)
    overlapping = select_windows(path, window=4, step=2)
    assert len(overlapping) == (clip.num_frames - 4) // 2 + 1
    # A filter that drops a frame splits the run: no window straddles it.
    gapped = select_windows(path, where="f.frame_index <> 10", window=4)
    assert all(10 not in w.frames for w in gapped) and len(gapped) == 10 // 4 + (clip.num_frames - 11) // 4
    assert select_windows(path, where="k.match_id = 'other'") == []
    with pytest.raises(ValueError, match="nonsense"):
        select_windows(path, where="nonsense_column > 1")


def test_split_by_match_is_stable_and_all_or_nothing(catalog):
    path, _, _ = catalog
    side = split_of("m-five")
    assert split_of("m-five") == side
    assert len(select_windows(path, split=side)) > 0 and select_windows(path, split={"train": "eval", "eval": "train"}[side]) == []
    shares = [split_of(f"match-{i}") for i in range(400)]
    assert 0.12 < shares.count("eval") / 400 < 0.28


def test_a_sample_holds_the_frames_and_every_label(catalog):
    import torch

    path, clip, tables = catalog
    config = ModelConfig.tiny(window=4)
    dataset = ShardWindowDataset(select_windows(path, window=4), config)
    frames, targets = dataset[0]
    rows, cols = config.grid
    assert frames.shape == (4, 3, *config.image_size) and frames.dtype == torch.float32 and 0 <= frames.min() and frames.max() <= 1
    assert frames.std() > 0.05  # decoded pixels, not an empty buffer
    first = dataset.windows[0].frames[0]
    boxes = tables["athletes"].to_pandas()
    n_boxes = int((boxes.frame_index == first).sum())
    centres = targets["athletes"][0, 0].eq(1.0)
    assert 0.6 * n_boxes <= int(centres.sum()) <= n_boxes  # athletes sharing a cell merge
    assert (targets["athletes"][0, 1:][:, centres] > 0).all()
    visible = targets["keypoints_visible"][0]
    assert visible.sum() >= 4 and torch.allclose(targets["keypoints"][0][visible].sum(dim=(1, 2)), torch.ones(int(visible.sum())))
    assert targets["camera_mask"].all() and torch.isfinite(targets["camera"]).all()
    assert "third" in targets["caption"] and "picture" in targets["caption"]
    # Batched like a DataLoader would, the targets feed the loss directly.
    from soccerfactory.model.losses import MultiTaskLoss
    from soccerfactory.model.network import build_model
    from soccerfactory.model.text import HashedTextEncoder

    batch = [dataset[i] for i in range(2)]
    stacked = {k: torch.stack([b[1][k] for b in batch]) for k in batch[0][1] if k != "caption"}
    stacked["text"] = torch.from_numpy(HashedTextEncoder(config.align_dim).encode([b[1]["caption"] for b in batch]))
    total, parts = MultiTaskLoss()(build_model(config)(torch.stack([b[0] for b in batch])), stacked)
    assert set(parts) == {"athletes", "keypoints", "camera", "align"} and torch.isfinite(total)


def test_an_empty_selection_is_refused():
    with pytest.raises(ValueError, match="no training windows"):
        ShardWindowDataset([], ModelConfig.tiny())


def test_windows_take_the_event_near_them_and_stay_unlabelled_without_a_source(catalog):
    from soccerfactory.model.data import EVENT_CLASSES, event_class

    path, clip, _ = catalog
    windows = select_windows(path, window=4)
    config = ModelConfig.tiny(window=4)
    # A pass 0.2 s into the match, from an imported source: the first window has it, the last not.
    events = {"m-five": [(0.2, event_class("Pass"))]}
    labelled = ShardWindowDataset(windows, config, events=events, event_margin_s=0.1)
    assert int(labelled[0][1]["event"]) == EVENT_CLASSES.index("pass")
    assert int(labelled[len(windows) - 1][1]["event"]) == EVENT_CLASSES.index("none")
    assert int(ShardWindowDataset(windows, config)[0][1]["event"]) == -1
    assert event_class("Ball out of play") == EVENT_CLASSES.index("out") and event_class("Substitution") is None


def test_a_mirrored_sample_is_labelled_as_the_mirrored_world(catalog):
    import torch

    from soccerfactory.curation.pitch import KEYPOINT_FLIP_INDEX

    path, _, _ = catalog
    config = ModelConfig.tiny(window=2)
    windows = select_windows(path, window=2)
    dataset = ShardWindowDataset(windows, config, mirror=True)
    assert len(dataset) == 2 * len(windows)
    (frames, plain), (flipped, mirrored) = dataset[0], dataset[len(windows)]
    assert torch.equal(flipped, frames.flip(-1))
    # Athlete centre maps follow the flip. A centre exactly on a cell border rounds to the
    # neighbouring cell in the mirror image, so the centre cells themselves may move by one.
    here, there = plain["athletes"][:, 0].flip(-1), mirrored["athletes"][:, 0]
    off_centre = here.lt(0.8) & there.lt(0.8)
    assert torch.allclose(here[off_centre], there[off_centre], atol=1e-5)
    assert int(here.eq(1.0).sum()) == int(there.eq(1.0).sum())
    sizes = lambda targets: sorted(targets["athletes"][:, 1:3].permute(0, 2, 3, 1)[targets["athletes"][:, 0].eq(1.0)].round(decimals=4).tolist())
    assert sizes(plain) == sizes(mirrored)
    # Keypoint k of the mirrored world is where its mirror keypoint was, flipped.
    flip = torch.as_tensor(KEYPOINT_FLIP_INDEX[: config.n_keypoints])
    assert torch.equal(mirrored["keypoints_visible"], plain["keypoints_visible"][:, flip])
    assert torch.allclose(mirrored["keypoints"], plain["keypoints"][:, flip].flip(-1), atol=1e-5)
    # The camera grid is symmetric: its columns swap and the pitch x changes sign.
    grid = plain["camera"].reshape(2, 3, 3, 2).flip(2) * torch.tensor([-1.0, 1.0])
    assert torch.allclose(mirrored["camera"], grid.reshape(2, 9, 2), atol=1e-3)
    swapped = plain["caption"].replace("left", "@").replace("right", "left").replace("@", "right")
    assert mirrored["caption"] == swapped


def test_sparse_windows_span_more_time_for_the_same_frames(catalog):
    path, clip, _ = catalog
    sparse = select_windows(path, window=4, frame_stride=3)
    assert sparse and all(np.all(np.diff(w.frames) == 3) for w in sparse)
    assert len(sparse) == (clip.num_frames - 10) // 10 + 1  # span 10 frames, no frame used twice
    dense_starts = select_windows(path, window=4, frame_stride=3, step=1)
    assert len(dense_starts) == clip.num_frames - 9
    with pytest.raises(ValueError, match="frame_stride"):
        select_windows(path, window=4, frame_stride=0)


def test_captions_describe_where_the_play_is_how_crowded_and_the_event():
    from soccerfactory.model.data import EVENT_CLASSES, caption_for

    crowd = {"role": ["player"] * 14 + ["referee"], "pitch_x": [-30.0] * 15, "pitch_y": [-5.0] * 15}
    assert caption_for(crowd, True) == "play in the left third, towards the far touchline, a crowded picture"
    few = {"role": ["player", "goalkeeper"], "pitch_x": [3.0, float("nan")], "pitch_y": [8.0, None]}
    assert caption_for(few, True, event=EVENT_CLASSES.index("pass")) == \
        "play in the middle third, towards the near touchline, an open picture, during a pass"
    # Without a camera nothing is said of the pitch.
    assert caption_for(few, False) == "an open picture"


def test_event_classes_come_from_the_manifests_without_decoding(catalog):
    path, _, _ = catalog
    windows = select_windows(path, window=4)
    match = windows[0].match_id
    dataset = ShardWindowDataset(windows, ModelConfig.tiny(window=4), events={match: [(0.0, 1)]}, event_margin_s=0.0, mirror=True)
    classes = dataset.event_classes()
    assert len(classes) == 2 * len(windows) and classes[0] == classes[len(windows)] == 1 and set(classes[1:len(windows)]) == {0}
    assert not dataset._frames  # nothing decoded
    assert ShardWindowDataset(windows, ModelConfig.tiny(window=4)).event_classes() == [-1] * len(windows)
