"""Decoding: open a source with OpenCV and stream a clip as batches of frames.

:func:`read_frames` streams one clip as :class:`~soccerfactory.curation.types.Frames` batches;
:func:`open_capture` and :func:`decode_image` are the two ways a frame is decoded (a video through
FFmpeg, an image-sequence frame from its bytes), shared with the scan.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from soccerfactory.curation.types import Frames
from soccerfactory.curation.video.checks import BadInputError, diagnose_iso_media, sniff_not_a_video
from soccerfactory.curation.video.clips import ClipSpec, check_positive_int
from soccerfactory.curation.video.sources import extension, image_sequence, local_copy, open_source_url

__all__ = ["decode_image", "frames_at", "open_capture", "read_frames"]


# --------------------------------------------------------------------------- opening


def _container_name(url: str) -> str:
    ext = extension(url.split("::")[-1])
    return ext[1:].upper() if ext else "video file"


def open_capture(path: str, url: str) -> cv2.VideoCapture:
    """Open a local video file with OpenCV's FFmpeg backend, or raise :class:`BadInputError` saying why not."""
    if os.path.getsize(path) == 0:
        raise BadInputError(url, "empty file (0 bytes)")
    # FFmpeg probes content, not the extension: a renamed PNG would "decode" as one frame.
    not_video = sniff_not_a_video(path)
    if not_video:
        raise BadInputError(url, not_video)
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        reason = diagnose_iso_media(path)
        raise BadInputError(url, reason or f"not a video OpenCV can decode (is it really an {_container_name(url)}?)")
    return capture


def decode_image(url: str, data: bytes, name: str) -> np.ndarray:
    """Decode one image-sequence frame (file ``name`` of source ``url``) to ``uint8`` BGR ``(H, W, 3)``."""
    if not data:
        raise BadInputError(url, f"frame {name} is an empty file (0 bytes)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise BadInputError(url, f"frame {name} is not an image OpenCV can decode")
    return image


# --------------------------------------------------------------------------- reading


def _batch(images: list[np.ndarray], indices: list[int], clip: ClipSpec) -> Frames:
    index = np.asarray(indices, dtype=np.int64)
    return Frames(images=np.stack(images), frame_index=index, timestamp_s=index / clip.fps, fps=clip.fps, source=clip.url)


def _check_clip_frame(clip: ClipSpec, image: np.ndarray, index: int) -> None:
    if image.shape[:2] != (clip.height, clip.width):
        raise BadInputError(
            clip.url,
            f"frame {index} is {image.shape[1]}x{image.shape[0]} but the scan found {clip.width}x{clip.height} "
            "(did the file change after it was scanned?)",
        )


def _read_video(clip: ClipSpec, batch_size: int, stride: int, storage_options: dict | None) -> Iterator[Frames]:
    last = clip.start_frame + (clip.num_frames - 1) // stride * stride
    with local_copy(clip, storage_options) as path:
        capture = open_capture(path, clip.url)
        try:
            position = 0
            if clip.start_frame > 0:
                capture.set(cv2.CAP_PROP_POS_FRAMES, clip.start_frame)
                if int(round(capture.get(cv2.CAP_PROP_POS_FRAMES))) == clip.start_frame:
                    position = clip.start_frame
                else:
                    # Seeking is not frame-exact for this file: decode from the start instead.
                    capture.release()
                    capture = open_capture(path, clip.url)
            images: list[np.ndarray] = []
            indices: list[int] = []
            while position <= last:
                keep = position >= clip.start_frame and (position - clip.start_frame) % stride == 0
                try:
                    ok, image = capture.read() if keep else (capture.grab(), None)
                except cv2.error:
                    ok = False
                if not ok:
                    raise BadInputError(
                        clip.url,
                        f"decoding failed at frame {position} (clip {clip.clip_id} needs frames "
                        f"{clip.start_frame}..{clip.stop_frame - 1}); the file is truncated or corrupt",
                    )
                if keep:
                    _check_clip_frame(clip, image, position)
                    images.append(image)
                    indices.append(position)
                    if len(images) == batch_size:
                        yield _batch(images, indices, clip)
                        images, indices = [], []
                position += 1
            if images:
                yield _batch(images, indices, clip)
        finally:
            capture.release()


def _read_sequence(clip: ClipSpec, batch_size: int, stride: int, storage_options: dict | None) -> Iterator[Frames]:
    fs, root = open_source_url(clip.url, storage_options)
    sequence = image_sequence(fs, root, clip.url)
    if len(sequence.frames) < clip.stop_frame:
        raise BadInputError(
            clip.url,
            f"only {len(sequence.frames)} frames found, but clip {clip.clip_id} needs frames up to {clip.stop_frame - 1}",
        )
    positions = range(clip.start_frame, clip.stop_frame, stride)
    for first in range(0, len(positions), batch_size):
        chosen = positions[first : first + batch_size]
        images = []
        for index in chosen:
            path = sequence.frames[index]
            image = decode_image(clip.url, fs.cat_file(path), posixpath.basename(path))
            _check_clip_frame(clip, image, index)
            images.append(image)
        yield _batch(images, list(chosen), clip)


def read_frames(
    clip: ClipSpec, *, batch_size: int = 16, stride: int = 1, storage_options: dict | None = None
) -> Iterator[Frames]:
    """Decode a clip once, in order, as batches of frames.

    Videos seek to ``start_frame`` (checking that the decoder landed there, else decoding from
    the first frame) and then read sequentially; skipped frames under ``stride`` are grabbed,
    not converted. Image sequences read only the files they need.

    Args:
        clip: The clip, from :func:`~soccerfactory.curation.video.clips.split_clips`.
        batch_size: Most frames per batch, >= 1; only the last batch is smaller.
        stride: Keep every ``stride``-th frame from ``start_frame``, >= 1.
        storage_options: Passed to fsspec.

    Yields:
        :class:`~soccerfactory.curation.types.Frames` with ``images`` ``uint8`` ``(N, height, width, 3)`` BGR,
        ``frame_index`` the source indices ``start_frame, start_frame + stride, ...`` (< ``stop_frame``),
        ``timestamp_s = frame_index / fps`` and ``source = clip.url``.

    Raises:
        BadInputError: The source cannot be opened, stops decoding inside the clip (naming
            the frame), or its frames no longer have the scanned size.
        ValueError: Invalid ``batch_size`` or ``stride``.
    """
    # Checked here, not in the generator, so that a bad argument fails at the call.
    check_positive_int("read_frames", "batch_size", batch_size)
    check_positive_int("read_frames", "stride", stride)
    reader = _read_video if clip.kind == "video" else _read_sequence
    return reader(clip, int(batch_size), int(stride), storage_options)


def frames_at(path: str | os.PathLike, wanted: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
    """``(frame index, BGR uint8 (H, W, 3) image)`` of each ``wanted`` frame of a local video
    file, in frame order, decoded sequentially (seeking is not frame-exact in every codec) and
    stopping after the last wanted one. For the trainers that cut crops from rendered clips; the
    pipeline reads clips with :func:`read_frames`."""
    todo = sorted({int(f) for f in wanted})
    if not todo:
        return
    capture = cv2.VideoCapture(str(path))
    try:
        index, k = 0, 0
        while k < len(todo):
            ok, frame = capture.read()
            if not ok:
                return
            if index == todo[k]:
                yield index, frame
                k += 1
            index += 1
    finally:
        capture.release()
