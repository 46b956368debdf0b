"""Source ids: readable, unique and the same on every run and machine.

A source's id is derived from its path relative to the root given on the command line, so that
files with the same name in different folders (SoccerNet names both halves of every game
``1_720p.mkv`` / ``2_720p.mkv``) get different ids, and curating the same tree again, anywhere,
gives the same ids:

* the path's parts are sanitised to ``[A-Za-z0-9._-]`` (other characters become ``-``) and joined
  with ``.``; a video file's extension is dropped. ``england_epl/2014-2015/<game>/1_720p.mkv``
  becomes ``england_epl.2014-2015.<game>.1_720p``;
* a root that is itself a file (or a sequence folder) has its own name as id (``video.mp4`` ->
  ``video``);
* an id longer than :data:`MAX_ID_CHARS` keeps its readable tail (whole parts where they fit)
  behind a short hash of the full relative path: ``<hash10>.<tail>``.

Clip ids are ``<source id>-<start frame:06d>-<stop frame:06d>``. Ids are derived, never numbered,
so two sources of one run that derive the same id are not silently renamed: the flow reports the
second as a failure (:func:`claim_ids`), and a shard is never replaced by a clip of
different content (:func:`collision_reason`).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import unicodedata

__all__ = ["MAX_ID_CHARS", "HASH_CHARS", "relative_source_path", "source_id", "claim_ids", "collision_reason"]

#: Longest source id. Clip ids add 14 characters and shard folders a ``clip_id=`` prefix; 80 keeps
#: every path part far below the 255-byte limit of common filesystems while a SoccerNet game
#: (``league.season.YYYY-MM-DD-HH-MM-Home-N-N-Away.1_720p``, ~65 characters) still fits whole.
MAX_ID_CHARS = 80
#: Hex characters of the hash that stands for the dropped head of a long id (40 bits: a clash
#: needs about a million long paths under one root).
HASH_CHARS = 10

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

# Both sources of a clash are named, and what to do, because ids are derived and cannot simply
# be renumbered without changing on the next run.
_WHAT_TO_DO = (
    "ids come from the path below the folder given to curate ('/' becomes '.', the extension is dropped), "
    "so curate both from a common parent folder, or give one of them a distinct name"
)


def _part(text: str) -> str:
    cleaned = re.sub(r"-{2,}", "-", _UNSAFE.sub("-", text)).strip("-.")
    return cleaned or "_"


def _short_hash(rel: str) -> str:
    return hashlib.sha256(rel.encode("utf-8")).hexdigest()[:HASH_CHARS]


def _normalise(rel: str) -> str:
    # NFC: macOS stores decomposed accents, Linux composed ones; the same tree must hash the same.
    parts = [p for p in unicodedata.normalize("NFC", rel).replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


def relative_source_path(root: str, path: str) -> str:
    """The path of a found source relative to the root it was found under.

    Args:
        root: The filesystem path given (a file or a folder), without protocol.
        path: The source's filesystem path (a video file or an image-sequence folder).

    Returns:
        ``path`` relative to ``root``, ``/``-separated; the source's own name when it is the root
        itself or lies above it (a sequence's ``img1`` folder given as the root).
    """
    root, path = root.rstrip("/"), path.rstrip("/")
    rel = posixpath.relpath(path, root) if root else path
    if rel == "." or rel == ".." or rel.startswith("../"):
        return posixpath.basename(path)
    return rel


def source_id(rel_path: str, *, is_video_file: bool) -> str:
    """The id of a source from its path relative to the root given (see the module docstring).

    Args:
        rel_path: From :func:`relative_source_path`, e.g. ``"england_epl/2014-2015/game/1_720p.mkv"``.
        is_video_file: Drop the last part's extension (videos); sequence folders keep their name whole.

    Returns:
        A non-empty ``[A-Za-z0-9._-]`` string of at most :data:`MAX_ID_CHARS` characters.
    """
    rel = _normalise(rel_path)
    parts = rel.split("/") if rel else ["_"]
    if is_video_file:
        parts[-1] = posixpath.splitext(parts[-1])[0] or parts[-1]
    clean = [_part(p) for p in parts]
    readable = ".".join(clean)
    if len(readable) <= MAX_ID_CHARS:
        return readable
    budget = MAX_ID_CHARS - HASH_CHARS - 1
    tail: list[str] = []
    for part in reversed(clean):  # whole parts from the end, while they fit
        if len(".".join([part, *tail])) > budget:
            break
        tail.insert(0, part)
    text = ".".join(tail) if tail else clean[-1][-budget:].lstrip("-.") or "_"
    return f"{_short_hash(rel)}.{text}"


def claim_ids(sources: list[tuple[str, str, bool]]) -> list[tuple[str, str | None]]:
    """Derive the ids of one run's sources; a source whose id an earlier one took is refused.

    Ids are derived, never renumbered (a number would change when files are added), so a second
    source deriving a taken id (case-insensitively: shard folders may live on a case-insensitive
    filesystem) gets a reason naming the first instead.

    Args:
        sources: ``(url, relative path, is a video file)`` per source, in a stable order (by URL).

    Returns:
        ``(id, None)`` per source, or ``(id, reason)`` for one that is refused.
    """
    owners: dict[str, str] = {}
    result = []
    for url, rel, is_video_file in sources:
        name = source_id(rel, is_video_file=is_video_file)
        owner = owners.setdefault(name.lower(), url)
        refused = None if owner == url else f"its id {name!r} is also the id of {owner} in this run; {_WHAT_TO_DO}"
        result.append((name, refused))
    return result


def collision_reason(taken_id: str, url: str, other_url: str | None, shard_url: str) -> str:
    """Why footage at ``url`` is refused: ``taken_id`` names a committed shard of other content.

    Args:
        taken_id: The clip (or source) id both claim.
        url: The source being curated.
        other_url: The source of the committed shard (its manifest's ``metadata.clip.url``), if known.
        shard_url: The committed shard's manifest.
    """
    if other_url == url:
        return (
            f"id {taken_id} already names a shard of this path's earlier, different content ({shard_url}); "
            "nothing was overwritten; if the file was replaced on purpose, delete its old shards to curate it "
            "again, else give the new file a distinct name"
        )
    other = other_url or "another source (its manifest does not say which)"
    return f"id {taken_id} is already taken by {other}, whose content differs (shard {shard_url}); nothing was overwritten; {_WHAT_TO_DO}"
