"""Finding the footage in paths and URLs: video files, image-sequence folders and manifests.

:func:`discover_sources` turns a path, URL or list of them into
:class:`~soccerfactory.curation.video.clips.SourceItem` s (one per video file or image-sequence
folder, each its own match unless a manifest groups them); :func:`discover_each` does the same but
lets a bad source fail alone. Ids come from the path below the source given
(:mod:`~soccerfactory.curation.video.source_ids`).
"""

from __future__ import annotations

import json
import os
import posixpath
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from soccerfactory.curation.video.checks import BadInputError
from soccerfactory.curation.video.clips import ID_RE, Kind, SourceItem
from soccerfactory.curation.video.source_ids import claim_ids, relative_source_path
from soccerfactory.curation.video.sources import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    extension,
    is_local_fs,
    numbered_frames,
    read_seqinfo,
    open_source_url,
)

__all__ = ["MANIFEST_NAMES", "discover_each", "discover_sources"]

#: Optional file in a source folder mapping relative paths to match ids (first found wins;
#: having two is an error).
MANIFEST_NAMES = ("soccerfactory-sources.json", "soccerfactory-sources.yaml", "soccerfactory-sources.yml")

# folder/match/half/video.mp4 and folder/group/seq/img1/000001.jpg are both within reach.
_SEARCH_DEPTH = 4


# --------------------------------------------------------------------------- paths


def _child_url(source_url: str, fs: Any, root: str, path: str) -> str:
    """URL of ``path`` found under ``root``, keeping the caller's protocol chain and options."""
    if is_local_fs(fs):
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
        if not ID_RE.fullmatch(match_id) or set(match_id) == {"."}:
            raise BadInputError(manifest_url, f"match id {match_id!r} for {rel!r} may only use A-Z a-z 0-9 . _ -")
        mapping[posixpath.normpath(rel.replace("\\", "/")).strip("/")] = match_id
    return mapping, manifest_url


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def _discover_one(source_url: str, storage_options: dict | None) -> list[_Found]:
    fs, root = open_source_url(source_url, storage_options)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if not fs.exists(root):
        raise BadInputError(source_url, "does not exist (check the path, or storage_options for remote URLs)")

    def found(path: str, kind: Kind) -> _Found:
        return _Found((protocol, path), _child_url(source_url, fs, root, path), kind, relative_source_path(root, path))

    if fs.isfile(root):
        ext = extension(root)
        if ext in VIDEO_EXTENSIONS:
            return [found(root, "video")]
        if ext in IMAGE_EXTENSIONS:
            raise BadInputError(source_url, "is a single image; pass the folder holding the image sequence")
        raise BadInputError(source_url, f"is not a video file (expected one of {', '.join(sorted(VIDEO_EXTENSIONS))})")

    files = [
        p for p in fs.find(root, maxdepth=_SEARCH_DEPTH, detail=False)
        if not _is_hidden(posixpath.relpath(p, root))
    ]
    items = [found(p, "video") for p in files if extension(p) in VIDEO_EXTENSIONS]

    images_by_dir: dict[str, list[str]] = defaultdict(list)
    for path in files:
        if extension(path) in IMAGE_EXTENSIONS:
            images_by_dir[posixpath.dirname(path)].append(path)
    available = set(files)
    sequence_roots = set()
    for folder, images in images_by_dir.items():
        frames = numbered_frames(images)
        if not frames:
            continue
        parent = posixpath.dirname(folder)
        im_dir = "img1"
        if posixpath.join(parent, "seqinfo.ini") in available:
            im_dir = read_seqinfo(fs, parent, source_url).get("imdir", "img1")
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
        except Exception as error:  # noqa: BLE001 - a store that refuses us (no credentials, no bucket, a
            # dead endpoint) fails this source alone, in one line, like a path that does not exist
            failures.append(BadInputError(os.fspath(src), f"cannot read this URL ({type(error).__name__}: {_first_line(error)}); "
                                          "check the path, and the credentials or endpoint in storage_options"))
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
    :data:`~soccerfactory.curation.video.sources.VIDEO_EXTENSIONS`) and every image-sequence
    folder within four levels, skipping hidden files and folders. A list gives the union. Each
    item is its own match, with ``match_id`` and ``name`` its source id: the path relative to the
    source given, parts sanitised to ``[A-Za-z0-9._-]`` and joined with ``.``, the extension dropped
    (``league/season/game/1_720p.mkv`` -> ``league.season.game.1_720p``; a file given directly is
    its stem; see :mod:`~soccerfactory.curation.video.source_ids`). A folder may hold a manifest
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
