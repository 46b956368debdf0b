"""Footage ingestion: find source videos, validate them, cut them into shots and stream frames.

This is the first stage of curation. Four plain functions, each over frozen dataclasses:

1. :func:`discover_sources` turns a path, URL or list of them into :class:`SourceItem` s (one per
   video file or image-sequence folder, each its own match unless a manifest groups them).
2. :func:`scan_video` decodes a source once: it validates the file (empty, not a video,
   truncated, changing resolution, no frame rate) and finds the camera cuts.
3. :func:`split_clips` turns the shots between cuts into :class:`ClipSpec` s of at most
   ``max_clip_seconds``, the unit of work (and cache key) of the later stages.
4. :func:`read_frames` streams one clip as :class:`~soccerfactory.curation.types.Frames` batches.

Every URL goes through ``fsspec.core.url_to_fs``: local paths, ``file://``, ``memory://``,
``s3://`` ... (remote protocols need their fsspec package, e.g. ``s3fs``). OpenCV only reads
local files, so remote videos are copied to a temporary file for the duration of a scan or a
clip read (:func:`local_path`); chain ``simplecache::`` in front of a remote URL to download it
once per machine instead of once per clip.

Image sequences use the SoccerNet / MOTChallenge layout: a folder holding ``img1/000001.jpg ...``
and optionally ``seqinfo.ini`` (``frameRate``, ``seqLength``, ``imDir``), or a folder that directly
holds numbered ``.jpg``/``.png`` frames. Frame ``i`` (0-based ``frame_index``) is the ``i``-th
file in numeric order, so ``000001.jpg`` is frame 0.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import math
import os
import posixpath
import re
import shutil
import struct
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any, Literal

import cv2
import numpy as np
import yaml
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from soccerfactory.curation.hashing import sha256_file
from soccerfactory.curation.input_checks import MIN_HEIGHT, MIN_WIDTH, min_size_reason, sniff_not_a_video
from soccerfactory.curation.source_ids import claim_ids, relative_source_path
from soccerfactory.curation.types import Frames

__all__ = [
    "DEFAULT_SEQUENCE_FPS",
    "IMAGE_EXTENSIONS",
    "MANIFEST_NAMES",
    "VIDEO_EXTENSIONS",
    "BadInputError",
    "ClipSpec",
    "SourceItem",
    "VideoScan",
    "discover_each",
    "discover_sources",
    "local_path",
    "read_frames",
    "scan_video",
    "semantic_frames",
    "split_clips",
]

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".ts"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})
#: Optional file in a source folder mapping relative paths to match ids (first found wins;
#: having two is an error).
MANIFEST_NAMES = ("soccerfactory-sources.json", "soccerfactory-sources.yaml", "soccerfactory-sources.yml")
#: Frame rate of an image sequence without ``seqinfo.ini`` (SoccerNet sequences are 25 fps).
DEFAULT_SEQUENCE_FPS = 25.0

Kind = Literal["video", "images"]
ProgressFn = Callable[[int, int], None]

# folder/match/half/video.mp4 and folder/group/seq/img1/000001.jpg are both within reach.
_SEARCH_DEPTH = 4
# MPEG program/transport streams have no frame index: OpenCV estimates their frame count from the
# bitrate, so a short count there means nothing and the truncation check is skipped.
_ESTIMATED_COUNT_EXTENSIONS = frozenset({".ts", ".mpg", ".mpeg"})
_COPY_CHUNK = 8 << 20
_PROGRESS_EVERY = 25
_ID_RE = re.compile(r"[A-Za-z0-9._-]+")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_NUMBERED_RE = re.compile(r"^(.*?)(\d+)$")
_MAX_FPS = 1000.0  # above this the container's time base leaked into the rate (e.g. 90000)

# Shot-boundary detection works on thumbnails: a hard cut changes the colour distribution and
# the layout of the whole image from one frame to the next, which 64x36 pixels show as well as
# 1280x720 while costing almost nothing next to decoding.
_THUMB_SIZE = (64, 36)
_HIST_CHANNELS = [0, 1, 2]
_HIST_BINS = [8, 4, 4]  # coarse: 2304 thumbnail pixels spread over 128 bins keep the noise low
_HIST_RANGES = [0, 180, 0, 256, 0, 256]
# The histogram misses cuts between two wide shots of the same green pitch; the pixel term
# catches those (its typical in-shot value is ~0.005, a cut between two wide shots ~0.05).
_PIXEL_WEIGHT = 2.0
# A cut is a spike: its score must also stand out against the scores around it, which keeps
# sustained change (fast pans, zooms, crowd shots) from counting as a run of cuts.
_CUT_CONTRAST = 3.0
_CONTEXT_FRAMES = 8
# A flash (or a single damaged frame) changes the picture and changes it back; a cut does not.
_FLASH_RATIO = 0.5


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


# --------------------------------------------------------------------------- containers


def _check_id(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value) or set(value) == {"."}:
        raise ValueError(f"{owner}.{name} must be a non-empty string of [A-Za-z0-9._-], got {value!r}")


def _check_hash(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, str) or not _HEX64_RE.fullmatch(value):
        raise ValueError(f"{owner}.{name} must be a lowercase hex sha256 (64 chars), got {value!r}")


def _check_kind(owner: str, value: Any) -> None:
    if value not in ("video", "images"):
        raise ValueError(f"{owner}.kind must be 'video' or 'images', got {value!r}")


def _check_positive_int(owner: str, name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{owner}.{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_fps(owner: str, value: Any) -> float:
    fps = float(value)
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"{owner}.fps must be finite and > 0, got {value!r}")
    return fps


@dataclass(frozen=True)
class SourceItem:
    """One video file or image-sequence folder to ingest.

    Attributes:
        url: fsspec URL or absolute local path of the video file, or of the sequence folder
            (the one holding ``img1/`` or the numbered frames).
        kind: ``"video"`` or ``"images"``.
        match_id: The match this footage belongs to, ``[A-Za-z0-9._-]+``: its source id unless
            a manifest groups several items into one (e.g. two halves).
        name: The source id, ``[A-Za-z0-9._-]+``, derived from the path relative to the source
            given (:mod:`~soccerfactory.curation.source_ids`); unique in a discovery, the same on
            every run. Clip ids start with it.
    """

    url: str
    kind: Kind
    match_id: str
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url:
            raise ValueError(f"SourceItem.url must be a non-empty string, got {self.url!r}")
        _check_kind("SourceItem", self.kind)
        _check_id("SourceItem", "match_id", self.match_id)
        _check_id("SourceItem", "name", self.name)


@dataclass(frozen=True)
class VideoScan:
    """What one decode pass over a source found.

    Attributes:
        item: The scanned source.
        fps: Frame rate, > 0 (container rate; ``seqinfo.ini`` or 25 for image sequences).
        frame_count: Frames that actually decode, >= 1.
        width: Frame width in pixels.
        height: Frame height in pixels.
        content_hash: sha256 hex of the file bytes; for an image sequence, of each frame's
            file name and bytes in frame order. Identifies the footage whatever its URL.
        cuts: Frame indices where a new shot starts, strictly increasing, each in
            ``[1, frame_count - 1]`` (frame 0 always starts a shot and is not listed).
        header_frame_count: Frame count the container (or ``seqLength`` of ``seqinfo.ini``)
            claims, ``None`` when it gives none.
    """

    item: SourceItem
    fps: float
    frame_count: int
    width: int
    height: int
    content_hash: str
    cuts: tuple[int, ...]
    header_frame_count: int | None

    def __post_init__(self) -> None:
        owner = "VideoScan"
        if not isinstance(self.item, SourceItem):
            raise ValueError(f"{owner}.item must be a SourceItem, got {type(self.item).__name__}")
        object.__setattr__(self, "fps", _check_fps(owner, self.fps))
        for name in ("frame_count", "width", "height"):
            object.__setattr__(self, name, _check_positive_int(owner, name, getattr(self, name)))
        _check_hash(owner, "content_hash", self.content_hash)
        cuts = tuple(_check_positive_int(owner, "cuts[i]", c) for c in self.cuts)
        if any(b <= a for a, b in pairwise(cuts)) or (cuts and cuts[-1] >= self.frame_count):
            raise ValueError(
                f"{owner}.cuts must be strictly increasing within [1, {self.frame_count - 1}], got {cuts[:10]}"
            )
        object.__setattr__(self, "cuts", cuts)
        if self.header_frame_count is not None:
            object.__setattr__(
                self, "header_frame_count", _check_positive_int(owner, "header_frame_count", self.header_frame_count, 0)
            )

    @property
    def duration_s(self) -> float:
        """Decoded length in seconds."""
        return self.frame_count / self.fps


def _clip_hash(source_hash: str, start_frame: int, stop_frame: int) -> str:
    return hashlib.sha256(f"{source_hash}:{start_frame}:{stop_frame}".encode()).hexdigest()


@dataclass(frozen=True)
class ClipSpec:
    """A range of frames of one source within one shot: the unit of work of later stages.

    Attributes:
        match_id: Match of the source.
        clip_id: ``"<source name>-<start:06d>-<stop:06d>"``; readable and stable across runs.
        url: Source URL (video file or sequence folder).
        kind: ``"video"`` or ``"images"``.
        start_frame: First frame, index in the source.
        stop_frame: One past the last frame (exclusive), ``> start_frame``.
        fps: Source frame rate.
        width: Frame width in pixels.
        height: Frame height in pixels.
        content_hash: sha256 of ``(source_hash, start_frame, stop_frame)``; the cache key of
            everything computed from this clip. Checked on construction.
        source_hash: :attr:`VideoScan.content_hash` of the source.
    """

    match_id: str
    clip_id: str
    url: str
    kind: Kind
    start_frame: int
    stop_frame: int
    fps: float
    width: int
    height: int
    content_hash: str
    source_hash: str

    def __post_init__(self) -> None:
        owner = "ClipSpec"
        _check_id(owner, "match_id", self.match_id)
        _check_id(owner, "clip_id", self.clip_id)
        if not isinstance(self.url, str) or not self.url:
            raise ValueError(f"{owner}.url must be a non-empty string, got {self.url!r}")
        _check_kind(owner, self.kind)
        start = _check_positive_int(owner, "start_frame", self.start_frame, 0)
        stop = _check_positive_int(owner, "stop_frame", self.stop_frame, start + 1)
        object.__setattr__(self, "start_frame", start)
        object.__setattr__(self, "stop_frame", stop)
        object.__setattr__(self, "fps", _check_fps(owner, self.fps))
        for name in ("width", "height"):
            object.__setattr__(self, name, _check_positive_int(owner, name, getattr(self, name)))
        _check_hash(owner, "source_hash", self.source_hash)
        _check_hash(owner, "content_hash", self.content_hash)
        if self.content_hash != _clip_hash(self.source_hash, start, stop):
            raise ValueError(
                f"{owner}.content_hash does not match (source_hash, start_frame, stop_frame) of clip {self.clip_id}"
            )

    def head(self, frames: int) -> ClipSpec:
        """The clip's first ``frames`` frames (all of it when it is shorter), as its own clip."""
        stop = min(self.stop_frame, self.start_frame + max(int(frames), 1))
        return replace(self, stop_frame=stop, content_hash=_clip_hash(self.source_hash, self.start_frame, stop))

    @property
    def num_frames(self) -> int:
        """Frames in the clip, ``stop_frame - start_frame``."""
        return self.stop_frame - self.start_frame

    @property
    def duration_s(self) -> float:
        """Clip length in seconds."""
        return self.num_frames / self.fps


# --------------------------------------------------------------------------- fsspec helpers


def _resolve(url: str, storage_options: dict | None) -> tuple[Any, str]:
    try:
        return url_to_fs(url, **(storage_options or {}))
    except (ValueError, ImportError) as error:
        # Unknown protocol, or its package missing ("Install s3fs to access S3").
        raise BadInputError(url, f"cannot open this URL: {error}") from error


def _is_local(fs: Any) -> bool:
    return isinstance(fs, LocalFileSystem)


def _child_url(source_url: str, fs: Any, root: str, path: str) -> str:
    """URL of ``path`` found under ``root``, keeping the caller's protocol chain and options."""
    if _is_local(fs):
        return path
    if path == root:
        return source_url
    rel = posixpath.relpath(path, root)
    if rel.startswith(".."):
        return fs.unstrip_protocol(path)
    return source_url.rstrip("/") + "/" + rel


def _is_hidden(rel: str) -> bool:
    # ".synth-*" staging folders, macOS "._x.mp4" resource forks and the like are never footage.
    return any(part.startswith(".") for part in rel.split("/") if part not in ("", "."))


def _ext(path: str) -> str:
    return posixpath.splitext(path)[1].lower()


def _sanitise(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip("-.")
    return cleaned or "source"


# --------------------------------------------------------------------------- image sequences


@dataclass(frozen=True)
class _Sequence:
    frame_dir: str
    frames: tuple[str, ...]  # fs paths in frame order
    fps: float | None
    length: int | None


def _numbered(paths: Sequence[str]) -> list[tuple[int, str]]:
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


def _read_seqinfo(fs: Any, root: str, url: str) -> dict[str, str]:
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


def _sequence(fs: Any, root: str, url: str) -> _Sequence:
    info = _read_seqinfo(fs, root, url)
    frame_dir = root
    for candidate in (info.get("imdir"), "img1"):
        if candidate and fs.isdir(posixpath.join(root, candidate)):
            frame_dir = posixpath.join(root, candidate)
            break
    try:
        listing = fs.ls(frame_dir, detail=False)
    except FileNotFoundError as error:
        raise BadInputError(url, "does not exist (check the path, or storage_options for remote URLs)") from error
    numbered = _numbered(listing)
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
    return _Sequence(
        frame_dir=frame_dir,
        frames=tuple(path for _, path in numbered),
        fps=_seqinfo_number(info, "frameRate", url, float),
        length=_seqinfo_number(info, "seqLength", url, int),
    )


# --------------------------------------------------------------------------- discovery


@dataclass
class _Found:
    key: tuple[str, str]
    url: str
    kind: Kind
    rel: str  # path relative to the root given: what the source id is derived from
    manifest_id: str | None = None


def _read_manifest(fs: Any, root: str, source_url: str) -> tuple[dict[str, str], str]:
    present = [name for name in MANIFEST_NAMES if fs.isfile(posixpath.join(root, name))]
    if not present:
        return {}, ""
    manifest_url = _child_url(source_url, fs, root, posixpath.join(root, present[0]))
    if len(present) > 1:
        raise BadInputError(source_url, f"holds several manifests ({', '.join(present)}); keep one")
    raw = fs.cat_file(posixpath.join(root, present[0]))
    try:
        text = raw.decode("utf-8")
        data = json.loads(text) if present[0].endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:  # JSON and Unicode errors are ValueErrors
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BadInputError(manifest_url, f"cannot parse it: {first}") from error
    example = '{"first-half.mp4": "match-01", "second-half.mp4": "match-01"}'
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise BadInputError(manifest_url, f"must map relative paths to match ids, e.g. {example}")
    mapping = {}
    for rel, match_id in data.items():
        if not _ID_RE.fullmatch(match_id) or set(match_id) == {"."}:
            raise BadInputError(manifest_url, f"match id {match_id!r} for {rel!r} may only use A-Z a-z 0-9 . _ -")
        mapping[posixpath.normpath(rel.replace("\\", "/")).strip("/")] = match_id
    return mapping, manifest_url


def _discover_one(source_url: str, storage_options: dict | None) -> list[_Found]:
    fs, root = _resolve(source_url, storage_options)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if not fs.exists(root):
        raise BadInputError(source_url, "does not exist (check the path, or storage_options for remote URLs)")

    def found(path: str, kind: Kind) -> _Found:
        return _Found((protocol, path), _child_url(source_url, fs, root, path), kind, relative_source_path(root, path))

    if fs.isfile(root):
        ext = _ext(root)
        if ext in VIDEO_EXTENSIONS:
            return [found(root, "video")]
        if ext in IMAGE_EXTENSIONS:
            raise BadInputError(source_url, "is a single image; pass the folder holding the image sequence")
        raise BadInputError(source_url, f"is not a video file (expected one of {', '.join(sorted(VIDEO_EXTENSIONS))})")

    files = [
        p for p in fs.find(root, maxdepth=_SEARCH_DEPTH, detail=False)
        if not _is_hidden(posixpath.relpath(p, root))
    ]
    items = [found(p, "video") for p in files if _ext(p) in VIDEO_EXTENSIONS]

    images_by_dir: dict[str, list[str]] = defaultdict(list)
    for path in files:
        if _ext(path) in IMAGE_EXTENSIONS:
            images_by_dir[posixpath.dirname(path)].append(path)
    available = set(files)
    sequence_roots = set()
    for folder, images in images_by_dir.items():
        frames = _numbered(images)
        if not frames:
            continue
        parent = posixpath.dirname(folder)
        im_dir = "img1"
        if posixpath.join(parent, "seqinfo.ini") in available:
            im_dir = _read_seqinfo(fs, parent, source_url).get("imdir", "img1")
        if posixpath.basename(folder) == im_dir:
            sequence_roots.add(parent)
        elif len(frames) >= 2:  # one numbered picture is a thumbnail, not footage
            sequence_roots.add(folder)
    items += [found(p, "images") for p in sorted(sequence_roots)]
    if not items:
        raise BadInputError(
            source_url,
            f"no videos or image sequences found (looked {_SEARCH_DEPTH} folders deep for "
            f"{', '.join(sorted(VIDEO_EXTENSIONS))} files and folders of numbered .jpg/.png frames)",
        )

    mapping, manifest_url = _read_manifest(fs, root, source_url)
    if mapping:
        by_rel = {posixpath.normpath(posixpath.relpath(item.key[1], root)): item for item in items}
        for rel, match_id in mapping.items():
            if rel not in by_rel:
                raise BadInputError(manifest_url, f"lists {rel!r}, which is not a video or image sequence in {source_url}")
            by_rel[rel].manifest_id = match_id
    return items


def _merge(merged: dict[tuple[str, str], _Found], item: _Found) -> BadInputError | None:
    kept = merged.setdefault(item.key, item)
    # Found again under another root: the id comes from the highest root (the longest relative
    # path), so it does not depend on the order the sources were given in.
    if kept is not item and item.rel.count("/") > kept.rel.count("/"):
        kept.rel = item.rel
    if item.manifest_id is not None and kept.manifest_id != item.manifest_id:
        if kept.manifest_id is not None:
            return BadInputError(
                kept.url, f"two manifests give it different match ids, {kept.manifest_id!r} and {item.manifest_id!r}; keep one"
            )
        kept.manifest_id = item.manifest_id
    return None


def discover_each(
    sources: Sequence[str | os.PathLike], storage_options: dict | None = None
) -> tuple[list[SourceItem], list[BadInputError]]:
    """Like :func:`discover_sources`, but a bad source fails alone.

    Each source given is discovered on its own; one that cannot be used (or derives an id another
    already has) is returned as an error while the others are still found.

    Args:
        sources: Local paths or fsspec URLs, at least one.
        storage_options: Passed to fsspec for every URL.

    Returns:
        ``(items, errors)``: the items sorted by URL without duplicates, and one
        :class:`BadInputError` per source (or item) that cannot be used.

    Raises:
        BadInputError: No sources given.
    """
    sources = list(sources)
    if not sources:
        raise BadInputError("[]", "no sources given; pass a video file, a folder or a URL")
    merged: dict[tuple[str, str], _Found] = {}
    failures: list[BadInputError] = []
    conflicted: set[tuple[str, str]] = set()
    for src in sources:
        try:
            found_here = _discover_one(os.fspath(src), storage_options)
        except BadInputError as error:
            failures.append(error)
            continue
        for item in found_here:
            conflict = _merge(merged, item)
            if conflict is not None:
                failures.append(conflict)
                conflicted.add(item.key)
    found = sorted((f for f in merged.values() if f.key not in conflicted), key=lambda f: f.url)

    unique = []
    for f, (name, refused) in zip(found, claim_ids([(f.url, f.rel, f.kind == "video") for f in found])):
        if refused:
            failures.append(BadInputError(f.url, refused))
        else:
            unique.append((f, name))

    # A default match id must not silently join a match that a manifest defined.
    manifest_ids = {f.manifest_id.lower() for f, _ in unique if f.manifest_id}
    items = []
    for f, name in unique:
        match_id = f.manifest_id
        if match_id is None:
            match_id, k = name, 2
            while match_id.lower() in manifest_ids:
                match_id, k = f"{name}-{k}", k + 1
        items.append(SourceItem(url=f.url, kind=f.kind, match_id=match_id, name=name))
    return items, failures


def discover_sources(
    source: str | os.PathLike | Sequence[str | os.PathLike], storage_options: dict | None = None
) -> list[SourceItem]:
    """Find the footage in a path or URL, or a list of them.

    A video file gives one item. A folder gives every video file (by extension, any case: see
    :data:`VIDEO_EXTENSIONS`) and every image-sequence folder within four levels, skipping
    hidden files and folders. A list gives the union. Each item is its own match, with
    ``match_id`` and ``name`` its source id: the path relative to the source given, parts
    sanitised to ``[A-Za-z0-9._-]`` and joined with ``.``, the extension dropped
    (``league/season/game/1_720p.mkv`` -> ``league.season.game.1_720p``; a file given directly is
    its stem; see :mod:`~soccerfactory.curation.source_ids`). A folder may hold a manifest
    (:data:`MANIFEST_NAMES`, JSON or YAML) mapping paths relative to it to match ids, e.g.
    ``{"first-half.mp4": "final-2024", "second-half.mp4": "final-2024"}``; sources it does not
    list keep their default match id.

    Args:
        source: Local path, fsspec URL (``file://``, ``memory://``, ``s3://`` ...), or a sequence
            of them.
        storage_options: Passed to fsspec for every URL (credentials, endpoint ...).

    Returns:
        The items sorted by URL, without duplicates.

    Raises:
        BadInputError: The first problem :func:`discover_each` found: a source does not exist or
            cannot be opened, a folder holds no footage, a file is not a video, a manifest is
            malformed or lists a missing path, or two sources derive the same id.
    """
    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    items, failures = discover_each(sources, storage_options)
    if failures:
        raise failures[0]
    return items


# --------------------------------------------------------------------------- local copies


@contextmanager
def local_path(item: SourceItem | ClipSpec, storage_options: dict | None = None) -> Iterator[str]:
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
    fs, path = _resolve(item.url, storage_options)
    if _is_local(fs):
        if not fs.exists(path):
            raise BadInputError(item.url, "does not exist (check the path)")
        yield path
        return
    if item.kind == "video":
        handle, temp = tempfile.mkstemp(prefix="soccerfactory-", suffix=_ext(path))
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
    sequence = _sequence(fs, path, item.url)
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


# --------------------------------------------------------------------------- scanning


class _CutDetector:
    """Change scores between consecutive thumbnails, fed one decoded frame at a time."""

    def __init__(self) -> None:
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._before_previous: tuple[np.ndarray, np.ndarray] | None = None
        self.step: list[float] = []  # step[t - 1]: frame t - 1 -> frame t
        self.skip: list[float] = []  # skip[t - 2]: frame t - 2 -> frame t

    @staticmethod
    def _signature(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        small = cv2.resize(image, _THUMB_SIZE, interpolation=cv2.INTER_AREA)
        hist = cv2.calcHist([cv2.cvtColor(small, cv2.COLOR_BGR2HSV)], _HIST_CHANNELS, None, _HIST_BINS, _HIST_RANGES)
        cv2.normalize(hist, hist, 1.0, 0.0, cv2.NORM_L1)
        return hist, cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)

    @staticmethod
    def _distance(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
        colour = cv2.compareHist(a[0], b[0], cv2.HISTCMP_BHATTACHARYYA)
        pixels = cv2.mean(cv2.absdiff(a[1], b[1]))[0] / 255.0
        return float(colour + _PIXEL_WEIGHT * pixels)

    def add(self, image: np.ndarray) -> None:
        signature = self._signature(image)
        if self._previous is not None:
            self.step.append(self._distance(self._previous, signature))
        if self._before_previous is not None:
            self.skip.append(self._distance(self._before_previous, signature))
        self._before_previous, self._previous = self._previous, signature

    def cuts(self, threshold: float, min_shot_frames: int) -> tuple[int, ...]:
        step = np.asarray(self.step)
        cuts: list[int] = []
        last = 0
        for t in np.flatnonzero(step >= threshold) + 1:
            t = int(t)
            score = step[t - 1]
            context = np.concatenate((step[max(0, t - 1 - _CONTEXT_FRAMES) : t - 1], step[t : t + _CONTEXT_FRAMES]))
            if context.size >= 3 and score < _CUT_CONTRAST * float(np.median(context)):
                continue
            # Frame t looks like frame t - 2 (t - 1 was a flash), or t + 1 like t - 1 (t is one).
            came_back = t >= 2 and self.skip[t - 2] < _FLASH_RATIO * score
            goes_back = t - 1 < len(self.skip) and self.skip[t - 1] < _FLASH_RATIO * score
            if came_back or goes_back:
                continue
            if t - last < min_shot_frames:
                continue
            cuts.append(t)
            last = t
        return tuple(cuts)


def _container_name(url: str) -> str:
    ext = _ext(url.split("::")[-1])
    return ext[1:].upper() if ext else "video file"


# Boxes an MP4/MOV/M4V file can start with; anything else is not ISO media at all.
_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"})


def _diagnose_iso_media(path: str) -> str | None:
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


def _open_capture(path: str, url: str) -> cv2.VideoCapture:
    if os.path.getsize(path) == 0:
        raise BadInputError(url, "empty file (0 bytes)")
    # FFmpeg probes content, not the extension: a renamed PNG would "decode" as one frame.
    not_video = sniff_not_a_video(path)
    if not_video:
        raise BadInputError(url, not_video)
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        reason = _diagnose_iso_media(path)
        raise BadInputError(url, reason or f"not a video OpenCV can decode (is it really an {_container_name(url)}?)")
    return capture


def _check_params(cut_threshold: float, min_shot_frames: int) -> None:
    if not (math.isfinite(cut_threshold) and cut_threshold > 0):
        raise ValueError(f"cut_threshold must be finite and > 0, got {cut_threshold!r}")
    _check_positive_int("scan_video", "min_shot_frames", min_shot_frames)


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
    item: SourceItem, detector: _CutDetector, storage_options: dict | None, progress: ProgressFn | None, min_size: tuple[int, int]
):
    url = item.url
    with local_path(item, storage_options) as path:
        capture = _open_capture(path, url)
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
            diagnosis = _diagnose_iso_media(path) or ""
            if diagnosis.startswith("truncated"):
                raise BadInputError(url, diagnosis)
            if header >= 2:
                raise BadInputError(url, f"truncated: header says {header} frames, only 0 decode")
            raise BadInputError(url, "no frames: it opens as a video but holds no decodable frame")
        if _ext(path) not in _ESTIMATED_COUNT_EXTENSIONS and _is_truncated(header, decoded):
            raise BadInputError(url, f"truncated: header says {header} frames, only {decoded} decode")
        content_hash = sha256_file(path)
    return float(fps), decoded, size, content_hash, (header if header > 0 else None)


def _decode_image(url: str, data: bytes, name: str) -> np.ndarray:
    if not data:
        raise BadInputError(url, f"frame {name} is an empty file (0 bytes)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise BadInputError(url, f"frame {name} is not an image OpenCV can decode")
    return image


def _scan_sequence(
    item: SourceItem, detector: _CutDetector, storage_options: dict | None, progress: ProgressFn | None, min_size: tuple[int, int]
):
    url = item.url
    fs, root = _resolve(url, storage_options)
    if not fs.exists(root):
        raise BadInputError(url, "does not exist (check the path, or storage_options for remote URLs)")
    sequence = _sequence(fs, root, url)
    digest = hashlib.sha256()
    size = None
    total = len(sequence.frames)
    for index, frame in enumerate(sequence.frames):
        name = posixpath.basename(frame)
        data = fs.cat_file(frame)
        digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "big"))
        digest.update(data)
        image = _decode_image(url, data, name)
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
        item: The source, from :func:`discover_sources`.
        cut_threshold: Minimum change score of a cut (see above), > 0.
        min_shot_frames: Minimum frames between two cuts, >= 1; closer ones are dropped.
        min_width: Narrowest frame accepted, pixels (default 256, see
            :data:`~soccerfactory.curation.input_checks.MIN_WIDTH`).
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
    detector = _CutDetector()
    scan = _scan_video_file if item.kind == "video" else _scan_sequence
    min_size = (_check_positive_int("scan_video", "min_width", min_width), _check_positive_int("scan_video", "min_height", min_height))
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


# --------------------------------------------------------------------------- clips


def _make_clip(scan: VideoScan, start: int, stop: int) -> ClipSpec:
    item = scan.item
    return ClipSpec(
        match_id=item.match_id,
        clip_id=_sanitise(f"{item.name}-{start:06d}-{stop:06d}"),
        url=item.url,
        kind=item.kind,
        start_frame=start,
        stop_frame=stop,
        fps=scan.fps,
        width=scan.width,
        height=scan.height,
        content_hash=_clip_hash(scan.content_hash, start, stop),
        source_hash=scan.content_hash,
    )


def split_clips(scan: VideoScan, *, max_clip_seconds: float = 30.0, min_clip_frames: int = 8) -> list[ClipSpec]:
    """Cut a scanned source into clips along its shots.

    Each shot (frames between two cuts) shorter than ``min_clip_frames`` is dropped: those are
    mostly the logo wipes around replays. Each other shot becomes ``ceil(length / max)`` clips of
    near-equal length (differing by at most one frame), ``max = floor(max_clip_seconds * fps)``.
    Every frame of a kept shot is in exactly one clip; no clip spans a cut.

    Args:
        scan: Result of :func:`scan_video`.
        max_clip_seconds: Longest clip, seconds, > 0.
        min_clip_frames: Shortest shot kept, frames, >= 1.

    Returns:
        Clips in frame order; empty when every shot is too short.

    Raises:
        ValueError: Invalid ``max_clip_seconds`` or ``min_clip_frames``.
    """
    if not (math.isfinite(max_clip_seconds) and max_clip_seconds > 0):
        raise ValueError(f"max_clip_seconds must be finite and > 0, got {max_clip_seconds!r}")
    _check_positive_int("split_clips", "min_clip_frames", min_clip_frames)
    max_frames = max(1, math.floor(max_clip_seconds * scan.fps))
    clips = []
    for start, stop in pairwise((0, *scan.cuts, scan.frame_count)):
        length = stop - start
        if length < min_clip_frames:
            continue
        pieces = math.ceil(length / max_frames)
        edges = [start + length * i // pieces for i in range(pieces + 1)]
        clips.extend(_make_clip(scan, a, b) for a, b in pairwise(edges))
    return clips


def semantic_frames(clip: ClipSpec, rate_hz: float = 1.0) -> np.ndarray:
    """Frames to sample at a lower rate (e.g. for team or jersey models), as source indices.

    Args:
        clip: The clip.
        rate_hz: Samples per second, > 0; at or above the clip's fps every frame is returned.

    Returns:
        ``int64`` ``(K,)`` strictly increasing source frame indices within
        ``[start_frame, stop_frame)``, starting with ``start_frame``, spaced ``fps / rate_hz``
        frames apart (rounded to the nearest frame).
    """
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"rate_hz must be finite and > 0, got {rate_hz!r}")
    step = clip.fps / rate_hz
    if step <= 1:
        return np.arange(clip.start_frame, clip.stop_frame, dtype=np.int64)
    # Halves round up (np.round would round 12.5 to 12 but 37.5 to 38: uneven spacing).
    offsets = np.floor(np.arange(math.ceil(clip.num_frames / step)) * step + 0.5).astype(np.int64)
    indices = clip.start_frame + offsets
    return np.unique(indices[indices < clip.stop_frame])


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
    with local_path(clip, storage_options) as path:
        capture = _open_capture(path, clip.url)
        try:
            position = 0
            if clip.start_frame > 0:
                capture.set(cv2.CAP_PROP_POS_FRAMES, clip.start_frame)
                if int(round(capture.get(cv2.CAP_PROP_POS_FRAMES))) == clip.start_frame:
                    position = clip.start_frame
                else:
                    # Seeking is not frame-exact for this file: decode from the start instead.
                    capture.release()
                    capture = _open_capture(path, clip.url)
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
    fs, root = _resolve(clip.url, storage_options)
    sequence = _sequence(fs, root, clip.url)
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
            image = _decode_image(clip.url, fs.cat_file(path), posixpath.basename(path))
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
        clip: The clip, from :func:`split_clips`.
        batch_size: Most frames per batch, >= 1; only the last batch is smaller.
        stride: Keep every ``stride``-th frame from ``start_frame``, >= 1.
        storage_options: Passed to fsspec.

    Yields:
        :class:`Frames` with ``images`` ``uint8`` ``(N, height, width, 3)`` BGR,
        ``frame_index`` the source indices ``start_frame, start_frame + stride, ...`` (< ``stop_frame``),
        ``timestamp_s = frame_index / fps`` and ``source = clip.url``.

    Raises:
        BadInputError: The source cannot be opened, stops decoding inside the clip (naming
            the frame), or its frames no longer have the scanned size.
        ValueError: Invalid ``batch_size`` or ``stride``.
    """
    # Checked here, not in the generator, so that a bad argument fails at the call.
    _check_positive_int("read_frames", "batch_size", batch_size)
    _check_positive_int("read_frames", "stride", stride)
    reader = _read_video if clip.kind == "video" else _read_sequence
    return reader(clip, int(batch_size), int(stride), storage_options)
