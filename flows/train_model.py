"""The ``train``, ``evaluate`` and ``pipeline`` flows: the multi-task model on catalogued shards.

* ``train``: select windows with a SQL filter over the catalog (matches of the ``train`` side of
  the split only), train :mod:`soccerfactory.model` with checkpoints under
  ``ROOT/models/<run_id>/checkpoint.pt`` (resumed when the run id is given again), and record
  the run (resolved config, data query and snapshot, code version, losses) in ``training_runs``.
* ``evaluate``: score a checkpoint, and the untrained model of the same config for reference, on
  the ``eval`` side; one row per checkpoint, data snapshot, task and metric in ``evaluations``.
* ``pipeline``: ``curate`` then ``train`` then ``evaluate``, on the embedded default.

Config: :class:`soccerfactory.model.config.ModelRunConfig` (YAML/JSON, sections ``model``, ``train``, ``data``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE

from soccerfactory.flows.artifacts import publish_loss_curve
from soccerfactory.flows.progress import Progress
from soccerfactory.model.config import ModelRunConfig, checkpoint_run_config

__all__ = ["evaluate_flow", "pipeline_flow", "train_flow"]


def checkpoint_url_of(root: str, run_id: str) -> str:
    """Where run ``run_id`` under ``root`` keeps its checkpoint."""
    return f"{root.rstrip('/')}/models/{run_id}/checkpoint.pt"


def _snapshot(windows) -> str:
    text = json.dumps([[w.match_id, w.clip_id, list(w.frames)] for w in windows])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@task(name="select-windows", cache_policy=NONE)
def select(catalog: str, config: ModelRunConfig, split: str | None) -> list:
    """The windows of consecutive catalogued frames the data section selects on one side of the split."""
    from soccerfactory.model.data import select_windows

    step = config.data.step if split == "train" else (config.data.eval_step or config.data.step)
    return select_windows(catalog, config.data.where, window=config.model.window, step=step, split=split,
                          eval_fraction=config.data.eval_fraction, frame_stride=config.data.frame_stride)


@task(name="fit-model", cache_policy=NONE)
def fit(windows: list, config: ModelRunConfig, checkpoint_url: str, events: dict | None = None) -> dict:
    """Train the network on the windows, resuming from (and checkpointing to) ``checkpoint_url``.

    With ``train.processes`` N > 1 the training runs in N processes (DDP, launched by
    :func:`soccerfactory.model.train.train`; they run library code only): this task, and the
    flow, stay in this process and receive rank 0's progress and result.
    """
    from soccerfactory.model.data import ShardWindowDataset
    from soccerfactory.model.train import TrainConfig, train

    logger = get_run_logger()
    model_config = config.model.build()
    dataset = ShardWindowDataset(windows, model_config, events=events, mirror=config.data.mirror)
    if config.train.processes > 1:
        logger.info("training on %d processes (%s, backend %s): global batch %d", config.train.processes, config.model.device,
                    config.train.dist_backend, config.train.batch_size * config.train.processes)
    steps = None

    def report(record: dict) -> None:
        nonlocal steps
        if steps is None:  # a resumed run starts past step 1: its rate and ETA count this process's steps
            steps = progress.task("train", total=config.train.steps, unit="steps", done=record["step"] - 1)
        steps.update(record["step"], note=f"loss {record['loss']:.3f}")

    # A bar with steps/s and ETA in a terminal; in a log, a line every 15 s with the loss.
    with Progress(say=logger.info) as progress:
        return train(dataset, model_config, TrainConfig(**config.train.model_dump()), checkpoint_url, resume=True, progress=report,
                     device=config.model.device)


@flow(name="train", log_prints=True)
def train_flow(catalog: str, root: str, config: ModelRunConfig | None = None, run_id: str | None = None) -> dict:
    """Train on the ``train`` side of the catalogued windows; record the run in ``training_runs``."""
    from soccerfactory.curation.stages import code_version
    from soccerfactory.model.data import load_event_labels
    from soccerfactory.storage.catalog import record_training_run
    from soccerfactory.storage.fields import utc_now

    config = config or ModelRunConfig()
    run_id = run_id or f"train-{uuid.uuid4().hex[:12]}"
    checkpoint_url = checkpoint_url_of(root, run_id)
    started = utc_now()
    windows = select(catalog, config, "train")
    if not windows:
        raise ValueError(f"no training windows in {catalog} for WHERE {config.data.where!r} on the train side of the split; "
                         "curate more matches or lower data.eval_fraction")
    record = {"run_id": run_id, "started_at": started, "status": "running", "data_query": config.data.where,
              "data_snapshot": _snapshot(windows), "n_windows": len(windows), "config": config.model_dump(mode="json"),
              "code_version": code_version(), "checkpoint_url": checkpoint_url}
    record_training_run(catalog, record)
    try:
        result = fit(windows, config, checkpoint_url, load_event_labels(catalog))
    except BaseException:
        record_training_run(catalog, {**record, "status": "failed", "finished_at": utc_now()})
        raise
    # One step's loss is one batch's: the first and last tenth of the run (at most 20 steps) say more.
    history = result["history"]
    span = max(1, min(20, len(history) // 10))
    first, last = {"tasks": _mean_tasks(history[:span])}, {"tasks": _mean_tasks(history[-span:])}
    record.update(status="completed", finished_at=utc_now(), steps=result["steps"], resumed_from=result["resumed_from"],
                  first_losses=first.get("tasks"), last_losses=last.get("tasks"))
    record_training_run(catalog, record)
    rows = [{"task": t, "first_loss": round(first.get("tasks", {}).get(t, float("nan")), 4), "last_loss": round(v, 4)}
            for t, v in (last.get("tasks") or {}).items()]
    create_table_artifact(key="train-losses", table=rows, description=f"run {run_id}: loss per task, first and last step")
    publish_loss_curve(history, run_id)
    return {**record, "history": result["history"]}


@flow(name="evaluate", log_prints=True)
def evaluate_flow(catalog: str, checkpoint_url: str, config: ModelRunConfig | None = None, split: str | None = "eval",
                  training_run_id: str | None = None, baseline: bool = True, fall_back_to_all: bool = False) -> dict:
    """Score a checkpoint (and the untrained model) on held-out windows; write ``evaluations`` rows.

    ``fall_back_to_all``: when the split has no windows (one curated match has no held-out
    side), score on every match instead, with a warning, rather than fail.
    """
    from soccerfactory.model.data import ShardWindowDataset, load_event_labels
    from soccerfactory.model.evaluate import evaluate_checkpoint
    from soccerfactory.model.train import load_checkpoint
    from soccerfactory.storage.catalog import record_evaluations
    from soccerfactory.storage.fields import utc_now

    state = load_checkpoint(checkpoint_url)
    config = config or checkpoint_run_config(state)
    windows = select(catalog, config, split)
    if not windows and split is not None and fall_back_to_all:
        get_run_logger().warning("no match on the %s side of the split: evaluating on every match (training data included)", split)
        split, windows = None, select(catalog, config, None)
    if not windows:
        raise ValueError(f"no evaluation windows in {catalog} for WHERE {config.data.where!r} on the {split} side of the split; "
                         "pass --split all to score on every match")
    model_config = config.model.build()
    dataset = ShardWindowDataset(windows, model_config, events=load_event_labels(catalog))
    snapshot = _snapshot(windows)
    # Windows scored, with rate and ETA (the checkpoint, then the untrained baseline on the same windows).
    with Progress(say=get_run_logger().info) as progress:
        line = progress.task("evaluate", total=len(windows) * (2 if baseline else 1), unit="windows")
        scored = {"checkpoint": evaluate_checkpoint(state, model_config, dataset, progress=lambda done, _: line.update(done))}
        if baseline:
            scored["untrained"] = evaluate_checkpoint(
                None, model_config, dataset, progress=lambda done, _: line.update(len(windows) + done, note="untrained baseline")
            )
    digest = _sha256_url(checkpoint_url)
    now = utc_now()
    rows = []
    for which, metrics in scored.items():
        for name, value in metrics.items():
            task_name, metric = name.split("/", 1)
            rows.append({"checkpoint_url": checkpoint_url if which == "checkpoint" else f"untrained:{checkpoint_url}",
                         "checkpoint_sha256": digest if which == "checkpoint" else f"untrained-{digest[:16]}",
                         "data_snapshot": snapshot, "task": task_name, "metric": metric, "value": value, "n_windows": len(windows),
                         "training_run_id": training_run_id, "evaluated_at": now, "split": split or "all"})
    record_evaluations(catalog, rows)
    table = [{"metric": name, "checkpoint": scored["checkpoint"][name], "untrained": scored.get("untrained", {}).get(name)} for name in scored["checkpoint"]]
    scope = "all matches (training data included)" if split is None else f"the {split} side of the split"
    create_table_artifact(key="evaluation", table=table, description=f"{checkpoint_url} on {len(windows)} windows of {scope}")
    return {"data_snapshot": snapshot, "n_windows": len(windows), "split": split or "all", **scored}


def _mean_tasks(records: list[dict]) -> dict[str, float] | None:
    if not records:
        return None
    names = records[0]["tasks"]
    return {name: round(sum(r["tasks"].get(name, 0.0) for r in records) / len(records), 4) for name in names}


def _sha256_url(url: str) -> str:
    from soccerfactory.storage.fs import resolve_url

    fs, path = resolve_url(url)
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@flow(name="pipeline", log_prints=True)
def pipeline_flow(source: str, root: str = "out", catalog: str | None = None, model_run: ModelRunConfig | None = None,
                  curate_config: Any = None, eval_split: str | None = "eval", min_new_clips: int = 1) -> dict:
    """``curate`` the source, then ``train`` on the catalog, then ``evaluate`` the checkpoint.

    The trigger: training starts only when this run's curation registered at least
    ``min_new_clips`` new clips (``0``: always), so a scheduled pipeline over footage that has
    not changed curates nothing, trains nothing and says so.
    """
    from soccerfactory.flows.curate import curate

    catalog = catalog or f"{root.rstrip('/')}/catalog.duckdb"
    summary = curate(source, root, curate_config, catalog)
    new_clips = summary.count("curated")
    if new_clips < min_new_clips:
        get_run_logger().info("curation registered %d new clip(s), fewer than min_new_clips=%d: not training", new_clips, min_new_clips)
        return {"curated": new_clips, "training_run": None, "evaluation": None, "eval_split": None, "failures": summary.failures}
    config = model_run or ModelRunConfig()
    trained = train_flow(catalog, root, config)
    # A first try on a single video has no held-out match: it is scored on all, with a warning.
    evaluated = evaluate_flow(catalog, trained["checkpoint_url"], config, split=eval_split, training_run_id=trained["run_id"],
                              fall_back_to_all=True)
    return {"curated": new_clips, "training_run": trained, "evaluation": evaluated, "eval_split": evaluated["split"],
            "failures": summary.failures}
