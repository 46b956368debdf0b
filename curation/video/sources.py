"""Reaching a source's bytes: fsspec URLs, image-sequence folders and local copies for OpenCV.

Every URL goes through ``fsspec.core.url_to_fs`` (:func:`open_source_url`): local paths, ``file://``,
``memory://``, ``s3://`` ... (remote protocols need their fsspec package, e.g. ``s3fs``). OpenCV only
reads local files, so remote videos are copied to a temporary file for the duration of a scan or a
clip read (:func:`local_copy`); chain ``simplecache::`` in front of a remote URL to download it
once per machine instead of once per clip.

Image sequences use the SoccerNet / MOTChallenge layout: a folder holding ``img1/000001.jpg ...``
and optionally ``seqinfo.ini`` (``frameRate``, ``seqLength``, ``imDir``), or a folder that directly
holds numbered ``.jpg``/``.png`` frames. Frame ``i`` (0-based ``frame_index``) is the ``i``-th
file in numeric order, so ``000001.jpg`` is frame 0 (:func:`image_sequence`).
"""

from __future__ import annotations

import configparser
import math
import os
import posixpath
import re
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from soccerfactory.curation.video.checks import BadInputError
from soccerfactory.curation.video.clips import ClipSpec, SourceItem
from soccerfactory.storage.fs import filesystem_of

__all__ = [
    "DEFAULT_SEQUENCE_FPS",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "ImageSequence",
    "extension",
    "image_sequence",
    "is_local_fs",
    "local_copy",
    "numbered_frames",
    "read_seqinfo",
    "open_source_url",
]

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".ts"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})
#: Frame rate of an image sequence without ``seqinfo.ini`` (SoccerNet sequences are 25 fps).
DEFAULT_SEQUENCE_FPS = 25.0

_COPY_CHUNK = 8 << 20
_NUMBERED_RE = re.compile(r"^(.*?)(\d+)$")


# --------------------------------------------------------------------------- fsspec helpers


def open_source_url(url: str, storage_options: dict | None) -> tuple[Any, str]:
    """``(filesystem, path)`` of an fsspec URL; :class:`BadInputError` for a protocol that cannot be opened."""
    try:
        return filesystem_of(url, storage_options)  # with the run's secrets (storage/fs_secrets.py)
    except (ValueError, ImportError) as error:
        # Unknown protocol, or its package missing ("Install s3fs to access S3").
        raise BadInputError(url, f"cannot open this URL: {error}") from error


def is_local_fs(fs: Any) -> bool:
    """Whether ``fs`` is the local filesystem (its paths open directly with OpenCV)."""
    return isinstance(fs, LocalFileSystem)


def extension(path: str) -> str:
    """The file extension of ``path``, lower case with its dot (``".mp4"``); ``""`` when none."""
    return posixpath.splitext(path)[1].lower()


# --------------------------------------------------------------------------- image sequences


@dataclass(frozen=True)
class ImageSequence:
    """The frames of an image-sequence folder (see the module docstring).

    Attributes:
        frame_dir: fs path of the folder holding the frames (``img1``, ``imDir`` or the folder itself).
        frames: fs paths of the frames, in frame order.
        fps: ``frameRate`` of ``seqinfo.ini``, ``None`` without one.
        length: ``seqLength`` of ``seqinfo.ini``, ``None`` without one.
    """

    frame_dir: str
    frames: tuple[str, ...]  # fs paths in frame order
    fps: float | None
    length: int | None


def numbered_frames(paths: Sequence[str]) -> list[tuple[int, str]]:
    """``(number, path)`` of numbered image files in frame order.

    Only the largest group sharing a name prefix and extension counts, so that a stray
    ``cover1.jpg`` next to ``000001.jpg ...`` is not taken for a frame.
    """
    groups: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for path in paths:
        base = posixpath.basename(path)
        stem, ext = posixpath.splitext(base)
        if ext.lower() not in IMAGE_EXTENSIONS or base.startswith("."):
            continue
        match = _NUMBERED_RE.match(stem)
        if match:
            groups[(match.group(1), ext.lower())].append((int(match.group(2)), path))
    if not groups:
        return []
    best = max(sorted(groups), key=lambda key: len(groups[key]))
    return sorted(groups[best])


def read_seqinfo(fs: Any, root: str, url: str) -> dict[str, str]:
    """The ``[Sequence]`` section of ``root/seqinfo.ini`` (keys lower case); ``{}`` without one."""
    path = posixpath.join(root, "seqinfo.ini")
    if not fs.isfile(path):
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(fs.cat_file(path).decode("utf-8", errors="replace"))
    except configparser.Error as error:
        raise BadInputError(url, f"seqinfo.ini is not a valid INI file: {str(error).splitlines()[0]}") from error
    section = next((s for s in parser.sections() if s.lower() == "sequence"), None)
    return dict(parser[section]) if section else {}


def _seqinfo_number(info: dict[str, str], key: str, url: str, cast: type) -> Any:
    raw = info.get(key.lower())
    if raw is None or not raw.strip():
        return None
    try:
        value = cast(float(raw))
    except ValueError as error:
        raise BadInputError(url, f"seqinfo.ini has {key}={raw!r}, which is not a number") from error
    if not (math.isfinite(value) and value > 0):
        raise BadInputError(url, f"seqinfo.ini has {key}={raw!r}; it must be > 0")
    return value


def image_sequence(fs: Any, root: str, url: str) -> ImageSequence:
    """The frames of the image sequence at ``root`` (the folder holding ``img1/`` or the frames).

    Raises:
        BadInputError: No numbered frames, frames not evenly numbered (a missing file would shift
            every later frame), or a malformed ``seqinfo.ini``.
    """
    info = read_seqinfo(fs, root, url)
    frame_dir = root
    for candidate in (info.get("imdir"), "img1"):
        if candidate and fs.isdir(posixpath.join(root, candidate)):
            frame_dir = posixpath.join(root, candidate)
            break
    try:
        listing = fs.ls(frame_dir, detail=False)
    except FileNotFoundError as error:
        raise BadInputError(url, "does not exist (check the path, or storage_options for remote URLs)") from error
    numbered = numbered_frames(listing)
    if not numbered:
        raise BadInputError(url, f"no numbered .jpg/.png frames found in {frame_dir}")
    # frame_index counts files, so a missing file would shift every later frame against labels
    # keyed by file number. An even step (every 5th frame kept) is fine.
    numbers = [number for number, _ in numbered]
    steps = [b - a for a, b in pairwise(numbers)]
    for (a, b), step in zip(pairwise(numbered), steps):
        if step != steps[0] or step == 0:
            raise BadInputError(
                url,
                f"frames are not evenly numbered: {posixpath.basename(a[1])} is followed by "
                f"{posixpath.basename(b[1])} (missing or duplicate frames?)",
            )
    return ImageSequence(
        frame_dir=frame_dir,
        frames=tuple(path for _, path in numbered),
        fps=_seqinfo_number(info, "frameRate", url, float),
        length=_seqinfo_number(info, "seqLength", url, int),
    )


# --------------------------------------------------------------------------- local copies


@contextmanager
def local_copy(item: SourceItem | ClipSpec, storage_options: dict | None = None) -> Iterator[str]:
    """A local path OpenCV can open for the source of ``item``, valid inside the ``with`` block.

    Local sources are used in place. Remote videos are copied in 8 MiB chunks to a temporary
    file (same extension, under ``$TMPDIR``); remote image sequences to a temporary folder
    (``seqinfo.ini`` and the frame folder). The copy is deleted on exit.

    Args:
        item: A :class:`SourceItem` or :class:`ClipSpec` (anything with ``url`` and ``kind``).
        storage_options: Passed to fsspec.

    Yields:
        The local file path (videos) or folder path (image sequences).

    Raises:
        BadInputError: The source does not exist or cannot be opened.
    """
    fs, path = open_source_url(item.url, storage_options)
    if is_local_fs(fs):
        if not fs.exists(path):
            raise BadInputError(item.url, "does not exist (check the path)")
        yield path
        return
    if item.kind == "video":
        handle, temp = tempfile.mkstemp(prefix="soccerfactory-", suffix=extension(path))
        try:
            with os.fdopen(handle, "wb") as out:
                try:
                    with fs.open(path, "rb") as src:
                        shutil.copyfileobj(src, out, _COPY_CHUNK)
                except FileNotFoundError as error:
                    raise BadInputError(item.url, "does not exist (check the URL and storage_options)") from error
            yield temp
        finally:
            os.unlink(temp)
        return
    sequence = image_sequence(fs, path, item.url)
    folder = tempfile.mkdtemp(prefix="soccerfactory-")
    try:
        if fs.isfile(posixpath.join(path, "seqinfo.ini")):
            fs.get_file(posixpath.join(path, "seqinfo.ini"), os.path.join(folder, "seqinfo.ini"))
        target = os.path.join(folder, posixpath.relpath(sequence.frame_dir, path))
        os.makedirs(target, exist_ok=True)
        for frame in sequence.frames:
            fs.get_file(frame, os.path.join(target, posixpath.basename(frame)))
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
