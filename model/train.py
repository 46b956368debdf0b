"""The multi-task training loop: AdamW with separate backbone and head learning rates, per-task
loss weights, gradient clipping, atomic checkpoints through fsspec, and exact resumption.

Resumption: the sample order of every epoch is a permutation seeded by ``(seed, epoch)``, and a
checkpoint stores the step counter with the model, optimiser and scheduler states. A restarted
run recomputes the same permutation and continues at the batch after the last checkpoint, so no
sample is repeated or skipped beyond the batches trained after that checkpoint was written.

Several processes (``train.processes``, DDP through :mod:`soccerfactory.model.distributed`):
step ``k``'s global batch is the same slice of the same permutation as for one process with a
``batch_size x processes`` batch, and rank ``r`` trains on its ``r``-th ``batch_size`` samples;
DDP averages the gradients, the contrastive loss sees the whole global batch, each task loss is
divided by the global batch's count of labelled targets (so ranks holding unequal counts still
give the single-process gradient), and every rank loads the same checkpoint on resume. Rank 0
alone writes checkpoints, TensorBoard curves and progress; the others wait for its checkpoint at
a barrier.
"""

from __future__ import annotations

import functools
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from soccerfactory.model.camera import CAMERA_GRID
from soccerfactory.model.config import ModelConfig, TrainSection
from soccerfactory.model.losses import MultiTaskLoss
from soccerfactory.model.network import build_model
from soccerfactory.model.text import HashedTextEncoder

__all__ = ["TrainConfig", "collate", "load_checkpoint", "measure_step", "train"]


#: The defaults of every setting, stated once, in the run config the CLI and the flows run.
_DEFAULTS = TrainSection()


@dataclass(frozen=True)
class TrainConfig:
    """How to train (recorded with every checkpoint and in the catalog).

    Every default is :class:`~soccerfactory.model.config.TrainSection`'s (what ``soccerfactory
    train`` runs), so a bare ``TrainConfig()`` trains as the CLI does.
    """

    steps: int = _DEFAULTS.steps
    batch_size: int = _DEFAULTS.batch_size
    lr_backbone: float = _DEFAULTS.lr_backbone
    lr_heads: float = _DEFAULTS.lr_heads
    weight_decay: float = _DEFAULTS.weight_decay
    grad_clip: float = _DEFAULTS.grad_clip
    warmup_steps: int = _DEFAULTS.warmup_steps
    loss_weights: dict = field(default_factory=lambda: dict(_DEFAULTS.loss_weights))
    checkpoint_every: int = _DEFAULTS.checkpoint_every
    seed: int = _DEFAULTS.seed
    workers: int = _DEFAULTS.workers
    prefetch: int = _DEFAULTS.prefetch
    tensorboard_dir: str | None = _DEFAULTS.tensorboard_dir
    processes: int = _DEFAULTS.processes
    dist_backend: str = _DEFAULTS.dist_backend

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.checkpoint_every < 1 or self.processes < 1:
            raise ValueError("steps, batch_size, checkpoint_every and processes must be >= 1")
        if self.workers < 0 or self.prefetch < 1:
            raise ValueError("workers must be >= 0 and prefetch >= 1")
        if min(self.lr_backbone, self.lr_heads) <= 0 or self.grad_clip <= 0:
            raise ValueError("learning rates and grad_clip must be positive")


def collate(samples: Sequence[tuple[Any, dict]], encoder: HashedTextEncoder) -> tuple[Any, dict]:
    """Stack ``(frames, targets)`` samples into a batch; captions become ``text`` embeddings."""
    import torch

    frames = torch.stack([s[0] for s in samples])
    keys = [k for k in samples[0][1] if k != "caption"]
    targets = {k: torch.stack([s[1][k] for s in samples]) for k in keys}
    targets["text"] = torch.from_numpy(encoder.encode([s[1]["caption"] for s in samples]))
    return frames, targets


def _order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def _save(url: str, state: dict, storage_options: dict | None) -> None:
    import torch

    from soccerfactory.storage.fs import resolve_url

    buffer = io.BytesIO()
    torch.save(state, buffer)
    fs, path = resolve_url(url, storage_options)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    temporary = f"{path}.tmp"
    with fs.open(temporary, "wb") as handle:
        handle.write(buffer.getvalue())
    # A reader sees the old checkpoint or the new one, never half of one.
    fs.mv(temporary, path)


def load_checkpoint(url: str, storage_options: dict | None = None) -> dict:
    """A checkpoint written by :func:`train` (scanned, then read with ``weights_only=True``).

    Raises:
        FileNotFoundError: nothing at ``url``.
        ValueError: a directory, or a file that is truncated, foreign or would run code.
    """
    from soccerfactory.curation.safe_load import load_state
    from soccerfactory.storage.fs import resolve_url

    fs, path = resolve_url(url, storage_options)
    if not fs.exists(path):
        raise FileNotFoundError(f"checkpoint {url} not found")
    if fs.isdir(path):
        raise ValueError(f"checkpoint {url} is a directory; pass the checkpoint file (OUTPUT/models/RUN_ID/checkpoint.pt)")
    with fs.open(path, "rb") as handle:
        data = handle.read()
    # Scanned for foreign globals, then loaded weights_only: a pickled payload never runs.
    return load_state(data, "checkpoint", name=url)


def _event_class_weights(dataset: Any, model_config: ModelConfig) -> list[float] | None:
    """Inverse class frequencies of the dataset's event labels (classes absent get weight 0;
    ``None`` without labels or without an event head)."""
    if "event" not in model_config.heads or not hasattr(dataset, "event_classes"):
        return None
    labels = np.asarray([c for c in dataset.event_classes() if c >= 0], dtype=int)
    if not len(labels):
        return None
    counts = np.bincount(labels, minlength=model_config.n_events).astype(float)
    present = counts > 0
    weights = np.zeros(model_config.n_events)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights.round(4).tolist()


def _check_global_batch(n: int, batch_size: int, processes: int) -> None:
    """Every rank needs a full share of every global batch (one process trains short batches)."""
    if n < batch_size * processes:
        raise ValueError(f"{n} training samples, fewer than one global batch of {batch_size * processes} (train.batch_size "
                         f"{batch_size} x train.processes {processes}); lower train.batch_size or train.processes, or select more windows")


def _optimiser(net: Any, config: TrainConfig) -> Any:
    """AdamW with the backbone and the heads at their own learning rates (as in the paper)."""
    import torch

    return torch.optim.AdamW(
        [
            {"params": list(net.backbone.parameters()), "lr": config.lr_backbone},
            {"params": net.head_parameters(), "lr": config.lr_heads},
        ],
        weight_decay=config.weight_decay,
    )


def _optimisation_step(net: Any, optimiser: Any, loss_fn: MultiTaskLoss, frames: Any, targets: dict, grad_clip: float,
                       gather: Callable[[dict, dict], tuple[dict, dict]] | None = None) -> tuple[Any, dict, Any]:
    """One forward, backward, gradient clipping and optimiser step; ``(total, parts, grad_norm)``
    with the gradient norm (a tensor) before clipping. ``gather(outputs, targets)``: what the
    loss sees (every rank's alignment embeddings under DDP)."""
    import torch

    outputs = net(frames, text=targets.get("text"))
    if gather is not None:
        outputs, targets = gather(outputs, targets)
    total, parts = loss_fn(outputs, targets)
    optimiser.zero_grad(set_to_none=True)
    total.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
    optimiser.step()
    return total, parts, grad_norm


def _tensorboard_writer(directory: str | None):
    """A ``SummaryWriter`` for ``directory`` (``None``: no TensorBoard output)."""
    if not directory:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ImportError(f"train.tensorboard_dir={directory!r} needs the tensorboard package: "
                          "pip install 'soccerfactory[tensorboard]' (or leave tensorboard_dir unset)") from None
    return SummaryWriter(log_dir=str(directory))


def train(
    dataset: Any,
    model_config: ModelConfig,
    config: TrainConfig,
    checkpoint_url: str,
    resume: bool = True,
    progress: Callable[[dict], None] | None = None,
    stop_after: int | None = None,
    storage_options: dict | None = None,
    device: str = "cpu",
) -> dict:
    """Train on ``dataset`` for ``config.steps`` steps, checkpointing to ``checkpoint_url``.

    Args:
        dataset: Map-style, ``dataset[i] -> (frames, targets)`` (:class:`ShardWindowDataset`).
        checkpoint_url: fsspec URL of the checkpoint (overwritten atomically).
        resume: Continue from the checkpoint when it exists (same step counter and sample order).
        progress: Called with ``{"step", "loss", "tasks": {...}, "seconds"}`` after every step.
            With ``config.tensorboard_dir`` the same figures and the learning rates are also
            written as TensorBoard scalars (``loss/total``, ``loss/<task>``, ``lr/backbone``,
            ``lr/heads``), at their step, so a resumed run continues the same curves.
        stop_after: Stop (as a crash would) after this many steps of this call; for tests.
        device: ``"cpu"`` or ``"cuda:0"``; checkpoints are always written from CPU tensors.
            With ``config.processes > 1`` process ``r`` trains on ``cuda:r``.

    With ``config.processes > 1`` this launches that many processes (or, under ``torchrun``,
    joins its group) and returns rank 0's result; ``history`` then holds the ranks' mean losses
    and ``seen`` the global batches.

    Returns:
        ``{"steps", "history": [...], "first": {...}, "last": {...}, "resumed_from": step or None,
        "seen": [sample indices in training order, this call], "processes"}``.

    Raises:
        ValueError: a checkpoint of another model; fewer samples than one global batch (several
            processes); ``config.processes`` unlike the size of the group this runs in.
    """
    import torch

    from soccerfactory.model import distributed

    rank, world = distributed.rank_and_world()
    if world == 1 and distributed.launched_by_torchrun():
        device = distributed.join_launched_group(config.dist_backend, device)
        rank, world = distributed.rank_and_world()
    elif world == 1 and config.processes > 1:
        _check_global_batch(len(dataset), config.batch_size, config.processes)  # here, before the processes start
        arguments = {"dataset": dataset, "model_config": model_config, "config": config, "checkpoint_url": checkpoint_url,
                     "resume": resume, "stop_after": stop_after, "storage_options": storage_options}
        return distributed.launch(train, arguments, config.processes, config.dist_backend, device, progress)
    if world != config.processes:
        raise ValueError(f"train.processes={config.processes} but this process group has {world} processes; set train.processes={world}")
    torch.manual_seed(config.seed)  # every rank starts from the same weights (DDP also broadcasts rank 0's)
    net = build_model(model_config).to(device)
    optimiser = _optimiser(net, config)

    def schedule(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress_fraction = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress_fraction)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
    step, resumed_from = 0, None
    if resume:
        try:
            state = load_checkpoint(checkpoint_url, storage_options)
        except FileNotFoundError:
            state = None
        if state is not None:
            if state["model_config"] != model_config.to_dict():
                raise ValueError(f"checkpoint {checkpoint_url} is of another model config; pass resume=False or another URL")
            net.load_state_dict(state["model"])
            net.to(device)
            optimiser.load_state_dict(state["optimiser"])
            scheduler.load_state_dict(state["scheduler"])
            step = resumed_from = int(state["step"])
    model = distributed.wrap(net, device)
    loss_fn = MultiTaskLoss(dict(config.loss_weights), event_class_weights=_event_class_weights(dataset, model_config))
    encoder = HashedTextEncoder(model_config.align_dim)
    n, shard = len(dataset), config.batch_size
    size = shard * world  # the global batch
    if world > 1:
        _check_global_batch(n, shard, world)
    per_epoch = max(1, n // size)

    def batch_at(k: int) -> list[int]:
        """Step ``k``'s global batch: the same for any split of it into processes."""
        epoch, position = divmod(k, per_epoch)
        return _order(n, config.seed, epoch)[position * size:(position + 1) * size].tolist()

    last = config.steps if stop_after is None else min(config.steps, step + stop_after)
    # Worker processes decode and label ahead of the model (each decodes a clip once); the batch
    # order is fixed by (seed, epoch), so resuming needs no sampler state.
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=[batch_at(k)[rank * shard:(rank + 1) * shard] for k in range(step, last)], num_workers=config.workers,
        collate_fn=functools.partial(collate, encoder=encoder),
        prefetch_factor=config.prefetch if config.workers else None, persistent_workers=False,
        # Spawned, not forked: the parent runs Prefect's API, DuckDB and OpenCV threads, and a
        # fork of a threaded process can die before its first batch.
        multiprocessing_context="spawn" if config.workers else None,
    )
    writer = _tensorboard_writer(config.tensorboard_dir) if rank == 0 else None
    history, seen = [], []
    started = time.perf_counter()
    net.train()
    for frames, targets in loader:
        indices = batch_at(step)
        frames, targets = frames.to(device), {k: v.to(device) for k, v in targets.items()}
        # Each task normalised by the global batch's count of labelled targets, not the rank's:
        # ranks with unequal counts otherwise drifted from the single-process run (8.5e-4 over 8 steps).
        step_loss, scales = distributed.global_normalisation(loss_fn, targets, device)
        total, parts, _ = _optimisation_step(model, optimiser, step_loss, frames, targets, config.grad_clip, gather=distributed.gather_alignment)
        scheduler.step()
        step += 1
        seen.extend(indices)
        loss, parts = distributed.mean_over_ranks(float(total.detach()), parts, device, scales)
        record = {"step": step, "loss": loss, "tasks": parts, "seconds": round(time.perf_counter() - started, 2)}
        history.append(record)
        if progress is not None and rank == 0:
            progress(record)
        if writer is not None:
            writer.add_scalar("loss/total", record["loss"], step)
            for name, value in parts.items():
                writer.add_scalar(f"loss/{name}", value, step)
            writer.add_scalar("lr/backbone", optimiser.param_groups[0]["lr"], step)
            writer.add_scalar("lr/heads", optimiser.param_groups[1]["lr"], step)
        if step % config.checkpoint_every == 0 or step == config.steps:
            if rank == 0:  # the ranks hold the same weights: one writer
                _save(checkpoint_url, {
                    "step": step, "model": {k: v.detach().cpu() for k, v in net.state_dict().items()}, "optimiser": optimiser.state_dict(),
                    "scheduler": scheduler.state_dict(), "model_config": model_config.to_dict(), "train_config": asdict(config),
                }, storage_options)
            # Nobody runs ahead of a checkpoint being written: a crash after it resumes every rank from it.
            distributed.barrier(device)
    if writer is not None:
        writer.close()
    return {
        "steps": step, "history": history, "first": history[0] if history else None, "last": history[-1] if history else None,
        "resumed_from": resumed_from, "seen": seen, "processes": world,
    }


def measure_step(model_config: ModelConfig, batch_size: int = 1, device: str = "cpu", steps: int = 2) -> dict:
    """Time training steps (forward, backward, clipping, AdamW, as :func:`train` does them) of
    ``model_config`` on random frames, with a target for every head (the check that a size, e.g.
    ViT-L on a GPU, trains at all).

    Returns:
        ``{"device", "parameters", "seconds_per_step", "peak_memory_gb" (CUDA only), "losses"}``;
        the first step (allocation, kernel selection) is excluded from the timing when
        ``steps > 1``.
    """
    import torch

    torch.manual_seed(0)
    net = build_model(model_config).to(device)
    config = TrainConfig()
    optimiser = _optimiser(net, config)
    t, (rows, cols) = model_config.window, model_config.grid
    frames = torch.rand(batch_size, t, 3, *model_config.image_size, device=device)
    targets = {
        "athletes": torch.zeros(batch_size, t, 5, rows, cols, device=device),
        "keypoints": torch.zeros(batch_size, t, model_config.n_keypoints, rows, cols, device=device),
        "keypoints_visible": torch.zeros(batch_size, t, model_config.n_keypoints, dtype=torch.bool, device=device),
        "camera": torch.zeros(batch_size, t, len(CAMERA_GRID), 2, device=device),
        "camera_mask": torch.ones(batch_size, t, len(CAMERA_GRID), dtype=torch.bool, device=device),
        "event": torch.zeros(batch_size, dtype=torch.long, device=device),
        "text": torch.nn.functional.normalize(torch.randn(batch_size, model_config.align_dim, device=device), dim=-1),
    }
    targets["athletes"][:, :, 0, rows // 2, cols // 2] = 1.0
    targets["keypoints"][:, :, 0, rows // 2, cols // 2] = 1.0
    targets["keypoints_visible"][:, :, 0] = True
    loss_fn = MultiTaskLoss()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for _ in range(steps):
        started = time.perf_counter()
        _, parts, grad_norm = _optimisation_step(net, optimiser, loss_fn, frames, targets, config.grad_clip)
        # The norm of all gradients is finite exactly when every gradient is.
        if not math.isfinite(float(grad_norm)):
            raise FloatingPointError(f"non-finite gradients in a {model_config.embed_dim}-wide model on {device}")
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - started)
        losses.append(parts)
    timed = times[1:] or times
    figures = {"device": device, "parameters": sum(p.numel() for p in net.parameters()), "batch_size": batch_size,
               "window": t, "image_size": list(model_config.image_size), "seconds_per_step": round(sum(timed) / len(timed), 3),
               "losses": losses[-1]}
    if device.startswith("cuda"):
        figures["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        figures["gpu"] = torch.cuda.get_device_name(device)
    return figures


def main(argv: list[str] | None = None) -> None:
    """Train from a catalog without Prefect, one rank per process, for ``torchrun``::

        torchrun --nnodes 2 --nproc-per-node 4 --rdzv-endpoint HOST:29400 -m soccerfactory.model.train \\
            --catalog /shared/out/catalog.duckdb --output /shared/out --run-id big --set model.device=cuda

    The same windows, checkpoint (``OUTPUT/models/RUN_ID/checkpoint.pt``, written by rank 0) and
    resumption as ``soccerfactory train --run-id RUN_ID``; ``train.processes`` is torchrun's world
    size. Nothing is recorded in the catalog's ``training_runs`` (the ``train`` flow does that).
    """
    import argparse
    import os

    from soccerfactory.model.config import load_model_config
    from soccerfactory.model.data import ShardWindowDataset, load_event_labels, select_windows

    parser = argparse.ArgumentParser(prog="python -m soccerfactory.model.train", description=main.__doc__.splitlines()[0])
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--output", required=True, help="Root: the checkpoint goes to OUTPUT/models/RUN_ID/checkpoint.pt.")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--config", "-c", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    config = load_model_config(args.config, [f"train.processes={world}", *args.overrides])
    data = config.data
    windows = select_windows(args.catalog, data.where, window=config.model.window, step=data.step, split="train",
                             eval_fraction=data.eval_fraction, frame_stride=data.frame_stride)
    if not windows:
        raise SystemExit(f"error: no training windows in {args.catalog} for WHERE {data.where!r} on the train side of the split")
    model_config = config.model.build()
    dataset = ShardWindowDataset(windows, model_config, events=load_event_labels(args.catalog), mirror=data.mirror)
    url = f"{args.output.rstrip('/')}/models/{args.run_id}/checkpoint.pt"
    say = lambda record: print(f"step {record['step']}/{config.train.steps} loss {record['loss']:.3f}", flush=True)  # noqa: E731
    try:
        result = train(dataset, model_config, TrainConfig(**config.train.model_dump()), url, progress=say, device=config.model.device)
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    if os.environ.get("RANK", "0") == "0":
        print(f"run {args.run_id}: {result['steps']} steps on {len(windows)} windows, {result['processes']} processes; checkpoint {url}")


if __name__ == "__main__":
    main()
