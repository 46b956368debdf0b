"""Appearance across shots: one ReID embedding per track, and the shot linker's appearance pass.

Teammates wear one kit, so a kit colour tells the teams apart but not two teammates; the ReID
network (:mod:`.reid`, trained on teammates: rank-1 0.841 among them) tells the athletes apart by
build, skin, hair, boots and number. A track's appearance is the mean of the L2-normalised
embeddings of the crops the pipeline already keeps for team colours and jersey numbers (no frame
is decoded again): :func:`embed_crops` embeds them, the shard stores each crop's embedding on its
``athletes`` row (``appearance``), and :func:`mean_appearance` averages a track's rows.

The linker (:func:`~.shot_links.link_shot_tracks`) uses appearance only *after* position and
labels, and only to choose between candidates they already allow (same team letter and role
class, no two jersey numbers, no shared frame, a pitch distance an athlete could have run). Its
last pass (:func:`appearance_links`) offers the ends and starts still loose a link where position
alone could not: a gap longer than ``max_gap_s``, a cut whose common shift was not found, a shot
without pitch positions, a pair the assignment found ambiguous. A pair is linked only when
appearance is *clearly* closer to it than to every rival of both tracks (a margin rule): the
earlier track's embedding is at least ``appearance_min_similarity`` (cosine) to the later one's,
and at least ``appearance_margin`` more than to any other allowed partner of either.

Pure functions over numpy arrays; torch is imported only by :func:`embed_crops`. Tracks and the
config are typed ``Any`` (``ShotTrack`` and ``LinkConfig`` of :mod:`.shot_links`, not imported:
the architecture test counts that as an import cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from soccerfactory.curation.tracking.shot_geometry import _End
from soccerfactory.curation.types import Tracks

__all__ = ["appearance_links", "appearance_usable", "embed_crops", "mean_appearance", "row_embeddings", "rows_with_vectors", "runner_up", "with_crop_embeddings"]

TrackKey = tuple[str, int]


def embed_crops(images: Sequence[np.ndarray], boxes: np.ndarray, embedder: Any, batch: int = 256) -> np.ndarray:
    """ReID embeddings of athlete crops (the pipeline's team / jersey crops, cut with a margin).

    Args:
        images: ``N`` ``uint8`` BGR crops ``(h_i, w_i, 3)``.
        boxes: ``float32`` ``(N, 4)`` the athlete's ``xyxy`` box inside its crop.
        embedder: A :class:`~.reid.ReidEmbedder` (its ``net``).
        batch: Crops per forward pass.

    Returns:
        ``float32`` ``(N, D)`` unit-length embeddings.
    """
    import torch

    from soccerfactory.curation.tracking.reid import cut_crops, to_tensor

    net = embedder.net
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if len(images) != len(boxes):
        raise ValueError(f"{len(images)} crops but {len(boxes)} boxes")
    out = np.zeros((len(images), net.dim), np.float32)
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            stop = min(start + batch, len(images))
            cut = np.concatenate([cut_crops(image, box[None]) for image, box in zip(images[start:stop], boxes[start:stop])])
            out[start:stop] = net.embed(to_tensor(cut)).numpy()
    return out


def row_embeddings(
    frame_index: np.ndarray, track_id: np.ndarray, crop_frame: np.ndarray, crop_track: np.ndarray, embeddings: np.ndarray
) -> np.ndarray:
    """Each row's crop embedding (what ``athletes.appearance`` stores), NaN on rows without a crop.

    Args:
        frame_index, track_id: ``int64`` ``(R,)`` the rows' frame and track.
        crop_frame, crop_track: ``int64`` ``(N,)`` the crops' frame and track (the same ids).
        embeddings: ``float32`` ``(N, D)`` of the crops.

    Returns:
        ``float32`` ``(R, D)``.
    """
    embeddings = np.asarray(embeddings, dtype=np.float32).reshape(len(crop_frame), -1)
    at = {(int(f), int(t)): k for k, (f, t) in enumerate(zip(np.asarray(crop_frame).tolist(), np.asarray(crop_track).tolist()))}
    out = np.full((len(frame_index), embeddings.shape[1]), np.nan, np.float32)
    for row, key in enumerate(zip(np.asarray(frame_index).tolist(), np.asarray(track_id).tolist())):
        k = at.get(key)
        if k is not None:
            out[row] = embeddings[k]
    return out


def with_crop_embeddings(tracks: Tracks, crops: Any, embedder: Any) -> Tracks:
    """``tracks`` with ``data["reid"]``: the ReID embedding of each row's crop (NaN without one).

    Args:
        tracks: A clip's final tracks (ids after the clean-up, as the crops').
        crops: Its :class:`~soccerfactory.curation.attribute.crops.AthleteCrops` (team and
            jersey frames): no frame is decoded again.
        embedder: A :class:`~.reid.ReidEmbedder`.
    """
    embeddings = embed_crops(crops.images, crops.boxes, embedder) if len(crops) else np.zeros((0, embedder.net.dim), np.float32)
    return tracks.with_data(reid=row_embeddings(tracks.frame_index, tracks.track_id, crops.frame_index, crops.track_id, embeddings))


def mean_appearance(vectors: Iterable[Any]) -> tuple[np.ndarray | None, int]:
    """``(unit mean of the L2-normalised vectors, how many)``; ``(None, 0)`` without any.

    Vectors that are None, not finite, zero, or of another length than the first are skipped.
    """
    kept: list[np.ndarray] = []
    for vector in vectors:
        if vector is None:
            continue
        v = np.asarray(vector, dtype=np.float64).reshape(-1)
        norm = float(np.linalg.norm(v))
        if v.size == 0 or not np.isfinite(v).all() or norm == 0 or (kept and v.size != kept[0].size):
            continue
        kept.append(v / norm)
    if not kept:
        return None, 0
    mean = np.mean(kept, axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else None), len(kept)


def rows_with_vectors(table: Any, column: str = "appearance") -> list[dict[str, Any]]:
    """``table.to_pylist()`` (a ``pyarrow.Table``) with the list column ``column`` as ``float32``
    numpy views of one buffer instead of lists of Python floats (None where null): a whole
    match's ``athletes`` rows hold millions of embedding values, 4 bytes each this way against
    about 30 as Python floats."""
    if column not in table.column_names:
        return table.to_pylist()
    vectors = table.column(column).combine_chunks()
    rows = table.drop_columns([column]).to_pylist()
    offsets = vectors.offsets.to_numpy(zero_copy_only=False)
    values = vectors.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    valid = vectors.is_valid().to_numpy(zero_copy_only=False)
    for k, row in enumerate(rows):
        row[column] = values[offsets[k]:offsets[k + 1]] if valid[k] else None
    return rows


def _beside(track: Any, other: Any) -> bool:
    """Whether ``other`` is a teammate (same team and role) on screen with ``track`` (a shared frame)."""
    if other.key == track.key or other.team != track.team or other.role != track.role:
        return False
    if other.frames[0] > track.frames[-1] or track.frames[0] > other.frames[-1]:
        return False
    return bool(np.intersect1d(track.frames, other.frames).size)


def appearance_usable(track: Any, config: Any) -> bool:
    """Whether ``track``'s mean embedding counts as evidence: one of at least ``appearance_min_crops``
    crops (a look averaged over fewer is noise, for the pair, a rival and a teammate beside alike)."""
    return track.appearance is not None and track.appearance_crops >= config.appearance_min_crops


def runner_up(rivals: Sequence[float], pair: Sequence[Any], tracks: Iterable[Any], config: Any) -> float | None:
    """What a pair's similarity must beat by a margin to be clearly closest (the runner-up rule).

    Args:
        rivals: similarities of the pair's rival options (each between usable tracks).
        pair: the pair's own tracks.
        tracks: every track of the match.
        config: the ``LinkConfig``.

    Returns:
        The largest rival similarity; with no rival, the largest similarity of a usable teammate
        beside either of ``pair`` (:func:`appearance_usable`, :func:`_beside`; another athlete for
        sure); None with neither: nothing says the look is not the kit's, so nothing is decided.
    """
    if len(rivals):
        return float(max(rivals))
    beside = [float(t.appearance @ o.appearance) for t in pair for o in tracks
              if appearance_usable(o, config) and o.appearance.size == t.appearance.size and _beside(t, o)]
    return max(beside) if beside else None


def _nearest(
    a: TrackKey, b: TrackKey, best_of_end: Mapping[TrackKey, list[tuple[float, TrackKey]]], best_of_start: Mapping[TrackKey, list[tuple[float, TrackKey]]],
    ends: Mapping[TrackKey, _End | None], starts: Mapping[TrackKey, _End | None],
) -> bool:
    """Whether position ranks the pair first too: ``b``'s first positioned row is the nearest to
    ``a``'s last among ``a``'s candidates, and ``a``'s the nearest to ``b``'s among ``b``'s (both
    positioned; raw distances: a cut's common shift moves every candidate alike)."""

    def d(x: TrackKey, y: TrackKey) -> float:
        e, t = ends[x], starts[y]
        return np.inf if e is None or t is None else float(np.linalg.norm(t.xy - e.xy))

    here = d(a, b)
    if not np.isfinite(here):
        return False
    return all(d(a, o) > here for _, o in best_of_end[a] if o != b) and all(d(o, b) > here for _, o in best_of_start[b] if o != a)


def _reachable(a: _End | None, b: _End | None, fps: float, config: Any) -> bool:
    """Whether an athlete could stand at ``b`` after ``a`` (no position at either: nothing says no)."""
    if a is None or b is None:
        return True
    gap = max(b.frame - a.frame, 0) / fps
    return float(np.linalg.norm(b.xy - a.xy)) <= config.appearance_base_m + config.max_speed_mps * gap


def appearance_links(
    tracks: Sequence[Any],
    ends: Mapping[TrackKey, _End | None],
    starts: Mapping[TrackKey, _End | None],
    fps: float,
    config: Any,
    allowed: Callable[[TrackKey, TrackKey], str | None],
) -> list[tuple[TrackKey, TrackKey, float, float, float, str]]:
    """The pairs appearance clearly decides: ``(earlier, later, similarity, margin, gap_s, note)``.

    Candidates are pairs of tracks with an embedding of at least ``appearance_min_crops`` crops,
    the later starting after the earlier ends within ``appearance_max_gap_s``, that
    ``allowed(a, b)`` lets be one athlete (None: both ends free, labels compatible) and where the
    later's first positioned row is within ``appearance_base_m + max_speed_mps * gap`` of the
    earlier's last (the two shots' cameras may disagree by a common offset; a track without
    positions is not constrained). Every candidate competes with every other candidate of either
    of its tracks. A pair is returned when its cosine similarity is at least
    ``appearance_min_similarity`` and beats every rival pair of both tracks by at least
    ``appearance_margin``, or by ``appearance_agree_margin`` where position ranks it first too
    (:func:`_nearest`). Sorted by margin, largest first.
    """
    usable = [t for t in tracks if appearance_usable(t, config)]
    if len(usable) < 2:
        return []
    order = sorted(usable, key=lambda t: int(t.frames[0]))
    firsts = np.array([int(t.frames[0]) for t in order])
    reach = config.appearance_max_gap_s * fps
    pairs: dict[tuple[TrackKey, TrackKey], float] = {}
    for a in usable:
        last = int(a.frames[-1])
        lo, hi = np.searchsorted(firsts, last, side="right"), np.searchsorted(firsts, last + reach, side="right")
        for b in order[lo:hi]:
            if a.appearance.size != b.appearance.size or allowed(a.key, b.key) is not None:
                continue
            if not _reachable(ends[a.key], starts[b.key], fps, config):
                continue
            pairs[(a.key, b.key)] = float(a.appearance @ b.appearance)
    best_of_end: dict[TrackKey, list[tuple[float, TrackKey]]] = {}
    best_of_start: dict[TrackKey, list[tuple[float, TrackKey]]] = {}
    for (a, b), similarity in pairs.items():
        best_of_end.setdefault(a, []).append((similarity, b))
        best_of_start.setdefault(b, []).append((similarity, a))
    by_key = {t.key: t for t in usable}
    out = []
    for (a, b), similarity in pairs.items():
        if similarity < config.appearance_min_similarity:
            continue
        rivals = [s for s, other in best_of_end[a] if other != b] + [s for s, other in best_of_start[b] if other != a]
        # No rival pair: "clearly closer" is judged against the most alike teammate seen beside either track.
        closest = runner_up(rivals, (by_key[a], by_key[b]), usable, config)
        if closest is None:
            continue
        note = f"{len(rivals)} rival pairs, the closest at {closest:.2f}" if rivals else f"no rival pair; the most alike teammate beside them at {closest:.2f}"
        margin = similarity - closest
        if margin < config.appearance_margin:
            # Two cues that agree: position ranks the pair first too, so a smaller margin will do.
            if margin < config.appearance_agree_margin or not _nearest(a, b, best_of_end, best_of_start, ends, starts):
                continue
            note += "; position ranks it first too"
        gap = (int(by_key[b].frames[0]) - int(by_key[a].frames[-1])) / fps
        out.append((a, b, similarity, margin, gap, note))
    out.sort(key=lambda item: (-item[3], item[0], item[1]))
    return out
