"""Train the jersey digit network (:class:`~soccerfactory.curation.attribute.jersey_digits.DigitNet`) on a CPU.

Data (:mod:`.jersey_crops`, built once into ``--work``):

* crops of athletes in clips rendered by the project's renderer (training seeds, labelled by its
  truth: number where ``jersey_legible``, else "not legible");
* athletes drawn with the TrueType and Hershey fonts found on the machine (kit colours, folds,
  perspective, 32-360 px tall, motion blur, JPEG, occlusion, front and side views);
* with ``--real-copies N``: hand-labelled real crops of the football-players ``train`` split
  (:data:`~.jersey_crops.REAL_TRAIN_LABELS`), N jittered copies each.

Validation, never trained on: renders of other seeds, drawn athletes of another seed and the
hand-labelled real crops of the ``valid`` split; all are only reported (the last epoch is shipped). Loss: binary cross-entropy of the legibility
logit on every patch plus cross-entropy of the tens (0-9 or none) and units digits on the
legible ones. On the fly: colour channel order shuffled, colours inverted (a white number on a
dark shirt is a dark number on a light one), shifted by up to 3 px.

Run (data ~10 min, training ~15 min on 2 busy cores)::

    python -m soccerfactory.curation.training.jersey_digits --work /tmp/sf-train/jersey-digits
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from soccerfactory.curation.attribute.jersey_digits import (
    DEFAULT_DIGIT_WEIGHTS,
    NO_TENS,
    PATCH_SIZE,
    DigitNet,
    decode_digits,
    patch_tensor,
)
from soccerfactory.curation.hashing import sha256_file
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.curation.training.jersey_crops import (
    REAL_TRAIN_LABELS,
    REAL_VALID_LABELS,
    PatchSet,
    find_fonts,
    font_patches,
    real_patches,
    render_patches,
)

__all__ = ["TrainDigits", "build_data", "crop_metrics", "digit_targets", "evaluate_patches", "train_digits"]


@dataclass(frozen=True)
class TrainDigits:
    """Settings of one training run (all recorded in the manifest).

    Attributes:
        render_seeds: ``(start, stop)`` renderer seeds of the training crops (100-199 or 410-499).
        render_seconds: length of each training render.
        font_count: drawn athletes in the training set.
        font_seed: their seed.
        valid_render_seeds: ``(start, stop)`` renderer seeds of the validation crops.
        valid_font_count / valid_font_seed: drawn validation athletes.
        epochs, batch, lr, weight_decay, width, hidden: the optimisation and the network size.
        seed: torch's seed (initialisation, shuffling, augmentation).
        real_copies: patches per hand-labelled real crop of the football-players ``train`` split
            (:data:`~.jersey_crops.REAL_TRAIN_LABELS`, each with its own box jitter); 0 = none.
        threads: torch threads. One: on the shared 2-core machine one thread trained 4x faster
            than two (455 against 132 patches/s, busy neighbours).
    """

    render_seeds: tuple[int, int] = (100, 170)
    render_seconds: float = 20.0
    font_count: int = 30000
    font_seed: int = 1
    valid_render_seeds: tuple[int, int] = (410, 415)
    valid_font_count: int = 3000
    valid_font_seed: int = 2
    epochs: int = 10
    batch: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    width: int = 16
    hidden: int = 128
    seed: int = 0
    threads: int = 1
    real_copies: int = 0


def build_data(settings: TrainDigits, work: str | Path, progress=print) -> dict[str, PatchSet]:
    """The four patch sets (train/valid x render/font), built once and cached as ``work/*.npz``."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    plans = {
        "train-render": lambda: render_patches(range(*settings.render_seeds), settings.render_seconds, work / "renders", progress=progress),
        "train-font": lambda: font_patches(settings.font_count, settings.font_seed),
        "valid-render": lambda: render_patches(range(*settings.valid_render_seeds), settings.render_seconds, work / "renders", progress=progress),
        "valid-font": lambda: font_patches(settings.valid_font_count, settings.valid_font_seed),
    }
    players = DEFAULT_DATA_ROOT / "football-players"
    if settings.real_copies > 0:
        plans["train-real"] = lambda: real_patches(REAL_TRAIN_LABELS, players / "train" / "images", settings.real_copies, 0.06, seed=3)
    if (players / "valid" / "images").is_dir():
        plans["valid-real"] = lambda: real_patches(REAL_VALID_LABELS, players / "valid" / "images")
    sets = {}
    for name, make in plans.items():
        path = work / (f"{name}-x{settings.real_copies}.npz" if name == "train-real" else f"{name}.npz")
        if not path.is_file():
            started = time.perf_counter()
            make().save(path)
            progress(f"{name}: built in {time.perf_counter() - started:.0f} s")
        sets[name] = PatchSet.load(path)
        progress(f"{name}: {len(sets[name])} patches, {int(sets[name].legible.sum())} legible")
    return sets


def digit_targets(number: np.ndarray, legible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class targets of the tens (0-9, :data:`NO_TENS`) and units heads; ``-100`` (ignored) where not legible."""
    number = np.asarray(number)
    tens = np.where(number >= 10, number // 10, NO_TENS)
    units = number % 10
    ignore = ~np.asarray(legible, bool)
    return np.where(ignore, -100, tens).astype(np.int64), np.where(ignore, -100, units).astype(np.int64)


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Channel shuffle, inversion and a small shift of a uint8-valued ``(B, 3, H, W)`` float batch."""
    b = x.shape[0]
    perm = torch.stack([torch.randperm(3, generator=generator) for _ in range(b)])
    x = torch.gather(x, 1, perm[:, :, None, None].expand_as(x))
    invert = torch.rand(b, generator=generator) < 0.3
    x = torch.where(invert[:, None, None, None], 255.0 - x, x)
    dy, dx = (int(v) for v in torch.randint(-3, 4, (2,), generator=generator))
    x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    return x


def _standardise(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) / x.std(dim=(1, 2, 3), keepdim=True).clamp_min(8.0)


def evaluate_patches(net: DigitNet, patches: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Raw reads (number or -1, confidence) of ``uint8`` patches, without threshold."""
    net.eval()
    numbers, confidences = [np.zeros(0, np.int32)], [np.zeros(0, np.float32)]
    with torch.inference_mode():
        for start in range(0, len(patches), batch):
            n, c = decode_digits(*net(patch_tensor(patches[start : start + batch])))
            numbers.append(n)
            confidences.append(c)
    return np.concatenate(numbers), np.concatenate(confidences)


def crop_metrics(read: np.ndarray, confidence: np.ndarray, legible: np.ndarray, number: np.ndarray,
                 thresholds: tuple[float, ...] = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)) -> dict[str, Any]:
    """Per-crop precision and coverage of reads at several confidence thresholds.

    A read is a crop with ``read > 0`` and ``confidence >= t``; precision = right reads / reads;
    coverage = right reads / legible crops; ``false_on_illegible`` = reads on crops with no
    legible number / those crops.
    """
    legible = np.asarray(legible, bool)
    out: dict[str, Any] = {"crops": int(len(read)), "legible": int(legible.sum())}
    for t in thresholds:
        made = (read > 0) & (confidence >= t)
        right = made & legible & (read == number)
        out[f"t{t:g}"] = {
            "reads": int(made.sum()),
            "precision": round(float(right.sum() / max(made.sum(), 1)), 4),
            "coverage": round(float(right.sum() / max(legible.sum(), 1)), 4),
            "false_on_illegible": round(float((made & ~legible).sum() / max((~legible).sum(), 1)), 4),
        }
    return out


def train_digits(settings: TrainDigits, work: str | Path, out: str | Path = DEFAULT_DIGIT_WEIGHTS, progress=print,
                 command: str | None = None) -> dict[str, Any]:
    """Build the data (cached), train, write ``out`` (fp32 ``state_dict``) and its ``.json`` manifest.

    Deterministic given ``settings`` on one machine (torch's deterministic algorithms, seeded
    shuffling and augmentation).

    Returns:
        The manifest.
    """
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    torch.use_deterministic_algorithms(True)
    sets = build_data(settings, work, progress)
    train = PatchSet.concat([sets[name] for name in ("train-render", "train-font", "train-real") if name in sets], "train")
    tens, units = digit_targets(train.number, train.legible)
    x_all = torch.from_numpy(train.patches).permute(0, 3, 1, 2).contiguous()  # uint8 (N, 3, H, W)
    y_leg = torch.from_numpy(train.legible.astype(np.float32))
    y_tens, y_units = torch.from_numpy(tens), torch.from_numpy(units)
    net = DigitNet(settings.width, settings.hidden)
    optimiser = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps = settings.epochs * ((len(train) + settings.batch - 1) // settings.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=settings.lr, total_steps=steps, pct_start=0.15)
    generator = torch.Generator().manual_seed(settings.seed)
    history = []
    started = time.perf_counter()
    for epoch in range(settings.epochs):
        net.train()
        order = torch.randperm(len(train), generator=generator)
        totals = np.zeros(3)
        for start in range(0, len(order), settings.batch):
            idx = order[start : start + settings.batch]
            x = _standardise(_augment(x_all[idx].float(), generator))
            legible, tens_logits, units_logits = net(x)
            loss_legible = F.binary_cross_entropy_with_logits(legible, y_leg[idx])
            has = y_tens[idx] >= 0
            if has.any():
                loss_tens = F.cross_entropy(tens_logits[has], y_tens[idx][has], label_smoothing=0.05)
                loss_units = F.cross_entropy(units_logits[has], y_units[idx][has], label_smoothing=0.05)
            else:
                loss_tens = loss_units = legible.sum() * 0.0
            loss = loss_legible + loss_tens + loss_units
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            totals += len(idx) * np.array([loss_legible.item(), loss_tens.item(), loss_units.item()])
        totals /= len(train)
        row = {"epoch": epoch + 1, "legible_loss": round(totals[0], 4), "tens_loss": round(totals[1], 4),
               "units_loss": round(totals[2], 4), "seconds": round(time.perf_counter() - started, 1)}
        read, conf = evaluate_patches(net, sets["valid-render"].patches)
        row["valid_render_t0.9"] = crop_metrics(read, conf, sets["valid-render"].legible, sets["valid-render"].number, (0.9,))["t0.9"]
        history.append(row)
        progress(json.dumps(row))
    train_seconds = time.perf_counter() - started
    metrics = {}
    for name in ("valid-render", "valid-font", "valid-real"):
        if name not in sets:
            continue
        read, conf = evaluate_patches(net, sets[name].patches)
        metrics[name] = crop_metrics(read, conf, sets[name].legible, sets[name].number)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone() for k, v in net.state_dict().items()}, out)
    manifest = {
        "file": out.name,
        "sha256": sha256_file(out),
        "bytes": out.stat().st_size,
        "architecture": {"name": "DigitNet", "width": settings.width, "hidden": settings.hidden, "input": list(PATCH_SIZE),
                         "parameters": int(sum(p.numel() for p in net.parameters())),
                         "heads": "legible (1 logit), tens (0-9 or none: 11), units (0-9: 10)"},
        "data": {
            "train_render": {"patches": len(sets["train-render"]), "legible": int(sets["train-render"].legible.sum()),
                             "seeds": f"{settings.render_seeds[0]}-{settings.render_seeds[1] - 1}",
                             "render": f"SynthConfig(seconds={settings.render_seconds:g}, fps=5, 1280x720, BROADCAST_SYNTH with motion_blur=False)"},
            "train_font": {"patches": len(sets["train-font"]), "legible": int(sets["train-font"].legible.sum()), "seed": settings.font_seed,
                           "fonts": [Path(f).name for f in find_fonts()] + ["OpenCV Hershey simplex/duplex/triplex/complex"]},
            "valid_render": {"patches": len(sets["valid-render"]), "seeds": f"{settings.valid_render_seeds[0]}-{settings.valid_render_seeds[1] - 1}"},
            "valid_font": {"patches": len(sets["valid-font"]), "seed": settings.valid_font_seed},
            "train_real": {"patches": len(sets["train-real"]) if "train-real" in sets else 0, "labels": REAL_TRAIN_LABELS.name,
                           "crops": f"{settings.real_copies} jittered copies of each labelled crop"},
            "valid_real": {"patches": len(sets["valid-real"]) if "valid-real" in sets else 0, "labels": REAL_VALID_LABELS.name},
        },
        "settings": asdict(settings),
        "command": command,
        "train_seconds": round(train_seconds, 1),
        "history": history,
        "metrics": metrics,
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
        "credits": "Real crops: football-players (Roboflow Universe workspace1-8owu3, CC BY 4.0), labelled by hand for "
                   "jersey numbers (curation/training/jersey_real_*.json). Synthetic: SoccerFactory's renderer and the DejaVu "
                   "(Bitstream Vera licence), STIX (OFL) and Computer Modern (matplotlib) faces plus OpenCV's Hershey fonts, "
                   "used at training time only; no font ships.",
    }
    out.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _range(text: str) -> tuple[int, int]:
    start, stop = (int(v) for v in text.split(":"))
    if not 0 <= start < stop:
        raise argparse.ArgumentTypeError(f"expected START:STOP with START < STOP, got {text}")
    if any(s in range(start, stop) for s in range(301, 306)):
        raise argparse.ArgumentTypeError("seeds 301-305 are the held-out broadcast clips: never train on them")
    return start, stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soccerfactory.curation.training.jersey_digits", description=__doc__.splitlines()[0])
    defaults = TrainDigits()
    parser.add_argument("--work", required=True, help="folder for renders and the cached patch sets")
    parser.add_argument("--out", default=str(DEFAULT_DIGIT_WEIGHTS), help="weights file (a .json manifest is written beside it)")
    parser.add_argument("--render-seeds", type=_range, default=defaults.render_seeds, help="START:STOP of the training renders")
    parser.add_argument("--valid-render-seeds", type=_range, default=defaults.valid_render_seeds)
    parser.add_argument("--render-seconds", type=float, default=defaults.render_seconds)
    parser.add_argument("--font-count", type=int, default=defaults.font_count)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--real-copies", type=int, default=defaults.real_copies, help="jittered copies of each hand-labelled real train crop (0 = none)")
    parser.add_argument("--data-only", action="store_true", help="build the patch sets and stop")
    args = parser.parse_args(argv)
    settings = TrainDigits(
        render_seeds=args.render_seeds, render_seconds=args.render_seconds, font_count=args.font_count,
        valid_render_seeds=args.valid_render_seeds, epochs=args.epochs, batch=args.batch, lr=args.lr, width=args.width,
        threads=args.threads, real_copies=args.real_copies,
    )
    command = "python -m soccerfactory.curation.training.jersey_digits " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.data_only:
        build_data(settings, args.work)
        return 0
    manifest = train_digits(settings, args.work, args.out, command=command)
    print(json.dumps(manifest["metrics"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
