"""The Prefect concurrency limit that bounds accelerator work: the tag ``gpu``.

The tasks that hold a GPU when ``detect.device`` / ``calibrate.device`` name one carry the tag
``gpu`` (``annotate-spatial`` and ``attribute`` in :mod:`soccerfactory.flows.curate`). A tag
concurrency limit on the Prefect server caps how many task runs with that tag run at once,
across every flow run, process and machine that reports to that server: two curate runs, a
deployment's scheduled runs and Dask workers on other hosts share the same ``N`` slots. Task
runs over the limit wait (the server answers 423 and names a retry delay, at most
``PREFECT_SERVER_TASKS_TAG_CONCURRENCY_SLOT_WAIT_SECONDS``, 10 s by default) rather than fail.

How Prefect 3.8.8 keeps it (checked in the installed ``prefect/server/api/concurrency_limits.py``
and ``prefect/task_engine.py``): ``POST /concurrency_limits/`` is an upsert onto a global (V2)
concurrency limit named ``tag:gpu``, and every task run acquires a slot of ``tag:<tag>`` for each
of its tags before it starts, with a 60 s lease it renews while running, so a worker that dies
frees its slot when the lease runs out.

The limit lives in the server's database: it stays set after the run that set it, and a run
whose ``run.gpu_slots`` is None leaves it as it is. ``prefect concurrency-limit delete gpu``
removes it; ``prefect concurrency-limit ls`` shows it and its active slots.
"""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

__all__ = ["GPU_TAG", "gpu_slots", "set_gpu_slots"]

#: The tag of every task that runs a model on ``detect.device`` / ``calibrate.device``.
GPU_TAG = "gpu"


def set_gpu_slots(slots: int, tag: str = GPU_TAG) -> int:
    """Create or update the server's concurrency limit on ``tag``: at most ``slots`` task runs
    with that tag run at once, server-wide.

    Args:
        slots: Task runs allowed at once; at least 1 (a limit of 0 would hold every such task
            forever).
        tag: The task tag the limit applies to.

    Returns:
        The limit now set on the server (read back after writing it).

    Raises:
        ValueError: ``slots`` is below 1.
        RuntimeError: the server did not take the limit (it names the server's answer).
    """
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise ValueError(f"gpu slots must be a whole number of at least 1, got {slots!r}")
    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag=tag, concurrency_limit=slots)  # an upsert on Prefect 3.8.8
        now = client.read_concurrency_limit_by_tag(tag).concurrency_limit
    if now != slots:
        raise RuntimeError(f"the Prefect server kept a '{tag}' limit of {now} after being asked for {slots}")
    return now


def gpu_slots(tag: str = GPU_TAG) -> int | None:
    """The server's concurrency limit on ``tag``; None when there is none."""
    with get_client(sync_client=True) as client:
        try:
            return client.read_concurrency_limit_by_tag(tag).concurrency_limit
        except ObjectNotFound:
            return None
