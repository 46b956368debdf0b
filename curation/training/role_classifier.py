"""Train the second-stage role classifier (:mod:`soccerfactory.curation.detection.roles`) on a CPU.

Data (built once, cached as ``data.npz`` in the work folder):

* real: the football-players ``train`` split (Roboflow Universe workspace ``workspace1-8owu3``,
  CC BY 4.0), frames unstretched to 1920x1080 and every labelled person box cut from them;
  the frames of the videos in :data:`HOLDOUT_VIDEOS` are held out for model selection;
* synthetic: clips from the project renderer (broadcast shots, staff, random kits per seed), every
  ``synth_every``-th frame; the last ``synth_holdout`` seeds are held out (unseen kits). Staff
  (role ``other``) are context only, never a target.

Each step takes a batch of frames; per frame one colour transform (a hue rotation with
probability ``hue_p``, saturation, brightness, contrast), so an absolute kit colour names no role;
per crop a jittered box (shift and scale, as a detector's box differs from the label's) and, half
the time, a lower resolution (a far player is 15-30 px tall); some frames keep only a few of
their boxes as context (close-ups). Loss: cross-entropy with class weights (inverse square root of
the counts). The epoch with the best mean macro-F1 over the two held-out sets is written; the
real ``valid`` split is only reported (``--evaluate``), never used to choose.

``--window N`` adds the context-window branch (:func:`~soccerfactory.curation.detection.roles.cut_windows`,
embedding width N); ``--init FILE`` starts from a trained file (same tensors copied, a widened
head keeps its old columns), e.g. to add the window to the shipped network in a few epochs.
Every epoch's weights stay in the work folder (``epoch-N.pt``) for inspection.

Run (renders ~4 min, trains under 25 min on 2 cores)::

    python -m soccerfactory.curation.training.role_classifier --work-dir /tmp/sf-train/role-classifier
    python -m soccerfactory.curation.training.role_classifier --evaluate   # AP50 on real valid, synthetic dev check
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soccerfactory.curation.bundled import WEIGHTS_DIR
from soccerfactory.curation.detection.role_net import BOX_HW, CONTEXT_HW, CONTEXT_SPAN, CROP_HW, STORED_HW, network_crops
from soccerfactory.curation.detection.roles import ROLE_CLASS_IDS, box_geometry, context_pairs, cut_crops, cut_windows
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT

__all__ = ["HOLDOUT_VIDEOS", "TrainRoles", "build_role_data", "main", "train_role_classifier"]

#: Real train videos (file name prefix) held out for model selection: 38 of 298 frames.
HOLDOUT_VIDEOS: tuple[str, ...] = ("121364", "54745b", "c01561", "cd987c")
_ROLE_OF = {"player": 0, "goalkeeper": 1, "referee": 2, "other": -1}
_STORED = STORED_HW
_CROP = CROP_HW


@dataclass(frozen=True)
class TrainRoles:
    """Settings of one training run (all recorded in the manifest)."""

    work_dir: Path = Path("/tmp/sf-train/role-classifier")
    real_split: Path = DEFAULT_DATA_ROOT / "football-players" / "train"
    synth_seeds: tuple[int, int] = (100, 160)  #: [start, stop) of the renderer seeds
    synth_holdout: int = 10  #: the last seeds of the range are held out
    synth_seconds: float = 3.0
    synth_every: int = 12
    epochs: int = 10
    batch_frames: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    hue_p: float = 0.6
    low_res_p: float = 0.5
    few_context_p: float = 0.25
    goalkeeper_repeat: int = 2  #: frames holding a goalkeeper come this many times per epoch
    seed: int = 0
    threads: int = 2
    time_minutes: float = 22.0  #: stop after the epoch that passes this
    window: int = 0  #: width of the context window's embedding (0: crop only, the issue-14 network)
    init: Path | None = None  #: start from these weights (every tensor of matching name; see _warm_start)


# --------------------------------------------------------------------------- data


def _frame_record(image: np.ndarray, xyxy: np.ndarray, roles: np.ndarray, source: str, group: str) -> dict:
    keep = (xyxy[:, 3] - xyxy[:, 1] >= 8) & (xyxy[:, 2] - xyxy[:, 0] >= 3)
    xyxy, roles = xyxy[keep], roles[keep]
    return {
        "crops": cut_crops(image, xyxy, _STORED), "windows": cut_windows(image, xyxy, CONTEXT_HW, CONTEXT_SPAN),
        "xyxy": xyxy.astype(np.float32), "roles": roles.astype(np.int64),
        "size": (image.shape[1], image.shape[0]), "source": source, "group": group,
    }


def _real_frames(split_dir: Path) -> list[dict]:
    from soccerfactory.curation.quality.metrics import load_yolo_split
    from soccerfactory.curation.types import BALL

    lookup = {c: r for r, c in enumerate(ROLE_CLASS_IDS)}
    records = []
    for image in load_yolo_split(split_dir):
        labels = image.labels[image.labels.class_id != BALL]
        roles = np.array([lookup[int(c)] for c in labels.class_id], np.int64)
        records.append(_frame_record(image.load(), labels.xyxy, roles, "real", image.path.name.split("_")[0]))
    return records


def _synth_frames(settings: TrainRoles, render_root: Path) -> list[dict]:
    import cv2

    from soccerfactory.curation.synth import SynthConfig, render_clip
    from soccerfactory.storage.groundtruth import read_ground_truth

    records = []
    for position, seed in enumerate(range(*settings.synth_seeds)):
        if 301 <= seed <= 305:
            raise ValueError("seeds 301-305 are the held-out synthetic clips; never train on them")
        clip = render_root / f"seed-{seed}"
        config = SynthConfig(
            seconds=settings.synth_seconds, seed=seed, shots="broadcast", staff=6 * (position % 3),
            lens_distortion=(0.0, -0.08, 0.05)[position % 3], motion_blur=position % 2 == 1,
        )
        if not (clip / "gt" / "athletes.parquet").is_file():
            render_clip(config, clip, images=True)
        athletes = read_ground_truth(clip / "gt", "athletes").select(["frame_index", "class", "x1", "y1", "x2", "y2"]).to_pandas()
        athletes = athletes.dropna(subset=["x1", "y1", "x2", "y2"])
        for frame in range(settings.synth_every // 2, config.frame_count, settings.synth_every):
            rows = athletes[athletes["frame_index"] == frame]
            if not len(rows):
                continue
            image = cv2.imread(str(clip / "img1" / f"{frame + 1:06d}.jpg"), cv2.IMREAD_COLOR)
            roles = rows["class"].map(_ROLE_OF).to_numpy(np.int64)
            records.append(_frame_record(image, rows[["x1", "y1", "x2", "y2"]].to_numpy(np.float32), roles, "synth", str(seed)))
    return records


def build_role_data(settings: TrainRoles) -> list[dict]:
    """Every training frame (real and synthetic) as records of crops, boxes and roles; cached."""
    real_split = settings.real_split
    cache = settings.work_dir / "data.npz"
    key = json.dumps({"real": str(real_split), "seeds": settings.synth_seeds, "seconds": settings.synth_seconds,
                      "every": settings.synth_every, "windows": [CONTEXT_HW, CONTEXT_SPAN]})
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            if str(data["key"]) == key:
                return _unpack(data)
    records = _real_frames(Path(real_split)) + _synth_frames(settings, settings.work_dir / "renders")
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    counts = np.array([len(r["roles"]) for r in records])
    np.savez(
        cache, key=np.array(key), counts=counts,
        crops=np.concatenate([r["crops"] for r in records]), windows=np.concatenate([r["windows"] for r in records]),
        xyxy=np.concatenate([r["xyxy"] for r in records]),
        roles=np.concatenate([r["roles"] for r in records]), size=np.array([r["size"] for r in records]),
        source=np.array([r["source"] for r in records]), group=np.array([r["group"] for r in records]),
    )
    return records


def _unpack(data: Any) -> list[dict]:
    ends = np.cumsum(data["counts"])
    starts = ends - data["counts"]
    crops, windows, xyxy, roles = data["crops"], data["windows"], data["xyxy"], data["roles"]
    return [
        {"crops": crops[a:b], "windows": windows[a:b], "xyxy": xyxy[a:b], "roles": roles[a:b],
         "size": tuple(int(v) for v in data["size"][i]), "source": str(data["source"][i]), "group": str(data["group"][i])}
        for i, (a, b) in enumerate(zip(starts, ends))
    ]


def split_records(records: list[dict], settings: TrainRoles) -> tuple[list[dict], list[dict], list[dict]]:
    """``(train, real held out, synthetic held out)``."""
    holdout_seeds = {str(s) for s in range(settings.synth_seeds[1] - settings.synth_holdout, settings.synth_seeds[1])}
    real_out = [r for r in records if r["source"] == "real" and r["group"] in HOLDOUT_VIDEOS]
    synth_out = [r for r in records if r["source"] == "synth" and r["group"] in holdout_seeds]
    held = {id(r) for r in real_out + synth_out}
    return [r for r in records if id(r) not in held], real_out, synth_out


# --------------------------------------------------------------------------- batches


def _batch(records: list[dict], rng: np.random.Generator | None, settings: TrainRoles):
    """Tensors of a batch of frames; ``rng`` None = evaluation (no augmentation, every box context)."""
    import torch

    k = max(len(r["roles"]) for r in records)
    b = len(records)
    crops = np.zeros((b, k, _STORED[0], _STORED[1], 3), np.uint8)
    windows = np.zeros((b, k, CONTEXT_HW[0], CONTEXT_HW[1], 3), np.uint8)
    geometry = np.zeros((b, k, 6), np.float32)
    pairs = np.zeros((b, k, k), bool)
    targets = np.full((b, k), -1, np.int64)
    for i, r in enumerate(records):
        n = len(r["roles"])
        crops[i, :n] = r["crops"]
        windows[i, :n] = r["windows"]
        targets[i, :n] = r["roles"]
        context = np.ones(n, bool)
        if rng is not None:
            context &= rng.random(n) >= 0.1
            if rng.random() < settings.few_context_p:
                few = rng.choice(n, size=min(n, int(rng.integers(1, 6))), replace=False)
                context[:] = False
                context[few] = True
        xyxy = r["xyxy"]
        if rng is not None:  # the detector's box is not the label's
            wh = np.repeat(xyxy[:, 2:] - xyxy[:, :2], 2, axis=0).reshape(n, 4)
            xyxy = xyxy + rng.normal(0, 0.04, (n, 4)).astype(np.float32) * wh
        geometry[i, :n] = box_geometry(xyxy, r["size"][0], r["size"][1], context)
        pairs[i, :n, :n] = context_pairs(r["xyxy"], context)
    tensor = torch.from_numpy(crops).permute(0, 1, 4, 2, 3).float().div_(255.0)  # (B, K, 3, 76, 38)
    around = torch.from_numpy(windows).permute(0, 1, 4, 2, 3).float().div_(255.0)  # (B, K, 3, 24, 48)
    flat = tensor.reshape(b * k, 3, *_STORED)
    if rng is None:
        flat = network_crops(flat)  # exactly what CropRoleClassifier feeds the network
    else:
        flat, around = _augment(flat, around, b, k, rng, settings)
    return (flat.reshape(b, k, 3, *_CROP), torch.from_numpy(geometry), torch.from_numpy(pairs), torch.from_numpy(targets),
            around)


def _augment(flat, around, b: int, k: int, rng: np.random.Generator, settings: TrainRoles):
    """Augmented crops ``(B*K, 3, 48, 24)`` and context windows ``(B, K, 3, 24, 48)`` (the frame's colour transform too)."""
    import torch
    from torch.nn import functional as F

    n = b * k
    # Box jitter: scale and shift of the box inside the stored crop (grid_sample, one affine per crop).
    scale = torch.from_numpy(rng.uniform(0.9, 1.1, (n, 2)).astype(np.float32))
    shift = torch.from_numpy(rng.normal(0, 0.05, (n, 2)).astype(np.float32))
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale[:, 0] * BOX_HW[1] / _STORED[1]
    theta[:, 1, 1] = scale[:, 1] * BOX_HW[0] / _STORED[0]
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, (n, 3, *_CROP), align_corners=False)
    out = F.grid_sample(flat, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # Lower resolution: down to 12-36 px tall and back up.
    low = rng.random(n) < settings.low_res_p
    bucket = rng.integers(0, 4, n)
    for i, height in enumerate((12, 18, 26, 36)):
        chosen = torch.from_numpy(low & (bucket == i))
        if chosen.any():
            small = F.interpolate(out[chosen], size=(height, max(height // 2, 6)), mode="area")
            out[chosen] = F.interpolate(small, size=_CROP, mode="bilinear", align_corners=False)
    # One colour transform per frame: hue rotation about the grey axis, saturation, brightness, contrast.
    frames = out.view(b, k, 3, *_CROP)
    around = around.clone()
    for i in range(b):
        angle = rng.uniform(0, 2 * math.pi) if rng.random() < settings.hue_p else 0.0
        matrix = torch.from_numpy(_hue_matrix(angle, rng.uniform(0.6, 1.4)).astype(np.float32))
        contrast, brightness = rng.uniform(0.7, 1.3), rng.uniform(0.7, 1.3)
        for tensor in (frames, around):
            x = torch.einsum("ij,kjhw->kihw", matrix, tensor[i])
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            tensor[i] = (x - mean) * contrast + mean * brightness
    frames = frames + torch.from_numpy(rng.normal(0, 0.02, (b, k, 1, 1, 1)).astype(np.float32))
    return frames.clamp_(0, 1).view(n, 3, *_CROP), around.clamp_(0, 1)


def _hue_matrix(angle: float, saturation: float) -> np.ndarray:
    """3x3 colour matrix: rotate by ``angle`` about the grey axis and scale saturation."""
    axis = np.ones(3) / math.sqrt(3)
    grey = np.outer(axis, axis)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = grey + math.cos(angle) * (np.eye(3) - grey) + math.sin(angle) * cross
    return grey + saturation * (rotation - grey)


# --------------------------------------------------------------------------- training


def role_scores(net, records: list[dict], settings: TrainRoles) -> dict[str, Any]:
    """Per-box accuracy, per-role recall / precision / F1 and macro-F1 on labelled frames (every box context)."""
    import torch

    truth, guess = [], []
    net.eval()
    with torch.inference_mode():
        for start in range(0, len(records), 16):
            part = records[start:start + 16]
            crops, geometry, pairs, targets, windows = _batch(part, None, settings)
            predicted = net(crops, geometry, pairs, windows).argmax(-1)
            valid = targets >= 0
            truth.append(targets[valid].numpy())
            guess.append(predicted[valid].numpy())
    truth, guess = np.concatenate(truth), np.concatenate(guess)
    out: dict[str, Any] = {"boxes": int(len(truth)), "accuracy": round(float((truth == guess).mean()), 4)}
    f1s = []
    for r, name in enumerate(("player", "goalkeeper", "referee")):
        tp = int(((truth == r) & (guess == r)).sum())
        recall = tp / max(int((truth == r).sum()), 1)
        precision = tp / max(int((guess == r).sum()), 1)
        f1 = 2 * recall * precision / max(recall + precision, 1e-9)
        f1s.append(f1)
        out[name] = {"n": int((truth == r).sum()), "recall": round(recall, 4), "precision": round(precision, 4), "f1": round(f1, 4)}
    out["macro_f1"] = round(float(np.mean(f1s)), 4)
    return out


def train_role_classifier(settings: TrainRoles, out: Path | None = None, log=print) -> dict[str, Any]:
    """Build (or reuse) the data, train, write the best epoch's weights; returns the run's record."""
    import torch

    from soccerfactory.curation.detection.role_net import RoleNet
    from soccerfactory.curation.hashing import sha256_file

    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    started = time.perf_counter()
    records = build_role_data(settings)
    train, real_out, synth_out = split_records(records, settings)
    log(f"data: {len(train)} train frames, {len(real_out)} real + {len(synth_out)} synthetic held out "
        f"({time.perf_counter() - started:.0f} s)")
    counts = np.bincount(np.concatenate([r["roles"][r["roles"] >= 0] for r in train]), minlength=3)
    weights = torch.tensor((counts.sum() / (3 * counts)) ** 0.5, dtype=torch.float32)
    net = RoleNet(window=settings.window)
    if settings.init is not None:
        log(_warm_start(net, Path(settings.init)))
    optimiser = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    # Goalkeepers are the rarest role (214 real boxes, one per frame at most); their frames come
    # ``goalkeeper_repeat`` times per epoch.
    pool = np.concatenate([np.arange(len(train))] + [
        np.array([i for i, r in enumerate(train) if (r["roles"] == 1).any()], np.int64)
    ] * (settings.goalkeeper_repeat - 1))
    steps = settings.epochs * math.ceil(len(pool) / settings.batch_frames)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, settings.lr, total_steps=steps, pct_start=0.15)
    best, history, best_state = -1.0, [], None
    train_started = time.perf_counter()
    for epoch in range(settings.epochs):
        net.train()
        order = rng.permutation(pool)
        losses = []
        for start in range(0, len(order), settings.batch_frames):
            crops, geometry, pairs, targets, windows = _batch(
                [train[i] for i in order[start:start + settings.batch_frames]], rng, settings)
            logits = net(crops, geometry, pairs, windows)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), targets.reshape(-1), weight=weights, ignore_index=-1)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
        real, synth = role_scores(net, real_out, settings), role_scores(net, synth_out, settings)
        score = (real["macro_f1"] + synth["macro_f1"]) / 2
        history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), "real_holdout": real, "synth_holdout": synth})
        log(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}, held-out macro-F1 real {real['macro_f1']} synth {synth['macro_f1']} "
            f"(referee recall {real['referee']['recall']}/{synth['referee']['recall']}, goalkeeper "
            f"{real['goalkeeper']['recall']}/{synth['goalkeeper']['recall']}), {time.perf_counter() - train_started:.0f} s")
        epoch_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        settings.work_dir.mkdir(parents=True, exist_ok=True)
        torch.save(_checkpoint(epoch_state, net), settings.work_dir / f"epoch-{epoch + 1}.pt")  # for inspection
        if score > best:
            best, best_state = score, epoch_state
            chosen = epoch + 1
        if (time.perf_counter() - train_started) / 60 > settings.time_minutes:
            log(f"time budget of {settings.time_minutes} min spent after epoch {epoch + 1}")
            break
    out = out or WEIGHTS_DIR / "role-classifier.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    params = sum(p.numel() for p in net.parameters())
    torch.save(_checkpoint(best_state, net), out)
    record = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
        "init_sha256": None if settings.init is None else sha256_file(Path(settings.init)),
        "parameters": int(params), "chosen_epoch": chosen, "epochs_run": len(history), "history": history,
        "train_frames": {"real": sum(r["source"] == "real" for r in train), "synthetic": sum(r["source"] == "synth" for r in train)},
        "train_boxes": {name: int(c) for name, c in zip(("player", "goalkeeper", "referee"), counts)},
        "holdout": {"real_videos": list(HOLDOUT_VIDEOS), "real_frames": len(real_out), "synthetic_frames": len(synth_out)},
        "training_wall_s": round(time.perf_counter() - started, 1),
    }
    (out.parent / "role-classifier.train.json").write_text(json.dumps(record, indent=2))
    log(f"wrote {out} (epoch {chosen}, {params} parameters)")
    return record


def _warm_start(net: Any, path: Path) -> str:
    """Copy a trained file's tensors into ``net``: same shapes whole; the head's first layer, which
    grew by the context window's inputs (appended last), keeps its old columns and starts the new
    ones at zero, so training begins from the old network's decisions. Returns a log line."""
    import torch

    saved = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    own = net.state_dict()
    copied, widened = 0, 0
    for name, tensor in saved.items():
        if name not in own:
            continue
        if own[name].shape == tensor.shape:
            own[name] = tensor.float().clone()
            copied += 1
        elif own[name].dim() == 2 and own[name].shape[0] == tensor.shape[0] and own[name].shape[1] > tensor.shape[1]:
            grown = torch.zeros_like(own[name])
            grown[:, : tensor.shape[1]] = tensor.float()
            own[name] = grown
            widened += 1
    net.load_state_dict(own)
    return f"warm start from {path}: {copied} tensors copied, {widened} widened, {len(own) - copied - widened} new"


def _checkpoint(state: dict, net: Any) -> dict:
    """The plain dict the weights file holds (``torch.load(weights_only=True)`` reads it)."""
    return {"state_dict": state, "embed": net.embed, "counts": net.counts, "window": net.window,
            "roles": ["player", "goalkeeper", "referee"], "crop_hw": list(_CROP), "stored_hw": list(_STORED),
            "window_hw": list(CONTEXT_HW), "window_span": list(CONTEXT_SPAN)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=TrainRoles.work_dir)
    parser.add_argument("--out", type=Path, default=None, help="weights file (default: the bundled role-classifier.pt)")
    parser.add_argument("--synth-seeds", default="100:160", help="renderer seeds start:stop (never 301-305)")
    parser.add_argument("--epochs", type=int, default=TrainRoles.epochs)
    parser.add_argument("--time-minutes", type=float, default=TrainRoles.time_minutes)
    parser.add_argument("--goalkeeper-repeat", type=int, default=TrainRoles.goalkeeper_repeat)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window", type=int, default=TrainRoles.window, help="context window embedding width (0: none)")
    parser.add_argument("--init", type=Path, default=None, help="start from these weights (a role-classifier.pt)")
    parser.add_argument("--lr", type=float, default=TrainRoles.lr)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--evaluate", action="store_true", help="only measure the weights (--out) and write the manifest")
    args = parser.parse_args(argv)
    start, stop = (int(v) for v in args.synth_seeds.split(":"))
    settings = TrainRoles(work_dir=args.work_dir, synth_seeds=(start, stop), epochs=args.epochs, time_minutes=args.time_minutes,
                          seed=args.seed, threads=args.threads, goalkeeper_repeat=args.goalkeeper_repeat, window=args.window,
                          init=args.init, lr=args.lr)
    if args.evaluate:
        from soccerfactory.curation.training.role_evaluation import write_manifest

        write_manifest(args.out or WEIGHTS_DIR / "role-classifier.pt", settings, " ".join(sys.argv[1:] if argv is None else argv))
        return 0
    train_role_classifier(settings, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
