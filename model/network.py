"""The multi-task soccer model, in the shape of SoccerMaster (arXiv 2512.11016), scaled by config.

A ViT backbone (timm) runs on every frame of a short window. Its *spatial* output, the patch
tokens of each frame, feeds the dense heads; the class tokens of the window then pass through a
few *spatio-temporal* transformer blocks whose pooled output feeds the semantic heads:

* ``athletes``: centre-based detection (CenterNet style): a centre heatmap per patch cell, the
  box width/height and the centre's offset inside the cell, so a box needs no set matching;
* ``keypoints``: one heatmap per pitch keypoint over the patch grid (softmax over the grid);
* ``camera``: the pitch positions of a fixed 3x3 grid of image points
  (:mod:`soccerfactory.model.camera`), from which the homography follows;
* ``event``: event classification over the window;
* ``align``: an embedding of the window for contrastive alignment with caption embeddings.

``ModelConfig.tiny()`` trains on 2 CPU cores; ``ModelConfig.vit_large()`` is the paper's size
(ViT-L/16 at 512 px) for a GPU (:class:`~soccerfactory.model.config.ModelConfig`). Backbone
weights come only from a local file (never downloaded), read with
``torch.load(weights_only=True)``. Importing this module imports torch; timm and the vision
runtime load when the first network is built.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from soccerfactory.model.camera import CAMERA_GRID
from soccerfactory.model.config import ModelConfig

__all__ = ["SoccerMasterNet", "build_model"]


class SoccerMasterNet(nn.Module):
    """See the module docstring. ``forward(frames)`` takes ``float32`` ``(B, T, 3, H, W)`` RGB
    in [0, 1] (``T`` = ``config.window``) and returns a dict of the configured heads:

    * ``athletes``: ``(B, T, 5, rows, cols)``: centre logit, box width and height (fractions
      of the image), and the centre's offset inside its cell (x, y in [0, 1]);
    * ``keypoints``: ``(B, T, K, rows, cols)`` logits (softmax over each map);
    * ``camera``: ``(B, T, 9, 2)`` pitch positions of the image grid (``CAMERA_GRID``);
    * ``event``: ``(B, n_events)`` logits;
    * ``align``: ``(B, align_dim)`` L2-normalised;
    * ``text``: ``(B, align_dim)``, when ``text`` (the batch's caption embeddings) is given:
      those captions in the aligned space (:meth:`embed_text`).
    """

    def __init__(self, config: ModelConfig) -> None:
        from soccerfactory.curation.runtime import prepare_vision_runtime

        prepare_vision_runtime()
        from timm.models.vision_transformer import Block, VisionTransformer

        super().__init__()
        self.config = config
        self.backbone = VisionTransformer(
            img_size=config.image_size, patch_size=config.patch_size, embed_dim=config.embed_dim, depth=config.depth,
            num_heads=config.num_heads, num_classes=0, dynamic_img_size=True,
        )
        if config.backbone_weights:
            from soccerfactory.curation.bundled import require_weights
            from soccerfactory.curation.safe_load import load_state

            path = require_weights(config.backbone_weights, "model backbone weights")
            state = load_state(path, "model backbone weights")  # scanned, then weights_only
            missing, unexpected = self.backbone.load_state_dict(state.get("state_dict", state), strict=False)
            if len(missing) > len(self.backbone.state_dict()) // 2:
                raise ValueError(f"backbone weights {path} match too few tensors of a ViT with {config.embed_dim} x {config.depth}")
        d = config.embed_dim
        heads = set(config.heads)
        rows, cols = config.grid

        def flattened_layout(width: int) -> list[nn.Module]:
            # A few channels per patch cell, flattened: keeps where things are in the picture,
            # which pooling would throw away.
            return [nn.Conv2d(d, 8, 1), nn.GELU(), nn.Flatten(), nn.Linear(8 * rows * cols, width)]

        self.athletes = nn.Conv2d(d, 5, 1) if "athletes" in heads else None
        self.keypoints = nn.Conv2d(d, config.n_keypoints, 1) if "keypoints" in heads else None
        # The camera is where the pitch lines are in the picture.
        self.camera = nn.Sequential(*flattened_layout(256), nn.GELU(), nn.Linear(256, 2 * len(CAMERA_GRID))) if "camera" in heads else None
        self.event = self.align = self.text_projection = None
        if heads & {"event", "align"}:
            # Each frame enters the spatio-temporal blocks as its class token plus a summary of
            # its patch layout: where the pitch, the players and the play are (a class token
            # alone, from a ViT trained for a few hundred steps, was measured to carry too
            # little of it for the alignment head to learn at all).
            self.frame_summary = nn.Sequential(*flattened_layout(d))
            # The dense heads' answers (where the camera looks, how many athletes) feed the
            # semantic heads as well: captions and events are about exactly that, and the dense
            # heads learn it from dense labels long before the semantic heads could from one
            # label a window.
            dense_features = (2 * len(CAMERA_GRID) if "camera" in heads else 0) + (1 if "athletes" in heads else 0)
            self.dense_to_semantic = nn.Linear(dense_features, d) if dense_features else None
            self.time_embed = nn.Parameter(torch.zeros(1, config.window, d))
            self.temporal = nn.Sequential(*[Block(d, config.num_heads) for _ in range(config.temporal_depth)])
            self.temporal_norm = nn.LayerNorm(d)
            self.event = nn.Linear(d, config.n_events) if "event" in heads else None
            self.align = nn.Linear(d, config.align_dim) if "align" in heads else None
        if self.align is not None:
            # The text side of the alignment is learnable too (as in CLIP): hashed captions that
            # differ in one word ("left" / "right") are close, and the projection learns to weigh
            # the words that tell pictures apart.
            self.text_projection = nn.Linear(config.align_dim, config.align_dim)
            nn.init.eye_(self.text_projection.weight)
            nn.init.zeros_(self.text_projection.bias)
        if self.athletes is not None:
            # Start with "no athlete anywhere" (prior 1 %), as CenterNet does, so the first
            # steps do not drown in false centres.
            nn.init.constant_(self.athletes.bias[:1], -4.6)

    def head_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("backbone.")]

    def embed_text(self, text: torch.Tensor) -> torch.Tensor:
        """``(N, align_dim)`` caption embeddings (the text encoder's) -> the aligned space, L2-normalised."""
        return torch.nn.functional.normalize(self.text_projection(text), dim=-1)

    def forward(self, frames: torch.Tensor, text: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        b, t, c, h, w = frames.shape
        tokens = self.backbone.forward_features(frames.reshape(b * t, c, h, w))
        prefix = self.backbone.num_prefix_tokens
        rows, cols = h // self.config.patch_size, w // self.config.patch_size
        cls = tokens[:, 0]
        patches = tokens[:, prefix:].transpose(1, 2).reshape(b * t, -1, rows, cols)
        out: dict[str, torch.Tensor] = {}
        if self.athletes is not None:
            raw = self.athletes(patches)
            out["athletes"] = torch.cat([raw[:, :1], torch.sigmoid(raw[:, 1:])], dim=1).reshape(b, t, 5, rows, cols)
        if self.keypoints is not None:
            out["keypoints"] = self.keypoints(patches).reshape(b, t, -1, rows, cols)
        if self.camera is not None:
            out["camera"] = self.camera(patches).reshape(b, t, len(CAMERA_GRID), 2)
        if self.event is not None or self.align is not None:
            # Spatio-temporal blocks attend over every token of every frame of the window
            # (motion is a patch changing between frames); each frame's class token, with its
            # layout summary, collects them for the semantic heads.
            summary = cls + self.frame_summary(patches)
            window_tokens = torch.cat([summary[:, None], tokens[:, prefix:]], dim=1)
            n = window_tokens.shape[1]
            sequence = (window_tokens.reshape(b, t, n, -1) + self.time_embed[:, :t, None]).reshape(b, t * n, -1)
            pooled = self.temporal_norm(self.temporal(sequence)).reshape(b, t, n, -1)[:, :, 0].mean(dim=1)
            if self.dense_to_semantic is not None:
                dense = []
                if "camera" in out:
                    dense.append(out["camera"].mean(dim=1).flatten(1))
                if "athletes" in out:
                    dense.append(torch.sigmoid(out["athletes"][:, :, 0]).sum(dim=(-2, -1)).mean(dim=1, keepdim=True) / 10)
                pooled = pooled + self.dense_to_semantic(torch.cat(dense, dim=1))
            if self.event is not None:
                out["event"] = self.event(pooled)
            if self.align is not None:
                out["align"] = torch.nn.functional.normalize(self.align(pooled), dim=-1)
                if text is not None:
                    out["text"] = self.embed_text(text)
        return out


def build_model(config: ModelConfig | None = None, weights: str | Path | None = None):
    """A :class:`SoccerMasterNet`, optionally with a checkpoint's weights (``weights_only``)."""

    net = SoccerMasterNet(config or ModelConfig.tiny())
    if weights is not None:
        from soccerfactory.curation.bundled import require_weights
        from soccerfactory.curation.safe_load import load_state

        state = load_state(require_weights(weights, "model checkpoint"), "model checkpoint")  # scanned, then weights_only
        net.load_state_dict(state.get("model", state))
    return net
