"""Scanning: decode a source once to validate it, measure it and find its camera cuts.

:func:`scan_video` turns a :class:`~soccerfactory.curation.video.clips.SourceItem` into a
:class:`~soccerfactory.curation.video.clips.VideoScan`: it refuses a file that is empty, not a
video, truncated, of changing resolution, too small or without a frame rate (one-line
:class:`~soccerfactory.curation.video.checks.BadInputError` s), hashes its content and feeds every
frame to the :class:`~soccerfactory.curation.video.cuts.CutDetector`.
"""

from __future__ import annotations

import hashlib
import math
import posixpath
from collections.abc import Callable

import cv2
import numpy as np

from soccerfactory.curation.hashing import sha256_file
from soccerfactory.curation.video.checks import (
    MIN_HEIGHT,
    MIN_WIDTH,
    BadInputError,
    diagnose_iso_media,
    min_size_reason,
)
from soccerfactory.curation.video.clips import SourceItem, VideoScan, check_positive_int
from soccerfactory.curation.video.cuts import CutDetector
from soccerfactory.curation.video.decode import decode_image, open_capture
from soccerfactory.curation.video.sources import (
    DEFAULT_SEQUENCE_FPS,
    extension,
    image_sequence,
    local_copy,
    open_source_url,
)

__all__ = ["ProgressFn", "scan_video"]

ProgressFn = Callable[[int, int], None]

# MPEG program/transport streams have no frame index: OpenCV estimates their frame count from the
# bitrate, so a short count there means nothing and the truncation check is skipped.
_ESTIMATED_COUNT_EXTENSIONS = frozenset({".ts", ".mpg", ".mpeg"})
_PROGRESS_EVERY = 25
_MAX_FPS = 1000.0  # above this the container's time base leaked into the rate (e.g. 90000)


def _check_params(cut_threshold: float, min_shot_frames: int) -> None:
    if not (math.isfinite(cut_threshold) and cut_threshold > 0):
        raise ValueError(f"cut_threshold must be finite and > 0, got {cut_threshold!r}")
    check_positive_int("scan_video", "min_shot_frames", min_shot_frames)


def _check_frame(
    url: str, image: np.ndarray, index: int, size: tuple[int, int] | None, what: str, min_size: tuple[int, int]
) -> None:
    if size is None:  # the first frame: tiny frames are refused before any model sees them
        too_small = min_size_reason(image.shape[1], image.shape[0], *min_size)
        if too_small:
            raise BadInputError(url, too_small)
    if size is not None and image.shape[:2] != size:
        raise BadInputError(
            url,
            f"inconsistent frame size: {what} {index} is {image.shape[1]}x{image.shape[0]} but earlier frames are "
            f"{size[1]}x{size[0]} (re-encode it at one resolution)",
        )


def _is_truncated(header: int | None, decoded: int) -> bool:
    return bool(header) and decoded < 0.98 * header and header - decoded >= 2


def _scan_video_file(
    item: SourceItem, detector: CutDetector, storage_options: dict | None, progress: ProgressFn | None, min_size: tuple[int, int]
):
    url = item.url
    with local_copy(item, storage_options) as path:
        capture = open_capture(path, url)
        try:
            fps = capture.get(cv2.CAP_PROP_FPS)
            header = int(round(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
            if not (math.isfinite(fps) and 0 < fps <= _MAX_FPS):
                raise BadInputError(
                    url,
                    f"frame rate missing or invalid in the container ({fps:g} fps); remux it with one, e.g. ffmpeg -r 25",
                )
            decoded, size = 0, None
            while True:
                try:
                    ok, image = capture.read()
                except cv2.error as error:
                    detail = str(error).strip().splitlines()[-1]
                    raise BadInputError(url, f"decoder failed at frame {decoded}: {detail}") from error
                if not ok or image is None:
                    break
                _check_frame(url, image, decoded, size, "frame", min_size)
                size = image.shape[:2]
                detector.add(image)
                decoded += 1
                if progress is not None and decoded % _PROGRESS_EVERY == 0:
                    progress(decoded, max(header, decoded))
        finally:
            capture.release()
        if decoded == 0:
            # ffmpeg opens an MP4 whose index lost its last bytes, then decodes nothing.
            diagnosis = diagnose_iso_media(path) or ""
            if diagnosis.startswith("truncated"):
                raise BadInputError(url, diagnosis)
            if header >= 2:
                raise BadInputError(url, f"truncated: header says {header} frames, only 0 decode")
            raise BadInputError(url, "no frames: it opens as a video but holds no decodable frame")
        if extension(path) not in _ESTIMATED_COUNT_EXTENSIONS and _is_truncated(header, decoded):
            raise BadInputError(url, f"truncated: header says {header} frames, only {decoded} decode")
        content_hash = sha256_file(path)
    return float(fps), decoded, size, content_hash, (header if header > 0 else None)


def _scan_sequence(
    item: SourceItem, detector: CutDetector, storage_options: dict | None, progress: ProgressFn | None, min_size: tuple[int, int]
):
    url = item.url
    fs, root = open_source_url(url, storage_options)
    if not fs.exists(root):
        raise BadInputError(url, "does not exist (check the path, or storage_options for remote URLs)")
    sequence = image_sequence(fs, root, url)
    digest = hashlib.sha256()
    size = None
    total = len(sequence.frames)
    for index, frame in enumerate(sequence.frames):
        name = posixpath.basename(frame)
        data = fs.cat_file(frame)
        digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "big"))
        digest.update(data)
        image = decode_image(url, data, name)
        _check_frame(url, image, index, size, f"frame {name}, index", min_size)
        size = image.shape[:2]
        detector.add(image)
        if progress is not None and (index + 1) % _PROGRESS_EVERY == 0:
            progress(index + 1, total)
    if _is_truncated(sequence.length, total):
        raise BadInputError(url, f"truncated: seqinfo.ini says {sequence.length} frames, only {total} found")
    return sequence.fps or DEFAULT_SEQUENCE_FPS, total, size, digest.hexdigest(), sequence.length


def scan_video(
    item: SourceItem,
    *,
    cut_threshold: float = 0.25,
    min_shot_frames: int = 5,
    min_width: int = MIN_WIDTH,
    min_height: int = MIN_HEIGHT,
    storage_options: dict | None = None,
    progress: ProgressFn | None = None,
) -> VideoScan:
    """Decode a source once: validate it, measure it and find its camera cuts.

    Each frame is shrunk to 64x36; the change from one frame to the next is the Bhattacharyya
    distance of the thumbnails' HSV histograms (8x4x4 bins) plus twice their mean absolute grey
    difference (0..1). Frame ``t`` starts a new shot when that change is at least
    ``cut_threshold``, at least 3x the median change of the 8 frames either side (sustained
    motion such as a fast pan is not a cut), not undone by the next frame (a flash), and
    ``min_shot_frames`` after the previous cut. Within a shot of broadcast footage the change
    stays around 0.05-0.17 even in fast pans and zooms; a hard cut between two wide shots of
    one pitch scores about 0.7, from a wide shot to a 2x closer view of it about 0.33.
    Fades and dissolves are not detected.

    Args:
        item: The source, from :func:`~soccerfactory.curation.video.discover.discover_sources`.
        cut_threshold: Minimum change score of a cut (see above), > 0.
        min_shot_frames: Minimum frames between two cuts, >= 1; closer ones are dropped.
        min_width: Narrowest frame accepted, pixels (default 256, see
            :data:`~soccerfactory.curation.video.checks.MIN_WIDTH`).
        min_height: Lowest frame accepted, pixels (default 144).
        storage_options: Passed to fsspec.
        progress: Called as ``progress(frames_done, frames_expected)`` every 25 frames and once
            at the end with both equal to the decoded count.

    Returns:
        The scan, with ``frame_count`` the frames that actually decode.

    Raises:
        BadInputError: One line naming the source: empty file, not a video (an image, a text
            file ... renamed), not decodable, truncated (header frame count clearly above what
            decodes, or an MP4 that stops early), no frames, frames smaller than
            ``min_width`` x ``min_height``, frames of different sizes, missing frame rate, or an
            unreadable image.
        ValueError: Invalid ``cut_threshold``, ``min_shot_frames``, ``min_width`` or ``min_height``.
    """
    _check_params(cut_threshold, min_shot_frames)
    detector = CutDetector()
    scan = _scan_video_file if item.kind == "video" else _scan_sequence
    min_size = (check_positive_int("scan_video", "min_width", min_width), check_positive_int("scan_video", "min_height", min_height))
    fps, frame_count, size, content_hash, header = scan(item, detector, storage_options, progress, min_size)
    if progress is not None:
        progress(frame_count, frame_count)
    return VideoScan(
        item=item,
        fps=fps,
        frame_count=frame_count,
        width=int(size[1]),
        height=int(size[0]),
        content_hash=content_hash,
        cuts=detector.cuts(cut_threshold, min_shot_frames),
        header_frame_count=header,
    )
