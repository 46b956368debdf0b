"""Measured quality of camera calibration, as ``soccerfactory quality calibration`` and ``make bench`` report it.

On the real ``football-field`` ``valid`` split (34 broadcast frames with their 32 pitch keypoints
clicked by people), every frame on its own at 960x540 (the SoccerNet calibration scale):

* keypoint detection PCK at 5 and 10 px: the share of *labelled* keypoints the detector reports
  within that distance (a keypoint it does not report is a miss);
* the camera each calibrator variant solves for the frame, and the reprojection error of every
  labelled keypoint through it: the median over the frames that got a camera, and the share of
  all labelled keypoints within 5 px, frames without a camera counting as misses (so a
  calibrator cannot score by refusing hard frames).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from soccerfactory.curation.config import CurateConfig
from soccerfactory.curation.quality.clips import HELD_OUT_SEEDS, clip_of, held_out_clip
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.storage.groundtruth import read_ground_truth

__all__ = ["DEFAULT_FIELD_SPLIT", "real_calibration_quality", "synthetic_calibration_quality"]

DEFAULT_FIELD_SPLIT = DEFAULT_DATA_ROOT / "football-field" / "valid"


def _variants(backend: str) -> dict[str, dict[str, Any]]:
    if backend == "lines":
        return {"lines": {}}
    return {"keypoints": {"lines": False}, "keypoints+lines": {"lines": True}}


def real_calibration_quality(
    split_dir: str | Path = DEFAULT_FIELD_SPLIT,
    config: CurateConfig | None = None,
    frame_size: tuple[int, int] = (960, 540),
    limit: int | None = None,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Keypoint PCK and camera reprojection error on real labelled frames.

    Args:
        split_dir: A YOLO-pose split (``images/``, ``labels/``) of the football-field set.
        config: Curation config whose ``calibrate`` section is measured (backend, weights, pitch).
        frame_size: ``(width, height)`` frames are resized to (labels are normalised).
        limit: Only the first ``limit`` images.
        variants: ``name -> build_calibrator options`` to compare (default: keypoints alone and
            keypoints + lines for a keypoint backend, the line search for ``lines``).
        progress: Called with a line of text after each variant.
    """
    import cv2

    from soccerfactory.curation.calibration.builders import build_calibrator
    from soccerfactory.curation.training.keypoints import load_pose_split
    from soccerfactory.curation.types import Frames

    say = progress or (lambda line: None)
    calibrate = (config or CurateConfig()).calibrate
    split_dir = Path(split_dir)
    samples = load_pose_split(split_dir / "images", split_dir / "labels")[:limit]
    if not samples:
        raise FileNotFoundError(f"no labelled images in {split_dir} (expected images/*.jpg with labels/*.txt)")
    params = calibrate.calibrator_params()
    pitch = params["pitch"]
    frames = []
    for position, sample in enumerate(samples):
        image = cv2.imread(str(sample.path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot decode labelled image {sample.path}")
        image = cv2.resize(image, frame_size, interpolation=cv2.INTER_AREA)
        frames.append(Frames(images=image[None], frame_index=np.array([position]), timestamp_s=np.zeros(1), fps=25.0, source=str(sample.path)))
    labelled = [sample.keypoints[:, 2] > 0 for sample in samples]
    truth = [sample.keypoints[:, :2] * np.array(frame_size) for sample in samples]
    n_labelled = int(sum(mask.sum() for mask in labelled))
    figures: dict[str, Any] = {
        "split": str(split_dir),
        "images": len(samples),
        "labelled_keypoints": n_labelled,
        "frame_size": list(frame_size),
        "backend": calibrate.backend,
        "pitch_m": [calibrate.pitch_length, calibrate.pitch_width],
    }
    keypoints_scored = False
    figures["variants"] = {}
    for name, options in (variants or _variants(calibrate.backend)).items():
        calibrator = build_calibrator(calibrate.backend, **{**params, **options})
        if calibrator.detector is not None and not keypoints_scored:
            figures["keypoints"] = _keypoint_pck(calibrator.detector, frames, truth, labelled)
            keypoints_scored = True
        errors, within, solved, reasons = [], 0, 0, Counter()
        started = time.perf_counter()
        for frame, points, mask in zip(frames, truth, labelled):
            (result,) = calibrator.fresh()(frame)
            if not result.valid:
                reasons[result.reason.split(":")[0][:80]] += 1
                continue
            solved += 1
            miss = np.linalg.norm(result.camera.project(pitch.keypoints[:32][mask]) - points[mask], axis=1)
            errors.extend(miss.tolist())
            within += int((miss <= 5).sum())
        seconds = time.perf_counter() - started
        errors_arr = np.asarray(errors)
        figures["variants"][name] = {
            "options": {k: v for k, v in options.items()},
            "solved": solved,
            "completeness": round(solved / len(frames), 4),
            "median_reprojection_px": round(float(np.median(errors_arr)), 2) if len(errors_arr) else None,
            "mean_reprojection_px": round(float(np.mean(errors_arr)), 2) if len(errors_arr) else None,
            "keypoints_within_5px": round(within / max(n_labelled, 1), 4),
            "ms_per_frame": round(1000 * seconds / len(frames), 1),
            "invalid_reasons": dict(reasons.most_common(4)),
        }
        say(f"{name}: {figures['variants'][name]}")
    return figures


def _keypoint_pck(detector, frames: Sequence, truth: Sequence[np.ndarray], labelled: Sequence[np.ndarray]) -> dict:
    errors, n_labelled, unlabelled = [], 0, 0
    started = time.perf_counter()
    for frame, points, mask in zip(frames, truth, labelled):
        (obs,) = detector(frame)
        n_labelled += int(mask.sum())
        ids = np.asarray(obs.keypoint_ids)
        inside = ids < len(mask)
        unlabelled += int((~mask[ids[inside]]).sum())
        hit = inside.copy()
        hit[inside] = mask[ids[inside]]
        errors.extend(np.linalg.norm(obs.keypoints[hit] - points[ids[hit]], axis=1).tolist())
    from soccerfactory.curation.training.keypoints import keypoint_pck

    return {**keypoint_pck(errors, n_labelled, unlabelled), "ms_per_frame": round(1000 * (time.perf_counter() - started) / len(frames), 1)}


def synthetic_calibration_quality(
    work_dir: str | Path,
    seeds: Sequence[int] = HELD_OUT_SEEDS,
    seconds: float = 10.0,
    config: CurateConfig | None = None,
    keyframe_every: Sequence[int] = (1, 5),
    clip_seconds: float = 30.0,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Completeness, line reprojection error and athlete position error on rendered clips.

    The clips are the held-out 720p ones of ``soccerfactory quality tracking`` (rendered
    ``clip_seconds`` long into ``work_dir/seed-N`` once and shared); the first ``seconds`` of each are calibrated in
    order, as the ``curate`` flow does, by the configured calibrator, once per
    ``keyframe_every`` (keypoints on every frame, or on keyframes with line tracking between).

    Per variant, over all frames of all clips (every frame is a main-camera frame):

    * ``completeness``: share of frames with a valid camera;
    * ``line_error_px``: median (and 90th percentile) distance between the true image position
      of every pitch-line sample in view and its projection through the solved camera;
    * ``athlete_position_error_m``: median (and 90th percentile) distance between an athlete's
      true pitch position and the bottom-centre of its true box through the solved camera, and
      the share of those within two of the reported ``pitch_sigma_m``;
    * ``fps``: frames calibrated per second (decoding excluded), measured in this run.
    """
    from soccerfactory.curation.calibration.builders import build_calibrator
    from soccerfactory.curation.calibration.results import pitch_position, pitch_position_uncertainty
    from soccerfactory.curation.video.decode import read_frames

    say = progress or (lambda line: None)
    resolved = config or CurateConfig()
    calibrate = resolved.calibrate
    params = calibrate.calibrator_params()
    steps = list(keyframe_every) if calibrate.uses_keypoint_model else [1]
    clips = []
    for seed in seeds:
        clip_dir = held_out_clip(Path(work_dir), seed, max(clip_seconds, seconds), say)
        clip = clip_of(clip_dir)
        clips.append((seed, clip.head(int(round(seconds * clip.fps))), clip_dir))
    variants = {}
    for step in steps:
        calibrator = build_calibrator(calibrate.backend, **{**params, "keyframe_every": step})
        frames_total = valid_total = 0
        line_errors, athlete_errors, seconds_spent = [], [], 0.0
        sigmas: list[float] = []
        per_clip = {}
        for seed, clip, clip_dir in clips:
            results: dict[int, Any] = {}
            session = calibrator.fresh()
            for batch in read_frames(clip, batch_size=resolved.decode.batch_size):
                started = time.perf_counter()
                results.update(zip(batch.frame_index.tolist(), session(batch)))
                seconds_spent += time.perf_counter() - started
            n = len(results)
            lines = read_ground_truth(clip_dir / "gt", "lines").select(["frame_index", "x", "y", "pitch_x", "pitch_y", "pitch_z"]).to_pandas()
            athletes = read_ground_truth(clip_dir / "gt", "athletes").select(["frame_index", "x1", "y1", "x2", "y2", "pitch_x", "pitch_y"]).to_pandas()
            athletes = athletes[athletes.x1.notna()]
            clip_lines, clip_athletes, valid = [], [], 0
            for frame, group in lines[lines.frame_index.isin(list(results))].groupby("frame_index"):
                result = results[int(frame)]
                if not result.valid:
                    continue
                projected = result.camera.project(group[["pitch_x", "pitch_y", "pitch_z"]].to_numpy())
                clip_lines.extend(np.linalg.norm(projected - group[["x", "y"]].to_numpy(), axis=1).tolist())
            for frame, group in athletes[athletes.frame_index.isin(list(results))].groupby("frame_index"):
                boxes = group[["x1", "y1", "x2", "y2"]].to_numpy()
                placed = pitch_position(results[int(frame)], boxes)
                sigma = pitch_position_uncertainty(results[int(frame)], boxes)
                placed_ok = np.isfinite(placed).all(axis=1) & np.isfinite(sigma)
                miss = np.linalg.norm(placed - group[["pitch_x", "pitch_y"]].to_numpy(), axis=1)[placed_ok]
                clip_athletes.extend(miss.tolist())
                sigmas.extend(sigma[placed_ok].tolist())
            valid = sum(result.valid for result in results.values())
            per_clip[str(seed)] = {
                "completeness": round(valid / max(n, 1), 4),
                "line_error_px": _median(clip_lines),
                "athlete_position_error_m": _median(clip_athletes),
            }
            frames_total += n
            valid_total += valid
            line_errors.extend(clip_lines)
            athlete_errors.extend(clip_athletes)
        name = "every frame" if step == 1 else f"keyframes every {step}"
        variants[name] = {
            "keyframe_every": step,
            "frames": frames_total,
            "completeness": round(valid_total / max(frames_total, 1), 4),
            "line_error_px": _median(line_errors),
            "line_error_px_p90": _percentile(line_errors, 90),
            "athlete_position_error_m": _median(athlete_errors),
            "athlete_position_error_m_p90": _percentile(athlete_errors, 90),
            # How honest pitch_sigma_m is: a Gaussian radius would hold ~86% within two sigma.
            "athlete_sigma_m": _median(sigmas),
            "athlete_within_2_sigma": round(float(np.mean(np.asarray(athlete_errors) <= 2 * np.asarray(sigmas))), 4) if sigmas else None,
            "fps": round(frames_total / max(seconds_spent, 1e-9), 2),
            "per_clip": per_clip,
        }
        say(f"{name}: {({k: v for k, v in variants[name].items() if k != 'per_clip'})}")
    return {
        "seeds": list(seeds),
        "seconds_per_clip": seconds,
        "resolution": "1280x720",
        "backend": calibrate.backend,
        "variants": variants,
    }


def _median(values: Sequence[float]) -> float | None:
    return round(float(np.median(values)), 3) if len(values) else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if len(values) else None
