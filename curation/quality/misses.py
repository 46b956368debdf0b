"""Why a true athlete has no curated row: one reason per missed truth row.

GS-HOTA's detection term counts every true athlete of a frame that no prediction stands within
5 m of. The truth views say *that* a row was missed (``truth_matches.status = 'missed'``); this
says *where* it was lost, stage by stage, so that a fix goes where the rows are:

1. ``found``: a curated row matches it (IoU >= ``min_iou``, one to one per frame, greedy by IoU)
   with a pitch position within ``max_position_m``; ``no_position`` / ``position_off`` when the
   row has no position or one further off (GS-HOTA cannot match it in pitch space);
2. ``removed_after_tracking``: no curated row, but the spatial pass's tracks have one: a rule
   after tracking (view, off-pitch, duplicate, vote) removed it;
3. ``track_gap`` / ``track_head`` / ``track_tail`` / ``never_tracked``: the detector kept a box at
   its operating point (confidence >= ``conf`` after class-aware NMS at ``iou``, as ultralytics
   decides) but no track holds it: the athlete is tracked on both sides within ``window`` frames
   (a tracker gap: the track was lost), only after (a track's unconfirmed head), only before (its
   tail), or neither (never confirmed, or a short track the clean-up dropped);
4. ``below_threshold``: the detector's candidates hold a box under ``conf`` (NMS at ``iou``);
5. ``suppressed_by_nms``: a box stands only among the candidates before NMS at ``iou`` (or the
   role stage's class-agnostic dedup removed it);
6. ``no_box``: the detector has nothing at the candidates' floor confidence.

The candidates are the detector run once at a floor confidence with a loose NMS (e.g. 0.05 and
0.8); the operating point and the under-threshold boxes are derived from them exactly: class-aware
greedy NMS at IoU ``iou`` over boxes already suppressed at a looser IoU gives the same boxes, since a
box one suppressor removes at 0.8 it also removes at 0.6.

Each level matches *all* truth rows of a frame one to one again, so one box over two people
counts once. :class:`MissBreakdown` keeps, per truth row, the reason and what explains a
``no_box``: the box height, the largest IoU with another true box (occlusion), and whether the
box touches the frame's edge.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np

from soccerfactory.curation.quality.metrics import box_iou

__all__ = ["MISS_REASONS", "MissBreakdown", "class_aware_nms", "greedy_match", "miss_breakdown"]

#: Every reason, in the order the stages are checked.
MISS_REASONS: tuple[str, ...] = (
    "found", "no_position", "position_off", "removed_after_tracking",
    "track_gap", "track_head", "track_tail", "never_tracked",
    "below_threshold", "suppressed_by_nms", "no_box",
)


def greedy_match(truth_xyxy: np.ndarray, other_xyxy: np.ndarray, min_iou: float = 0.5) -> np.ndarray:
    """One-to-one matching of one frame's boxes, greedy by descending IoU (the truth views' rule; the role check's too).

    Args:
        truth_xyxy: ``(T, 4)`` boxes.
        other_xyxy: ``(P, 4)`` boxes.
        min_iou: Smallest IoU of a match.

    Returns:
        ``int64`` ``(T,)``: the matched row of ``other_xyxy`` per truth box, ``-1`` for none.
    """
    matched = np.full(len(truth_xyxy), -1, dtype=np.int64)
    if len(truth_xyxy) == 0 or len(other_xyxy) == 0:
        return matched
    iou = box_iou(truth_xyxy, other_xyxy)
    t, p = np.nonzero(iou >= min_iou)
    order = np.lexsort((p, t, -iou[t, p]))  # IoU descending, ties by row order
    taken = np.zeros(len(other_xyxy), dtype=bool)
    for i, j in zip(t[order].tolist(), p[order].tolist()):
        if matched[i] < 0 and not taken[j]:
            matched[i], taken[j] = j, True
    return matched


def class_aware_nms(xyxy: np.ndarray, confidence: np.ndarray, class_id: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS per class, as ultralytics runs it (``agnostic=False``).

    Args:
        xyxy: ``(N, 4)`` boxes of one image.
        confidence: ``(N,)`` scores.
        class_id: ``(N,)`` classes: boxes of different classes never suppress each other.
        iou: A box overlapping a more confident one of its class by more than this goes.

    Returns:
        ``int64`` indices of the kept boxes, most confident first.
    """
    order = np.argsort(-np.asarray(confidence), kind="stable")
    xyxy, class_id = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4), np.asarray(class_id)
    overlap = box_iou(xyxy, xyxy)
    suppressed = np.zeros(len(order), dtype=bool)
    kept = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        kept.append(i)
        suppressed |= (overlap[i] > iou) & (class_id == class_id[i])
    return np.asarray(kept, dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class MissBreakdown:
    """Per truth row, where it was lost (:data:`MISS_REASONS`).

    Attributes:
        reason: ``object`` ``(T,)`` one of :data:`MISS_REASONS`.
        height_px: ``float32`` ``(T,)`` the true box's height.
        occlusion_iou: ``float32`` ``(T,)`` largest IoU with another true box of the frame.
        at_edge: ``bool`` ``(T,)`` the true box touches the frame's edge (within 2 px).
        best_confidence: ``float32`` ``(T,)`` confidence of the candidate matched at the
            under-threshold level (NaN where the row was resolved before or has none).
    """

    reason: np.ndarray
    height_px: np.ndarray
    occlusion_iou: np.ndarray
    at_edge: np.ndarray
    best_confidence: np.ndarray

    def counts(self, where: np.ndarray | None = None) -> dict[str, int]:
        """Rows per reason (all of :data:`MISS_REASONS`, zeros included), over ``where`` (bool
        ``(T,)``) or all rows."""
        reasons = self.reason if where is None else self.reason[np.asarray(where, dtype=bool)]
        counted = Counter(reasons.tolist())
        return {name: int(counted.get(name, 0)) for name in MISS_REASONS}

    def no_box_profile(self, where: np.ndarray | None = None, heights: tuple[float, ...] = (20, 30, 40, 60)) -> dict[str, int]:
        """``no_box`` rows (over ``where``, bool ``(T,)``, or all) split by what may explain them: at
        the edge, occluded (IoU >= 0.3 with another true box), else by height band (``< heights[0]`` px, ...)."""
        rows = self.reason == "no_box"
        if where is not None:
            rows &= np.asarray(where, dtype=bool)
        edge = rows & self.at_edge
        occluded = rows & ~self.at_edge & (self.occlusion_iou >= 0.3)
        rest = rows & ~self.at_edge & ~occluded
        profile = {"at_edge": int(edge.sum()), "occluded": int(occluded.sum())}
        low = 0.0
        for high in (*heights, np.inf):
            band = rest & (self.height_px >= low) & (self.height_px < high)
            profile[f"height_{int(low)}_{'up' if np.isinf(high) else int(high)}px"] = int(band.sum())
            low = high
        return profile


def _by_frame(frame_index: np.ndarray) -> dict[int, np.ndarray]:
    frame_index = np.asarray(frame_index, dtype=np.int64)
    order = np.argsort(frame_index, kind="stable")
    frames, starts = np.unique(frame_index[order], return_index=True)
    return dict(zip(frames.tolist(), np.split(order, starts[1:])))


def _match_level(truth_rows: dict[int, np.ndarray], truth_xyxy: np.ndarray, xyxy: np.ndarray, frame_index: np.ndarray,
                 min_iou: float, keep: np.ndarray | None = None) -> np.ndarray:
    """Per truth row the matched row of (``xyxy``, ``frame_index``) (``keep`` bool: only those), or -1."""
    out = np.full(len(truth_xyxy), -1, dtype=np.int64)
    rows = np.arange(len(xyxy)) if keep is None else np.flatnonzero(keep)
    other = _by_frame(np.asarray(frame_index)[rows])
    for frame, truth in truth_rows.items():
        if frame in other:
            candidates = rows[other[frame]]
            matched = greedy_match(truth_xyxy[truth], np.asarray(xyxy)[candidates], min_iou)
            out[truth] = np.where(matched >= 0, candidates[np.maximum(matched, 0)], -1)
    return out


def miss_breakdown(
    truth_frame: np.ndarray,
    truth_xyxy: np.ndarray,
    truth_track: np.ndarray,
    final_frame: np.ndarray,
    final_xyxy: np.ndarray,
    track_frame: np.ndarray,
    track_xyxy: np.ndarray,
    candidate_frame: np.ndarray,
    candidate_xyxy: np.ndarray,
    candidate_confidence: np.ndarray,
    candidate_class: np.ndarray,
    conf: float,
    iou: float,
    *,
    truth_pitch: np.ndarray | None = None,
    final_pitch: np.ndarray | None = None,
    frame_size: tuple[int, int] = (1280, 720),
    min_iou: float = 0.5,
    max_position_m: float = 5.0,
    window: int = 50,
    athlete_classes: tuple[int, ...] | None = None,
    dedup_iou: float | None = None,
) -> MissBreakdown:
    """Where each truth row of one clip (or sequence: frames must be unique to it) was lost.

    Args:
        truth_frame, truth_xyxy, truth_track: ``(T,)`` / ``(T, 4)`` / ``(T,)`` the true boxes and
            athlete ids.
        final_frame, final_xyxy: ``(F,)`` / ``(F, 4)`` the curated rows that are scored.
        track_frame, track_xyxy: ``(K,)`` / ``(K, 4)`` the spatial pass's tracked rows.
        candidate_frame, candidate_xyxy, candidate_confidence, candidate_class: ``(N, ...)`` the
            detector's candidates at a floor confidence and a loose NMS.
        conf, iou: The detector's operating point (confidence, NMS IoU): the lowest confidence
            the tracker is given (``min(detect.conf, detect.track_conf)``).
        truth_pitch, final_pitch: ``(T, 2)`` / ``(F, 2)`` pitch metres (NaN: none); None skips
            the position check.
        frame_size: ``(width, height)`` for the edge test.
        min_iou: IoU of a box match.
        max_position_m: Farthest pitch position that still matches (GS-HOTA's 5 m).
        window: Frames on either side in which a tracked row of the same athlete tells a gap
            from a head, a tail or never (it may reach into the next shot of a sequence).
        athlete_classes: Candidate classes that are people (default: all but the ball).
        dedup_iou: The role stage's class-agnostic dedup of the operating point's person boxes
            (:class:`~soccerfactory.curation.detection.roles.CropRoleClassifier`, 0.7): a box it
            removes is not at the operating point. None: no such stage.

    Returns:
        The :class:`MissBreakdown`, rows aligned with the truth arrays.
    """
    from soccerfactory.curation.detection.roles import nms_keep  # the role stage's own dedup
    from soccerfactory.curation.types import BALL

    truth_xyxy = np.asarray(truth_xyxy, dtype=np.float64).reshape(-1, 4)
    truth_frame = np.asarray(truth_frame, dtype=np.int64)
    truth_track = np.asarray(truth_track, dtype=np.int64)
    n = len(truth_xyxy)
    truth_rows = _by_frame(truth_frame)
    reason = np.full(n, "", dtype=object)

    final = _match_level(truth_rows, truth_xyxy, final_xyxy, final_frame, min_iou)
    hit = final >= 0
    reason[hit] = "found"
    if truth_pitch is not None and final_pitch is not None:
        predicted = np.asarray(final_pitch, dtype=np.float64).reshape(-1, 2)[final[hit]]
        error = np.linalg.norm(predicted - np.asarray(truth_pitch, dtype=np.float64).reshape(-1, 2)[hit], axis=1)
        reason[np.flatnonzero(hit)[np.isnan(error)]] = "no_position"
        reason[np.flatnonzero(hit)[error > max_position_m]] = "position_off"

    tracked = _match_level(truth_rows, truth_xyxy, track_xyxy, track_frame, min_iou) >= 0
    reason[(reason == "") & tracked] = "removed_after_tracking"

    classes = np.asarray(candidate_class, dtype=np.int64)
    confidence = np.asarray(candidate_confidence, dtype=np.float64)
    people = ~np.isin(classes, [BALL]) if athlete_classes is None else np.isin(classes, athlete_classes)
    nms_kept = np.zeros(len(classes), dtype=bool)
    people_rows = np.flatnonzero(people)
    for rows in _by_frame(np.asarray(candidate_frame)[people_rows]).values():
        rows = people_rows[rows]
        nms_kept[rows[class_aware_nms(np.asarray(candidate_xyxy)[rows], confidence[rows], classes[rows], iou)]] = True
    at_point = nms_kept & (confidence >= conf)
    if dedup_iou is not None:
        point_rows = np.flatnonzero(at_point)
        for rows in _by_frame(np.asarray(candidate_frame)[point_rows]).values():
            rows = point_rows[rows]
            at_point[rows[~nms_keep(np.asarray(candidate_xyxy)[rows], confidence[rows], dedup_iou)]] = False
    operating = _match_level(truth_rows, truth_xyxy, candidate_xyxy, candidate_frame, min_iou, at_point)
    detected = (reason == "") & (operating >= 0)
    # Is the same athlete tracked before / after within the window?
    tracked_frames: dict[int, np.ndarray] = {}
    for athlete in np.unique(truth_track[detected]).tolist():
        tracked_frames[athlete] = np.sort(truth_frame[(truth_track == athlete) & tracked])
    for row in np.flatnonzero(detected).tolist():
        frames = tracked_frames[int(truth_track[row])]
        frame = truth_frame[row]
        before = bool(np.any((frames < frame) & (frames >= frame - window)))
        after = bool(np.any((frames > frame) & (frames <= frame + window)))
        reason[row] = "track_gap" if before and after else "track_head" if after else "track_tail" if before else "never_tracked"

    best = np.full(n, np.nan, dtype=np.float32)
    # A box at the confidence that the role stage's dedup removed counts as suppressed, not under.
    under = _match_level(truth_rows, truth_xyxy, candidate_xyxy, candidate_frame, min_iou, nms_kept & (at_point | (confidence < conf)))
    low = (reason == "") & (under >= 0)
    reason[low] = "below_threshold"
    best[low] = confidence[under[low]]
    loose = _match_level(truth_rows, truth_xyxy, candidate_xyxy, candidate_frame, min_iou, people)
    reason[(reason == "") & (loose >= 0)] = "suppressed_by_nms"
    reason[reason == ""] = "no_box"

    occlusion = np.zeros(n, dtype=np.float32)
    for rows in truth_rows.values():
        if len(rows) > 1:
            overlap = box_iou(truth_xyxy[rows], truth_xyxy[rows])
            np.fill_diagonal(overlap, 0.0)
            occlusion[rows] = overlap.max(axis=1)
    width, height = frame_size
    edge = (truth_xyxy[:, 0] <= 2) | (truth_xyxy[:, 1] <= 2) | (truth_xyxy[:, 2] >= width - 2) | (truth_xyxy[:, 3] >= height - 2)
    return MissBreakdown(
        reason=reason,
        height_px=(truth_xyxy[:, 3] - truth_xyxy[:, 1]).astype(np.float32),
        occlusion_iou=occlusion,
        at_edge=edge,
        best_confidence=best,
    )
