"""The model's configs: the network's sizes and heads, and what ``soccerfactory train``,
``evaluate`` and ``pipeline`` run.

:class:`ModelConfig` sizes a :class:`~soccerfactory.model.network.SoccerMasterNet` (no torch
needed to read or write one). :class:`ModelRunConfig` (YAML/JSON, sections ``model``, ``train``,
``data``) is the run config, read by
:func:`load_model_config` with the curation config's loader and section base
(:func:`soccerfactory.curation.config.load_settings`). Every default of a training run is stated
here once: :class:`soccerfactory.model.train.TrainConfig` takes its defaults from
:class:`TrainSection`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from soccerfactory.curation.settings import Section, load_settings
from soccerfactory.model.losses import DEFAULT_WEIGHTS

__all__ = [
    "HEADS", "DataSection", "ModelConfig", "ModelRunConfig", "ModelSection", "TrainSection", "checkpoint_run_config", "load_model_config",
]

#: Every head the model can carry; a config picks a subset.
HEADS = ("athletes", "keypoints", "camera", "event", "align")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes and heads of a :class:`~soccerfactory.model.network.SoccerMasterNet`.

    Attributes:
        image_size: ``(height, width)`` of the input frames, multiples of ``patch_size``.
        patch_size, embed_dim, depth, num_heads: The ViT (timm ``VisionTransformer``).
        temporal_depth: Spatio-temporal blocks over the window's class tokens.
        window: Frames per sample (the semantic heads see all of them).
        n_keypoints: Pitch keypoint heatmaps (32: the football-field order).
        n_events: Event classes.
        align_dim: Size of the alignment embedding (the text encoder's size).
        heads: Heads to build, a subset of :data:`HEADS`.
        backbone_weights: Local ``state_dict`` file for the ViT (``None``: random init).
    """

    image_size: tuple[int, int] = (144, 256)
    patch_size: int = 16
    embed_dim: int = 192
    depth: int = 4
    num_heads: int = 3
    temporal_depth: int = 2
    window: int = 4
    n_keypoints: int = 32
    n_events: int = 4
    align_dim: int = 256
    heads: tuple[str, ...] = HEADS
    backbone_weights: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        h, w = self.image_size
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(f"image_size {self.image_size} must be multiples of patch_size {self.patch_size}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} must divide by num_heads {self.num_heads}")
        unknown = set(self.heads) - set(HEADS)
        if unknown or not self.heads:
            raise ValueError(f"unknown heads {sorted(unknown)}; valid choices: {', '.join(HEADS)}")
        if self.window < 1 or self.depth < 1 or self.temporal_depth < 0:
            raise ValueError("window and depth must be >= 1, temporal_depth >= 0")

    @property
    def grid(self) -> tuple[int, int]:
        """``(rows, cols)`` of patch cells: the resolution of the dense heads."""
        return self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size

    @classmethod
    def tiny(cls, **changes: Any) -> ModelConfig:
        """A ViT with 2 M parameters at 256x144: trains on a 2-core CPU."""
        return cls(**changes)

    @classmethod
    def vit_large(cls, **changes: Any) -> ModelConfig:
        """The paper's size: ViT-L/16 (24 blocks, 1024 wide) at 512x288, 8-frame windows."""
        return cls(**{"image_size": (288, 512), "embed_dim": 1024, "depth": 24, "num_heads": 16, "temporal_depth": 4, "window": 8, **changes})

    def to_dict(self) -> dict:
        return asdict(self)


class ModelSection(Section):
    """The network (see :class:`ModelConfig`)."""

    size: Literal["tiny", "vit-large"] = Field("tiny", description="tiny: 2 M parameters, trains on 2 CPU cores; vit-large: the paper's ViT-L/16.")
    image_size: tuple[int, int] | None = Field(None, description="(height, width), multiples of 16 [default: the size's].")
    window: int = Field(4, ge=1, description="Frames per sample (the temporal heads see all of them).")
    depth: int | None = Field(None, ge=1, description="ViT blocks [default: the size's].")
    backbone_weights: Path | None = Field(None, description="Local ViT state_dict; never downloaded.")
    heads: tuple[str, ...] | None = Field(None, description="Subset of athletes, keypoints, camera, event, align [default: all].")
    device: str = "cpu"

    def build(self) -> ModelConfig:
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


class TrainSection(Section):
    """The optimisation (see ``soccerfactory.model.train.TrainConfig``)."""

    steps: int = Field(600, ge=1, description="Optimiser steps (600 of the tiny model: about 5 min on 2 CPU cores).")
    batch_size: int = Field(4, ge=1, description="Samples per step and process (the global batch is batch_size x processes).")
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
    processes: int = Field(1, ge=1, description="Data-parallel training processes (DDP; one GPU each on CUDA); the global batch is batch_size x processes.")
    dist_backend: Literal["auto", "gloo", "nccl"] = Field("auto", description="torch.distributed backend: auto is nccl on CUDA, gloo on CPU.")
    loss_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


class DataSection(Section):
    """Which catalogued frames train and evaluate the model."""

    where: str | None = Field("c.valid_camera", description="SQL over frames f, cameras c, clips k.")
    step: int | None = Field(None, ge=1, description="Source frames between window starts [default: the window's span: no frame used twice; 1: densest].")
    eval_step: int | None = Field(None, ge=1, description="Source frames between evaluation window starts [default: step]; smaller scores more windows of few held-out matches.")
    frame_stride: int = Field(2, ge=1, description="Source frames between a window's frames: 1 is dense; more spans more time for the event and alignment heads.")
    mirror: bool = Field(True, description="Train on every window and its mirror image (the pitch reflected about the halfway line).")
    eval_fraction: float = Field(0.2, ge=0, le=1, description="Share of matches held out for evaluation (by a hash of match_id).")


class ModelRunConfig(Section):
    model: ModelSection = ModelSection()
    train: TrainSection = TrainSection()
    data: DataSection = DataSection()


def load_model_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> ModelRunConfig:
    """A :class:`ModelRunConfig` from a YAML/JSON file and ``section.key=value`` overrides.

    Raises:
        ConfigError: naming the file and the offending fields; never a raw traceback.
    """
    return load_settings(ModelRunConfig, path, overrides, what="model config")


def checkpoint_run_config(state: dict) -> ModelRunConfig:
    """The run config that rebuilds a checkpoint's network from its stored :class:`ModelConfig`
    (``state["model_config"]``), with the default train and data sections."""
    saved = state["model_config"]
    size = "vit-large" if saved["embed_dim"] == 1024 else "tiny"
    # Every field the model section can set, heads included: a single-task checkpoint has fewer.
    section = {"size": size, "image_size": list(saved["image_size"]), "window": saved["window"], "depth": saved["depth"],
               "heads": list(saved["heads"])}
    return ModelRunConfig.model_validate({"model": section})
