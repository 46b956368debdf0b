"""Checks that turn inputs the decoder would mangle or silently drop into one-line reasons.

OpenCV's FFmpeg backend probes a file's content, not its extension, so a PNG renamed ``.mp4``
"decodes" as a one-frame video and a text file as nothing at all; tiny frames pass decoding and
then fail deep inside a model with an assertion that names no file. Each check here runs before
that happens and raises :class:`~soccerfactory.curation.video.BadInputError` naming the source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # video.py imports this module; the error class is passed in at call time
    from soccerfactory.curation.video import VideoScan

__all__ = ["MIN_WIDTH", "MIN_HEIGHT", "sniff_not_a_video", "min_size_reason", "no_clip_reason"]

#: Smallest frame curated by default: 256x144 (144p, the smallest broadcast rendition). Below it
#: a player is a few pixels tall, so detection, jersey OCR and calibration have nothing to work on,
#: and frames of a few pixels crash OpenCV's resize inside the models.
MIN_WIDTH = 256
MIN_HEIGHT = 144

# Signatures of files people mistake for, or rename to, videos.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
)
_SNIFF_BYTES = 512
_TEXT_WHITESPACE = frozenset("\t\n\r\f")


def _looks_like_text(head: bytes) -> bool:
    # Every video container has NULs or control bytes within its first 512 bytes (box sizes,
    # EBML ids, sync bytes); text has none.
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # only a multi-byte character cut at the end is allowed
            return False
        text = head[: error.start].decode("utf-8")
    return bool(text) and all(c.isprintable() or c in _TEXT_WHITESPACE for c in text)


def sniff_not_a_video(path: str) -> str | None:
    """What a file really is when its first bytes show it is no video; ``None`` otherwise.

    Args:
        path: Local file.

    Returns:
        A reason such as ``"not a video: it is a PNG image (renamed?)"``, or ``None`` when the
        file may be a video (the decoder decides).
    """
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            return f"not a video: it is {what} with a video extension (renamed?); pass a real video file"
    if _looks_like_text(head):
        return "not a video: it is a text file with a video extension (renamed?); pass a real video file"
    return None


def min_size_reason(width: int, height: int, min_width: int, min_height: int) -> str | None:
    """Why frames of ``width`` x ``height`` are refused, or ``None`` when they are large enough."""
    if width >= min_width and height >= min_height:
        return None
    return (
        f"frames are {width}x{height}, below the minimum {min_width}x{min_height} "
        f"(clips.min_width / clips.min_height; lower them with --set clips.min_width=... if this footage is wanted)"
    )


def no_clip_reason(scan: VideoScan, min_clip_frames: int) -> str:
    """Why a scanned source gave no clip: every shot is shorter than ``min_clip_frames``."""
    edges = (0, *scan.cuts, scan.frame_count)
    longest = max(b - a for a, b in zip(edges, edges[1:]))
    shots = "its only shot has" if not scan.cuts else f"the longest of its {len(scan.cuts) + 1} shots has"
    return (
        f"no clip: {scan.frame_count} frames decode and {shots} {longest} frames, fewer than clips.min_clip_frames "
        f"({min_clip_frames}); shorter shots are dropped as transitions (--set clips.min_clip_frames={longest} keeps it)"
    )
