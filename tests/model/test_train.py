"""The training loop: losses fall, checkpoints are atomic, and a crash resumes where it stopped."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.model.data import ShardWindowDataset, select_windows
from soccerfactory.model.config import ModelConfig
from soccerfactory.model.train import TrainConfig, load_checkpoint, train


@pytest.fixture(scope="module")
def dataset(catalog):
    path, _, _ = catalog
    return ShardWindowDataset(select_windows(path, window=2, step=2), ModelConfig.tiny(window=2, depth=2))


def test_every_task_loss_falls_over_a_short_run(dataset, tmp_path):
    config = TrainConfig(steps=24, batch_size=2, lr_backbone=3e-4, lr_heads=2e-3, warmup_steps=2, checkpoint_every=100)
    result = train(dataset, dataset.config, config, str(tmp_path / "ckpt.pt"))
    assert result["steps"] == 24 and result["resumed_from"] is None
    tasks = result["first"]["tasks"].keys()
    assert set(tasks) == {"athletes", "keypoints", "camera", "align"}
    for task in tasks:
        early = np.mean([r["tasks"][task] for r in result["history"][:4]])
        late = np.mean([r["tasks"][task] for r in result["history"][-4:]])
        assert late < early, (task, early, late)
    state = load_checkpoint(str(tmp_path / "ckpt.pt"))
    assert state["step"] == 24 and not list(tmp_path.glob("*.tmp"))


def test_a_crashed_run_resumes_from_its_last_checkpoint(dataset, tmp_path):
    config = TrainConfig(steps=6, batch_size=2, checkpoint_every=2)
    straight = train(dataset, dataset.config, config, str(tmp_path / "straight.pt"))
    crashed = train(dataset, dataset.config, config, str(tmp_path / "resumed.pt"), stop_after=3)  # dies after step 3
    assert crashed["steps"] == 3 and load_checkpoint(str(tmp_path / "resumed.pt"))["step"] == 2
    resumed = train(dataset, dataset.config, config, str(tmp_path / "resumed.pt"))
    assert resumed["resumed_from"] == 2 and resumed["steps"] == 6
    # Same samples in the same order; only the batch after the last checkpoint is seen twice.
    batch = config.batch_size
    assert crashed["seen"][: 2 * batch] + resumed["seen"] == straight["seen"]
    assert crashed["seen"][2 * batch:] == resumed["seen"][:batch]
    # The resumed run is the straight run, step for step.
    np.testing.assert_allclose([r["loss"] for r in resumed["history"]], [r["loss"] for r in straight["history"][2:]], rtol=1e-4)


def test_checkpoints_of_another_model_and_broken_files_are_refused(dataset, tmp_path):
    url = str(tmp_path / "ckpt.pt")
    train(dataset, dataset.config, TrainConfig(steps=1, batch_size=2), url)
    with pytest.raises(ValueError, match="another model config"):
        train(dataset, ModelConfig.tiny(window=2, depth=3), TrainConfig(steps=2, batch_size=2), url)
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="broken.pt"):
        load_checkpoint(str(tmp_path / "broken.pt"))
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(str(tmp_path / "missing.pt"))


def test_worker_processes_feed_the_same_batches_in_the_same_order(dataset, tmp_path):
    inline = train(dataset, dataset.config, TrainConfig(steps=3, batch_size=2), str(tmp_path / "a.pt"))
    workers = train(dataset, dataset.config, TrainConfig(steps=3, batch_size=2, workers=2), str(tmp_path / "b.pt"))
    assert workers["seen"] == inline["seen"]
    np.testing.assert_allclose([r["loss"] for r in workers["history"]], [r["loss"] for r in inline["history"]], rtol=1e-5)


def test_tensorboard_receives_every_step_of_every_curve(dataset, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = tmp_path / "tb"
    config = TrainConfig(steps=4, batch_size=2, checkpoint_every=2, tensorboard_dir=str(logs))
    crashed = train(dataset, dataset.config, config, str(tmp_path / "ckpt.pt"), stop_after=3)
    resumed = train(dataset, dataset.config, config, str(tmp_path / "ckpt.pt"))
    events = EventAccumulator(str(logs))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/total", "loss/athletes", "loss/keypoints", "loss/camera", "loss/align", "lr/backbone", "lr/heads"} <= tags
    # The resumed run writes its steps (3 and 4) at their own step numbers, after the crash's 1-3.
    totals = [(e.step, e.value) for e in events.Scalars("loss/total")]
    assert sorted({s for s, _ in totals}) == [1, 2, 3, 4]
    assert [v for s, v in totals if s == 4] == pytest.approx([resumed["history"][-1]["loss"]], rel=1e-5)
    assert [v for s, v in totals if s == 1] == pytest.approx([crashed["history"][0]["loss"]], rel=1e-5)


def test_the_event_loss_weighs_classes_by_their_rarity(catalog):
    from soccerfactory.model.train import _event_class_weights

    path, _, _ = catalog
    windows = select_windows(path, window=4)
    config = ModelConfig.tiny(window=4)
    dataset = ShardWindowDataset(windows, config, events={windows[0].match_id: [(0.0, 1)]}, event_margin_s=0.0)
    weights = _event_class_weights(dataset, config)
    n = len(windows)
    # One "pass" window among n: it weighs n - 1 times a "none" window; absent classes weigh 0.
    assert weights[1] / weights[0] == pytest.approx(n - 1, rel=1e-3) and weights[2:] == [0.0, 0.0]
    assert _event_class_weights(ShardWindowDataset(windows, config), config) is None  # no labels
    assert _event_class_weights(dataset, ModelConfig.tiny(window=4, heads=("athletes",))) is None
