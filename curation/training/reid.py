"""Train the re-identification network (:class:`~soccerfactory.curation.tracking.reid.ReidNet`) on a CPU.

Data: athletes of clips rendered by the project's renderer (training seeds 100-199; the
broadcast preset without its pan blur, at 5 fps), cut around their true box with
:func:`~soccerfactory.curation.tracking.reid.cut_crops` exactly as the tracker cuts a detection
(plus a margin for jitter), labelled by the renderer's identity (``match_id``, ``track_id``).
Boxes under 16 px tall or less than 60 % visible (the rest hidden by another athlete) are left out.

Batches: 16 identities of *one* clip, 4 crops each, so most negatives are teammates in the same
kit. Loss: batch-hard triplet loss (cosine distance, margin 0.3) on the embedding plus label-smoothed
cross-entropy over every training identity after the BN neck. On the fly: one hue rotation for
the whole batch (a kit colour must not name an identity; within the batch colours stay
consistent, so the teams still differ), per-crop box jitter (shift 6 %, scale 8 %), brightness and
contrast, downscaling to 14-40 px tall and back (far athletes), and blur (the renderer's pan blur
and a broadcast's compression).

Evaluation (:func:`evaluate_reid`, dev seeds, only reported; the last step is shipped): each
crop of a dev clip is a query against the clip's crops at least 2 s away from it, all other
athletes of the clip included (rank-1, mAP), and against its teammates only.

Run (~20 min on 2 busy cores)::

    python -m soccerfactory.curation.training.reid --work /tmp/sf-train/reid
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from soccerfactory.curation.tracking.reid import CROP_HW, DEFAULT_REID_WEIGHTS, MARGIN, REID_DIM, ReidNet, cut_crops, to_tensor
from soccerfactory.curation.video.decode import frames_at

__all__ = ["CropSet", "evaluate_reid", "main", "render_crops", "train_reid"]

#: Stored crop size: the box grown by :data:`MARGIN` per side, a 64 x 32 box (finer than the
#: network's input, so that jitter and downscaling are cut from detail, not from its own pixels).
STORED_HW: tuple[int, int] = (77, 38)
_RENDER_FPS = 5.0


@dataclass(frozen=True, eq=False)
class CropSet:
    """Athlete crops with their true identity.

    Attributes:
        crops: ``uint8`` ``(N, 77, 38, 3)`` BGR: the box grown by :data:`MARGIN` per side (:data:`STORED_HW`).
        identity: ``int64`` ``(N,)`` identity, unique over the set (clip and athlete).
        clip: ``int64`` ``(N,)`` index of the clip (batches are drawn from one clip).
        team: ``int64`` ``(N,)`` 0 / 1 for the two teams, 2 for referees and everyone else.
        time_s: ``float32`` ``(N,)`` seconds into the clip.
        xyxy: ``float32`` ``(N, 4)`` the true box, in frame pixels.
    """

    crops: np.ndarray
    identity: np.ndarray
    clip: np.ndarray
    team: np.ndarray
    time_s: np.ndarray
    xyxy: np.ndarray

    def __len__(self) -> int:
        return int(self.crops.shape[0])

    def save(self, path: str | Path) -> None:
        np.savez(path, **{k: getattr(self, k) for k in ("crops", "identity", "clip", "team", "time_s", "xyxy")})

    @classmethod
    def load(cls, path: str | Path) -> CropSet:
        with np.load(path) as data:
            return cls(*(data[k] for k in ("crops", "identity", "clip", "team", "time_s", "xyxy")))


def _render(seed: int, seconds: float, work: Path) -> Path:
    from soccerfactory.curation.quality.clips import BROADCAST_SYNTH
    from soccerfactory.curation.synth import SynthConfig, render_clip

    clip_dir = work / f"seed-{seed}"
    if not (clip_dir / "clip.json").is_file():
        preset = {**BROADCAST_SYNTH, "motion_blur": False}
        render_clip(SynthConfig(seconds=seconds, fps=_RENDER_FPS, seed=int(seed), width=1280, height=720, **preset), clip_dir)
    return clip_dir


def render_crops(
    seeds: Sequence[int], seconds: float, work: str | Path, min_height: float = 16.0, min_visible: float = 0.6,
    colour: bool = False, progress: Callable[[str], None] = print,
) -> tuple[CropSet, np.ndarray | None]:
    """Crops of every athlete of rendered broadcast clips, with the renderer's identities.

    Args:
        seeds: Renderer seeds (training 100-199, evaluation 400-499; never the held-out 301-305).
        seconds: Length of each clip (a finished render in ``work/seed-N`` is reused).
        work: Folder of the renders.
        min_height: Boxes shorter than this (pixels) are left out.
        min_visible: Boxes whose visible box is less than this share of the full (amodal) box are left out.
        colour: Also return the kit colour embeddings of the same boxes
            (:func:`~soccerfactory.curation.tracking.trackers.appearance_embeddings`, from the full frame).

    Returns:
        The crops, and ``float32`` ``(N, 52)`` colour embeddings (or ``None``).
    """
    import pandas as pd

    from soccerfactory.curation.tracking.trackers import appearance_embeddings

    parts, looks, base = [], [], 0
    for k, seed in enumerate(seeds):
        if 301 <= int(seed) <= 305:
            raise ValueError("seeds 301-305 are the held-out broadcast clips: never train or tune on them")
        clip_dir = _render(int(seed), seconds, Path(work))
        rows = pd.read_parquet(clip_dir / "gt" / "athletes.parquet")
        rows = rows[rows.x1.notna()]
        area = (rows.x2 - rows.x1) * (rows.y2 - rows.y1)
        amodal = (rows.amodal_x2 - rows.amodal_x1) * (rows.amodal_y2 - rows.amodal_y1)
        rows = rows[((rows.y2 - rows.y1) >= min_height) & (area >= min_visible * amodal)].reset_index(drop=True)
        ids = {t: base + i for i, t in enumerate(sorted(rows.track_id.unique()))}
        base += len(ids)
        boxes = rows[["x1", "y1", "x2", "y2"]].to_numpy(np.float32)
        crops = np.zeros((len(rows), *STORED_HW, 3), np.uint8)
        look = np.zeros((len(rows), 52), np.float32)
        by_frame = rows.groupby("frame_index").indices
        for frame_index, frame in frames_at(clip_dir / "video.mp4", by_frame):
            at = by_frame[frame_index]
            crops[at] = cut_crops(frame, boxes[at], MARGIN, STORED_HW)
            if colour:
                look[at] = appearance_embeddings(frame, boxes[at])
        team = np.where(rows.role.isin(["player", "goalkeeper"]), np.where(rows.team == "left", 0, 1), 2)
        parts.append(CropSet(
            crops, rows.track_id.map(ids).to_numpy(np.int64), np.full(len(rows), k, np.int64), team.astype(np.int64),
            rows.timestamp_s.to_numpy(np.float32), boxes,
        ))
        looks.append(look)
        progress(f"crops of seed {seed}: {len(rows)} of {len(ids)} athletes")
    joined = CropSet(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("crops", "identity", "clip", "team", "time_s", "xyxy")))
    return joined, (np.concatenate(looks) if colour else None)


# --------------------------------------------------------------------------- augmentation


def _hue_rotate(crops: np.ndarray, shift: int) -> np.ndarray:
    """The same hue rotation (OpenCV hue units, 0-179) of every crop of a batch."""
    n, h, w, _ = crops.shape
    hsv = cv2.cvtColor(crops.reshape(n * h, w, 3), cv2.COLOR_BGR2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + shift) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).reshape(n, h, w, 3)


def _augment(stored: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    """Stored crops of one batch -> jittered, degraded network inputs ``(N, 3, 48, 24)``."""
    stored = _hue_rotate(stored, int(rng.integers(180)))
    x = to_tensor(stored)
    n = x.shape[0]
    inner = 1.0 / (1.0 + 2 * MARGIN)  # the box's half-size in the stored crop's [-1, 1] coordinates
    scale = inner * (1 + rng.uniform(-0.08, 0.08, (n, 2)))
    shift = rng.uniform(-0.06, 0.06, (n, 2)) * 2 * inner
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = torch.from_numpy(scale[:, 0]).float(), torch.from_numpy(scale[:, 1]).float()
    theta[:, :, 2] = torch.from_numpy(shift).float()
    grid = F.affine_grid(theta, (n, 3, *CROP_HW), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    gain = torch.from_numpy(rng.uniform(0.75, 1.25, (n, 1, 1, 1))).float()
    bias = torch.from_numpy(rng.uniform(-0.08, 0.08, (n, 1, 1, 1))).float()
    x = (x - 0.5) * gain + 0.5 + bias
    # Far athletes: 14-40 px tall at 720p, resized to 48 by the embedder.
    small = np.flatnonzero(rng.random(n) < 0.5)
    for height in (14, 20, 28, 40):
        pick = small[rng.integers(4, size=len(small)) == (14, 20, 28, 40).index(height)]
        if len(pick):
            low = F.interpolate(x[pick], size=(height, max(4, height // 2)), mode="area")
            x[pick] = F.interpolate(low, size=CROP_HW, mode="bilinear", align_corners=False)
    blur = np.flatnonzero(rng.random(n) < 0.3)
    if len(blur):
        kernel = torch.tensor([[1.0, 2.0, 1.0]]) / 4.0
        horizontal = rng.random() < 0.5
        weight = (kernel if horizontal else kernel.T).view(1, 1, *(kernel.shape if horizontal else kernel.T.shape)).repeat(3, 1, 1, 1)
        pad = (1, 1, 0, 0) if horizontal else (0, 0, 1, 1)
        x[blur] = F.conv2d(F.pad(x[blur], pad, mode="replicate"), weight, groups=3)
    return x.clamp_(0, 1)


def _batch(data: CropSet, by_clip: list[dict[int, np.ndarray]], rng: np.random.Generator, p: int, k: int) -> np.ndarray:
    """Indices of ``p`` identities x ``k`` crops, all from one random clip."""
    clip = by_clip[int(rng.integers(len(by_clip)))]
    ids = list(clip)
    chosen = rng.choice(len(ids), size=min(p, len(ids)), replace=False)
    out = []
    for i in chosen:
        rows = clip[ids[i]]
        out.append(rng.choice(rows, size=k, replace=len(rows) < k))
    return np.concatenate(out)


def _batch_hard_triplet(embedding: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    unit = F.normalize(embedding, dim=1)
    distance = 1.0 - unit @ unit.T
    same = labels[:, None] == labels[None, :]
    hardest_positive = (distance * same.float()).amax(1)
    hardest_negative = (distance + 4.0 * same.float()).amin(1)
    return F.relu(hardest_positive - hardest_negative + margin).mean()


def train_reid(
    data: CropSet, steps: int, width: int = 16, p: int = 16, k: int = 4, lr: float = 3e-3, seed: int = 0,
    progress: Callable[[str], None] = print,
) -> tuple[ReidNet, list[dict]]:
    """Train a :class:`ReidNet` for ``steps`` batches (Adam, cosine schedule); returns it in eval mode and the log."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = ReidNet(width=width, dim=REID_DIM)
    n_ids = int(data.identity.max()) + 1
    classifier = torch.nn.Linear(REID_DIM, n_ids, bias=False)
    params = list(net.parameters()) + list(classifier.parameters())
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=5e-4)
    warm = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps))
    )
    by_clip = []
    for c in np.unique(data.clip):
        rows = np.flatnonzero(data.clip == c)
        groups = {int(i): rows[data.identity[rows] == i] for i in np.unique(data.identity[rows])}
        by_clip.append({i: r for i, r in groups.items() if len(r) >= 2})
    log, started, running = [], time.time(), []
    net.train()
    for step in range(steps):
        rows = _batch(data, by_clip, rng, p, k)
        x = _augment(data.crops[rows], rng)
        labels = torch.from_numpy(data.identity[rows])
        feature = net(x)
        loss_t = _batch_hard_triplet(feature, labels, 0.3)
        loss_c = F.cross_entropy(classifier(net.neck(feature)), labels, label_smoothing=0.1)
        loss = loss_t + loss_c
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        running.append((loss_t.item(), loss_c.item()))
        if (step + 1) % 50 == 0 or step + 1 == steps:
            t, c = np.mean(running, axis=0)
            running = []
            log.append({"step": step + 1, "triplet": round(float(t), 4), "ce": round(float(c), 4), "s": round(time.time() - started)})
            progress(f"step {step + 1}/{steps}: triplet {t:.3f} ce {c:.3f} ({time.time() - started:.0f} s)")
    return net.eval(), log


# --------------------------------------------------------------------------- evaluation


def _retrieval(embedding: np.ndarray, data: CropSet, gap_s: float, teammates_only: bool, queries: np.ndarray) -> dict:
    rank1, aps = [], []
    for q in queries:
        gallery = (data.clip == data.clip[q]) & (np.abs(data.time_s - data.time_s[q]) >= gap_s)
        if teammates_only:
            gallery &= data.team == data.team[q]
        gallery = np.flatnonzero(gallery)
        match = data.identity[gallery] == data.identity[q]
        if not match.any() or match.all():
            continue
        order = np.argsort(-(embedding[gallery] @ embedding[q]), kind="stable")
        hits = match[order]
        rank1.append(bool(hits[0]))
        found = np.flatnonzero(hits)
        aps.append(float(np.mean((np.arange(len(found)) + 1) / (found + 1))))
    return {"queries": len(rank1), "rank1": round(float(np.mean(rank1)), 4), "mAP": round(float(np.mean(aps)), 4)}


def evaluate_reid(embeddings: dict[str, np.ndarray], data: CropSet, gap_s: float = 2.0, max_queries: int = 2000, seed: int = 0) -> dict:
    """Re-identification of each athlete across a gap, per embedding.

    Args:
        embeddings: name -> ``float32`` ``(N, D)`` unit-length embeddings of ``data``'s crops.
        data: Crops of evaluation clips.
        gap_s: Gallery crops are at least this far in time from the query.
        max_queries: Queries sampled (the same for every embedding).

    Returns:
        name -> ``{"all": {...}, "teammates": {...}}`` with queries, rank1, mAP: the gallery is every
        crop of the clip, or only the query's teammates (same team; referees and staff among themselves).
    """
    rng = np.random.default_rng(seed)
    queries = np.sort(rng.choice(len(data), size=min(max_queries, len(data)), replace=False))
    return {
        name: {
            "all": _retrieval(e, data, gap_s, False, queries),
            "teammates": _retrieval(e, data, gap_s, True, queries),
        }
        for name, e in embeddings.items()
    }


def embed_crops(net: ReidNet, stored: np.ndarray, batch: int = 256) -> np.ndarray:
    """Embeddings of stored crops (their central box, as :func:`cut_crops` would cut it)."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(stored), batch):
            x = to_tensor(stored[start:start + batch])
            theta = torch.tensor([[1 / (1 + 2 * MARGIN), 0, 0], [0, 1 / (1 + 2 * MARGIN), 0]]).expand(len(x), 2, 3)
            grid = F.affine_grid(theta, (len(x), 3, *CROP_HW), align_corners=False)
            out.append(net.embed(F.grid_sample(x, grid, mode="bilinear", align_corners=False)).numpy())
    return np.concatenate(out).astype(np.float32)


# --------------------------------------------------------------------------- command line


def _seeds(text: str) -> list[int]:
    start, _, stop = text.partition(":")
    if not stop or int(start) >= int(stop):
        raise argparse.ArgumentTypeError(f"expected START:STOP with START < STOP, got {text}")
    seeds = list(range(int(start), int(stop)))
    if any(301 <= s <= 305 for s in seeds):
        raise argparse.ArgumentTypeError("seeds 301-305 are the held-out broadcast clips: never train on them")
    return seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soccerfactory.curation.training.reid", description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="Renders and crop caches.")
    parser.add_argument("--train-seeds", type=_seeds, default=_seeds("100:124"), help="START:STOP renderer seeds (100:124).")
    parser.add_argument("--eval-seeds", type=_seeds, default=_seeds("410:414"), help="START:STOP dev seeds, only reported (410:414).")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_REID_WEIGHTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    cache = args.work / f"train-{args.train_seeds[0]}-{args.train_seeds[-1]}.npz"
    if cache.is_file():
        train = CropSet.load(cache)
    else:
        train, _ = render_crops(args.train_seeds, args.seconds, args.work)
        train.save(cache)
    cache = args.work / f"eval-{args.eval_seeds[0]}-{args.eval_seeds[-1]}.npz"
    if cache.is_file():
        evaluation = CropSet.load(cache)
        colour = np.load(cache.with_suffix(".colour.npy"))
    else:
        evaluation, colour = render_crops(args.eval_seeds, args.seconds, args.work, colour=True)
        evaluation.save(cache)
        np.save(cache.with_suffix(".colour.npy"), colour)
    net, log = train_reid(train, args.steps, width=args.width)
    timing = _time_per_crop(net)
    metrics = evaluate_reid({"reid": embed_crops(net, evaluation.crops), "colour": colour}, evaluation)
    print(json.dumps(metrics), flush=True)
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    manifest = {
        "file": args.out.name,
        "sha256": digest,
        "bytes": args.out.stat().st_size,
        "architecture": {"name": "ReidNet", "width": args.width, "dim": REID_DIM, "input": list(CROP_HW),
                         "parameters": sum(p.numel() for p in net.parameters()), "ms_per_crop_cpu_1_thread": timing},
        "data": {
            "train": {"crops": len(train), "identities": int(train.identity.max()) + 1,
                      "seeds": f"{args.train_seeds[0]}-{args.train_seeds[-1]}",
                      "render": f"SynthConfig(seconds={args.seconds:g}, fps={_RENDER_FPS:g}, 1280x720, BROADCAST_SYNTH with motion_blur=False)"},
            "evaluation": {"crops": len(evaluation), "seeds": f"{args.eval_seeds[0]}-{args.eval_seeds[-1]}",
                           "protocol": "query each crop against its clip's crops >= 2 s away; all athletes, or teammates only"},
            "real": "none (synthetic renders only; no credit needed)",
        },
        "training": {"steps": args.steps, "batch": "16 identities x 4 crops of one clip", "loss": "batch-hard triplet (cosine, 0.3) + label-smoothed CE after BN neck",
                     "augment": "batch hue rotation, box jitter, brightness/contrast, downscale to 14-40 px, blur", "log": log,
                     "seconds": round(time.time() - started), "torch": torch.__version__, "python": platform.python_version()},
        "metrics": metrics,
        "command": "python -m soccerfactory.curation.training.reid " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    args.out.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {args.out} ({digest[:12]})", flush=True)
    return 0


def _time_per_crop(net: ReidNet, boxes: int = 20, repeats: int = 20) -> float:
    """Milliseconds per crop of cut + embed of a frame's ``boxes`` boxes, one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    image = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    xyxy = np.tile(np.array([[600, 300, 630, 370]], np.float32), (boxes, 1))
    with torch.inference_mode():
        net.embed(to_tensor(cut_crops(image, xyxy)))
        started = time.perf_counter()
        for _ in range(repeats):
            net.embed(to_tensor(cut_crops(image, xyxy)))
    torch.set_num_threads(threads)
    return round(1000 * (time.perf_counter() - started) / (repeats * boxes), 3)


if __name__ == "__main__":
    sys.exit(main())
