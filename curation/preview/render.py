"""Rendering a clip's QA preview: decode its footage and draw its shard rows on every frame.

Curation may annotate only every ``stride``-th frame; the frames in between show the labels of
the last annotated frame, and the header says so ("labels of frame N").

:func:`render_preview` takes the clip and its tables already in hand and writes the MP4; the
frames are drawn by :mod:`.draw`, cameras decoded by :mod:`soccerfactory.curation.layout`.
"""

from __future__ import annotations

import bisect
import os
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import cv2
import pyarrow as pa

from soccerfactory.curation.camera import Camera
from soccerfactory.curation.layout import camera_from_row, finite_or_none, row_homography
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.preview.compose import annotate_frame
from soccerfactory.curation.preview.draw import ball_centre
from soccerfactory.curation.preview.style import PreviewOptions, kits_from_clips
from soccerfactory.curation.preview.trail import ball_trail
from soccerfactory.curation.video.clips import ClipSpec
from soccerfactory.curation.video.decode import read_frames

__all__ = ["ProgressFn", "render_preview"]

ProgressFn = Callable[[int, int], None]
_ATHLETE_COLUMNS = (
    "frame_index", "x1", "y1", "x2", "y2", "track_id", "class", "team", "role", "jersey", "pitch_x", "pitch_y", "mask_rle",
)
_BALL_COLUMNS = ("frame_index", "x1", "y1", "x2", "y2", "detected", "pitch_x", "pitch_y")
_CAMERA_COLUMNS = (
    "frame_index", "valid_camera", "homography", "fx", "fy", "cx", "cy", "rotation", "position", "dist",
    "reprojection_error_px", "invalid_reason",
)


def _by_frame(table: pa.Table | None, columns: Iterable[str]) -> dict[int, list[dict[str, Any]]]:
    if table is None or table.num_rows == 0:
        return {}
    names = [name for name in columns if name in table.column_names]
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in table.select(names).to_pylist():
        grouped[int(row["frame_index"])].append(row)
    return dict(grouped)


def _header(clip: ClipSpec, frame: int, source_frame: int | None, camera_row: Mapping[str, Any] | None) -> str:
    text = f"{clip.match_id}/{clip.clip_id}  frame {frame}  t={frame / clip.fps:.2f}s"
    if source_frame is None:
        return text + "  (no labels)"
    if source_frame != frame:
        text += f"  labels of frame {source_frame}"
    if camera_row is None:
        return text + "  camera: none"
    if camera_row.get("valid_camera"):
        error = finite_or_none(camera_row.get("reprojection_error_px"))
        return text + ("  camera: ok" if error is None else f"  camera: ok ({error:.1f} px)")
    reason = camera_row.get("invalid_reason")
    return text + (f"  camera: invalid ({reason})" if reason else "  camera: invalid")


def _check_tables_match(clip: ClipSpec, tables: Mapping[str, pa.Table]) -> None:
    clips = tables.get("clips")
    if clips is None or clips.num_rows == 0:
        return
    row = clips.slice(0, 1).to_pylist()[0]
    if (row.get("match_id"), row.get("clip_id")) != (clip.match_id, clip.clip_id):
        raise ValueError(
            f"tables are of clip {row.get('match_id')}/{row.get('clip_id')}, not {clip.match_id}/{clip.clip_id}"
        )


def _temporary_path(output: Path) -> Path:
    # OpenCV picks the container from the extension, so the temporary name keeps ".mp4".
    return output.with_name(f".{output.stem}.tmp-{uuid.uuid4().hex[:12]}{output.suffix}")


def render_preview(
    clip: ClipSpec,
    tables: Mapping[str, pa.Table],
    output_path: str | os.PathLike,
    *,
    max_frames: int | None = None,
    options: PreviewOptions | None = None,
    pitch: PitchModel | None = None,
    progress: ProgressFn | None = None,
    storage_options: dict | None = None,
) -> Path:
    """Decode ``clip`` and write every frame with its annotations drawn as an MP4.

    The file is written under a temporary name beside ``output_path`` and moved into place when
    complete, so a reader never sees half a video.

    Args:
        clip: The clip whose footage to decode (its ``url`` must still be readable).
        tables: Shard tables of the clip by name; ``athletes``, ``ball``, ``cameras`` and
            ``frames`` are used when present (``frames`` lists the annotated frames; without it
            the frames of the other tables are), ``clips`` is checked to name the same clip.
        output_path: The ``.mp4`` file to write (parent folders are created).
        max_frames: Stop after this many frames (>= 1); None renders the whole clip.
        options: Athlete style, radar corner, ball trail, masks and legend (default
            :class:`~.style.PreviewOptions`); team colours come from the ``clips`` table.
        pitch: Pitch model for the overlay and the minimap (default 105 x 68 m).
        progress: Called as ``progress(frames_done, frames_total)`` after each batch.
        storage_options: fsspec options for reading the footage.

    Returns:
        The path written: ``clip.width`` x ``clip.height`` at ``clip.fps``, MPEG-4 part 2
        (``mp4v``), ``min(clip.num_frames, max_frames)`` frames.

    Raises:
        ValueError: ``output_path`` does not end in ``.mp4``, a bad ``max_frames``, or tables of
            another clip.
        BadInputError: the footage cannot be decoded (from :func:`read_frames`).
        OSError: the video file cannot be written.
    """
    output = Path(output_path)
    if output.suffix.lower() != ".mp4":
        raise ValueError(f"preview output {output} must be an .mp4 file")
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1):
        raise ValueError(f"max_frames must be an int >= 1 or None, got {max_frames!r}")
    _check_tables_match(clip, tables)
    pitch = pitch or PitchModel()
    athletes = _by_frame(tables.get("athletes"), _ATHLETE_COLUMNS)
    balls = {f: rows[0] for f, rows in _by_frame(tables.get("ball"), _BALL_COLUMNS).items()}
    cameras = {f: rows[0] for f, rows in _by_frame(tables.get("cameras"), _CAMERA_COLUMNS).items()}
    frames_table = tables.get("frames")
    if frames_table is not None and frames_table.num_rows:
        annotated = sorted(set(frames_table.column("frame_index").to_pylist()))
    else:
        annotated = sorted(set(athletes) | set(balls) | set(cameras))

    total = clip.num_frames if max_frames is None else min(clip.num_frames, max_frames)
    size = (clip.width, clip.height)
    options = options or PreviewOptions()
    kits = kits_from_clips(tables.get("clips"))
    centres = {f: c[:2] for f, row in balls.items() if (c := ball_centre(row)) is not None}
    trail_frames = int(round(options.trail_s * clip.fps))
    homographies: dict[int, Any] = {}

    def homography_of(frame: int) -> Any:
        if frame not in homographies:
            homographies[frame] = row_homography(cameras.get(frame))
        return homographies[frame]

    camera_cache: dict[int, Camera | None] = {}
    corner: str | None = None
    free_run = 0  # consecutive frames in which the requested radar corner was free

    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_path(output)
    writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), float(clip.fps), size)
    try:
        if not writer.isOpened():
            raise OSError(f"cannot open {output} for writing as an mp4v video (is the folder writable?)")
        done = 0
        for batch in read_frames(clip, batch_size=8, storage_options=storage_options):
            for image, frame in zip(batch.images, batch.frame_index.tolist()):
                if done >= total:
                    break
                position = bisect.bisect_right(annotated, frame) - 1
                source = annotated[position] if position >= 0 else None
                rows = athletes.get(source, []) if source is not None else []
                ball = balls.get(source) if source is not None else None
                camera_row = cameras.get(source) if source is not None else None
                homography = row_homography(camera_row)
                if source is not None and source not in camera_cache:
                    camera_cache[source] = camera_from_row(camera_row, clip.width, clip.height)
                camera = camera_cache.get(source)
                trail = ball_trail(centres, source, trail_frames, homography_of) if source is not None and trail_frames else []
                composed = annotate_frame(
                    image, rows, ball, homography=homography, pitch=pitch, camera=camera, kits=kits, options=options,
                    header=_header(clip, frame, source, camera_row), trail=trail, frame=source or 0,
                    trail_frames=trail_frames, previous_corner=corner,
                )
                corner, drawn = composed.radar_corner or corner, composed.image
                # Back to the corner asked for once it has been free for a second: soon enough to
                # honour --radar, late enough not to hop each time a player passes.
                free_run = free_run + 1 if composed.requested_free else 0
                if free_run >= max(int(round(clip.fps)), 1):
                    corner = None
                writer.write(drawn)
                done += 1
            if progress is not None:
                progress(done, total)
            if done >= total:
                break
        writer.release()
        os.replace(temporary, output)
    except BaseException:
        writer.release()
        temporary.unlink(missing_ok=True)
        raise
    return output
