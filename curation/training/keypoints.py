"""Train the heatmap pitch keypoint model (:mod:`soccerfactory.curation.calibration.heatmap`) on a CPU.

The backbone starts from the bundled detector's (YOLOv8s layers 0-9, trained on these broadcasts)
and stays frozen: its features of every training image, and of its mirror image, are computed
once and cached, so an epoch only runs the small decoder and a 2-core CPU trains in minutes.
The data is the YOLO-pose set that :func:`~soccerfactory.curation.training.datasets.build_pitch_dataset`
writes (football-field unstretched to 16:9, plus synthetic frames with exact keypoints).

Loss per keypoint in the image: cross-entropy between the heatmap's softmax and a Gaussian around
the labelled position (sigma ``sigma`` cells); every keypoint: binary cross-entropy of its
visibility. The last epoch's weights are written; ``valid`` is reported, never used to choose.

Run (builds the data set, ~3 min, then trains, ~25 min on 2 cores)::

    python -m soccerfactory.curation.training.keypoints --data /tmp/sf-kp/data --build-data --epochs 40
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soccerfactory.curation.bundled import WEIGHTS_DIR, bundled_weights
from soccerfactory.curation.hashing import sha256_file
from soccerfactory.curation.calibration.heatmap import INPUT_SIZE, STRIDE, image_to_heatmap, load_keypoint_net, prepare_input
from soccerfactory.curation.training.datasets import FLIP_IDX, KEYPOINT_COUNT

__all__ = ["KeypointSample", "TrainKeypoints", "evaluate_keypoints", "load_pose_split", "train_keypoints"]

MAP_SIZE = (INPUT_SIZE[0] // STRIDE, INPUT_SIZE[1] // STRIDE)


@dataclass(frozen=True)
class KeypointSample:
    """One labelled image: ``keypoints`` ``float64`` ``(32, 3)`` = normalised ``x, y`` and ``v`` (0 = not labelled)."""

    path: Path
    keypoints: np.ndarray


def load_pose_split(images_dir: str | Path, labels_dir: str | Path, prefix: str = "") -> list[KeypointSample]:
    """The images of a YOLO-pose split (one pitch row per label file), optionally by name prefix."""
    samples = []
    for image in sorted(Path(images_dir).glob(f"{prefix}*.jpg")):
        label = Path(labels_dir) / f"{image.stem}.txt"
        if not label.is_file():
            continue
        values = np.loadtxt(label, ndmin=2)
        if values.size == 0:
            continue
        samples.append(KeypointSample(image, values[0, 5:5 + 3 * KEYPOINT_COUNT].reshape(KEYPOINT_COUNT, 3)))
    return samples


def _targets(keypoints: np.ndarray, flipped: bool) -> tuple[np.ndarray, np.ndarray]:
    """Heatmap-cell positions ``(K, 2)`` and visibility ``(K,)`` of one label (mirrored if asked)."""
    xy = keypoints[:, :2].copy()
    visible = (keypoints[:, 2] > 0) & (xy >= 0).all(axis=1) & (xy <= 1).all(axis=1)
    if flipped:
        xy[:, 0] = 1.0 - xy[:, 0]
        order = np.asarray(FLIP_IDX)
        # The mirror of keypoint k is keypoint FLIP_IDX[k]: it takes k's mirrored position.
        new_xy, new_visible = np.zeros_like(xy), np.zeros_like(visible)
        new_xy[order], new_visible[order] = xy, visible
        xy, visible = new_xy, new_visible
    pixels = xy * np.array(INPUT_SIZE)
    return image_to_heatmap(pixels, INPUT_SIZE, MAP_SIZE), visible


def _gaussian_targets(cells: Any, visible: Any, sigma: float) -> Any:
    """``(B, K, h, w)`` normalised Gaussians (zeros where not visible)."""
    import torch

    w, h = MAP_SIZE
    us = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w)
    vs = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1)
    d2 = (us - cells[..., 0, None, None]) ** 2 + (vs - cells[..., 1, None, None]) ** 2
    target = torch.exp(-d2 / (2 * sigma**2)) * visible[..., None, None]
    return target / target.sum(dim=(2, 3), keepdim=True).clamp_min(1e-12)


@dataclass
class TrainKeypoints:
    """Settings of one training run (recorded in the manifest)."""

    data: str
    epochs: int = 60
    minutes: float | None = None
    batch: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    sigma: float = 1.0
    width: int = 32
    seed: int = 0
    base_weights: str = str(bundled_weights("detector.pt"))


def _backbone_from_detector(net: Any, weights: str | Path) -> None:
    from soccerfactory.curation.safe_load import load_yolo

    # A user-supplied file (--base-weights): scanned, then loaded weights_only.
    source = load_yolo(weights, "train-keypoints base weights", task="detect").model.model[:10]
    net.backbone.load_state_dict(source.state_dict())


def _cache_features(net: Any, samples: list[KeypointSample], flip: bool, progress) -> tuple[list, np.ndarray, np.ndarray]:
    """Frozen-backbone features (fp16) of every sample (and its mirror) with their targets."""
    import cv2
    import torch

    features: list[list[Any]] = [[], [], [], []]
    cells, visible = [], []
    variants = (False, True) if flip else (False,)
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(samples), 16):
            chunk = samples[start:start + 16]
            images = [cv2.imread(str(sample.path), cv2.IMREAD_COLOR) for sample in chunk]
            for flipped in variants:
                batch = [image[:, ::-1] if flipped else image for image in images]
                for level, tensor in enumerate(net.features(prepare_input(batch))):
                    features[level].append(tensor.half())
                for sample in chunk:
                    c, v = _targets(sample.keypoints, flipped)
                    cells.append(c)
                    visible.append(v)
            progress(f"features {min(start + 16, len(samples))}/{len(samples)} ({time.perf_counter() - started:.0f} s)")
    return [torch.cat(level) for level in features], np.stack(cells).astype(np.float32), np.stack(visible)


def keypoint_pck(errors_px: Sequence[float], n_labelled: int, reported_unlabelled: int = 0) -> dict:
    """PCK at 5 and 10 px over every labelled keypoint: one the detector did not report is a miss.

    Args:
        errors_px: Distances of the reported labelled keypoints to their labels, in pixels.
        n_labelled: Labelled keypoints in all (the denominator).
        reported_unlabelled: Keypoints reported where no label exists (reported, not scored).
    """
    errors = np.asarray(errors_px, dtype=np.float64)
    return {
        "pck5": round(float((errors <= 5).sum() / max(n_labelled, 1)), 4),
        "pck10": round(float((errors <= 10).sum() / max(n_labelled, 1)), 4),
        "reported_labelled": int(len(errors)),
        "reported_unlabelled": int(reported_unlabelled),
        "median_error_px": round(float(np.median(errors)), 2) if len(errors) else None,
    }


def evaluate_keypoints(net: Any, samples: list[KeypointSample], frame_size: tuple[int, int] = (960, 540), keypoint_conf: float = 0.5) -> dict:
    """PCK of a network on labelled images, in pixels of a ``frame_size`` frame.

    Every labelled keypoint counts: one the network does not report (visibility below
    ``keypoint_conf``) is a miss at any threshold. Also returns the median error of the reported
    ones and how many keypoints were reported that carry no label.
    """
    import cv2

    from soccerfactory.curation.calibration.heatmap import HeatmapKeypointDetector

    detector = HeatmapKeypointDetector.from_net(net)
    errors, labelled, unlabelled_reported = [], 0, 0
    images = [cv2.resize(cv2.imread(str(s.path), cv2.IMREAD_COLOR), frame_size, interpolation=cv2.INTER_AREA) for s in samples]
    for sample, (xy, vis, _) in zip(samples, detector.predict(images)):
        truth = sample.keypoints
        has_label = truth[:, 2] > 0
        labelled += int(has_label.sum())
        reported = vis >= keypoint_conf
        unlabelled_reported += int((reported & ~has_label).sum())
        both = reported & has_label
        errors.extend(np.linalg.norm(xy[both] - truth[both, :2] * np.array(frame_size), axis=1).tolist())
    return {"images": len(samples), "labelled_keypoints": labelled, **keypoint_pck(errors, labelled, unlabelled_reported),
            "frame_size": list(frame_size)}


def train_keypoints(settings: TrainKeypoints, out: str | Path, progress=print, command: str | None = None) -> dict:
    """Train, write ``out`` (``state_dict`` file) and ``out`` with ``.json`` (manifest); return the manifest."""
    import torch
    from torch.nn import functional as F

    from soccerfactory.curation.calibration.heatmap_net import PitchKeypointNet

    torch.manual_seed(settings.seed)
    data = Path(settings.data)
    train = load_pose_split(data / "images" / "train", data / "labels" / "train")
    valid = load_pose_split(data / "images" / "valid", data / "labels" / "valid")
    if not train:
        raise FileNotFoundError(f"no labelled images in {data / 'images' / 'train'}; build them with build_pitch_dataset")
    net = PitchKeypointNet(KEYPOINT_COUNT, settings.width)
    _backbone_from_detector(net, settings.base_weights)
    net.backbone.eval().requires_grad_(False)
    started = time.perf_counter()
    features, cells, visible = _cache_features(net, train, flip=True, progress=progress)
    cache_s = time.perf_counter() - started
    cells_t, visible_t = torch.from_numpy(cells), torch.from_numpy(visible.astype(np.float32))
    head = [p for name, p in net.named_parameters() if not name.startswith("backbone.")]
    optimiser = torch.optim.AdamW(head, lr=settings.lr, weight_decay=settings.weight_decay)
    n = len(cells)
    steps_per_epoch = math.ceil(n / settings.batch)
    total_steps = settings.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=settings.lr, total_steps=total_steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(settings.seed)
    history = []
    deadline = None if settings.minutes is None else time.perf_counter() + 60 * settings.minutes
    epoch = 0
    net.train()
    net.backbone.eval()
    for epoch in range(1, settings.epochs + 1):
        order = torch.randperm(n, generator=generator)
        totals = np.zeros(2)
        for step in range(steps_per_epoch):
            index = order[step * settings.batch:(step + 1) * settings.batch]
            levels = [level[index].float() for level in features]
            heatmaps, visibility = net.head(*levels)
            target = _gaussian_targets(cells_t[index], visible_t[index], settings.sigma)
            log_prob = F.log_softmax(heatmaps.flatten(2), dim=2)
            position = -(target.flatten(2) * log_prob).sum(dim=2)
            position_loss = (position * visible_t[index]).sum() / visible_t[index].sum().clamp_min(1)
            visibility_loss = F.binary_cross_entropy_with_logits(visibility, visible_t[index])
            loss = position_loss + visibility_loss
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head, 5.0)
            optimiser.step()
            if scheduler.last_epoch < total_steps - 1:
                scheduler.step()
            totals += (position_loss.item(), visibility_loss.item())
        record = {"epoch": epoch, "position_loss": round(totals[0] / steps_per_epoch, 4), "visibility_loss": round(totals[1] / steps_per_epoch, 4),
                  "seconds": round(time.perf_counter() - started, 1)}
        history.append(record)
        progress(json.dumps(record))
        if deadline is not None and time.perf_counter() > deadline:
            progress(f"time budget of {settings.minutes} min reached after epoch {epoch}")
            break
    net.eval()
    metrics = evaluate_keypoints(net, valid) if valid else {}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp")
    torch.save(
        {
            "state_dict": {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()},
            "n_keypoints": KEYPOINT_COUNT,
            "width": settings.width,
            "input_size": list(INPUT_SIZE),
            "stride": STRIDE,
        },
        temporary,
    )
    temporary.replace(out)
    n_real = sum(s.path.name.startswith("real-") for s in train)
    manifest = {
        "file": out.name,
        "sha256": sha256_file(out),
        "bytes": out.stat().st_size,
        "architecture": f"YOLOv8s backbone (layers 0-9, frozen) + heatmap decoder (width {settings.width}), input {INPUT_SIZE[0]}x{INPUT_SIZE[1]}, heatmaps at stride {STRIDE}",
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "data": {
            "train_real": n_real,
            "train_synth": len(train) - n_real,
            "mirrored": True,
            "valid_real": len(valid),
            "real": "football-field (Roboflow Universe, workspace1-8owu3, CC BY 4.0), unstretched to 16:9",
        },
        "settings": asdict(settings),
        "base_weights_sha256": sha256_file(settings.base_weights),
        "epochs_completed": epoch,
        "feature_cache_seconds": round(cache_s, 1),
        "train_seconds": round(time.perf_counter() - started, 1),
        "history": history,
        "metrics_valid": metrics,
        "command": command or " ".join([Path(sys.executable).name, "-m", "soccerfactory.curation.training.keypoints", *sys.argv[1:]]),
    }
    manifest_path = out.with_suffix(".json")
    manifest_tmp = manifest_path.with_name(f".{manifest_path.name}.tmp")
    manifest_tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    manifest_tmp.replace(manifest_path)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="YOLO-pose dataset root (build_pitch_dataset output)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR / "pitch-keypoints-heatmap.pt", help="weights file to write")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--minutes", type=float, default=None, help="stop after the epoch that passes this budget")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--base-weights", type=Path, default=bundled_weights("detector.pt"), help="YOLOv8s checkpoint whose backbone is used")
    parser.add_argument("--evaluate", type=Path, default=None, help="only score these weights on DATA's valid split")
    parser.add_argument("--build-data", action="store_true", help="first (re)build DATA: football-field unstretched plus synthetic frames")
    parser.add_argument("--synth-seeds", default="100:124", help="renderer seeds for --build-data, START:STOP (4 s clips, every 10th frame)")
    args = parser.parse_args(argv)
    if args.build_data:
        from soccerfactory.curation.training.datasets import SynthFrames, build_pitch_dataset

        start, stop = (int(v) for v in args.synth_seeds.split(":"))
        counts = build_pitch_dataset(args.data, synth=SynthFrames(seeds=tuple(range(start, stop)), seconds=4.0, every=10))
        print(json.dumps({k: str(v) for k, v in counts.items()}))
    if args.evaluate is not None:
        net, _ = load_keypoint_net(args.evaluate)
        valid = load_pose_split(args.data / "images" / "valid", args.data / "labels" / "valid")
        print(json.dumps(evaluate_keypoints(net, valid), indent=2))
        return 0
    settings = TrainKeypoints(data=str(args.data), epochs=args.epochs, minutes=args.minutes, batch=args.batch, lr=args.lr,
                              width=args.width, base_weights=str(args.base_weights))
    manifest = train_keypoints(settings, args.out)
    print(json.dumps(manifest["metrics_valid"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
