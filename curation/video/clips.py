"""The video stage's currency: a source found, what scanning it found, and the clips cut from it.

:class:`SourceItem` (one video file or image-sequence folder, from discovery) is scanned into a
:class:`VideoScan` (frame rate, size, content hash, camera cuts), which :func:`split_clips` cuts
into :class:`ClipSpec` s, the unit of work (and cache key) of the later stages. A clip's
``content_hash`` follows one rule, :func:`clip_hash`, checked on construction.
:func:`semantic_frames` picks a clip's frames for the models that run at a lower rate, and
:func:`no_clip_reason` says why a scan gave no clip.

Only numpy is imported here (no OpenCV, no fsspec).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any, Literal

import numpy as np

__all__ = [
    "ID_RE",
    "ClipSpec",
    "Kind",
    "SourceItem",
    "VideoScan",
    "check_positive_int",
    "clip_hash",
    "is_clip_of",
    "no_clip_reason",
    "semantic_frames",
    "split_clips",
]

Kind = Literal["video", "images"]
#: Characters of a match, source or clip id.
ID_RE = re.compile(r"[A-Za-z0-9._-]+")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")


# --------------------------------------------------------------------------- containers


def _check_id(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, str) or not ID_RE.fullmatch(value) or set(value) == {"."}:
        raise ValueError(f"{owner}.{name} must be a non-empty string of [A-Za-z0-9._-], got {value!r}")


def _check_hash(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, str) or not _HEX64_RE.fullmatch(value):
        raise ValueError(f"{owner}.{name} must be a lowercase hex sha256 (64 chars), got {value!r}")


def _check_kind(owner: str, value: Any) -> None:
    if value not in ("video", "images"):
        raise ValueError(f"{owner}.kind must be 'video' or 'images', got {value!r}")


def check_positive_int(owner: str, name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int; ``ValueError`` naming ``owner.name`` unless it is an int (not a bool) >= ``minimum``."""
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
            given (:mod:`~soccerfactory.curation.video.source_ids`); unique in a discovery, the same on
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
            object.__setattr__(self, name, check_positive_int(owner, name, getattr(self, name)))
        _check_hash(owner, "content_hash", self.content_hash)
        cuts = tuple(check_positive_int(owner, "cuts[i]", c) for c in self.cuts)
        if any(b <= a for a, b in pairwise(cuts)) or (cuts and cuts[-1] >= self.frame_count):
            raise ValueError(
                f"{owner}.cuts must be strictly increasing within [1, {self.frame_count - 1}], got {cuts[:10]}"
            )
        object.__setattr__(self, "cuts", cuts)
        if self.header_frame_count is not None:
            object.__setattr__(
                self, "header_frame_count", check_positive_int(owner, "header_frame_count", self.header_frame_count, 0)
            )

    @property
    def duration_s(self) -> float:
        """Decoded length in seconds."""
        return self.frame_count / self.fps


def clip_hash(source_hash: str, start_frame: int, stop_frame: int) -> str:
    """The content hash of a clip: sha256 hex of ``"<source_hash>:<start_frame>:<stop_frame>"``."""
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
        start = check_positive_int(owner, "start_frame", self.start_frame, 0)
        stop = check_positive_int(owner, "stop_frame", self.stop_frame, start + 1)
        object.__setattr__(self, "start_frame", start)
        object.__setattr__(self, "stop_frame", stop)
        object.__setattr__(self, "fps", _check_fps(owner, self.fps))
        for name in ("width", "height"):
            object.__setattr__(self, name, check_positive_int(owner, name, getattr(self, name)))
        _check_hash(owner, "source_hash", self.source_hash)
        _check_hash(owner, "content_hash", self.content_hash)
        if self.content_hash != clip_hash(self.source_hash, start, stop):
            raise ValueError(
                f"{owner}.content_hash does not match (source_hash, start_frame, stop_frame) of clip {self.clip_id}"
            )

    def head(self, frames: int) -> ClipSpec:
        """The clip's first ``frames`` frames (all of it when it is shorter), as its own clip."""
        stop = min(self.stop_frame, self.start_frame + max(int(frames), 1))
        return replace(self, stop_frame=stop, content_hash=clip_hash(self.source_hash, self.start_frame, stop))

    @property
    def num_frames(self) -> int:
        """Frames in the clip, ``stop_frame - start_frame``."""
        return self.stop_frame - self.start_frame

    @property
    def duration_s(self) -> float:
        """Clip length in seconds."""
        return self.num_frames / self.fps


# --------------------------------------------------------------------------- clips


def _sanitise(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip("-.")
    return cleaned or "source"


def is_clip_of(source_name: str, clip_id: str) -> bool:
    """Whether ``clip_id`` is one :func:`split_clips` makes from the source named ``source_name``
    (``"<source name>-<start:06d>-<stop:06d>"``)."""
    return re.fullmatch(re.escape(source_name) + r"-\d{6,}-\d{6,}", clip_id) is not None


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
        content_hash=clip_hash(scan.content_hash, start, stop),
        source_hash=scan.content_hash,
    )


def split_clips(scan: VideoScan, *, max_clip_seconds: float = 30.0, min_clip_frames: int = 8) -> list[ClipSpec]:
    """Cut a scanned source into clips along its shots.

    Each shot (frames between two cuts) shorter than ``min_clip_frames`` is dropped: those are
    mostly the logo wipes around replays. Each other shot becomes ``ceil(length / max)`` clips of
    near-equal length (differing by at most one frame), ``max = floor(max_clip_seconds * fps)``.
    Every frame of a kept shot is in exactly one clip; no clip spans a cut.

    Args:
        scan: Result of :func:`~soccerfactory.curation.video.scan.scan_video`.
        max_clip_seconds: Longest clip, seconds, > 0.
        min_clip_frames: Shortest shot kept, frames, >= 1.

    Returns:
        Clips in frame order; empty when every shot is too short.

    Raises:
        ValueError: Invalid ``max_clip_seconds`` or ``min_clip_frames``.
    """
    if not (math.isfinite(max_clip_seconds) and max_clip_seconds > 0):
        raise ValueError(f"max_clip_seconds must be finite and > 0, got {max_clip_seconds!r}")
    check_positive_int("split_clips", "min_clip_frames", min_clip_frames)
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


def no_clip_reason(scan: VideoScan, min_clip_frames: int) -> str:
    """Why a scanned source gave no clip: every shot is shorter than ``min_clip_frames``."""
    edges = (0, *scan.cuts, scan.frame_count)
    longest = max(b - a for a, b in zip(edges, edges[1:]))
    shots = "its only shot has" if not scan.cuts else f"the longest of its {len(scan.cuts) + 1} shots has"
    return (
        f"no clip: {scan.frame_count} frames decode and {shots} {longest} frames, fewer than clips.min_clip_frames "
        f"({min_clip_frames}); shorter shots are dropped as transitions (--set clips.min_clip_frames={longest} keeps it)"
    )
