"""Checks that turn inputs the decoder would mangle or silently drop into one-line reasons.

OpenCV's FFmpeg backend probes a file's content, not its extension, so a PNG renamed ``.mp4``
"decodes" as a one-frame video and a text file as nothing at all; tiny frames pass decoding and
then fail deep inside a model with an assertion that names no file. Each check here runs before
that happens, and the callers raise :class:`BadInputError` naming the source. An MP4/MOV that
OpenCV cannot open is diagnosed from its top-level boxes (:func:`diagnose_iso_media`).

Only the standard library is imported here, so the curation config can read
:data:`MIN_WIDTH` / :data:`MIN_HEIGHT` without loading OpenCV.
"""

from __future__ import annotations

import os
import re
import struct
from typing import Any

__all__ = ["MIN_WIDTH", "MIN_HEIGHT", "BadInputError", "diagnose_iso_media", "min_size_reason", "sniff_not_a_video"]

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
# Boxes an MP4/MOV/M4V file can start with; anything else is not ISO media at all.
_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"})


# --------------------------------------------------------------------------- errors


class BadInputError(ValueError):
    """A source that cannot be used, with the URL and what is wrong with it.

    ``str(error)`` is one line, ``"<url>: <reason>"``, fit for a log or a flow failure
    message without a traceback.

    Attributes:
        url: The source (file, folder or manifest) at fault, as given.
        reason: What is wrong and, where it is obvious, what to do about it.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = str(url)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.url}: {self.reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Flow runners pickle exceptions between processes; the default reduce would call
        # __init__ with the formatted message only.
        return (type(self), (self.url, self.reason))


# --------------------------------------------------------------------------- checks


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


def diagnose_iso_media(path: str) -> str | None:
    """Why OpenCV could not open an MP4/MOV, read from its top-level boxes; ``None`` if not one.

    OpenCV's MPEG-4 writer (like most recorders) puts the ``moov`` index after the frame data,
    so an interrupted copy loses the index and ffmpeg only says "moov atom not found".
    """
    size = os.path.getsize(path)
    seen: set[bytes] = set()
    position = 0
    with open(path, "rb") as handle:
        while position + 8 <= size:
            handle.seek(position)
            head = handle.read(16)
            box_size, kind = struct.unpack(">I4s", head[:8])
            if not re.fullmatch(rb"[a-z0-9A-Z \xa9]{4}", kind) or (not seen and kind not in _FIRST_BOXES):
                return None
            header = 8
            if box_size == 1:
                if len(head) < 16:
                    break
                box_size, header = struct.unpack(">Q", head[8:16])[0], 16
            elif box_size == 0:
                box_size = size - position
            if box_size < header:
                return None
            end = position + box_size
            name = kind.decode("latin-1")
            if end > size:
                if b"moov" in seen:
                    lost = ""
                elif kind == b"moov":
                    lost = "; the 'moov' index that lists the frames is cut short"
                else:
                    lost = "; the 'moov' index that lists the frames is missing"
                return (
                    f"truncated: the file ends at byte {size:,} inside its '{name}' box, which runs to byte "
                    f"{end:,}{lost} (copy or download it again)"
                )
            seen.add(kind)
            position = end
    if not seen:
        return None  # not one whole box: a few bytes of something else, not a cut-short MP4
    if b"moov" not in seen and b"moof" not in seen:
        return "truncated: it has no 'moov' index box, so the recording or copy stopped early (copy or download it again)"
    return (
        "not a video OpenCV can decode: the container is intact, so its codec is unsupported "
        "(re-encode it to H.264 or MPEG-4)"
    )
