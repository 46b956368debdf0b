"""Data-parallel training over several processes (plain ``torch.distributed`` DDP, no new
dependency): the launcher, and the few collectives a training step needs.

:func:`launch` runs ``fn(**kwargs)`` in ``processes`` processes spawned from this one
(``torch.multiprocessing``, start method ``spawn``), joined into one process group on loopback
(``MASTER_ADDR=127.0.0.1``, a free port): backend ``nccl`` when training on CUDA (process ``r``
on ``cuda:r``), ``gloo`` on CPU. The caller stays where it is (a Prefect flow keeps running in
the parent; the processes import library code only): rank 0's progress records reach the
caller's callback as they come, and rank 0's return value comes back. A failure in any rank
stops every rank and raises in the caller as one line naming the rank.

Under ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``),
:func:`join_launched_group` joins the group torchrun set up instead, so the same training code
runs on several machines.
"""

from __future__ import annotations

import builtins
import os
import queue
import socket
from collections.abc import Callable
from typing import Any

from soccerfactory.model.losses import COUNTED_TASKS

__all__ = [
    "barrier", "gather_alignment", "global_normalisation", "join_launched_group", "launch", "launched_by_torchrun",
    "mean_over_ranks", "rank_and_world", "resolve_backend", "step_gradients", "wrap",
]

#: Exceptions a failed rank re-raises in the caller under their own type (the CLI reports a
#: ValueError or FileNotFoundError as bad input, exit 2); any other becomes a RuntimeError.
_KEPT_TYPES = ("ValueError", "FileNotFoundError", "KeyError", "ImportError", "FloatingPointError", "MemoryError", "RuntimeError")

#: The order of the task losses in the vector ranks average (:func:`mean_over_ranks`).
_TASKS = ("athletes", "keypoints", "camera", "event", "align")



def resolve_backend(backend: str, device: str) -> str:
    """``nccl`` for a CUDA device and ``gloo`` otherwise when ``backend`` is ``auto``.

    Raises:
        ValueError: ``nccl`` asked for a CPU device, or an unknown backend.
    """
    if backend == "auto":
        return "nccl" if device.startswith("cuda") else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"train.dist_backend must be auto, gloo or nccl; got {backend!r}")
    if backend == "nccl" and not device.startswith("cuda"):
        raise ValueError(f"train.dist_backend=nccl needs model.device=cuda; got {device!r} (use gloo or auto on CPU)")
    return backend


def rank_and_world() -> tuple[int, int]:
    """``(rank, world size)`` of the process group this process is in; ``(0, 1)`` outside one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def launched_by_torchrun() -> bool:
    """Whether ``torchrun`` (or another env:// launcher) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ and "MASTER_ADDR" in os.environ


def join_launched_group(backend: str, device: str) -> str:
    """Join the process group ``torchrun`` described in the environment; the device this rank
    trains on (``cuda:LOCAL_RANK`` for a CUDA ``device``)."""
    import torch
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = _rank_device(device, local)
    if device.startswith("cuda"):
        torch.cuda.set_device(device)
    dist.init_process_group(resolve_backend(backend, device), init_method="env://")
    return device


def wrap(net: Any, device: str) -> Any:
    """``net`` in ``DistributedDataParallel`` (``net`` itself outside a group).

    ``find_unused_parameters``: a head without a target in a batch (the event head when a batch
    holds no labelled event) gets no gradient, which DDP otherwise takes for a hang.
    """
    import torch

    if rank_and_world()[1] == 1:
        return net
    ids = [torch.device(device).index or 0] if device.startswith("cuda") else None
    return torch.nn.parallel.DistributedDataParallel(net, device_ids=ids, find_unused_parameters=True)


def gather_alignment(outputs: dict, targets: dict) -> tuple[dict, dict]:
    """The alignment embeddings of every rank's samples, in rank order, with gradients.

    The contrastive loss compares every window with every caption of the batch: on its shard
    alone a rank would see half the negatives of the single-process run with the same global
    batch (InfoNCE over 2 samples starts at ln 2, over 4 at ln 4). Gathered (rank 0's samples
    first, as in the global batch), every rank computes the global batch's loss; the gather's
    backward sums every rank's gradient of its own samples, and DDP's average of the ranks then
    equals the single-process gradient.
    """
    if rank_and_world()[1] == 1 or "align" not in outputs or "text" not in targets:
        return outputs, targets
    gather = _gather_function()
    outputs, targets = dict(outputs), dict(targets)
    outputs["align"] = gather.apply(outputs["align"])
    if "text" in outputs:
        outputs["text"] = gather.apply(outputs["text"])
    targets["text"] = gather.apply(targets["text"])
    return outputs, targets


def _gather_function() -> Any:
    """An autograd all-gather along the batch axis (equal shards, as the trainer's are):
    forward concatenates every rank's rows; backward sums the ranks' gradients and returns this
    rank's rows (gloo has no reduce-scatter; an all-reduce of a few kB a step costs nothing)."""
    import torch
    import torch.distributed as dist

    class Gather(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, tensor: Any) -> Any:
            ctx.rank, ctx.rows = dist.get_rank(), tensor.shape[0]
            parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
            dist.all_gather(parts, tensor.contiguous())
            return torch.cat(parts)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            grad = grad.contiguous().clone()
            dist.all_reduce(grad)
            return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]

    return Gather


def global_normalisation(loss_fn: Any, targets: dict, device: str) -> tuple[Any, dict[str, float]]:
    """``loss_fn`` with its task weights rescaled so that DDP's average of the ranks' gradients
    is the gradient of the global batch's loss (the single-process run with the whole batch).

    Each rank's counted task loss is ``sum_r / max(n_r, 1)`` over its own targets; the global
    batch's is ``sum_1..R / max(N, 1)``. With ranks holding unequal counts (a head whose labels
    are missing on most of one rank's samples) the mean of the per-rank means weights each rank's
    targets unequally, and a task absent from a rank has its gradient halved by DDP's average.
    Scaled by ``R * max(n_r, 1) / max(N, 1)`` (``N``: the all-reduced counts) each rank's loss is
    ``R * sum_r / max(N, 1)``, and DDP's mean over the ranks is the global loss's gradient. The
    contrastive loss is already the global batch's on every rank (:func:`gather_alignment`).

    Args:
        loss_fn: The trainer's :class:`~soccerfactory.model.losses.MultiTaskLoss`.
        targets: This rank's targets (``athletes``, ``keypoints_visible``, ``camera_mask``, ``event``).
        device: Where the counts are all-reduced (the rank's device; nccl needs CUDA).

    Returns:
        A copy of ``loss_fn`` with rescaled weights and each counted task's factor (for
        :func:`mean_over_ranks`); ``(loss_fn, {})`` outside a process group.
    """
    import dataclasses

    import torch
    import torch.distributed as dist

    world = rank_and_world()[1]
    if world == 1:
        return loss_fn, {}
    local = loss_fn.normalisers(targets)  # the loss's own counts: one rule for both
    vector = torch.tensor([local.get(task, 0.0) for task in COUNTED_TASKS], dtype=torch.float64, device=device)
    dist.all_reduce(vector)  # every rank, every step, in the same order: the sums of the counts
    weights, scales = dict(loss_fn.weights), {}
    for (task, clamped), total in zip(COUNTED_TASKS.items(), vector.tolist()):
        mine = local.get(task, 0.0)
        mine, total = (max(mine, 1.0), max(total, 1.0)) if clamped else (mine, total)
        scales[task] = world * mine / total if total > 0 else 0.0  # 0: no rank has the task; the loss has no part of it
        weights[task] = loss_fn.weights.get(task, 1.0) * scales[task]
    return dataclasses.replace(loss_fn, weights=weights), scales


def mean_over_ranks(total: float, parts: dict[str, float], device: str, scales: dict[str, float] | None = None) -> tuple[float, dict[str, float]]:
    """The global batch's loss and task losses, from every rank's (the ranks' mean loss).

    Args:
        total: This rank's loss as it was backpropagated (with :func:`global_normalisation`'s
            weights, the ranks' mean is the global batch's loss).
        parts: This rank's task losses, each over its own targets.
        scales: Per task, the factor :func:`global_normalisation` gave its weight (the ratio of
            the new weight to the old): ``parts[t] * scales[t]`` summed over the ranks, divided by
            the ranks, is the global batch's task loss. None: each task's mean over the ranks
            whose shard had it.
    """
    import torch
    import torch.distributed as dist

    if rank_and_world()[1] == 1:
        return total, parts
    scales = scales or {}
    values = [total] + [parts.get(t, 0.0) * scales.get(t, 1.0) for t in _TASKS] + [float(t in parts) for t in _TASKS]
    vector = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(vector)
    world, n = rank_and_world()[1], len(_TASKS)
    sums, counts = vector[1:1 + n].tolist(), vector[1 + n:].tolist()
    # A scaled task is the ranks' sum of shares over R; an unscaled one the mean over its ranks.
    return float(vector[0]) / world, {
        t: sums[i] / (world if t in scales else counts[i]) for i, t in enumerate(_TASKS) if counts[i]
    }


def step_gradients(frames: Any, targets: dict, model_config: Any, loss_weights: dict | None = None,
                   event_class_weights: list[float] | None = None, normalise: bool = True, seed: int = 0,
                   device: str = "cpu", progress: Callable[[dict], None] | None = None) -> dict:
    """The gradient one training step applies to the global batch ``frames``/``targets``, for
    checking that a split of the batch over ranks trains like the whole batch in one process.

    Outside a group it is the whole batch's gradient; in a group of ``R`` (run it with
    :func:`launch`) rank ``r`` takes the ``r``-th of ``R`` equal row slices, and the result is
    the gradient after DDP's all-reduce (the same on every rank), with the trainer's alignment
    gather and (``normalise``) :func:`global_normalisation`.

    Args:
        frames: ``(B, T, 3, H, W)`` float32, the global batch; ``B`` divisible by ``R``.
        targets: The batch's targets (:func:`~soccerfactory.model.train.collate`), first axis ``B``.
        model_config: The network (built with ``torch.manual_seed(seed)``, as the trainer does).
        loss_weights, event_class_weights: As :class:`~soccerfactory.model.losses.MultiTaskLoss` takes them.
        normalise: False: each rank's losses over its own counts (what the trainer did before).
        progress: Unused (the :func:`launch` signature).

    Returns:
        ``{"loss": float, "tasks": {task: float}, "grads": {parameter name: float32 array}}``:
        the global batch's losses (:func:`mean_over_ranks`) and the gradient.
    """
    import torch

    from soccerfactory.model.losses import DEFAULT_WEIGHTS, MultiTaskLoss
    from soccerfactory.model.network import build_model

    rank, world = rank_and_world()
    torch.manual_seed(seed)
    net = build_model(model_config).to(device)
    model = wrap(net, device)
    rows = slice(rank * len(frames) // world, (rank + 1) * len(frames) // world)
    mine = {k: v[rows].to(device) for k, v in targets.items()}
    loss_fn = MultiTaskLoss(dict(loss_weights or DEFAULT_WEIGHTS), event_class_weights=event_class_weights)
    scales = {}
    if normalise:
        loss_fn, scales = global_normalisation(loss_fn, mine, device)
    outputs, seen = gather_alignment(model(frames[rows].to(device), text=mine.get("text")), mine)
    total, parts = loss_fn(outputs, seen)
    total.backward()
    loss, parts = mean_over_ranks(float(total.detach()), parts, device, scales)
    # NumPy, not tensors: a tensor leaves a spawned rank through shared memory, gone with the rank.
    grads = {name: p.grad.detach().float().cpu().numpy().copy() for name, p in net.named_parameters() if p.grad is not None}
    return {"loss": loss, "tasks": parts, "grads": grads}


def barrier(device: str) -> None:
    """Wait for every rank (no-op outside a group)."""
    import torch
    import torch.distributed as dist

    if rank_and_world()[1] > 1:
        dist.barrier(device_ids=[torch.device(device).index or 0] if device.startswith("cuda") else None)


def launch(fn: Callable[..., Any], kwargs: dict, processes: int, backend: str = "auto", device: str = "cpu",
           progress: Callable[[dict], None] | None = None) -> Any:
    """Run ``fn(**kwargs, device=..., progress=...)`` in ``processes`` spawned processes, one
    process group; rank 0's return value.

    Args:
        fn: A module-level function (pickled by reference), e.g.
            :func:`soccerfactory.model.train.train`; it reads its rank from the group.
        kwargs: Its arguments, pickled to every process (a dataset travels without its caches).
        processes: Number of processes (``>= 2``); on CUDA at most the number of GPUs.
        backend: ``auto``, ``gloo`` or ``nccl`` (:func:`resolve_backend`).
        device: ``cpu``, or ``cuda``/``cuda:K`` (process ``r`` trains on ``cuda:r``).
        progress: Called here, in the caller's process, with every record rank 0 reports.

    Raises:
        ValueError: fewer than 2 processes, or more than the GPUs.
        The failing rank's exception type (ValueError, FileNotFoundError, ...; else
        RuntimeError), with the message ``training process R of N failed: ...`` in one line.
    """
    import torch
    import torch.multiprocessing as mp

    if processes < 2:
        raise ValueError(f"train.processes={processes}: launch needs 2 or more (1 trains in this process)")
    backend = resolve_backend(backend, device)
    if device.startswith("cuda") and processes > torch.cuda.device_count():
        raise ValueError(f"train.processes={processes} on CUDA needs as many GPUs; this machine has {torch.cuda.device_count()}")
    messages = mp.get_context("spawn").Queue()
    port = _free_port()
    context = mp.start_processes(_worker, args=(fn, kwargs, processes, port, backend, device, messages),
                                 nprocs=processes, join=False, start_method="spawn")
    result, errors, done = None, [], False
    try:
        while not done:
            try:
                done = context.join(timeout=0.05)
            except Exception as error:  # a rank failed: the others were stopped by join
                _drain(messages, progress, errors)
                rank, kind, message = errors[0] if errors else (None, "RuntimeError", str(error).strip().splitlines()[-1])
                raised = getattr(builtins, kind) if kind in _KEPT_TYPES else RuntimeError
                text = f"training process {rank} of {processes} failed: {message}" if rank is not None else f"training failed: {message}"
                raise raised(text if kind in _KEPT_TYPES else f"{text} ({kind})") from None
            result = _drain(messages, progress, errors, result)
        return _drain(messages, progress, errors, result)
    finally:
        for process in context.processes:  # an interrupt here must not leave ranks behind
            if process.is_alive():
                process.terminate()
                process.join(5)


def _drain(messages: Any, progress: Callable[[dict], None] | None, errors: list, result: Any = None) -> Any:
    """Hand the queued progress records to ``progress``, collect errors; the result if it came."""
    while True:
        try:
            kind, payload = messages.get(timeout=0.01)
        except queue.Empty:
            return result
        if kind == "progress" and progress is not None:
            progress(payload)
        elif kind == "error":
            errors.append(payload)
        elif kind == "result":
            result = payload


class _QueueProgress:
    """A picklable progress callback: rank 0's records go to the launcher's queue."""

    def __init__(self, messages: Any) -> None:
        self.messages = messages

    def __call__(self, record: dict) -> None:
        self.messages.put(("progress", record))


def _worker(rank: int, fn: Callable[..., Any], kwargs: dict, world: int, port: int, backend: str, device: str, messages: Any) -> None:
    """One rank: join the loopback group, run ``fn``, report its result (rank 0) or its error."""
    import torch
    import torch.distributed as dist

    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank), "LOCAL_RANK": str(rank),
                       "WORLD_SIZE": str(world)})
    if backend == "gloo" and "GLOO_SOCKET_IFNAME" not in os.environ:
        # Gloo otherwise connects through the address the host name resolves to; every rank is
        # on this machine, so loopback it is.
        loopback = next((name for _, name in socket.if_nameindex() if name.startswith("lo")), None)
        if loopback:
            os.environ["GLOO_SOCKET_IFNAME"] = loopback
    rank_device = _rank_device(device, rank)
    if rank_device.startswith("cuda"):
        torch.cuda.set_device(rank_device)
    else:
        # N processes each with every core's worth of threads oversubscribe the CPU.
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // world) if hasattr(os, "sched_getaffinity") else 1)
    try:
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
        result = fn(**kwargs, device=rank_device, progress=_QueueProgress(messages) if rank == 0 else None)
        if rank == 0:
            messages.put(("result", result))
    except BaseException as error:
        # No destroy_process_group here: with a peer blocked in a collective it can wait for
        # it; the process exits and the launcher stops the others.
        lines = str(error).strip().splitlines()
        messages.put(("error", (rank, type(error).__name__, lines[0] if lines else type(error).__name__)))
        raise
    dist.destroy_process_group()


def _rank_device(device: str, rank: int) -> str:
    """Process ``rank``'s device: ``cuda:rank`` on CUDA (one GPU a process), else ``device``."""
    return f"cuda:{rank}" if device.startswith("cuda") else device


def _free_port() -> int:
    """A TCP port free on loopback now (the OS picks it; rank 0 binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
