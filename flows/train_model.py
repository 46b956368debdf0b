"""The ``train``, ``evaluate`` and ``pipeline`` flows: the multi-task model on catalogued shards.

* ``train``: select windows with a SQL filter over the catalog (matches of the ``train`` side of
  the split only), train :mod:`soccerfactory.model` with checkpoints under
  ``ROOT/models/<run_id>/checkpoint.pt`` (resumed when the run id is given again), and record
  the run (resolved config, data query and snapshot, code version, losses) in ``training_runs``.
* ``evaluate``: score a checkpoint, and the untrained model of the same config for reference, on
  the ``eval`` side; one row per checkpoint, data snapshot, task and metric in ``evaluations``.
* ``pipeline``: ``curate`` then ``train`` then ``evaluate``, on the embedded default.

Config: :class:`ModelRunConfig` (YAML/JSON, sections ``model``, ``train``, ``data``).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from soccerfactory.model.losses import DEFAULT_WEIGHTS

__all__ = ["ModelRunConfig", "evaluate_flow", "load_model_config", "pipeline_flow", "train_flow"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSection(_Section):
    """The network (see ``soccerfactory.model.network.ModelConfig``)."""

    size: Literal["tiny", "vit-large"] = Field("tiny", description="tiny: 2 M parameters, trains on 2 CPU cores; vit-large: the paper's ViT-L/16.")
    image_size: tuple[int, int] | None = Field(None, description="(height, width), multiples of 16 [default: the size's].")
    window: int = Field(4, ge=1, description="Frames per sample (the temporal heads see all of them).")
    depth: int | None = Field(None, ge=1, description="ViT blocks [default: the size's].")
    backbone_weights: Path | None = Field(None, description="Local ViT state_dict; never downloaded.")
    heads: tuple[str, ...] | None = Field(None, description="Subset of athletes, keypoints, camera, event, align [default: all].")
    device: str = "cpu"

    def build(self):
        from soccerfactory.model.network import ModelConfig

        changes: dict[str, Any] = {"window": self.window}
        if self.image_size is not None:
            changes["image_size"] = tuple(self.image_size)
        if self.depth is not None:
            changes["depth"] = self.depth
        if self.backbone_weights is not None:
            changes["backbone_weights"] = str(self.backbone_weights)
        if self.heads is not None:
            changes["heads"] = tuple(self.heads)
        return ModelConfig.vit_large(**changes) if self.size == "vit-large" else ModelConfig.tiny(**changes)


class TrainSection(_Section):
    """The optimisation (see ``soccerfactory.model.train.TrainConfig``)."""

    steps: int = Field(600, ge=1, description="Optimiser steps (600 of the tiny model: about 5 min on 2 CPU cores).")
    batch_size: int = Field(4, ge=1)
    lr_backbone: float = Field(3e-4, gt=0)
    lr_heads: float = Field(2e-3, gt=0)
    weight_decay: float = Field(0.05, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    warmup_steps: int = Field(10, ge=0)
    checkpoint_every: int = Field(50, ge=1)
    seed: int = 0
    workers: int = Field(0, ge=0, description="DataLoader worker processes decoding ahead (0: in the training process).")
    prefetch: int = Field(2, ge=1, description="Batches each worker prepares ahead.")
    tensorboard_dir: str | None = Field(None, description="Write loss and learning-rate curves here for TensorBoard (needs soccerfactory[tensorboard]).")
    loss_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


class DataSection(_Section):
    """Which catalogued frames train and evaluate the model."""

    where: str | None = Field("c.valid_camera", description="SQL over frames f, cameras c, clips k.")
    step: int | None = Field(None, ge=1, description="Source frames between window starts [default: the window's span: no frame used twice; 1: densest].")
    eval_step: int | None = Field(None, ge=1, description="Source frames between evaluation window starts [default: step]; smaller scores more windows of few held-out matches.")
    frame_stride: int = Field(2, ge=1, description="Source frames between a window's frames: 1 is dense; more spans more time for the event and alignment heads.")
    mirror: bool = Field(True, description="Train on every window and its mirror image (the pitch reflected about the halfway line).")
    eval_fraction: float = Field(0.2, ge=0, le=1, description="Share of matches held out for evaluation (by a hash of match_id).")


class ModelRunConfig(_Section):
    model: ModelSection = ModelSection()
    train: TrainSection = TrainSection()
    data: DataSection = DataSection()


def load_model_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> ModelRunConfig:
    """A :class:`ModelRunConfig` from a YAML/JSON file and ``section.key=value`` overrides."""
    import yaml

    from soccerfactory.flows.config import ConfigError

    data: dict[str, Any] = {}
    origin = str(path) if path is not None else "defaults"
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as error:
            raise ConfigError(f"cannot read model config {path}: {error.strerror or error}") from None
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise ConfigError(f"model config {path} is not valid YAML/JSON: {str(error).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"model config {path} must be a mapping of sections (model, train, data)")
    for item in overrides or []:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        if not isinstance(data.setdefault(section, {}), dict):
            raise ConfigError(f"--set {item}: {section} is not a section (model, train, data)")
        try:
            data[section][name] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {item}: the value is not valid YAML: {str(error).splitlines()[0]}") from None
        origin += f" + --set {item}"
    try:
        return ModelRunConfig.model_validate(data)
    except ValidationError as error:
        # One line: every offending field with pydantic's reason, not its multi-line report.
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"invalid model config ({origin}): {problems}") from None


def checkpoint_url_of(root: str, run_id: str) -> str:
    """Where run ``run_id`` under ``root`` keeps its checkpoint."""
    return f"{root.rstrip('/')}/models/{run_id}/checkpoint.pt"


def _snapshot(windows) -> str:
    text = json.dumps([[w.match_id, w.clip_id, list(w.frames)] for w in windows])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@task(name="select-windows", cache_policy=NONE)
def select(catalog: str, config: ModelRunConfig, split: str | None) -> list:
    from soccerfactory.model.data import select_windows

    step = config.data.step if split == "train" else (config.data.eval_step or config.data.step)
    return select_windows(catalog, config.data.where, window=config.model.window, step=step, split=split,
                          eval_fraction=config.data.eval_fraction, frame_stride=config.data.frame_stride)


@task(name="fit-model", cache_policy=NONE)
def fit(windows: list, config: ModelRunConfig, checkpoint_url: str, events: dict | None = None) -> dict:
    from soccerfactory.model.data import ShardWindowDataset
    from soccerfactory.model.train import TrainConfig, train

    logger = get_run_logger()
    model_config = config.model.build()
    dataset = ShardWindowDataset(windows, model_config, events=events, mirror=config.data.mirror)
    every = max(1, config.train.steps // 20)

    def report(record: dict) -> None:
        if record["step"] % every == 0 or record["step"] == 1:
            losses = ", ".join(f"{k} {v:.3f}" for k, v in record["tasks"].items())
            logger.info("step %d/%d: loss %.3f (%s), %.0f s", record["step"], config.train.steps, record["loss"], losses, record["seconds"])

    return train(dataset, model_config, TrainConfig(**config.train.model_dump()), checkpoint_url, resume=True, progress=report,
                 device=config.model.device)


@flow(name="train", log_prints=True)
def train_flow(catalog: str, root: str, config: ModelRunConfig | None = None, run_id: str | None = None) -> dict:
    """Train on the ``train`` side of the catalogued windows; record the run in ``training_runs``."""
    from soccerfactory.flows.backends import code_version
    from soccerfactory.model.data import load_event_labels
    from soccerfactory.storage.catalog import record_training_run
    from soccerfactory.storage.shards import utc_now

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
    from soccerfactory.storage.shards import utc_now

    state = load_checkpoint(checkpoint_url)
    config = config or ModelRunConfig.model_validate({"model": _model_section(state)})
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
    scored = {"checkpoint": evaluate_checkpoint(state, model_config, dataset)}
    if baseline:
        scored["untrained"] = evaluate_checkpoint(None, model_config, dataset)
    digest = _sha256_url(checkpoint_url)
    now = utc_now()
    rows = []
    for which, metrics in scored.items():
        for name, value in metrics.items():
            task_name, metric = name.split("/", 1)
            rows.append({"checkpoint_url": checkpoint_url if which == "checkpoint" else f"untrained:{checkpoint_url}",
                         "checkpoint_sha256": digest if which == "checkpoint" else f"untrained-{digest[:16]}",
                         "data_snapshot": snapshot, "task": task_name, "metric": metric, "value": value, "n_windows": len(windows),
                         "training_run_id": training_run_id, "evaluated_at": now})
    record_evaluations(catalog, rows)
    table = [{"metric": name, "checkpoint": scored["checkpoint"][name], "untrained": scored.get("untrained", {}).get(name)} for name in scored["checkpoint"]]
    create_table_artifact(key="evaluation", table=table, description=f"{checkpoint_url} on {len(windows)} held-out windows")
    return {"data_snapshot": snapshot, "n_windows": len(windows), "split": split or "all", **scored}


def _mean_tasks(records: list[dict]) -> dict[str, float] | None:
    if not records:
        return None
    names = records[0]["tasks"]
    return {name: round(sum(r["tasks"].get(name, 0.0) for r in records) / len(records), 4) for name in names}


def _sha256_url(url: str) -> str:
    from soccerfactory.storage.shards import resolve_url

    fs, path = resolve_url(url)
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model_section(state: dict) -> dict:
    """The model section that rebuilds a checkpoint's network (from its stored ModelConfig)."""
    saved = state["model_config"]
    size = "vit-large" if saved["embed_dim"] == 1024 else "tiny"
    # Every field the model section can set, heads included: a single-task checkpoint has fewer.
    return {"size": size, "image_size": list(saved["image_size"]), "window": saved["window"], "depth": saved["depth"],
            "heads": list(saved["heads"])}


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
