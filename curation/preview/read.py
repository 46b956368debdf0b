"""Finding a curated clip's committed shard and rendering its QA preview.

:func:`preview_clip` (by ids, under a shard root) and :func:`preview_manifest` (a manifest in
hand) read the shard's tables, rebuild the clip it was curated from
(:func:`~soccerfactory.curation.layout.clip_from_manifest`) and hand both to
:func:`~soccerfactory.curation.preview.render.render_preview`. No Prefect here: the
``soccerfactory preview`` command calls them directly.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from soccerfactory.curation.layout import clip_from_manifest
from soccerfactory.curation.preview.render import render_preview
from soccerfactory.storage.manifest import ShardManifest
from soccerfactory.storage.shards import find_manifest, read_shard, scan_manifests

__all__ = ["find_clip_manifest", "preview_clip", "preview_manifest"]

_PREVIEW_TABLES = ("clips", "frames", "athletes", "ball", "cameras")


def _available_clips(root: str | os.PathLike, match_id: str | None, storage_options: Mapping[str, Any] | None, limit: int = 5) -> str:
    try:
        manifests, _ = scan_manifests(root, storage_options, check_files=False)
    except (OSError, ValueError):
        manifests = []
    if not manifests:
        return f"there are no shards under {os.fspath(root)}"
    same_match = [m for m in manifests if m.match_id == match_id]
    if same_match:
        names = [m.clip_id for m in same_match]
        where = f"clips of match {match_id}"
    else:
        names = [f"{m.match_id}/{m.clip_id}" for m in manifests]
        where = "clips there"
    more = f" (and {len(names) - limit} more)" if len(names) > limit else ""
    return f"{where}: {', '.join(names[:limit])}{more}"


def find_clip_manifest(
    root: str | os.PathLike,
    clip_id: str,
    match_id: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> ShardManifest:
    """The committed manifest of a clip, searching every match under ``root`` when ``match_id`` is None.

    Raises:
        FileNotFoundError: no committed shard of that clip; the message names the clip and lists
            a few clips that do exist.
        ValueError: ``match_id`` is None and several matches have a clip of that id (the
            message lists them), a bad id, or a corrupt manifest.
    """
    if match_id is not None:
        manifest = find_manifest(root, match_id, clip_id, storage_options)
        if manifest is None:
            raise FileNotFoundError(
                f"no shard of match {match_id!r} clip {clip_id!r} under {os.fspath(root)}; "
                f"{_available_clips(root, match_id, storage_options)}"
            )
        return manifest
    manifests, _ = scan_manifests(root, storage_options, check_files=False)
    hits = [m for m in manifests if m.clip_id == clip_id]
    if not hits:
        raise FileNotFoundError(f"no shard of clip {clip_id!r} under {os.fspath(root)}; {_available_clips(root, None, storage_options)}")
    if len(hits) > 1:
        matches = ", ".join(m.match_id for m in hits)
        raise ValueError(f"clip {clip_id!r} is in {len(hits)} matches ({matches}); pick one with --match")
    return hits[0]


def preview_manifest(
    manifest: ShardManifest,
    output_path: str | os.PathLike,
    *,
    source: str | None = None,
    storage_options: dict | None = None,
    **kwargs: Any,
) -> Path:
    """Render the preview of a committed shard (see :func:`preview_clip`)."""
    names = [name for name in _PREVIEW_TABLES if name in manifest.files]
    tables = read_shard(manifest, names, storage_options=storage_options)
    clip = clip_from_manifest(manifest, tables.get("clips"))
    if source is not None:
        clip = dataclasses.replace(clip, url=str(source))
    return render_preview(clip, tables, output_path, storage_options=storage_options, **kwargs)


def preview_clip(
    root: str | os.PathLike,
    match_id: str | None,
    clip_id: str,
    output_path: str | os.PathLike,
    storage_options: dict | None = None,
    *,
    source: str | None = None,
    **kwargs: Any,
) -> Path:
    """Render the QA preview of one curated clip from its shard under ``root``.

    Args:
        root: Shard root (local folder or fsspec URL), as given to ``soccerfactory curate --output``.
        match_id: The clip's match; None searches every match (an error if several have the clip).
        clip_id: The clip.
        output_path: The ``.mp4`` to write.
        storage_options: fsspec options, for the shards and the footage.
        source: Read the footage from this URL instead of the one the shard recorded (for
            footage that moved since curation).
        **kwargs: Passed to :func:`render_preview` (``max_frames``, ``options``, ``pitch``,
            ``progress``).

    Returns:
        The path written.

    Raises:
        FileNotFoundError: no shard of that clip (the message lists clips that exist).
        ValueError: ambiguous clip id, a corrupt manifest, or the shard's clip cannot be rebuilt.
        CorruptShardError: a table file differs from its manifest.
        BadInputError: the footage is gone or does not decode.
    """
    manifest = find_clip_manifest(root, clip_id, match_id, storage_options)
    return preview_manifest(manifest, output_path, source=source, storage_options=storage_options, **kwargs)
