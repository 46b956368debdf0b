"""Training on several processes: DDP over gloo on loopback, 2 CPU processes.

Equivalence (what "the same run" means): 2 processes with ``batch_size=2`` train on the global
batches of 1 process with ``batch_size=4`` (same samples, same order). The tiny ViT has no
dropout, no drop-path and no BatchNorm (LayerNorm only; timm's defaults), and the mirror
augmentation is fixed by the sample index, so nothing random differs between the runs.

Tolerance of the per-step losses, ``rtol=1e-5``: the contrastive loss is gathered over the
global batch, every task loss is divided by the global batch's count of labelled targets
(``distributed.global_normalisation``) and DDP averages gradients, so what still differs is the
order of float sums (the all-reduced gradient, about 1e-7 relative), which Adam's first steps
amplify. Measured: 1.2e-7 on the loss and 1.7e-7 on a task loss at most over 4 steps (before the
global normalisers, each rank divided by its own counts: 1.3e-4). 1e-5 leaves a margin of about
60x and is far below what a wrong split makes (a contrastive loss over half the batch starts at
ln 2 instead of ln 4; a doubled or halved gradient changes the second step's loss by several
percent; per-rank normalisers on a batch whose ranks hold very different label counts changed
the gradient by 16 %, the last test here).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soccerfactory.model.config import ModelConfig
from soccerfactory.model.data import ShardWindowDataset, Window, select_windows
from soccerfactory.model.train import TrainConfig, _order, load_checkpoint, train

STEPS, RTOL = 4, 1e-5


def _config(**changes) -> TrainConfig:
    return TrainConfig(**{"steps": STEPS, "warmup_steps": 1, "checkpoint_every": 2, **changes})


@pytest.fixture(scope="module")
def dataset(catalog):
    path, _, _ = catalog
    data = ShardWindowDataset(select_windows(path, window=2, step=2), ModelConfig.tiny(window=2, depth=2))
    data[0]  # decoded once here: the processes receive the decoded clip with the dataset
    return data


@pytest.fixture(scope="module")
def runs(dataset, tmp_path_factory):
    """One process with the global batch, and 2 processes (a straight run of both)."""
    folder = tmp_path_factory.mktemp("ddp")
    single = train(dataset, dataset.config, _config(batch_size=4), str(folder / "single" / "checkpoint.pt"))
    records = []
    double = train(dataset, dataset.config, _config(batch_size=2, processes=2), str(folder / "ddp" / "checkpoint.pt"),
                   progress=records.append)
    return folder, single, double, records


def test_two_processes_follow_the_single_process_run_with_the_doubled_batch_and_write_once(runs):
    folder, single, double, records = runs
    assert double["processes"] == 2 and double["steps"] == STEPS
    assert double["seen"] == single["seen"]  # the same global batches, in the same order
    np.testing.assert_allclose([r["loss"] for r in double["history"]], [r["loss"] for r in single["history"]], rtol=RTOL)
    for ours, theirs in zip(double["history"], single["history"]):
        assert ours["tasks"].keys() == theirs["tasks"].keys()
        np.testing.assert_allclose([ours["tasks"][t] for t in theirs["tasks"]], list(theirs["tasks"].values()), rtol=2 * RTOL)
    # The losses moved: the comparison is of a run that trains, not of two frozen models.
    assert double["history"][-1]["loss"] < 0.8 * double["history"][0]["loss"]
    # Rank 0 alone reported progress (here, in the caller's process) and wrote the checkpoint.
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))
    assert sorted(p.name for p in (folder / "ddp").iterdir()) == ["checkpoint.pt"]
    state = load_checkpoint(str(folder / "ddp" / "checkpoint.pt"))
    assert state["step"] == STEPS and state["train_config"]["processes"] == 2
    assert not any(name.startswith("module.") for name in state["model"])  # the network's own names, not DDP's


@pytest.mark.slow
def test_a_crashed_two_process_run_resumes_on_the_same_trajectory(runs, dataset, tmp_path):
    _, _, straight, _ = runs
    url = str(tmp_path / "resumed" / "checkpoint.pt")
    crashed = train(dataset, dataset.config, _config(batch_size=2, processes=2), url, stop_after=3)  # dies after step 3
    assert crashed["steps"] == 3 and load_checkpoint(url)["step"] == 2
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "checkpoint.pt").write_bytes((tmp_path / "resumed" / "checkpoint.pt").read_bytes())
    resumed = train(dataset, dataset.config, _config(batch_size=2, processes=2), url)
    assert resumed["resumed_from"] == 2 and resumed["steps"] == STEPS
    global_batch = 4
    assert crashed["seen"][: 2 * global_batch] + resumed["seen"] == straight["seen"]
    # Every rank loaded the same state: the resumed steps are the straight run's.
    np.testing.assert_allclose([r["loss"] for r in resumed["history"]], [r["loss"] for r in straight["history"][2:]], rtol=1e-4)
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == ["checkpoint.pt"]
    # The same global batch on one process continues it too (a run of 4 GPUs resumed on a laptop).
    alone = train(dataset, dataset.config, _config(batch_size=4), str(tmp_path / "one" / "checkpoint.pt"))
    assert alone["resumed_from"] == 2 and alone["seen"] == resumed["seen"]
    np.testing.assert_allclose([r["loss"] for r in alone["history"]], [r["loss"] for r in straight["history"][2:]], rtol=RTOL)


@pytest.mark.slow
def test_a_failing_rank_stops_every_rank_with_its_error_in_one_line(catalog, tmp_path):
    path, _, _ = catalog
    windows = select_windows(path, window=2, step=2)
    # A window whose shard is gone, placed where rank 1 meets it at the first step (the third
    # sample of the first global batch of 4); no event head, so nothing reads it beforehand.
    missing = Window("m-gone", "c-gone", str(tmp_path / "gone" / "manifest.json"), (0, 1))
    first_batch = _order(len(windows) + 1, 0, 0)[:4]
    windows.insert(int(first_batch[2]), missing)
    data = ShardWindowDataset(windows, ModelConfig.tiny(window=2, depth=2, heads=("athletes", "camera")))
    with pytest.raises(FileNotFoundError) as raised:
        train(data, data.config, _config(batch_size=2, processes=2), str(tmp_path / "ckpt" / "checkpoint.pt"))
    message = str(raised.value)
    assert message.startswith("training process 1 of 2 failed: no shard manifest at") and "gone" in message and "\n" not in message
    assert not (tmp_path / "ckpt").exists()


def test_bad_process_settings_fail_before_any_process_starts(dataset, tmp_path):
    with pytest.raises(ValueError, match="fewer than one global batch of 16"):  # 12 windows
        train(dataset, dataset.config, _config(batch_size=8, processes=2), str(tmp_path / "a.pt"))
    with pytest.raises(ValueError, match="nccl needs model.device=cuda"):
        train(dataset, dataset.config, _config(batch_size=2, processes=2, dist_backend="nccl"), str(tmp_path / "b.pt"))
    with pytest.raises(ValueError, match="processes must be >= 1"):
        TrainConfig(processes=0)
    assert not list(tmp_path.iterdir())


def _uneven_batch(dataset):
    """The first global batch of 4, its labels thinned so that the two ranks' counts differ a lot.

    Rank 0 (rows 0-1) keeps athlete labels on one frame and every camera point, and has no
    labelled event at all; rank 1 (rows 2-3) keeps athlete labels on every frame, one visible
    keypoint and one camera point, and holds the batch's only labelled events. Per-rank means
    weigh rank 0's single athlete frame like rank 1's four, and DDP's average halves the event
    gradient that only rank 1 has.
    """
    from soccerfactory.model.text import HashedTextEncoder
    from soccerfactory.model.train import collate

    frames, targets = collate([dataset[i] for i in range(4)], HashedTextEncoder(dataset.config.align_dim))
    athletes = torch.ones_like(targets["athletes_mask"])
    athletes[:2] = False
    athletes[0, 0] = True
    visible = targets["keypoints_visible"].clone()
    keep = visible[2:].nonzero()[0]
    visible[2:] = False
    visible[2 + keep[0], keep[1], keep[2]] = True
    camera = torch.ones_like(targets["camera_mask"])
    camera[2:] = False
    camera[2, 0, 0] = True
    targets.update(athletes_mask=athletes, keypoints_visible=visible, camera_mask=camera,
                   event=torch.tensor([-1, -1, 1, 3], dtype=targets["event"].dtype))
    return frames, targets


def _relative_error(ours: dict, theirs: dict) -> float:
    assert ours.keys() == theirs.keys()
    difference = sum(float(np.square(ours[k] - theirs[k]).sum()) for k in theirs) ** 0.5
    return difference / sum(float(np.square(theirs[k]).sum()) for k in theirs) ** 0.5


def test_ranks_with_very_different_label_counts_get_the_single_process_gradient(dataset):
    """One step's gradient on 2 gloo processes equals the whole batch's in one process, when
    the ranks hold very different numbers of valid targets per head; without the global
    normalisers (each rank over its own counts, then DDP's mean) it does not."""
    from soccerfactory.model.distributed import launch, step_gradients
    from soccerfactory.model.losses import MultiTaskLoss

    frames, targets = _uneven_batch(dataset)
    config, class_weights = dataset.config, [0.3, 1.0, 2.5, 4.0]
    first = {k: v[:2] for k, v in targets.items()}
    second = {k: v[2:] for k, v in targets.items()}
    loss = MultiTaskLoss(event_class_weights=class_weights)
    counts = loss.normalisers(first), loss.normalisers(second)
    assert counts[0]["event"] == 0 and counts[1]["event"] == 5.0  # the class weights of events 1 and 3
    assert counts[1]["athletes"] > 2 * counts[0]["athletes"] > 0
    assert counts[1]["keypoints"] == 1 and counts[0]["keypoints"] > 10 and counts[1]["camera"] == 1
    arguments = {"frames": frames, "targets": targets, "model_config": config, "event_class_weights": class_weights}

    single = step_gradients(**arguments)
    fixed = launch(step_gradients, arguments, processes=2, backend="gloo")
    local = launch(step_gradients, {**arguments, "normalise": False}, processes=2, backend="gloo")

    assert set(single["tasks"]) == {"athletes", "keypoints", "camera", "event", "align"}
    # The reported losses are the whole batch's, task by task.
    np.testing.assert_allclose(fixed["loss"], single["loss"], rtol=1e-5)
    np.testing.assert_allclose([fixed["tasks"][t] for t in single["tasks"]], list(single["tasks"].values()), rtol=1e-5)
    # And so is the gradient DDP applies: float32 sums in another order, nothing more.
    assert _relative_error(fixed["grads"], single["grads"]) < 1e-5
    # The same split with each rank's own normalisers is measurably another gradient (the test
    # can fail): a bug of the global counts would show here.
    assert _relative_error(local["grads"], single["grads"]) > 1e-2
    for name in ("event.weight", "event.bias"):  # only rank 1 has an event: DDP's mean halves it
        np.testing.assert_allclose(local["grads"][name], 0.5 * single["grads"][name], rtol=1e-4, atol=1e-7)
