"""Clean-up of a clip's tracks once the tracker is done: short tracks dropped, fragments stitched.

An online tracker decides frame by frame. Over a whole clip, two mistakes are visible that it
could not see then:

* **Short tracks** (a few frames of a false detection, a spectator at the touchline) add false
  positives and identities that are never seen again.
* **Fragments**: an athlete hidden behind another for longer than the tracker's memory comes back
  with a new id. If one track ends and another starts shortly after, near where the first one
  could have run to, in the same kit, they are one athlete.

:class:`TrackletCleanup` returns an id mapping (old id -> new id, dropped ids absent) rather than
new rows, so everything keyed by track id (crops, votes) is relabelled the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soccerfactory.curation.types import REFEREE, Tracks

__all__ = ["TrackletCleanup", "link_by_jersey", "relabel_tracks"]


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

    Attributes:
        min_length_s: Tracks covering fewer seconds of frames are dropped.
        max_gap_s: Longest gap between the end of one fragment and the start of the next.
        max_speed_mps: Fastest an athlete runs (a sprint is ~9.5 m/s), plus 2 m of slack.
        max_image_speed: Same, in frame widths per second, for uncalibrated ends.
        max_appearance_distance: Largest cosine distance between the two kits' mean embeddings.
    """

    min_length_s: float = 0.4
    max_gap_s: float = 3.0
    max_speed_mps: float = 9.0
    max_image_speed: float = 0.6
    max_appearance_distance: float = 0.15

    def __post_init__(self) -> None:
        if self.min_length_s < 0 or self.max_gap_s < 0 or self.max_speed_mps <= 0 or self.max_image_speed <= 0:
            raise ValueError(f"TrackletCleanup: lengths must be >= 0 and speeds > 0, got {self}")
        if not 0 <= self.max_appearance_distance <= 2:
            raise ValueError(f"max_appearance_distance must be in [0, 2], got {self.max_appearance_distance}")

    def __call__(self, tracks: Tracks, fps: float, frame_width: int) -> dict[int, int]:
        """Map each kept track id to its new id (stitched fragments share one).

        Args:
            tracks: All tracked rows of one clip; ``data["pitch_xy"]`` (``(N, 2)`` metres, NaN
                when unknown), ``data["appearance"]`` (``(N, D)``) and ``data["team"]`` are used
                when present.
            fps: Rate of the tracked frames (frames per second of ``frame_index`` steps).
            frame_width: Frame width in pixels.

        Returns:
            ``{old id: new id}``; dropped ids are absent. New ids are the smallest old id of
            each stitched chain, so an unchanged track keeps its id.
        """
        if fps <= 0 or frame_width <= 0:
            raise ValueError(f"fps and frame_width must be > 0, got {fps}, {frame_width}")
        if len(tracks) == 0:
            return {}
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
    """``tracks`` with ids replaced by ``mapping`` and rows of unmapped ids dropped."""
    keep = np.isin(tracks.track_id, np.fromiter(mapping, dtype=np.int64, count=len(mapping)))
    kept = tracks[keep]
    new_ids = np.array([mapping[t] for t in kept.track_id.tolist()], dtype=np.int64)
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
