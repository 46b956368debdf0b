"""A source's scan, kept under the output root so a re-run does not decode the whole video again.

:func:`~soccerfactory.curation.video.scan.scan_video` decodes every frame of a source to validate
it and find its cuts: 250 frames of 720p took 3-5 s of a fully cached 10 s re-curate on two cores,
and a 90-minute match would take minutes, for a result that cannot have changed when the file has
not. :func:`scan_cached` keeps each scan as one JSON file, ``<cache_dir>/<sha256(url)[:32]>.json``,
written atomically, and reuses it only while the source is provably the same file:

* a local video file (a remote source or an image-sequence folder is always scanned);
* the same size, modification time and inode-change time (nanoseconds) and inode: any write to the
  file changes its ctime, which no tool can set back, and a file moved into its place has another
  inode; plus the sha256 of its first and last MiB, for file systems with coarse timestamps;
* the same scan parameters (cut threshold, minimum shot, minimum frame size) and the same scanning
  code (a hash of the modules that decide a scan's result).

Anything else, and an entry that is missing, unreadable or invalid, means a full scan, whose result
replaces the entry (only when the file did not change while it was scanned). A bad input is never
cached: it is scanned, and refused, each time. The scan's ``content_hash`` (the cache key of every
clip's shard) comes from the entry, so it is exactly what the full scan computed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from soccerfactory.curation.video.checks import MIN_HEIGHT, MIN_WIDTH
from soccerfactory.curation.video.clips import SourceItem, VideoScan
from soccerfactory.curation.video.scan import scan_video
from soccerfactory.storage.fs import local_path, resolve_url, write_json_atomic

__all__ = ["SCAN_CACHE_VERSION", "entry_url", "scan_cached", "source_signature"]

SCAN_CACHE_VERSION = 1
_EDGE_BYTES = 1 << 20  # first and last MiB: ~1 ms to hash, catches an in-place edit on a coarse clock
#: Modules of curation/video whose code decides what a scan returns.
_SCANNER_MODULES = ("scan.py", "cuts.py", "checks.py", "decode.py", "sources.py", "clips.py")


@functools.lru_cache(maxsize=1)
def _scanner_version() -> str:
    digest = hashlib.sha256()
    folder = Path(__file__).resolve().parent
    for name in _SCANNER_MODULES:
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    return digest.hexdigest()[:16]


def source_signature(item: SourceItem, params: dict[str, Any]) -> dict[str, Any] | None:
    """What identifies this source's bytes and the scan asked of it; None when not cacheable.

    Args:
        item: The source (only a local video file has a signature).
        params: The scan parameters (JSON-able), part of the signature.

    Returns:
        ``{"version", "url", "size", "mtime_ns", "ctime_ns", "inode", "edges_sha256", "params",
        "scanner"}``, or None for a remote source, an image sequence or a file that cannot be read.
    """
    path = local_path(item.url) if item.kind == "video" else None
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            digest = hashlib.sha256(handle.read(_EDGE_BYTES))
            if stat.st_size > _EDGE_BYTES:
                handle.seek(max(stat.st_size - _EDGE_BYTES, _EDGE_BYTES))
                digest.update(handle.read(_EDGE_BYTES))
    except OSError:
        return None  # the scan names the problem
    return {
        "version": SCAN_CACHE_VERSION, "url": item.url, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
        "ctime_ns": stat.st_ctime_ns, "inode": stat.st_ino, "edges_sha256": digest.hexdigest(), "params": params,
        "scanner": _scanner_version(),
    }


def entry_url(cache_dir: str, item: SourceItem) -> str:
    """The cache file of ``item``'s scan: one per source URL, replaced when the source changes."""
    return f"{cache_dir.rstrip('/')}/{hashlib.sha256(item.url.encode()).hexdigest()[:32]}.json"


def _read_entry(url: str, storage_options: dict | None) -> dict[str, Any] | None:
    try:
        fs, path = resolve_url(url, storage_options)
        entry = json.loads(fs.cat_file(path))
    except (OSError, ValueError):  # missing or unreadable: a miss, the scan rewrites it
        return None
    return entry if isinstance(entry, dict) else None


def _from_entry(item: SourceItem, entry: dict[str, Any]) -> VideoScan | None:
    fields = entry.get("scan")
    if not isinstance(fields, dict):
        return None
    try:
        # The item of this run: the same file may belong to another match id now.
        return VideoScan(item=item, **{**fields, "cuts": tuple(fields.get("cuts", ()))})
    except (TypeError, ValueError):  # fields renamed, invalid or missing: scan again
        return None


def scan_cached(
    item: SourceItem,
    cache_dir: str | None,
    *,
    cut_threshold: float = 0.25,
    min_shot_frames: int = 5,
    min_width: int = MIN_WIDTH,
    min_height: int = MIN_HEIGHT,
    storage_options: dict | None = None,
) -> tuple[VideoScan, bool]:
    """:func:`~soccerfactory.curation.video.scan.scan_video` of ``item``, reused from ``cache_dir``
    while the source and the parameters are unchanged (see the module docstring).

    Args:
        item: The source.
        cache_dir: Folder URL of the entries (e.g. ``<output>/.cache/scans``); None scans always.
        cut_threshold, min_shot_frames, min_width, min_height: As for ``scan_video``.
        storage_options: fsspec options of the source and of ``cache_dir``.

    Returns:
        ``(scan, reused)``: reused is True when no frame was decoded.

    Raises:
        BadInputError, ValueError: as ``scan_video`` (a bad input is never cached).
    """
    params = {"cut_threshold": cut_threshold, "min_shot_frames": min_shot_frames, "min_width": min_width, "min_height": min_height}
    scan = functools.partial(scan_video, item, storage_options=storage_options, **params)
    signature = source_signature(item, params) if cache_dir is not None else None
    if signature is None:
        return scan(), False
    url = entry_url(cache_dir, item)
    entry = _read_entry(url, storage_options)
    if entry is not None and entry.get("signature") == signature:
        cached = _from_entry(item, entry)
        if cached is not None:
            return cached, True
    result = scan()
    if source_signature(item, params) == signature:  # not changed while it was decoded
        fields = {k: v for k, v in asdict(result).items() if k != "item"}
        try:
            write_json_atomic(url, {"signature": signature, "scan": {**fields, "cuts": list(result.cuts)}}, storage_options)
        except (OSError, ValueError):  # a cache that cannot be written costs the next run a scan, nothing more
            pass
    return result, False
