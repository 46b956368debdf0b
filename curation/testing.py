"""Deterministic builders of valid containers, for tests.

Every builder takes a ``seed`` and returns the same values for the same arguments, so
tests can compare against fixed expectations without data files.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from soccerfactory.curation.camera import Camera
from soccerfactory.curation.types import CLASS_NAMES, Detections, Frames, Tracks

if TYPE_CHECKING:
    import pyarrow as pa

    from soccerfactory.curation.video.clips import ClipSpec

__all__ = ["TEST_OPENVINO_ENV", "exported_runtimes_under_test", "copy_image_sequence", "decode_frames", "decode_video", "source_item", "write_video", "groundtruth_shard", "in_truth_convention", "make_camera", "render_match", "make_detections", "make_frames", "make_tracks"]


#: OpenVINO loaded into a process makes later torch training in that process crash (SIGSEGV, seen in
#: the suite: the train flow after the runtime tests). The default suite tests onnx only; `make test`
#: runs the openvino cases in a pytest process of their own with this variable set.
TEST_OPENVINO_ENV = "SOCCERFACTORY_TEST_OPENVINO"


def exported_runtimes_under_test() -> tuple[str, ...]:
    """The exported CPU runtimes a test process may load: ``("onnx",)``, plus ``"openvino"`` when
    :data:`TEST_OPENVINO_ENV` is set."""
    import os

    return ("onnx", "openvino") if os.environ.get(TEST_OPENVINO_ENV) else ("onnx",)


def make_frames(
    n: int = 4,
    height: int = 72,
    width: int = 128,
    seed: int = 0,
    fps: float = 25.0,
    start: int = 0,
    source: str = "synthetic://frames",
) -> Frames:
    """``n`` consecutive random BGR frames starting at frame ``start``."""
    rng = np.random.default_rng(seed)
    frame_index = np.arange(start, start + n, dtype=np.int64)
    return Frames(
        images=rng.integers(0, 256, size=(n, height, width, 3), dtype=np.uint8),
        frame_index=frame_index,
        timestamp_s=frame_index / fps,
        fps=fps,
        source=source,
    )


def _random_boxes(rng: np.random.Generator, n: int, image_size: tuple[int, int]) -> np.ndarray:
    width, height = image_size
    # Sizes of broadcast players (tens of pixels); boxes are clipped to stay inside the frame.
    wh = rng.uniform(4.0, max(5.0, min(width, height) / 4), size=(n, 2))
    x1 = rng.uniform(0.0, width - 1.0, size=n)
    y1 = rng.uniform(0.0, height - 1.0, size=n)
    x2 = np.minimum(x1 + wh[:, 0], width)
    y2 = np.minimum(y1 + wh[:, 1], height)
    return np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)


def make_detections(
    n: int = 5,
    frame_index: int | Sequence[int] | np.ndarray = 0,
    image_size: tuple[int, int] = (1280, 720),
    seed: int = 0,
    with_tracks: bool = False,
) -> Detections:
    """``n`` random valid boxes inside an ``image_size`` ``(width, height)`` frame.

    Args:
        frame_index: One frame for every row, or one per row.
        with_tracks: Return :class:`Tracks` with ids ``0..n-1`` (unique, so valid
            whatever the frame indices).
    """
    rng = np.random.default_rng(seed)
    frames = np.broadcast_to(np.asarray(frame_index, dtype=np.int64), (n,)).copy()
    fields = dict(
        xyxy=_random_boxes(rng, n, image_size),
        confidence=rng.uniform(0.05, 1.0, size=n).astype(np.float32),
        class_id=rng.integers(0, len(CLASS_NAMES), size=n),
        frame_index=frames,
    )
    if with_tracks:
        return Tracks(**fields, track_id=np.arange(n, dtype=np.int64))
    return Detections(**fields)


def make_tracks(
    n_tracks: int = 3,
    n_frames: int = 4,
    image_size: tuple[int, int] = (1280, 720),
    seed: int = 0,
) -> Tracks:
    """``n_tracks`` tracks each present in every one of frames ``0..n_frames-1``.

    Rows are ordered by frame, then track, as a tracker emits them; each track
    drifts by a few pixels per frame.
    """
    rng = np.random.default_rng(seed)
    base = _random_boxes(rng, n_tracks, image_size)
    class_id = rng.integers(0, len(CLASS_NAMES), size=n_tracks)
    width, height = image_size
    boxes, frames, ids = [], [], []
    for f in range(n_frames):
        shift = rng.uniform(-3.0, 3.0, size=(n_tracks, 2))
        base = base + np.tile(shift, 2).astype(np.float32)
        base[:, [0, 2]] = np.clip(base[:, [0, 2]], 0, width)
        base[:, [1, 3]] = np.clip(base[:, [1, 3]], 0, height)
        boxes.append(base.copy())
        frames.append(np.full(n_tracks, f))
        ids.append(np.arange(n_tracks))
    n = n_tracks * n_frames
    return Tracks(
        xyxy=np.concatenate(boxes) if boxes else np.zeros((0, 4)),
        confidence=rng.uniform(0.3, 1.0, size=n).astype(np.float32),
        class_id=np.tile(class_id, n_frames),
        frame_index=np.concatenate(frames) if frames else np.zeros(0),
        track_id=np.concatenate(ids) if ids else np.zeros(0),
    )


def make_camera(
    position: Sequence[float] = (0.0, 34.0 + 25.0, -22.0),
    target: Sequence[float] = (0.0, 0.0, 0.0),
    focal_px: float = 1500.0,
    image_size: tuple[int, int] = (1280, 720),
    dist: Sequence[float] | None = None,
) -> Camera:
    """A main broadcast camera: 25 m behind the near touchline, 22 m up, aimed at the centre mark."""
    camera = Camera.look_at(position, target, focal_px, image_size)
    if dist is None:
        return camera
    return Camera(K=camera.K, R=camera.R, position=camera.position, image_size=camera.image_size, dist=dist)


_GROUNDTRUTH_SHARD_KEY = "ab" * 32
_GT_TEAM = {"left": "A", "right": "B"}


def groundtruth_shard(clip_dir: Path, root: Path, match_id: str = "synth-match") -> tuple[ClipSpec, dict[str, pa.Table]]:
    """Write the ground truth of a rendered synthetic clip as a committed shard under ``root``.

    The clip comes from the real ingestion path (discover, scan, split); the tables hold every
    column of ``SHARD_SCHEMAS`` filled from ``gt/*.parquet``, as a perfect curation would.
    """
    # Imported here: the array builders above must stay importable without pyarrow and storage.
    from soccerfactory.curation.synth.gamestate import legible_track_ids
    from soccerfactory.curation.layout import ShardIdentity, clips_columns
    from soccerfactory.curation.video.clips import split_clips
    from soccerfactory.curation.video.discover import discover_sources
    from soccerfactory.curation.video.scan import scan_video
    from soccerfactory.storage.groundtruth import read_ground_truth
    from soccerfactory.storage.schemas import SHARD_SCHEMAS, table_from_columns
    from soccerfactory.storage.shards import write_shard

    (item,) = discover_sources(clip_dir / "video.mp4")
    item = dataclasses.replace(item, match_id=match_id)
    (clip,) = split_clips(scan_video(item))
    gt = {name: read_ground_truth(clip_dir / "gt", name).to_pylist() for name in ("athletes", "ball", "cameras")}
    frames = list(range(clip.start_frame, clip.stop_frame))

    def keys(indices):
        return {
            "match_id": [clip.match_id] * len(indices), "clip_id": [clip.clip_id] * len(indices),
            "frame_index": list(indices), "timestamp_s": [i / clip.fps for i in indices],
        }

    people = [r for r in gt["athletes"] if r["x1"] is not None and r["frame_index"] in frames]
    lengths = Counter(r["track_id"] for r in people)
    legible = legible_track_ids(people)  # a number never legible in the clip is no label
    athletes = {
        **keys([r["frame_index"] for r in people]),
        **{k: [r[k] for r in people] for k in ("x1", "y1", "x2", "y2", "class", "track_id", "role", "pitch_x", "pitch_y")},
        "confidence": [1.0] * len(people),
        "pitch_sigma_m": [0.0] * len(people),  # ground truth: exact
        "tracklet_id": [r["track_id"] for r in people],
        "team": [_GT_TEAM.get(r["team"]) for r in people],
        "jersey": [r["jersey"] if r["role"] != "referee" and r["track_id"] in legible else None for r in people],
        "mask_rle": [json.dumps({"size": [clip.height, clip.width], "counts": json.loads(r["mask_rle"])}) for r in people],
        **{k: [None] * len(people) for k in ("refined_x1", "refined_y1", "refined_x2", "refined_y2", "mask_score", "jersey_agreement")},
        "team_agreement": [None if r["team"] is None else 1.0 for r in people],
        "role_agreement": [1.0] * len(people),
        "jersey_votes": [0] * len(people),
        "track_length": [lengths[r["track_id"]] for r in people],
        "role_reason": ["ground truth"] * len(people), "flags": [None] * len(people), "flag_reason": [None] * len(people),
        "shirt_colour": [None] * len(people), "shirt_crops": [0] * len(people), "appearance": [None] * len(people),
    }
    ball_rows = {r["frame_index"]: r for r in gt["ball"]}
    balls = [ball_rows[f] for f in frames]
    detected = [r["visible"] and r["x1"] is not None for r in balls]
    ball = {
        **keys(frames),
        **{k: [r[k] if d else None for r, d in zip(balls, detected)] for k in ("x1", "y1", "x2", "y2", "pitch_x", "pitch_y")},
        "confidence": [1.0 if d else None for d in detected],
        "detected": detected,
        "interpolated": [False] * len(balls),
    }
    camera_rows = {r["frame_index"]: r for r in gt["cameras"]}
    cams = [camera_rows[f] for f in frames]
    cameras = {
        **keys(frames),
        "valid_camera": [r["valid_camera"] for r in cams],
        "homography": [list(r["homography"]) for r in cams],
        **{k: [r[k] for r in cams] for k in ("fx", "fy", "cx", "cy", "reprojection_error_px")},
        "rotation": [list(r["rotation"]) for r in cams],
        "position": [[r["position_x"], r["position_y"], r["position_z"]] for r in cams],
        "dist": [list(r["distortion"] or []) for r in cams],
        "n_keypoints": [0] * len(cams), "n_lines": [0] * len(cams), "invalid_reason": [None] * len(cams),
        "view": [None] * len(cams), "view_reason": [None] * len(cams), "visible_pitch_m2": [None] * len(cams),
    }
    per_frame = Counter(athletes["frame_index"])
    tables = {
        "clips": table_from_columns("clips", clips_columns(clip, clip.num_frames, ShardIdentity("test", "test", _GROUNDTRUTH_SHARD_KEY))),
        "frames": table_from_columns("frames", {
            **keys(frames), "width": [clip.width] * len(frames), "height": [clip.height] * len(frames),
            "n_athletes": [per_frame[f] for f in frames], "ball_detected": detected,
            "semantic_sample": [False] * len(frames), "valid_camera": cameras["valid_camera"],
            "view": [None] * len(frames),
        }),
        "athletes": table_from_columns("athletes", athletes),
        "ball": table_from_columns("ball", ball),
        "cameras": table_from_columns("cameras", cameras),
        "events": table_from_columns("events", {**keys([clip.start_frame]), "event": ["clip_start"], "detail": [None]}),
    }
    assert set(tables) == set(SHARD_SCHEMAS)
    write_shard(
        root, clip.match_id, clip.clip_id, _GROUNDTRUTH_SHARD_KEY, tables, config_hash="test", code_version="test",
        metadata={"run_id": "test", "clip": dataclasses.asdict(clip)},
    )
    return clip, tables


def in_truth_convention(tables: dict[str, pa.Table], truth: dict) -> dict[str, pa.Table]:
    """Shard tables (:func:`groundtruth_shard`) with each athlete at the game-state ground truth's
    ``bbox_pitch`` bottom middle (the box's bottom back-projected, SoccerNet's convention) instead
    of the exact feet position: an export of them scores 100 against ``truth`` (a
    ``ground_truth_document``)."""
    import pyarrow as pa

    frame_of = {image["image_id"]: image["frame_index"] for image in truth["images"]}
    middle = {
        (frame_of[a["image_id"]], a["track_id"]): (a["bbox_pitch"]["x_bottom_middle"], a["bbox_pitch"]["y_bottom_middle"])
        for a in truth["annotations"] if a["supercategory"] == "object" and a["attributes"]["role"] != "ball"
    }
    athletes = tables["athletes"]
    keys = list(zip(athletes.column("frame_index").to_pylist(), athletes.column("track_id").to_pylist()))
    for column, k in (("pitch_x", 0), ("pitch_y", 1)):
        index = athletes.schema.get_field_index(column)
        athletes = athletes.set_column(index, athletes.schema.field(index), pa.array([middle[key][k] for key in keys], pa.float32()))
    return {**tables, "athletes": athletes}


def render_match(folder: Path, seed: int) -> Path:
    """``folder`` holding one rendered 2.4 s 360p match ``synth-<seed>`` and the sources file that
    names its video's source id after the match (``soccerfactory-sources.json``): footage the
    ``curate`` flow curates as one match."""
    from soccerfactory.curation.synth import SynthConfig, render_clip

    match = f"synth-{seed}"
    render_clip(SynthConfig(seconds=2.4, seed=seed, width=640, height=360), folder / match)
    (folder / "soccerfactory-sources.json").write_text(json.dumps({f"{match}/video.mp4": match}))
    return folder


def write_video(path: str | Path, frames: Sequence[np.ndarray], fps: float = 25.0, fourcc: str = "mp4v") -> Path:
    """Write BGR ``frames`` (each ``(H, W, 3)`` uint8, one size) as a video file, folders created.

    Args:
        path: File to write; its extension must suit ``fourcc`` (``.mp4`` for ``mp4v``, ``.avi``
            for ``MJPG``).
        frames: The images, at least one.
        fps: Frame rate written into the container.
        fourcc: OpenCV codec code.

    Raises:
        ValueError: no frames, or OpenCV cannot write this codec to this path.
    """
    import cv2

    if not len(frames):
        raise ValueError(f"{path}: no frames to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise ValueError(f"OpenCV cannot write {fourcc} to {path}")
    for image in frames:
        writer.write(image)
    writer.release()
    return path


def decode_frames(path: str | Path) -> list[np.ndarray]:
    """Every frame OpenCV decodes from a (small) video file, as ``uint8`` ``(H, W, 3)`` BGR images."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    images = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    capture.release()
    return images


def decode_video(path: str | Path, fps: float | None = None) -> Frames:
    """Every frame of a (small) video file as one :class:`Frames` batch, indices from 0.

    Args:
        path: Video file OpenCV can read.
        fps: Frame rate to record; defaults to the container's.
    """
    import cv2

    images = decode_frames(path)
    capture = cv2.VideoCapture(str(path))
    rate = float(fps or capture.get(cv2.CAP_PROP_FPS) or 25.0)
    capture.release()
    if not images:
        raise ValueError(f"{path}: no frames could be decoded")
    frame_index = np.arange(len(images))
    return Frames(np.stack(images), frame_index, frame_index / rate, rate, str(path))


def copy_image_sequence(render: Path, folder: Path, frames: int | None = None, seqinfo: str | None = None) -> Path:
    """Copy the first ``frames`` JPEGs of a rendered clip's ``img1/`` into ``folder/img1/`` (a
    MOT-style image sequence), with ``seqinfo.ini`` holding ``seqinfo`` when given."""
    import shutil

    (folder / "img1").mkdir(parents=True)
    for jpg in sorted((render / "img1").glob("*.jpg"))[:frames]:
        shutil.copy(jpg, folder / "img1" / jpg.name)
    if seqinfo is not None:
        (folder / "seqinfo.ini").write_text(seqinfo)
    return folder


def source_item(path: str | Path):
    """The one :class:`~soccerfactory.curation.video.clips.SourceItem` that discovery finds for a video file."""
    from soccerfactory.curation.video.discover import discover_sources

    (item,) = discover_sources(str(path))
    return item
