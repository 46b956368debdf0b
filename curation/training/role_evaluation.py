"""Measure a trained role classifier and write its manifest (``role-classifier.json``).

* Real: ``soccerfactory quality detector`` (:func:`~soccerfactory.curation.quality.detection.detector_quality`)
  on the football-players ``valid`` split, with ``detect.role_classifier=crops`` and ``none``.
* Synthetic dev check: one clip of a development seed (400-499: kits never trained on), the
  detector's boxes at the pipeline's confidence matched to the true boxes (IoU >= 0.5), per-box
  recall and precision of each role with and without the classifier.
* Cost: ms per 1280x720 frame that the classifier adds (batches of 8 frames, as the pipeline's).
"""

from __future__ import annotations

import json
import platform
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from soccerfactory.curation.config import CurateConfig
from soccerfactory.curation.detection.roles import build_role_classifier

__all__ = ["synthetic_role_check", "write_manifest"]

_ROLES = ("goalkeeper", "player", "referee")  # class ids 1, 2, 3
_CREDIT = "Roboflow Universe workspace 'workspace1-8owu3' (German Bundesliga main-camera frames), CC BY 4.0"


def synthetic_role_check(weights: Path, seed: int = 450, seconds: float = 10.0, every: int = 5,
                         render_root: Path = Path("/tmp/sf-train/role-classifier/dev")) -> dict[str, Any]:
    """Per-box role recall / precision on one synthetic development clip, with and without the classifier.

    Raises:
        ValueError: for a held-out seed (301-305).
    """
    import cv2

    from soccerfactory.curation.detection.detector import build_detector
    from soccerfactory.curation.quality.misses import greedy_match
    from soccerfactory.curation.synth import SynthConfig, render_clip
    from soccerfactory.curation.types import BALL, Frames
    from soccerfactory.storage.groundtruth import read_ground_truth

    if 301 <= seed <= 305:
        raise ValueError("seeds 301-305 are held out; never measure on them while developing")
    clip = render_root / f"seed-{seed}"
    config = SynthConfig(seconds=seconds, seed=seed, shots="broadcast", staff=6, motion_blur=True)
    if not (clip / "gt" / "athletes.parquet").is_file():
        render_clip(config, clip, images=True)
    truth = read_ground_truth(clip / "gt", "athletes").select(["frame_index", "class", "x1", "y1", "x2", "y2"]).to_pandas()
    truth = truth.dropna(subset=["x1", "y1", "x2", "y2"])
    detect = CurateConfig().detect
    detector = build_detector(detect.backend, weights=detect.resolved_weights(), imgsz=detect.imgsz, conf=detect.conf,
                              iou=detect.iou, device=detect.device, runtime=detect.device_runtime())
    roles = build_role_classifier("crops", weights=weights, context_conf=detect.conf)
    frames_used = list(range(every, config.frame_count, every))
    counts = {variant: {role: {"true": 0, "found": 0, "hit": 0, "said": 0} for role in _ROLES} for variant in ("detector", "crops")}
    seconds_roles = 0.0
    for start in range(0, len(frames_used), 8):
        chosen = frames_used[start:start + 8]
        images = np.stack([cv2.imread(str(clip / "img1" / f"{f + 1:06d}.jpg"), cv2.IMREAD_COLOR) for f in chosen])
        frames = Frames(images=images, frame_index=np.array(chosen), timestamp_s=np.array(chosen) / config.fps, fps=config.fps,
                        source=str(clip))
        raw = detector(frames)
        begun = time.perf_counter()
        relabelled = roles(frames, raw)
        seconds_roles += time.perf_counter() - begun
        for variant, found in (("detector", raw), ("crops", relabelled)):
            found = found[found.class_id != BALL]
            for f in chosen:
                rows = truth[(truth["frame_index"] == f) & (truth["class"] != "other")]
                boxes = found.for_frame(f)
                match = greedy_match(rows[["x1", "y1", "x2", "y2"]].to_numpy(np.float32), boxes.xyxy)
                for role, m in zip(rows["class"], match):
                    counts[variant][role]["true"] += 1
                    if m >= 0:
                        counts[variant][role]["found"] += 1
                        said = _ROLES[int(boxes.class_id[m]) - 1]
                        counts[variant][said]["said"] += 1
                        counts[variant][role]["hit"] += int(said == role)
    out: dict[str, Any] = {"seed": seed, "seconds": seconds, "frames": len(frames_used), "shots": "broadcast", "staff": 6,
                           "roles_ms_per_frame": round(1000 * seconds_roles / len(frames_used), 1)}
    for variant, table in counts.items():
        out[variant] = {
            role: {"boxes": c["found"], "recall": round(c["hit"] / max(c["found"], 1), 4),
                   "precision": round(c["hit"] / max(c["said"], 1), 4)}
            for role, c in table.items()
        }
        hits, found = sum(c["hit"] for c in table.values()), sum(c["found"] for c in table.values())
        out[variant]["accuracy"] = round(hits / max(found, 1), 4)
    return out


def write_manifest(weights: Path, settings: Any, command: str, dev_seed: int = 450) -> dict[str, Any]:
    """Measure ``weights`` (real valid AP50 with and without it, synthetic dev check) and write ``<weights>.json``."""
    import torch

    from soccerfactory.curation.hashing import sha256_file
    from soccerfactory.curation.quality.detection import detector_quality

    torch.set_num_threads(getattr(settings, "threads", 2))
    weights = Path(weights)
    trained = json.loads((weights.parent / "role-classifier.train.json").read_text())
    with_roles = CurateConfig().model_copy(update={"detect": CurateConfig().detect.model_copy(
        update={"role_classifier": "crops", "role_weights": weights})})
    without = CurateConfig().model_copy(update={"detect": CurateConfig().detect.model_copy(update={"role_classifier": "none"})})
    real = detector_quality(config=with_roles)["runs"][0]
    real_none = detector_quality(config=without)["runs"][0]
    synthetic = synthetic_role_check(weights, seed=dev_seed, render_root=Path(settings.work_dir) / "dev")
    chosen = trained["history"][trained["chosen_epoch"] - 1]
    manifest = {
        "file": weights.name,
        "sha256": sha256_file(weights),
        "bytes": weights.stat().st_size,
        "model": "role-classifier",
        "architecture": "RoleNet (curation/detection/role_net.py): crop CNN + relational counts + attention over the frame's boxes"
                        + (" + context-window CNN (3 x 6 box heights around the box at 24x48)" if trained["settings"].get("window") else ""),
        "parameters": trained["parameters"],
        "input": "person boxes of a frame at its own resolution: crops 64x32 (box grown 3/32 per side to 76x38 and centre-cut)"
                 + ("; context windows 24x48 (3 box heights tall, 6 wide, centred on the box, black outside the frame)"
                    if trained["settings"].get("window") else ""),
        "outputs": ["player", "goalkeeper", "referee"],
        "format": "plain dict {state_dict (fp32), embed, counts, window, roles, crop_hw, stored_hw, window_hw, window_span}; "
                  "torch.load(weights_only=True)",
        "data": {
            "real": "football-players train split (298 frames), frames unstretched to 1920x1080, labelled person boxes",
            "real_holdout_videos": trained["holdout"]["real_videos"],
            "credit": _CREDIT,
            "synthetic": {"renderer": "soccerfactory.curation.synth.render_clip", "seeds": list(trained["settings"]["synth_seeds"]),
                          "held_out_last": trained["settings"]["synth_holdout"], "seconds": trained["settings"]["synth_seconds"],
                          "every": trained["settings"]["synth_every"], "shots": "broadcast", "staff": "0/6/12 by seed"},
            "train_frames": trained["train_frames"],
            "train_boxes": trained["train_boxes"],
        },
        "reproduce": "python -m soccerfactory.curation.training.role_classifier --work-dir /tmp/sf-train/role-classifier "
                     f"--synth-seeds {trained['settings']['synth_seeds'][0]}:{trained['settings']['synth_seeds'][1]} "
                     f"--epochs {trained['settings']['epochs']} --goalkeeper-repeat {trained['settings']['goalkeeper_repeat']} "
                     f"--window {trained['settings'].get('window', 0)} --lr {trained['settings']['lr']} "
                     + (f"--init {trained['settings']['init']} (sha256 {trained.get('init_sha256')}) "
                        if trained["settings"].get("init") else "")
                     + "&& python -m soccerfactory.curation.training.role_classifier --evaluate",
        "reproduce_as_run": command,
        "hyper_parameters": trained["settings"],
        "chosen_epoch": trained["chosen_epoch"],
        "epochs_run": trained["epochs_run"],
        "metrics_holdout_chosen_epoch": {"real": chosen["real_holdout"], "synthetic": chosen["synth_holdout"]},
        "metrics_valid_ap50": {
            "tool": "soccerfactory quality detector (faster-coco-eval, frames unstretched to 1920x1080, imgsz 768, every box down to conf 0.01)",
            "with_role_classifier": real["ap50"],
            "detector_class_only": real_none["ap50"],
            "roles_ms_per_1080p_image": real["role_classifier"]["ms_per_image"],
        },
        "synthetic_dev_check": synthetic,
        "training_wall_s": trained["training_wall_s"],
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "date": date.today().isoformat(),
    }
    weights.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps({k: manifest[k] for k in ("metrics_valid_ap50", "synthetic_dev_check")}, indent=2))
    return manifest
