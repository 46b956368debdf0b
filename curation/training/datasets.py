"""Build the YOLO training sets of the project's two default models, from real and synthetic frames.

Two real sets (``../shared/data`` beside the checkout, CC BY 4.0, Roboflow Universe workspace ``workspace1-8owu3``)
were published stretched to a square; a model that runs on 16:9 broadcast video must learn on
16:9 images, so every image is resized back to 16:9. YOLO labels are normalised to the image, so
they stay valid through that resize unchanged.

Synthetic frames come from the project's renderer (:func:`render_clip`): its ground truth gives
exact athlete and ball boxes and the image position of every pitch keypoint.

Layouts written (the ultralytics conventions):

* ``<root>/images/<split>/<name>.jpg`` and ``<root>/labels/<split>/<name>.txt``;
* detection label line: ``class cx cy w h`` (normalised, class ids of ``CLASS_NAMES``);
* pose label line: ``0 cx cy w h`` then 32 x ``x y v`` (normalised; ``v`` 0 unlabelled,
  1 labelled but hidden behind an athlete, 2 visible);
* ``<root>/data.yaml`` naming the splits, classes and (pose) ``kpt_shape`` / ``flip_idx``.

Everything is deterministic given the seeds: the renderer is seeded, frames are picked by a fixed
stride, and file names encode their origin.
"""

from __future__ import annotations

import os

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from soccerfactory.curation.pitch import KEYPOINT_FLIP_INDEX
from soccerfactory.curation.training.yolo_files import (
    images_in, label_rows, link_subset, normalised_boxes, unstretch_yolo_split, write_label,
)
from soccerfactory.curation.types import CLASS_NAMES
from soccerfactory.storage.groundtruth import read_ground_truth

__all__ = [
    "DEFAULT_DATA_ROOT",
    "FLIP_IDX",
    "KEYPOINT_COUNT",
    "SynthFrames",
    "build_detection_dataset",
    "build_pitch_dataset",
    "detection_labels_from_synth",
    "keypoint_label_from_synth",
    "write_synthetic_detection_frames",
    "write_synthetic_keypoint_frames",
]

#: The shared real data: ``$SOCCERFACTORY_DATA``, else ``shared/data`` beside the repository checkout.
DEFAULT_DATA_ROOT = Path(os.environ.get("SOCCERFACTORY_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data")
KEYPOINT_COUNT = 32
FLIP_IDX: tuple[int, ...] = tuple(int(i) for i in KEYPOINT_FLIP_INDEX[:KEYPOINT_COUNT])
_SYNTH_CLASS_IDS = {name: i for i, name in enumerate(CLASS_NAMES)}


@dataclass(frozen=True)
class SynthFrames:
    """Which synthetic frames to render and keep.

    Attributes:
        seeds: one clip per seed; each seed gives other kits, camera path and play.
        seconds: length of each clip.
        every: keep every ``every``-th frame, so consecutive kept frames differ.
        width: rendered width in pixels.
        height: rendered height in pixels.
        distortions: lens k1 per clip, cycled over the seeds (0 = pinhole).
        motion_blur_every: clips ``i`` with ``i % motion_blur_every == 1`` get motion blur; 0 = never.
        render_dir: where clips are rendered (scratch); ``None`` = a ``renders`` folder next to the
            dataset.
    """

    seeds: tuple[int, ...] = tuple(range(100, 110))
    seconds: float = 4.0
    every: int = 5
    width: int = 1280
    height: int = 720
    distortions: tuple[float, ...] = (0.0, -0.08, -0.15, 0.05)
    motion_blur_every: int = 2
    render_dir: Path | None = field(default=None)

    def __post_init__(self) -> None:
        if any(seed < 0 for seed in self.seeds):
            raise ValueError(f"seeds must be non-negative, got {self.seeds}")
        if self.seconds <= 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        if not self.distortions:
            raise ValueError("distortions must name at least one lens k1 (0.0 for none)")
        if self.motion_blur_every < 0:
            raise ValueError(f"motion_blur_every must be >= 0, got {self.motion_blur_every}")

    def config(self, position: int, seed: int):
        """The renderer settings of the ``position``-th clip (seed ``seed``)."""
        from soccerfactory.curation.synth.config import SynthConfig

        blur = self.motion_blur_every > 0 and position % self.motion_blur_every == 1
        return SynthConfig(
            seconds=self.seconds,
            seed=seed,
            width=self.width,
            height=self.height,
            lens_distortion=self.distortions[position % len(self.distortions)],
            motion_blur=blur,
        )

    def to_dict(self) -> dict:
        return {
            "seeds": list(self.seeds),
            "seconds": self.seconds,
            "every": self.every,
            "width": self.width,
            "height": self.height,
            "distortions": list(self.distortions),
            "motion_blur_every": self.motion_blur_every,
        }


def detection_labels_from_synth(
    athletes,
    ball,
    frame_index: int,
    width: int,
    height: int,
    min_side: float = 2.0,
) -> np.ndarray:
    """YOLO detection rows of one synthetic frame.

    Args:
        athletes: ``gt/athletes.parquet`` as a pandas DataFrame (visible box ``x1..y2`` in pixels,
            ``class`` one of ``goalkeeper/player/referee``, or ``other`` for off-pitch people,
            who are skipped).
        ball: ``gt/ball.parquet`` as a DataFrame; rows without a finite box are skipped.
        frame_index: the frame to label.
        width: image width in pixels.
        height: image height in pixels.
        min_side: boxes narrower or shorter than this (pixels, after clipping) are dropped: a
            sliver of an athlete at the image border is no training signal.

    Returns:
        float64 array (N, 5): ``class_id cx cy w h``, boxes normalised to [0, 1]. Ball rows first.

    Raises:
        ValueError: when an athlete class is not one of ``CLASS_NAMES``.
    """
    rows = []
    b = ball[ball["frame_index"] == frame_index]
    if "visible" in b.columns:
        b = b[b["visible"].astype(bool)]
    if len(b):
        boxes, _ = normalised_boxes(b[["x1", "y1", "x2", "y2"]].to_numpy(), width, height, min_side)
        rows.append(np.column_stack([np.zeros(len(boxes)), boxes]))
    a = athletes[athletes["frame_index"] == frame_index]
    # Off-pitch people (coaches, substitutes, stewards: class "other") are not a detector class;
    # the real football-players frames leave them unlabelled too, so they stay background here.
    a = a[a["class"] != "other"]
    if len(a):
        unknown = sorted(set(a["class"]) - set(_SYNTH_CLASS_IDS))
        if unknown:
            raise ValueError(f"athletes.parquet has classes {unknown} outside {CLASS_NAMES}")
        ids = a["class"].map(_SYNTH_CLASS_IDS).to_numpy(dtype=np.float64)
        boxes, keep = normalised_boxes(a[["x1", "y1", "x2", "y2"]].to_numpy(), width, height, min_side)
        rows.append(np.column_stack([ids[keep], boxes]))
    if not rows:
        return np.zeros((0, 5))
    return np.concatenate(rows, axis=0)


def _visible_pitch_box(camera_row, width: int, height: int) -> tuple[float, float, float, float] | None:
    """Pixel xyxy box around the pitch surface seen in the image (0.5 m grid, pinhole), or None."""
    rotation = np.asarray(camera_row["rotation"], dtype=np.float64).reshape(3, 3)
    position = np.array([camera_row["position_x"], camera_row["position_y"], camera_row["position_z"]])
    half_l, half_w = 52.5, 34.0
    xs = np.arange(-half_l - 1.0, half_l + 1.01, 0.5)
    ys = np.arange(-half_w - 1.0, half_w + 1.01, 0.5)
    gx, gy = np.meshgrid(xs, ys)
    world = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], axis=1)
    cam = (world - position) @ rotation.T
    front = cam[:, 2] > 1e-3
    cam = cam[front]
    u = camera_row["fx"] * cam[:, 0] / cam[:, 2] + camera_row["cx"]
    v = camera_row["fy"] * cam[:, 1] / cam[:, 2] + camera_row["cy"]
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    if not inside.any():
        return None
    u, v = u[inside], v[inside]
    return float(u.min()), float(v.min()), float(u.max()), float(v.max())


def keypoint_label_from_synth(keypoints, camera_row, width: int, height: int) -> np.ndarray | None:
    """The YOLO pose row of one synthetic frame: ``0 cx cy w h`` then 32 ``x y v``.

    Args:
        keypoints: the ``gt/keypoints.parquet`` rows of one frame (``keypoint_id`` 0.. in the
            football-field order; ``x, y`` pixels; ``in_image``; ``occluded``).
        camera_row: the ``gt/cameras.parquet`` row of the same frame (pinhole K, R, position),
            used for the box around the visible pitch.
        width: image width in pixels.
        height: image height in pixels.

    Returns:
        float64 array (5 + 32 * 3,), everything normalised to [0, 1]; ``None`` when fewer than
        4 keypoints are in the image (too little to locate the pitch from).
    """
    kp = keypoints.set_index("keypoint_id")
    row = np.zeros(5 + 3 * KEYPOINT_COUNT)
    visible_count = 0
    for k in range(KEYPOINT_COUNT):
        if k not in kp.index:
            continue
        point = kp.loc[k]
        x, y = float(point["x"]), float(point["y"])
        if not (bool(point["in_image"]) and 0 <= x < width and 0 <= y < height):
            continue
        visible = 1.0 if bool(point["occluded"]) else 2.0
        row[5 + 3 * k : 8 + 3 * k] = (x / width, y / height, visible)
        visible_count += 1
    if visible_count < 4:
        return None
    box = _visible_pitch_box(camera_row, width, height)
    if box is None:
        return None
    # The grid box is pinhole; lens distortion moves the labelled points a little, so the box
    # grows to hold them all.
    labelled = row[5:].reshape(KEYPOINT_COUNT, 3)
    labelled = labelled[labelled[:, 2] > 0, :2] * (width, height)
    x1, y1 = min(box[0], labelled[:, 0].min()), min(box[1], labelled[:, 1].min())
    x2, y2 = max(box[2], labelled[:, 0].max()), max(box[3], labelled[:, 1].max())
    row[1:5] = ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)
    return row


def _render(frames: SynthFrames, position: int, seed: int, render_root: Path) -> Path:
    from soccerfactory.curation.synth.render import render_clip

    clip_dir = render_root / f"seed-{seed}"
    if not (clip_dir / "gt" / "athletes.parquet").is_file():
        render_clip(frames.config(position, seed), clip_dir, images=True)
    return clip_dir


def _frames_to_keep(clip_dir: Path, every: int) -> list[int]:
    image_count = len(list((clip_dir / "img1").glob("*.jpg")))
    # Frame 0 of every clip is the kick-off layout; skip it so clips do not share their opener.
    return list(range(every, image_count, every))


def write_synthetic_detection_frames(
    frames: SynthFrames, images_out: str | Path, labels_out: str | Path, render_root: str | Path
) -> int:
    """Render ``frames`` and write every kept frame with its detection labels.

    Returns:
        The number of images written (frames with no athlete at all are skipped).
    """
    images_out, labels_out, render_root = Path(images_out), Path(labels_out), Path(render_root)
    images_out.mkdir(parents=True, exist_ok=True)
    labels_out.mkdir(parents=True, exist_ok=True)
    count = 0
    for position, seed in enumerate(frames.seeds):
        clip_dir = _render(frames, position, seed, render_root)
        athletes = read_ground_truth(clip_dir / "gt", "athletes").select(["frame_index", "class", "x1", "y1", "x2", "y2"]).to_pandas()
        ball = read_ground_truth(clip_dir / "gt", "ball").to_pandas()
        for frame_index in _frames_to_keep(clip_dir, frames.every):
            rows = detection_labels_from_synth(athletes, ball, frame_index, frames.width, frames.height)
            if not len(rows):
                continue
            name = f"synth-s{seed}-f{frame_index:05d}"
            # img1 numbers frames from 1 (SoccerNet layout).
            shutil.copyfile(clip_dir / "img1" / f"{frame_index + 1:06d}.jpg", images_out / f"{name}.jpg")
            write_label(labels_out / f"{name}.txt", rows)
            count += 1
    return count


def write_synthetic_keypoint_frames(
    frames: SynthFrames,
    images_out: str | Path,
    labels_out: str | Path,
    render_root: str | Path,
    size: tuple[int, int] | None = None,
) -> int:
    """Render ``frames`` and write every kept frame with its pose (pitch keypoint) label.

    Args:
        frames: what to render.
        images_out: folder for the JPEGs.
        labels_out: folder for the labels.
        render_root: scratch folder for the rendered clips.
        size: ``(width, height)`` to resize the images to (labels are normalised, so unchanged);
            ``None`` keeps the rendered size.

    Returns:
        The number of images written (frames with fewer than 4 keypoints in view are skipped).
    """
    import cv2

    images_out, labels_out, render_root = Path(images_out), Path(labels_out), Path(render_root)
    images_out.mkdir(parents=True, exist_ok=True)
    labels_out.mkdir(parents=True, exist_ok=True)
    count = 0
    for position, seed in enumerate(frames.seeds):
        clip_dir = _render(frames, position, seed, render_root)
        keypoints = read_ground_truth(clip_dir / "gt", "keypoints").to_pandas()
        cameras = read_ground_truth(clip_dir / "gt", "cameras").to_pandas().set_index("frame_index")
        for frame_index in _frames_to_keep(clip_dir, frames.every):
            row = keypoint_label_from_synth(
                keypoints[keypoints["frame_index"] == frame_index], cameras.loc[frame_index], frames.width, frames.height
            )
            if row is None:
                continue
            name = f"synth-s{seed}-f{frame_index:05d}"
            source = clip_dir / "img1" / f"{frame_index + 1:06d}.jpg"
            if size is None or tuple(size) == (frames.width, frames.height):
                shutil.copyfile(source, images_out / f"{name}.jpg")
            else:
                image = cv2.imread(str(source), cv2.IMREAD_COLOR)
                cv2.imwrite(str(images_out / f"{name}.jpg"), cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA), [cv2.IMWRITE_JPEG_QUALITY, 95])
            visibility_columns = tuple(range(7, 5 + 3 * KEYPOINT_COUNT, 3))
            write_label(labels_out / f"{name}.txt", row[None, :], integer_columns=(0, *visibility_columns))
            count += 1
    return count


def _write_yaml(path: Path, content: dict) -> None:
    import yaml

    path.write_text(yaml.safe_dump(content, sort_keys=False))


def _fresh(root: Path) -> None:
    # Stale files from an earlier build with other seeds would silently join the training set.
    for sub in ("images", "labels"):
        if (root / sub).exists():
            shutil.rmtree(root / sub)
    for cache in root.glob("**/*.cache"):
        cache.unlink()


def _real_splits(root: Path, source_dir: Path, size: tuple[int, int], real_limit: int | None) -> dict:
    """Start a fresh dataset under ``root`` with the unstretched real train and valid splits."""
    root.mkdir(parents=True, exist_ok=True)
    _fresh(root)
    counts: dict = {}
    for split in ("train", "valid"):
        source = source_dir / split
        if real_limit is not None:
            source = link_subset(source, root / "_subset" / split, real_limit)
        counts[f"{split}_real"] = unstretch_yolo_split(source, root / "images" / split, root / "labels" / split, size, prefix="real-")
    counts["valid"] = counts.pop("valid_real")
    counts["train_synth"] = 0
    return counts


def write_native_slices(
    source: str | Path,
    images_out: str | Path,
    labels_out: str | Path,
    native_size: tuple[int, int] = (1920, 1080),
    slices: int = 2,
    overlap: float = 0.1,
    other_every: int = 4,
    prefix: str = "slice-",
) -> int:
    """Cut a YOLO split's frames, at their native broadcast size, into the ball slicer's slices.

    The detector looks for a missed ball in ``slices x slices`` overlapping slices of the full
    resolution frame (:class:`~soccerfactory.curation.detection.detector.BallSlicer`); a ball there is ~10 px
    instead of ~4 px in the downscaled full frame, a scale the full-frame training never shows.
    Every slice holding a labelled ball is written, and every ``other_every``-th of the others
    (athletes cut by the slice border included, so the model learns partial people too).

    A box is kept when at least 40 % of its area lies inside the slice (clipped to it); a ball only
    when it lies wholly inside.

    Returns:
        The number of slices written.
    """
    import cv2

    from soccerfactory.curation.detection.detector import slice_grid

    source = Path(source)
    images_out, labels_out = Path(images_out), Path(labels_out)
    images_out.mkdir(parents=True, exist_ok=True)
    labels_out.mkdir(parents=True, exist_ok=True)
    width, height = native_size
    windows = slice_grid(width, height, slices, overlap)
    ball = CLASS_NAMES.index("ball")
    written = others = 0
    for image_path in images_in(source / "images"):
        rows = np.asarray(label_rows(source / "labels" / f"{image_path.stem}.txt"), dtype=np.float64).reshape(-1, 5)
        image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot decode image {image_path}")
        image = cv2.resize(image, native_size, interpolation=cv2.INTER_LINEAR)
        cx, cy, w, h = rows[:, 1] * width, rows[:, 2] * height, rows[:, 3] * width, rows[:, 4] * height
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        area = np.maximum(w * h, 1e-9)
        for k, (x0, y0, x1, y1) in enumerate(windows.tolist()):
            clipped = np.stack([boxes[:, 0].clip(x0, x1), boxes[:, 1].clip(y0, y1), boxes[:, 2].clip(x0, x1), boxes[:, 3].clip(y0, y1)], axis=1)
            inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1]) / area
            is_ball = rows[:, 0] == ball
            keep = np.where(is_ball, inside >= 0.999, inside >= 0.4)
            has_ball = bool((keep & is_ball).any())
            if not has_ball:
                others += 1
                if other_every <= 0 or others % other_every:
                    continue
            local, kept = normalised_boxes(clipped[keep] - np.array([x0, y0, x0, y0]), x1 - x0, y1 - y0, min_side=1.0)
            name = f"{prefix}{image_path.stem}-{k}"
            cv2.imwrite(str(images_out / f"{name}.jpg"), image[y0:y1, x0:x1], [cv2.IMWRITE_JPEG_QUALITY, 95])
            write_label(labels_out / f"{name}.txt", np.column_stack([rows[keep][kept, 0], local]))
            written += 1
    return written


def build_detection_dataset(
    root: str | Path,
    players_dir: str | Path = DEFAULT_DATA_ROOT / "football-players",
    synth: SynthFrames | None = SynthFrames(),
    size: tuple[int, int] = (1280, 720),
    real_limit: int | None = None,
    ball_slices: int = 0,
) -> dict:
    """Write the detector's training set: football-players (unstretched) plus synthetic frames.

    Args:
        root: output folder (its ``images/`` and ``labels/`` are replaced).
        players_dir: the football-players set, with ``train/`` and ``valid/``.
        synth: synthetic frames added to ``train`` (never to ``valid``); ``None`` for none.
        size: ``(width, height)`` of the unstretched real images.
        real_limit: keep only the first N real images per split (tests); ``None`` = all.
        ball_slices: also add the real train frames cut into ``ball_slices x ball_slices``
            native-resolution slices (:func:`write_native_slices`); 0 = none.

    Returns:
        Counts: ``{"yaml": path, "train_real": n, "train_slices": n, "train_synth": n, "valid": n}``.
    """
    root = Path(root)
    counts = _real_splits(root, Path(players_dir), size, real_limit)
    counts["train_slices"] = 0
    if ball_slices:
        train_source = Path(players_dir) / "train"
        if real_limit is not None:
            train_source = root / "_subset" / "train"
        counts["train_slices"] = write_native_slices(train_source, root / "images" / "train", root / "labels" / "train", slices=ball_slices)
    if synth is not None:
        render_root = synth.render_dir or root / "renders"
        counts["train_synth"] = write_synthetic_detection_frames(synth, root / "images" / "train", root / "labels" / "train", render_root)
    yaml_path = root / "data.yaml"
    _write_yaml(
        yaml_path,
        {"path": str(root.resolve()), "train": "images/train", "val": "images/valid", "names": dict(enumerate(CLASS_NAMES))},
    )
    counts["yaml"] = yaml_path
    return counts


def build_pitch_dataset(
    root: str | Path,
    field_dir: str | Path = DEFAULT_DATA_ROOT / "football-field",
    synth: SynthFrames | None = SynthFrames(every=10),
    size: tuple[int, int] = (640, 360),
    real_limit: int | None = None,
) -> dict:
    """Write the pitch keypoint model's training set: football-field (unstretched) plus synthetic.

    Args:
        root: output folder (its ``images/`` and ``labels/`` are replaced).
        field_dir: the football-field set, with ``train/`` and ``valid/``.
        synth: synthetic frames added to ``train`` (resized to ``size``); ``None`` for none.
        size: ``(width, height)`` of every image written.
        real_limit: keep only the first N real images per split (tests); ``None`` = all.

    Returns:
        Counts: ``{"yaml": path, "train_real": n, "train_synth": n, "valid": n}``.
    """
    root = Path(root)
    counts = _real_splits(root, Path(field_dir), size, real_limit)
    if synth is not None:
        render_root = synth.render_dir or root / "renders"
        counts["train_synth"] = write_synthetic_keypoint_frames(
            synth, root / "images" / "train", root / "labels" / "train", render_root, size=size
        )
    yaml_path = root / "data.yaml"
    _write_yaml(
        yaml_path,
        {
            "path": str(root.resolve()),
            "train": "images/train",
            "val": "images/valid",
            "names": {0: "pitch"},
            "kpt_shape": [KEYPOINT_COUNT, 3],
            "flip_idx": list(FLIP_IDX),
        },
    )
    counts["yaml"] = yaml_path
    return counts
