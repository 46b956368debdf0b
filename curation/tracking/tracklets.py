"""Clean-up of a clip's tracks once the tracker is done: short tracks dropped, fragments stitched.

An online tracker decides frame by frame. Over a whole clip, two mistakes are visible that it
could not see then:

* **Short tracks** (a few frames of a false detection, a spectator at the touchline) add false
  positives and identities that are never seen again.
* **Fragments**: an athlete hidden behind another for longer than the tracker's memory comes back
  with a new id. If one track ends and another starts shortly after, near where the first one
  could have run to, in the same kit, they are one athlete.
* **Duplicates**: two tracks on one athlete at the same time (the detector's two boxes of one
  person, e.g. one per class, each followed by the tracker). Boxes that overlap almost exactly
  for a sustained time are one person (:func:`find_duplicates`); their rows are merged into the
  longer track and the kept track carries the reason (``data["duplicate_reason"]``).

:class:`TrackletCleanup` returns an id mapping (old id -> new id, dropped ids absent) rather than
new rows, so everything keyed by track id (crops, votes) is relabelled the same way; merged
duplicates map onto the kept id and :func:`relabel_tracks` drops their rows on the frames the
kept track already has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soccerfactory.curation.arrays import components
from soccerfactory.curation.types import REFEREE, Tracks

__all__ = ["TrackMapping", "TrackletCleanup", "box_iou_pairs", "find_duplicates", "link_by_jersey", "relabel_tracks"]


class TrackMapping(dict):
    """``{old id: new id}`` (dropped ids absent), plus what was merged as a duplicate.

    Attributes:
        merged: ids whose rows were merged into another track as duplicates; on a frame where the
            kept track has its own row, theirs is dropped by :func:`relabel_tracks`.
        reasons: new id -> why duplicates were merged into it (one clause, with their old ids).
    """

    def __init__(self, mapping=(), merged=(), reasons=None) -> None:
        super().__init__(mapping)
        self.merged: frozenset[int] = frozenset(int(t) for t in merged)
        self.reasons: dict[int, str] = dict(reasons or {})


def box_iou_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` ``(N, 4)`` with every box of ``b`` ``(M, 4)`` (xyxy): ``(N, M)``."""
    a = np.asarray(a, dtype=np.float64)[:, None, :]
    b = np.asarray(b, dtype=np.float64)[None, :, :]
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    return inter / np.maximum(union, 1e-9)


def find_duplicates(tracks: Tracks, min_iou: float, min_share: float, min_frames: int) -> TrackMapping:
    """Tracks that follow one person at the same time, grouped onto the longest of them.

    Two tracks are one person when, on the frames both have a row, their boxes overlap at IoU
    ``>= min_iou`` on at least ``min_share`` of those frames and on at least ``min_frames`` of
    them. Distinct people are rarely that aligned for long: over 16 rendered 10 s development clips
    (seeds 400-415) no two ground-truth athletes stayed at IoU >= 0.7 for more than 4 frames in a
    row. A track that covers one person for a while and then someone else shares few such frames
    with either, so it is left alone. Pairs are grouped transitively; each group keeps its track
    with the most rows (ties: the smallest id).

    Args:
        tracks: All tracked rows of one clip (xyxy pixels).
        min_iou: Overlap at which two boxes show the same person.
        min_share: Fraction of the shared frames that must overlap so.
        min_frames: Fewest overlapping frames (0 = duplicates are not looked for).

    Returns:
        A :class:`TrackMapping` of the merged ids only (``{merged id: kept id}``), with
        ``merged`` and one reason per kept id.
    """
    if min_frames <= 0 or len(tracks) == 0:
        return TrackMapping()
    frames, track_id = tracks.frame_index, tracks.track_id
    order = np.argsort(frames, kind="stable")
    bounds = np.flatnonzero(np.r_[True, frames[order][1:] != frames[order][:-1], True])
    overlapping: dict[tuple[int, int], int] = {}
    for start, stop in zip(bounds[:-1], bounds[1:]):
        rows = order[start:stop]
        if rows.size < 2:
            continue
        iou = np.triu(box_iou_pairs(tracks.xyxy[rows], tracks.xyxy[rows]), k=1)
        for i, j in zip(*np.nonzero(iou >= min_iou)):
            a, b = sorted((int(track_id[rows[i]]), int(track_id[rows[j]])))
            overlapping[(a, b)] = overlapping.get((a, b), 0) + 1
    if not overlapping:
        return TrackMapping()
    frame_sets = {int(t): set(frames[track_id == t].tolist()) for t in np.unique(track_id)}
    evidence: dict[tuple[int, int], tuple[int, int]] = {}
    for (a, b), count in sorted(overlapping.items()):
        shared = len(frame_sets[a] & frame_sets[b])
        if count >= min_frames and count >= min_share * shared:
            evidence[(a, b)] = (count, shared)
    ids = sorted({t for pair in evidence for t in pair})
    at = {t: k for k, t in enumerate(ids)}
    mapping, reasons = {}, {}
    for group in components(len(ids), [(at[a], at[b]) for a, b in evidence]):
        members = [ids[k] for k in group]
        kept = min(members, key=lambda t: (-len(frame_sets[t]), t))
        others = sorted(t for t in members if t != kept)
        mapping.update({t: kept for t in others})
        clauses = []
        for t in others:
            count, shared = max(v for pair, v in evidence.items() if t in pair)
            clauses.append(f"track {t} (IoU >= {min_iou:g} on {count} of {shared} shared frames)")
        reasons[kept] = "merged duplicate " + ", ".join(clauses)
    return TrackMapping(mapping, merged=mapping, reasons=reasons)


@dataclass(frozen=True)
class _Tracklet:
    track_id: int
    first: int
    last: int
    start_xy: np.ndarray  # pitch metres (NaN when uncalibrated)
    end_xy: np.ndarray
    start_px: np.ndarray  # bottom-centre pixels
    end_px: np.ndarray
    appearance: np.ndarray | None
    referee: bool
    team: object


@dataclass(frozen=True)
class TrackletCleanup:
    """Drop short tracks, then stitch fragments of one athlete.

    Two tracks are stitched when the second starts at most ``max_gap_s`` after the first ends,
    the athlete could have run between the end and the start (``max_speed_mps`` on the pitch when
    both ends are calibrated, else ``max_image_speed`` frame widths per second in the image: the
    camera's pan adds to the athlete's motion there), their kits look alike (cosine distance of
    the mean :func:`~soccerfactory.curation.tracking.trackers.appearance_embeddings` at most
    ``max_appearance_distance``) and neither is a referee while the other is not. When the rows
    carry a ``team`` label, different teams are never stitched. Pairs are taken cheapest first;
    a track gains at most one predecessor and one successor, so stitched chains never overlap in
    time.

    Before both, duplicates (two tracks on one person at the same time, :func:`find_duplicates`)
    are merged into the longer one.

    Attributes:
        min_length_s: Tracks covering fewer seconds of frames are dropped.
        max_gap_s: Longest gap between the end of one fragment and the start of the next.
        max_speed_mps: Fastest an athlete runs (a sprint is ~9.5 m/s), plus 2 m of slack.
        max_image_speed: Same, in frame widths per second, for uncalibrated ends.
        max_appearance_distance: Largest cosine distance between the two kits' mean embeddings.
        duplicate_min_iou: Box overlap at which two tracks show one person.
        duplicate_min_share: Fraction of their shared frames that must overlap so.
        duplicate_min_s: Fewest seconds of such overlap (0 = duplicates are kept).

    The stage builder passes the ``track`` config section's values; the defaults here mirror it.
    """

    min_length_s: float = 0.4
    max_gap_s: float = 3.0
    max_speed_mps: float = 9.0
    max_image_speed: float = 0.6
    max_appearance_distance: float = 0.15
    duplicate_min_iou: float = 0.7
    duplicate_min_share: float = 0.8
    duplicate_min_s: float = 0.5

    def __post_init__(self) -> None:
        if self.min_length_s < 0 or self.max_gap_s < 0 or self.max_speed_mps <= 0 or self.max_image_speed <= 0:
            raise ValueError(f"TrackletCleanup: lengths must be >= 0 and speeds > 0, got {self}")
        if not 0 <= self.max_appearance_distance <= 2:
            raise ValueError(f"max_appearance_distance must be in [0, 2], got {self.max_appearance_distance}")
        if not (0 < self.duplicate_min_iou <= 1 and 0 < self.duplicate_min_share <= 1 and self.duplicate_min_s >= 0):
            raise ValueError(
                "TrackletCleanup: duplicate_min_iou and duplicate_min_share must be in (0, 1] and duplicate_min_s >= 0, "
                f"got {self.duplicate_min_iou}, {self.duplicate_min_share}, {self.duplicate_min_s}"
            )

    def __call__(self, tracks: Tracks, fps: float, frame_width: int) -> dict[int, int]:
        """Map each kept track id to its new id (stitched fragments share one).

        Args:
            tracks: All tracked rows of one clip; ``data["pitch_xy"]`` (``(N, 2)`` metres, NaN
                when unknown), ``data["appearance"]`` (``(N, D)``) and ``data["team"]`` are used
                when present.
            fps: Rate of the tracked frames (frames per second of ``frame_index`` steps).
            frame_width: Frame width in pixels.

        Returns:
            A :class:`TrackMapping` ``{old id: new id}``; dropped ids are absent. New ids are the
            smallest old id of each stitched chain, so an unchanged track keeps its id; merged
            duplicates map onto their kept track's new id.
        """
        if fps <= 0 or frame_width <= 0:
            raise ValueError(f"fps and frame_width must be > 0, got {fps}, {frame_width}")
        if len(tracks) == 0:
            return TrackMapping()
        min_frames = int(np.ceil(self.duplicate_min_s * fps)) if self.duplicate_min_s > 0 else 0
        duplicates = find_duplicates(tracks, self.duplicate_min_iou, self.duplicate_min_share, min_frames)
        if duplicates:
            identity = {int(t): int(t) for t in tracks.track_ids().tolist() if int(t) not in duplicates}
            tracks = relabel_tracks(tracks, TrackMapping({**identity, **duplicates}, merged=duplicates.merged))
        mapping = self._stitch(tracks, fps, frame_width)
        for merged, kept in duplicates.items():
            if kept in mapping:
                mapping[merged] = mapping[kept]
        reasons = {mapping[kept]: reason for kept, reason in duplicates.reasons.items() if kept in mapping}
        return TrackMapping(mapping, merged=duplicates.merged, reasons=reasons)

    def _stitch(self, tracks: Tracks, fps: float, frame_width: int) -> dict[int, int]:
        tracklets = [t for t in self._tracklets(tracks) if (t.last - t.first + 1) >= self.min_length_s * fps]
        successor: dict[int, int] = {}
        predecessor: dict[int, int] = {}
        for cost, a, b in sorted(self._candidates(tracklets, fps, frame_width), key=lambda item: item[0]):
            if a.track_id in successor or b.track_id in predecessor:
                continue
            successor[a.track_id] = b.track_id
            predecessor[b.track_id] = a.track_id
        mapping: dict[int, int] = {}
        for tracklet in sorted(tracklets, key=lambda t: t.first):
            if tracklet.track_id in predecessor:
                continue
            chain = [tracklet.track_id]
            while chain[-1] in successor:
                chain.append(successor[chain[-1]])
            for member in chain:
                mapping[member] = min(chain)
        return mapping

    def _tracklets(self, tracks: Tracks) -> list[_Tracklet]:
        pitch = np.asarray(tracks.data.get("pitch_xy", np.full((len(tracks), 2), np.nan)), dtype=np.float64)
        appearance = tracks.data.get("appearance")
        team = tracks.data.get("team")
        bottom = tracks.bottom_center
        out = []
        for track_id in tracks.track_ids().tolist():
            rows = np.flatnonzero(tracks.track_id == track_id)
            rows = rows[np.argsort(tracks.frame_index[rows], kind="stable")]
            mean = None
            if appearance is not None:
                mean = np.asarray(appearance, dtype=np.float64)[rows].mean(axis=0)
                mean = mean / max(np.linalg.norm(mean), 1e-12)
            labels = [] if team is None else [t for t in np.asarray(team, dtype=object)[rows] if t is not None]
            out.append(
                _Tracklet(
                    track_id=int(track_id),
                    first=int(tracks.frame_index[rows[0]]),
                    last=int(tracks.frame_index[rows[-1]]),
                    start_xy=pitch[rows[0]],
                    end_xy=pitch[rows[-1]],
                    start_px=bottom[rows[0]].astype(np.float64),
                    end_px=bottom[rows[-1]].astype(np.float64),
                    appearance=mean,
                    referee=bool(np.mean(tracks.class_id[rows] == REFEREE) > 0.5),
                    team=max(set(labels), key=labels.count) if labels else None,
                )
            )
        return out

    def _candidates(self, tracklets: list[_Tracklet], fps: float, frame_width: int):
        max_gap = self.max_gap_s * fps
        for a in tracklets:
            for b in tracklets:
                gap = b.first - a.last
                if gap <= 0 or gap > max_gap or a.referee != b.referee:
                    continue
                if a.team is not None and b.team is not None and a.team != b.team:
                    continue
                seconds = gap / fps
                if np.isfinite(a.end_xy).all() and np.isfinite(b.start_xy).all():
                    run = float(np.linalg.norm(b.start_xy - a.end_xy)) / (self.max_speed_mps * seconds + 2.0)
                else:
                    run = float(np.linalg.norm(b.start_px - a.end_px)) / (self.max_image_speed * frame_width * seconds + 0.02 * frame_width)
                if run > 1.0:
                    continue
                looks = 0.0
                if a.appearance is not None and b.appearance is not None:
                    looks = 1.0 - float(a.appearance @ b.appearance)
                    if looks > self.max_appearance_distance:
                        continue
                # Close in time, space and kit first; each term is a fraction of its limit.
                cost = run + looks / max(self.max_appearance_distance, 1e-6) + gap / max(max_gap, 1.0)
                yield cost, a, b


def relabel_tracks(tracks: Tracks, mapping: dict[int, int]) -> Tracks:
    """``tracks`` with ids replaced by ``mapping`` and rows of unmapped ids dropped.

    With a :class:`TrackMapping` that merged duplicates, a merged track's row is dropped on a
    frame where its new id already has a row (the kept track's own box wins; between two merged
    rows, the more confident), and ``data["duplicate_reason"]`` (object ``(N,)``, str or None)
    carries the mapping's reason on every row of a track that absorbed duplicates.
    """
    keep = np.isin(tracks.track_id, np.fromiter(mapping, dtype=np.int64, count=len(mapping)))
    kept = tracks[keep]
    new_ids = np.array([mapping[t] for t in kept.track_id.tolist()], dtype=np.int64)
    merged = getattr(mapping, "merged", frozenset())
    if merged:
        was_merged = np.isin(kept.track_id, np.fromiter(merged, dtype=np.int64, count=len(merged)))
        # One row per (new id, frame): own rows first, then the most confident.
        order = np.lexsort((-kept.confidence, was_merged, kept.frame_index, new_ids))
        first = np.r_[True, (new_ids[order][1:] != new_ids[order][:-1]) | (kept.frame_index[order][1:] != kept.frame_index[order][:-1])]
        rows = np.sort(order[first])
        kept, new_ids = kept[rows], new_ids[rows]
    reasons = getattr(mapping, "reasons", {})
    if reasons:
        kept = kept.with_data(duplicate_reason=np.array([reasons.get(t) for t in new_ids.tolist()], dtype=object))
    return kept.with_tracks(new_ids).to_tracks()


def link_by_jersey(
    track_id: np.ndarray,
    frame_index: np.ndarray,
    team: np.ndarray,
    jersey: np.ndarray,
    role: np.ndarray,
) -> np.ndarray:
    """Join the tracklets of one athlete that left the view and came back, by team and number.

    A broadcast camera follows the ball: an athlete out of the picture for ten seconds comes back
    as a new track, and nothing in the image but the shirt number says who it is. Tracklets whose
    voted team *and* jersey number agree, and which never share a frame, are one athlete. Within
    one (team, number) the tracklets are taken in order of their first frame and each joins the
    first chain that has ended before it starts, so two tracklets seen at the same time (a
    misread number) are never joined. Referees and tracklets without a team or a number keep
    their own id.

    Args:
        track_id: ``int64`` ``(N,)`` tracklet of each row.
        frame_index: ``int64`` ``(N,)``.
        team, jersey, role: ``(N,)`` object arrays of each row's tracklet consensus (None = unknown).

    Returns:
        ``int64`` ``(N,)`` athlete ids: the id of the earliest tracklet of each joined chain.
    """
    track_id = np.asarray(track_id, dtype=np.int64)
    frame_index = np.asarray(frame_index, dtype=np.int64)
    if len(track_id) == 0:
        return track_id.copy()
    spans: dict[int, tuple[int, int, object, object, object]] = {}
    for i, t in enumerate(track_id.tolist()):
        f = int(frame_index[i])
        if t in spans:
            first, last, *rest = spans[t]
            spans[t] = (min(first, f), max(last, f), *rest)
        else:
            spans[t] = (f, f, team[i], jersey[i], role[i])
    chains: dict[tuple, list[list]] = {}
    new_id = {t: t for t in spans}
    for t, (first, last, t_team, t_jersey, t_role) in sorted(spans.items(), key=lambda item: item[1][0]):
        if t_team is None or t_jersey is None or t_role == "referee":
            continue
        for chain in chains.setdefault((t_team, t_jersey), []):
            if chain[1] < first:
                chain[1] = last
                new_id[t] = chain[0]
                break
        else:
            chains[(t_team, t_jersey)].append([t, last])
    return np.array([new_id[t] for t in track_id.tolist()], dtype=np.int64)
