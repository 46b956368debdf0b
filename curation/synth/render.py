"""Render a synthetic broadcast clip and its exact ground truth to a folder.

Output layout (all written under temporary names and renamed at the end, so an interrupted run
never leaves a clip that looks complete)::

    OUT/video.mp4                  the clip (MPEG-4 Part 2 via OpenCV; H.264 when OpenCV has it)
    OUT/Labels-GameState.json      SoccerNet game-state style labels, plus camera and lines
    OUT/gt/<table>.parquet         athletes, ball, cameras (with each frame's true view), keypoints,
                                   lines, events
    OUT/clip.json                  config, kits, frame count, shots (broadcast clips), files with sha256
    OUT/img1/000001.jpg ...        the same frames as images (only with ``images=True``)
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from soccerfactory.curation.camera import Camera
from soccerfactory.curation.hashing import sha256_file
from soccerfactory.curation.masks import rle_encode_roi
from soccerfactory.curation.pitch import KEYPOINT_NAMES, LINE_NAMES, PitchModel
from soccerfactory.curation.synth.broadcast import BroadcastCameraOperator
from soccerfactory.curation.synth.config import SynthConfig
from soccerfactory.curation.synth.gamestate import GameStateBuilder
from soccerfactory.curation.synth.painter import AthletePose, BroadcastPainter, PaintedFrame
from soccerfactory.curation.synth.shots import VIEW_CLOSE_UP, VIEW_MAIN, ShotDirector, plan_shots
from soccerfactory.curation.synth.staff import StaffCrowd
from soccerfactory.curation.synth.world import Athlete, MatchSimulation
from soccerfactory.storage.groundtruth import GROUND_TRUTH_SCHEMAS, write_ground_truth

__all__ = ["RenderResult", "render_clip", "VIDEO_CODECS"]

# First that OpenCV can open wins. The OpenCV wheels ship no H.264 encoder (asking for avc1 only
# prints encoder errors), so MPEG-4 Part 2 it is.
VIDEO_CODECS = ("mp4v",)
LINE_SAMPLE_SPACING_M = 1.0
SOFTWARE = "soccerfactory-synth/1"
# Extra generators for what came after the first renderer (shots, staff): seeded from the clip's
# seed and a fixed tag, so they never draw from the match's generator and a clip without them is
# unchanged, byte for byte.
_STAFF_STREAM = 15_001
_SHOTS_STREAM = 15_002


@dataclass(frozen=True)
class _People:
    """Everyone drawn in a frame: the match's athletes, then the off-pitch people (same order as labels)."""

    athletes: list[Athlete]
    position: np.ndarray  # (N, 2) pitch metres
    velocity: np.ndarray  # (N, 2) m/s
    facing: np.ndarray  # (N,) radians
    phase: np.ndarray  # (N,) running cycle

    @classmethod
    def of(cls, sim: MatchSimulation, staff: StaffCrowd | None) -> _People:
        if staff is None or not staff.athletes:
            return cls(sim.athletes, sim.position, sim.velocity, sim.facing, sim.phase)
        return cls(
            sim.athletes + staff.athletes, np.concatenate([sim.position, staff.position]),
            np.concatenate([sim.velocity, staff.velocity]), np.concatenate([sim.facing, staff.facing]),
            np.concatenate([sim.phase, staff.phase]),
        )

    def poses(self) -> list[AthletePose]:
        return [
            AthletePose(float(x), float(y), float(f), float(np.hypot(*v)), float(p))
            for (x, y), f, v, p in zip(self.position, self.facing, self.velocity, self.phase)
        ]


@dataclass(frozen=True)
class RenderResult:
    """What ``render_clip`` wrote and how long it took."""

    output: Path
    frames: int
    seconds_elapsed: float
    files: dict[str, Path]

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds_elapsed if self.seconds_elapsed > 0 else float("inf")


class _VideoWriterThread:
    """Encodes frames on a second thread: encoding and rendering then use both cores."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self._writer = None
        for codec in VIDEO_CODECS:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size)
            if writer.isOpened():
                self._writer = writer
                self.codec = codec
                break
            writer.release()
        if self._writer is None:
            raise RuntimeError(f"OpenCV cannot write video to {path} with any of the codecs {VIDEO_CODECS}")
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="synth-video-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while (frame := self._queue.get()) is not None:
                self._writer.write(frame)
        except BaseException as error:  # surfaced by close()
            self._error = error

    def write(self, frame: np.ndarray) -> None:
        if self._error is not None:
            raise RuntimeError("video encoding failed") from self._error
        self._queue.put(frame.copy())

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._writer.release()
        if self._error is not None:
            raise RuntimeError("video encoding failed") from self._error


def _camera_angles(camera: Camera) -> tuple[float, float, float]:
    forward = camera.R[2]
    pan = float(np.degrees(np.arctan2(forward[0], -forward[1])))
    tilt = float(np.degrees(np.arcsin(np.clip(forward[2], -1, 1))))  # positive = looking down
    hfov = float(np.degrees(2 * np.arctan(camera.width / (2 * camera.K[0, 0]))))
    return pan, tilt, hfov


def _visible_part(labels: np.ndarray, roi: tuple[int, int, int, int], label: int):
    """The pixels ``label`` owns inside ``roi`` (bool, ROI-sized) and their xyxy box, or None."""
    x0, y0, x1, y1 = roi
    mask = labels[y0:y1, x0:x1] == label
    cols = np.flatnonzero(mask.any(axis=0))
    if len(cols) == 0:
        return mask, None
    rows = np.flatnonzero(mask.any(axis=1))
    return mask, (float(x0 + cols[0]), float(y0 + rows[0]), float(x0 + cols[-1] + 1), float(y0 + rows[-1] + 1))


class _GroundTruth:
    """Column buffers of every ground-truth table, filled frame by frame."""

    def __init__(self, match_id: str, clip_id: str, pitch: PitchModel, width: int, height: int) -> None:
        self.match_id, self.clip_id = match_id, clip_id
        self.pitch = pitch
        self.width, self.height = width, height
        self.tables: dict[str, dict[str, list]] = {name: {} for name in ("athletes", "ball", "cameras", "keypoints", "lines", "events")}
        self._line_samples = pitch.sample_lines(LINE_SAMPLE_SPACING_M)

    def _add(self, table: str, frame_index: int, timestamp: float, **values) -> None:
        columns = self.tables[table]
        row = {"match_id": self.match_id, "clip_id": self.clip_id, "frame_index": frame_index, "timestamp_s": timestamp, **values}
        for key, value in row.items():
            columns.setdefault(key, []).append(value)

    def _inside(self, pixels: np.ndarray, depth: np.ndarray) -> np.ndarray:
        return (depth > 0) & (pixels[:, 0] >= 0) & (pixels[:, 0] < self.width) & (pixels[:, 1] >= 0) & (pixels[:, 1] < self.height)

    def add_frame(
        self, frame_index: int, timestamp: float, camera: Camera, angles: tuple[float, float, float], painted: PaintedFrame,
        sim: MatchSimulation, people: _People, view: str, game: GameStateBuilder, smear_px: int,
    ) -> None:
        labels = painted.labels
        image_id = game.add_image(frame_index, view)
        # Athletes (and off-pitch people): masks and visible boxes come from the final label image.
        for index, athlete in enumerate(people.athletes):
            roi = painted.rois[index]
            if roi is None:
                continue
            mask, box = _visible_part(labels, roi, index + 1)
            if box is None:
                continue
            area = int(np.count_nonzero(mask))
            rle = rle_encode_roi(mask, roi[0], roi[1], self.height, self.width)
            team = None if athlete.team < 0 else ("left" if athlete.team == 0 else "right")
            number_height = painted.number_height_px[index]
            # A number smeared by the pan blur over more than half its height is no longer read.
            legible = bool(number_height >= 8.0 and smear_px <= 0.5 * number_height)
            if legible:
                # The number is legible only if the athlete's own pixels are where it is drawn.
                cx = int(np.clip((box[0] + box[2]) / 2, 0, self.width - 1))
                cy = int(np.clip(box[1] + 0.35 * (box[3] - box[1]), 0, self.height - 1))
                legible = bool(labels[cy, cx] == index + 1)
            pitch_xy = people.position[index]
            speed = float(np.linalg.norm(people.velocity[index]))
            amodal_box = painted.amodal_boxes[index]
            self._add(
                "athletes", frame_index, timestamp,
                x1=box[0], y1=box[1], x2=box[2], y2=box[3],
                track_id=athlete.track_id, **{"class": athlete.role}, team=team, role=athlete.role,
                jersey=athlete.jersey if athlete.jersey >= 0 else None, jersey_legible=legible,
                pitch_x=float(pitch_xy[0]), pitch_y=float(pitch_xy[1]), visible_area_px=area,
                amodal_x1=amodal_box[0], amodal_y1=amodal_box[1], amodal_x2=amodal_box[2], amodal_y2=amodal_box[3],
                facing_rad=float(people.facing[index]), speed_mps=speed, mask_rle=json.dumps(rle["counts"], separators=(",", ":")),
            )
            game.add_athlete(image_id, athlete, box, rle, legible, pitch_xy, camera)
        # Ball.
        ball = sim.ball
        roi = painted.rois[-1]
        box = _visible_part(labels, roi, painted.ball_label)[1] if roi is not None else None
        visible = box is not None
        box = box or (None, None, None, None)
        self._add(
            "ball", frame_index, timestamp, x1=box[0], y1=box[1], x2=box[2], y2=box[3], visible=visible,
            in_play=bool(ball.in_play), pitch_x=float(ball.position[0]), pitch_y=float(ball.position[1]),
            pitch_z=float(ball.position[2]), interpolated=False,
        )
        if visible:
            game.add_ball(image_id, box, ball.position)
        # Camera.
        pan, tilt, hfov = angles
        self._add(
            "cameras", frame_index, timestamp, valid_camera=True, homography=camera.homography.reshape(-1).tolist(),
            reprojection_error_px=0.0, fx=float(camera.K[0, 0]), fy=float(camera.K[1, 1]), cx=float(camera.K[0, 2]),
            cy=float(camera.K[1, 2]), rotation=camera.R.reshape(-1).tolist(), position_x=float(camera.position[0]),
            position_y=float(camera.position[1]), position_z=float(camera.position[2]), distortion=camera.dist.tolist(),
            pan_deg=pan, tilt_deg=tilt, hfov_deg=hfov, view=view,
        )
        # Keypoints: all of them, flagged by whether they fall in the image and are hidden.
        keypoints = self.pitch.keypoints
        pixels = camera.project(keypoints)
        inside = self._inside(pixels, camera.depth(keypoints))
        columns = self.tables["keypoints"]
        count = len(keypoints)
        occluded = np.zeros(count, bool)
        ix = np.clip(np.nan_to_num(pixels[:, 0]), 0, self.width - 1).astype(int)
        iy = np.clip(np.nan_to_num(pixels[:, 1]), 0, self.height - 1).astype(int)
        occluded[inside] = labels[iy[inside], ix[inside]] != 0
        for key, values in (
            ("match_id", [self.match_id] * count), ("clip_id", [self.clip_id] * count),
            ("frame_index", [frame_index] * count), ("timestamp_s", [timestamp] * count),
            ("keypoint_id", list(range(count))), ("name", list(KEYPOINT_NAMES)),
            ("x", pixels[:, 0].tolist()), ("y", pixels[:, 1].tolist()), ("in_image", inside.tolist()),
            ("occluded", occluded.tolist()), ("pitch_x", keypoints[:, 0].tolist()),
            ("pitch_y", keypoints[:, 1].tolist()), ("pitch_z", keypoints[:, 2].tolist()),
        ):
            columns.setdefault(key, []).extend(values)
        # Lines: points every metre that fall inside the image.
        line_points = {}
        columns = self.tables["lines"]
        for name in LINE_NAMES:
            world = self._line_samples[name]
            pixels = camera.project(world)
            keep = np.flatnonzero(self._inside(pixels, camera.depth(world)))
            if len(keep) == 0:
                continue
            line_points[name] = pixels[keep]
            n = len(keep)
            for key, values in (
                ("match_id", [self.match_id] * n), ("clip_id", [self.clip_id] * n),
                ("frame_index", [frame_index] * n), ("timestamp_s", [timestamp] * n), ("line", [name] * n),
                ("point_index", keep.tolist()), ("x", pixels[keep, 0].tolist()), ("y", pixels[keep, 1].tolist()),
                ("pitch_x", world[keep, 0].tolist()), ("pitch_y", world[keep, 1].tolist()), ("pitch_z", world[keep, 2].tolist()),
            ):
                columns.setdefault(key, []).extend(values)
        game.add_pitch_and_camera(image_id, line_points, camera, pan, tilt, hfov)

    def add_events(self, sim: MatchSimulation, fps: float) -> None:
        for event in sim.events:
            team = None if event.team < 0 else ("left" if event.team == 0 else "right")
            self._add(
                "events", event.frame_index, event.frame_index / fps, event=event.kind, detail=event.detail or None,
                team=team, track_id=event.track_id if event.track_id >= 0 else None, pitch_x=event.x, pitch_y=event.y,
            )

    def finish(self) -> dict[str, dict[str, list]]:
        for name, columns in self.tables.items():
            if not columns:  # a table with no rows still gets every column
                self.tables[name] = {field.name: [] for field in GROUND_TRUTH_SCHEMAS[name]}
        return self.tables


def render_clip(
    config: SynthConfig,
    output: str | os.PathLike,
    images: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RenderResult:
    """Render one clip and its ground truth into ``output``.

    Args:
        config: what to render (validated on construction).
        output: a local folder; created if missing. Existing files of a previous render there
            are replaced only once the new clip is complete.
        images: also write the frames as ``img1/000001.jpg`` ... (the SoccerNet layout).
        progress: called as ``progress(frames_done, frames_total)`` after each frame.

    Returns:
        The written files and the rendering speed.

    Raises:
        PermissionError / OSError: when ``output`` cannot be created or written.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    if not os.access(output, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to output folder {output}")
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    pitch = PitchModel(config.pitch_length, config.pitch_width)
    sim = MatchSimulation(pitch, rng, config.fps, config.referees)
    operator = BroadcastCameraOperator(pitch, config.width, config.height, config.fps, rng, config.lens_distortion)
    staff = None
    if config.staff:
        first_id = max(a.track_id for a in sim.athletes) + 1
        staff = StaffCrowd(
            pitch, config.staff, np.random.default_rng([config.seed, _STAFF_STREAM]), config.fps, sim.kit_colours, first_id, config.staff_in_kit
        )
    director = None
    if config.shots == "broadcast":
        shots_rng = np.random.default_rng([config.seed, _SHOTS_STREAM])
        director = ShotDirector(plan_shots(config.frame_count, config.fps, shots_rng), pitch, config.width, config.height, config.fps, shots_rng)
    painter = BroadcastPainter(pitch, config.width, config.height, rng, _People.of(sim, staff).athletes)
    match_id = f"synth-{config.seed}"
    clip_id = f"{match_id}-clip0"
    truth = _GroundTruth(match_id, clip_id, pitch, config.width, config.height)
    game = GameStateBuilder(config, match_id, clip_id, pitch)

    staging = Path(tempfile.mkdtemp(prefix=".synth-", dir=output))
    try:
        video_path = staging / "video.mp4"
        writer = _VideoWriterThread(video_path, config.fps, (config.width, config.height))
        image_dir = staging / "img1"
        if images:
            image_dir.mkdir()
        previous_pan = None
        total = config.frame_count
        for frame_index in range(total):
            timestamp = frame_index / config.fps
            camera = operator.update(sim.ball.position[:2], sim.ball.velocity[:2])
            view = VIEW_MAIN
            people = _People.of(sim, staff)
            if director is not None:
                camera, view, cut = director.camera(frame_index, camera, operator, sim, people.position)
                if cut:
                    previous_pan = None  # a cut is not a pan: no smear across it
            painted = painter.paint(camera, people.poses(), sim.ball.position.copy())
            image = painted.image
            angles = _camera_angles(camera)
            pan = angles[0]
            # Close-up operators track their athlete, who stays sharp: no pan blur there.
            smear = 0
            if config.motion_blur and previous_pan is not None and view != VIEW_CLOSE_UP:
                smear = _smear_px((pan - previous_pan) * camera.K[0, 0] * np.pi / 180)
                image = _pan_blur(image, smear)
            previous_pan = pan
            writer.write(image)
            if images:
                cv2.imwrite(str(image_dir / f"{frame_index + 1:06d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality])
            truth.add_frame(frame_index, timestamp, camera, angles, painted, sim, people, view, game, smear)
            sim.step()
            if staff is not None:
                staff.step()
            if progress is not None:
                progress(frame_index + 1, total)
        writer.close()
        truth.add_events(sim, config.fps)
        tables = truth.finish()
        write_ground_truth(staging / "gt", tables)
        game.add_events(sim.events)
        with open(staging / "Labels-GameState.json", "w") as handle:
            json.dump(game.to_dict(), handle, separators=(",", ":"))
        files = {"video": video_path, "labels": staging / "Labels-GameState.json"}
        files.update({f"gt/{name}": staging / "gt" / f"{name}.parquet" for name in tables})
        manifest = {
            "software": SOFTWARE,
            "match_id": match_id,
            "clip_id": clip_id,
            "config": config.to_dict(),
            "frames": total,
            "codec": writer.codec,
            "kits": {name: list(colour) for name, colour in sim.kit_colours.items()},
            "camera_position": operator.position.tolist(),
            **({"shots": [{"start": s.start, "stop": s.stop, "view": s.view} for s in director.shots]} if director else {}),
            "coordinate_frame": "origin centre mark; x to the right goal; y to the near touchline; z down (metres)",
            "files": {key: {"path": str(path.relative_to(staging)), "sha256": sha256_file(path)} for key, path in sorted(files.items())},
            "image_sequence": "img1" if images else None,
        }
        (staging / "clip.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        final = _publish(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RenderResult(output=output, frames=total, seconds_elapsed=time.perf_counter() - started, files=final)


def _smear_px(pixels_per_frame: float) -> int:
    """Length of the pan smear: a 1/50 s shutter at 25 fps smears over half the frame-to-frame motion."""
    return int(round(abs(pixels_per_frame) * 0.5))


def _pan_blur(image: np.ndarray, length: int) -> np.ndarray:
    """``image`` smeared horizontally over ``length`` pixels (unchanged under 2)."""
    if length < 2:
        return image
    kernel = np.full((1, length), 1.0 / length, np.float32)
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REPLICATE)


def _publish(staging: Path, output: Path) -> dict[str, Path]:
    """Move the finished clip into place; the manifest goes last so its presence means complete."""
    final = {}
    stale_manifest = output / "clip.json"
    if stale_manifest.exists():
        stale_manifest.unlink()
    for entry in sorted(staging.iterdir(), key=lambda p: p.name == "clip.json"):
        target = output / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(entry, target)
        final[entry.name] = target
    return final
