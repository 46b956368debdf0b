"""The multi-task network: shapes of every head, configs that refuse nonsense, and losses that fall."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.model.losses import MultiTaskLoss
from soccerfactory.model.config import HEADS, ModelConfig
from soccerfactory.model.network import build_model
from soccerfactory.model.text import HashedTextEncoder


def test_every_head_has_its_documented_shape():
    import torch

    config = ModelConfig.tiny(window=3)
    net = build_model(config)
    out = net(torch.rand(2, 3, 3, *config.image_size))
    rows, cols = config.grid
    assert set(out) == set(HEADS)
    assert out["athletes"].shape == (2, 3, 5, rows, cols)
    assert out["keypoints"].shape == (2, 3, 32, rows, cols)
    assert out["camera"].shape == (2, 3, 9, 2) and out["event"].shape == (2, config.n_events)
    assert torch.allclose(out["align"].norm(dim=-1), torch.ones(2), atol=1e-5)
    assert ((out["athletes"][:, :, 1:] >= 0) & (out["athletes"][:, :, 1:] <= 1)).all()
    # A subset of heads builds only those.
    only = build_model(ModelConfig.tiny(heads=("keypoints",), window=1))
    assert set(only(torch.rand(1, 1, 3, *config.image_size))) == {"keypoints"}


@pytest.mark.parametrize(
    "changes, message",
    [({"image_size": (100, 256)}, "multiples of patch_size"), ({"heads": ("athletes", "jump")}, "valid choices"), ({"embed_dim": 100}, "num_heads")],
)
def test_configs_refuse_what_cannot_be_built(changes, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig.tiny(**changes)


def test_the_paper_size_is_a_config_not_a_download():
    config = ModelConfig.vit_large()
    assert (config.embed_dim, config.depth, config.image_size) == (1024, 24, (288, 512))


def test_backbone_weights_must_be_a_local_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="vit.pt"):
        build_model(ModelConfig.tiny(backbone_weights=str(tmp_path / "vit.pt")))


def _targets(config, batch, rng):
    import torch

    rows, cols = config.grid
    t = config.window
    athletes = torch.zeros(batch, t, 5, rows, cols)
    keypoints = torch.zeros(batch, t, config.n_keypoints, rows, cols)
    visible = torch.zeros(batch, t, config.n_keypoints, dtype=torch.bool)
    for b in range(batch):
        for f in range(t):
            r, c = rng.integers(0, rows), rng.integers(0, cols)
            athletes[b, f, 0, r, c] = 1.0
            athletes[b, f, 1:, r, c] = torch.tensor([0.05, 0.2, 0.3, 0.6])
            for k in range(4):
                keypoints[b, f, k, rng.integers(0, rows), rng.integers(0, cols)] = 1.0
                visible[b, f, k] = True
    captions = [f"a {name} by team {team}" for name, team in zip(("pass", "shot", "pass", "tackle"), "ABBA")][:batch]
    return {
        "athletes": athletes, "keypoints": keypoints, "keypoints_visible": visible,
        "camera": torch.from_numpy(rng.normal(0, 0.5, (batch, t, 9, 2)).astype(np.float32)),
        "event": torch.arange(batch) % config.n_events,
        "text": torch.from_numpy(HashedTextEncoder(config.align_dim).encode(captions)),
    }


def test_every_task_loss_falls_when_fitting_one_batch():
    import torch

    torch.manual_seed(0)
    config = ModelConfig.tiny(window=2, depth=2)
    net = build_model(config)
    frames = torch.rand(4, 2, 3, *config.image_size)
    targets = _targets(config, 4, np.random.default_rng(0))
    loss = MultiTaskLoss()
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3)
    first = None
    for _ in range(25):
        total, parts = loss(net(frames), targets)
        first = first or parts
        optimiser.zero_grad()
        total.backward()
        optimiser.step()
    _, last = loss(net(frames), targets)
    assert set(first) == set(HEADS)
    for task in HEADS:
        assert last[task] < first[task], (task, first[task], last[task])


def test_tasks_without_targets_are_skipped_and_none_at_all_is_an_error():
    import torch

    config = ModelConfig.tiny(window=1, depth=1)
    out = build_model(config)(torch.rand(2, 1, 3, *config.image_size))
    total, parts = MultiTaskLoss()(out, {"event": torch.tensor([1, -1])})
    assert set(parts) == {"event"} and total.requires_grad
    with pytest.raises(ValueError, match="no task"):
        MultiTaskLoss()(out, {})


def test_hashed_captions_are_deterministic_and_tell_events_apart():
    encoder = HashedTextEncoder(64)
    a, b, c = encoder.encode(["a pass by team A", "a pass by team A", "a shot on goal by team B"])
    np.testing.assert_array_equal(a, b)
    assert abs(np.linalg.norm(a) - 1) < 1e-6 and float(a @ c) < 0.9


def test_captions_that_repeat_in_a_batch_are_positives_of_each_other():
    import torch

    from soccerfactory.model.losses import contrastive_loss

    text = torch.from_numpy(HashedTextEncoder(32).encode(["left third", "left third", "right third"]))
    # Two windows with the same caption, each embedded exactly as that caption: nothing to learn.
    video = text.clone()
    shared = contrastive_loss(video, text, temperature=0.01)
    # Each of the two rows splits its mass evenly between two equal positives; the third is exact.
    assert float(shared) == pytest.approx(2 / 3 * np.log(2), abs=1e-3)
    # Telling the two apart (each pulled to "its own" row) gains nothing over matching both.
    assert float(contrastive_loss(text[[0, 0, 2]], text, temperature=0.01)) == pytest.approx(float(shared), abs=1e-3)
    assert float(contrastive_loss(text[[2, 2, 0]], text, temperature=0.01)) > 5


@pytest.mark.slow
def test_the_paper_size_trains_on_whatever_device_there_is():
    import torch

    from soccerfactory.model.train import measure_step

    # ViT-L/16 at 512x288: 8-frame windows on a GPU, 2 on a CPU (the shapes and gradients, in minutes).
    device = "cuda:0" if torch.cuda.is_available() else "cpu"
    config = ModelConfig.vit_large(window=8 if device != "cpu" else 2)
    figures = measure_step(config, batch_size=2, device=device, steps=1)  # two: the contrastive loss needs a batch
    assert figures["parameters"] > 300e6
    assert set(figures["losses"]) == set(HEADS) and all(np.isfinite(v) for v in figures["losses"].values())
