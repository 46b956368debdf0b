"""Split a tracklet where its jersey reads say the tracker switched it onto another athlete.

A tracker that swaps two crossing athletes carries one id over both: on dev broadcast seeds 400
and 402 a tracklet was read ``#30`` three times, then ``#29`` five times, after the crossing (the
reads were right for the athlete under the box each time). Voting one number over the whole
tracklet then labels half of it wrong, and a rival-number rule can only drop the number. The
reads themselves say where the switch happened: between the last read of the first number and
the first read of the second.

:func:`jersey_splits` cuts such a tracklet into one piece per number, each holding its own reads,
and the rows between two pieces (no read says whose they are) into a piece of their own with no
number: a wrong label is worse than none. It splits only when the evidence is clean: every number
has at least ``min_reads`` confident reads, in one unbroken run (``30 30 29 29 29``, never
``30 29 30``: reads that alternate are left to the consensus, which then gives no number).
"""

from __future__ import annotations

import numpy as np

__all__ = ["crossing_cuts", "jersey_splits", "remap_tracklets", "split_tracklets"]


def jersey_splits(
    read_track: np.ndarray,
    read_frame: np.ndarray,
    number: np.ndarray,
    confidence: np.ndarray,
    min_confidence: float,
    min_reads: int,
    first_new_id: int,
) -> dict[int, list[tuple[int, int]]]:
    """Where to cut each tracklet whose reads name two or more numbers one after the other.

    Args:
        read_track: ``int64`` ``(M,)`` tracklet of each jersey read.
        read_frame: ``int64`` ``(M,)`` frame of each read.
        number: ``int`` ``(M,)`` number read, ``-1`` = none.
        confidence: ``float32`` ``(M,)`` read confidence; reads below ``min_confidence`` are ignored.
        min_confidence: Least confidence of a read that counts.
        min_reads: Reads each number needs before it is evidence of a switch (the consensus rule's
            ``jersey_min_reads``).
        first_new_id: The first tracklet id free for the pieces (above every id of the clip).

    Returns:
        ``{tracklet: [(first_frame, new_id), ...]}`` for each tracklet to cut, sorted by frame:
        rows of the tracklet from ``first_frame`` on (up to the next cut) take ``new_id``; the
        first piece keeps the tracklet's own id (its cut starts at frame ``-inf`` and is not
        listed).
    """
    read_track, read_frame = np.asarray(read_track, np.int64), np.asarray(read_frame, np.int64)
    number, confidence = np.asarray(number), np.asarray(confidence, np.float32)
    keep = (number >= 1) & (confidence >= min_confidence) & (read_track >= 0)
    cuts: dict[int, list[tuple[int, int]]] = {}
    next_id = int(first_new_id)
    for track in np.unique(read_track[keep]):
        rows = np.flatnonzero(keep & (read_track == track))
        rows = rows[np.argsort(read_frame[rows], kind="stable")]
        frames, numbers = read_frame[rows], number[rows]
        counts = {int(n): int((numbers == n).sum()) for n in np.unique(numbers)}
        # A stray read of another number (one misread) is not evidence of a switch; drop it.
        strong = [n for n, c in counts.items() if c >= min_reads]
        if len(strong) < 2:
            continue
        mask = np.isin(numbers, strong)
        frames, numbers = frames[mask], numbers[mask]
        runs = np.flatnonzero(np.diff(numbers) != 0)  # index of the last read of each run but the last
        if len(runs) != len(strong) - 1:  # a number comes back: alternating reads, no clean switch
            continue
        pieces = []
        for end in runs:
            last, first = int(frames[end]), int(frames[end + 1])
            if first - last > 1:  # the rows between: nobody's read, a piece without a number
                pieces.append((last + 1, next_id))
                next_id += 1
            pieces.append((first, next_id))
            next_id += 1
        cuts[int(track)] = pieces
    return cuts


def remap_tracklets(track_id: np.ndarray, frame_index: np.ndarray, cuts: dict[int, list[tuple[int, int]]]) -> np.ndarray:
    """The tracklet id of each row after :func:`jersey_splits`' cuts.

    Args:
        track_id: ``int64`` ``(N,)`` tracklet of each row (track rows, crops or reads).
        frame_index: ``int64`` ``(N,)`` frame of each row.
        cuts: From :func:`jersey_splits`.

    Returns:
        ``int64`` ``(N,)``: the new id of every row (unchanged outside the cut tracklets).
    """
    out = np.asarray(track_id, np.int64).copy()
    frame_index = np.asarray(frame_index, np.int64)
    for track, pieces in cuts.items():
        rows = np.flatnonzero(out == track)
        for first, new_id in pieces:  # sorted by frame: each later piece overrides from its frame on
            out[rows[frame_index[rows] >= first]] = new_id
    return out


def crossing_cuts(
    track_id: np.ndarray,
    frame_index: np.ndarray,
    xyxy: np.ndarray,
    read_track: np.ndarray,
    read_frame: np.ndarray,
    number: np.ndarray,
    confidence: np.ndarray,
    min_confidence: float,
    min_iou: float,
    first_new_id: int,
) -> dict[int, list[tuple[int, int]]]:
    """Cut a numbered tracklet where it crossed another athlete outside the span of its reads.

    Trackers switch identities where two boxes overlap. Reads before and after a crossing that
    agree show no switch happened; a crossing after the last read (or before the first) leaves
    the rest of the tracklet unproven, and on dev seed 400 a tracklet read ``#30`` on frames
    89-114 ran on ``#29`` from frame 158, where the two crossed. So the rows from the first
    crossing after the last read (and up to the last crossing before the first read) become
    tracklets of their own, with no reads: they get no number from the reads that do not
    reach them. Tracklets without reads are left as they are.

    Args:
        track_id, frame_index: ``int64`` ``(N,)`` the clip's track rows.
        xyxy: ``float`` ``(N, 4)`` their boxes.
        read_track, read_frame, number, confidence: The jersey reads (as :func:`jersey_splits`).
        min_confidence: Least confidence of a read that counts.
        min_iou: Boxes overlapping at least this much are a crossing.
        first_new_id: The first tracklet id free for the pieces.

    Returns:
        Cuts in the format of :func:`jersey_splits` (apply with :func:`remap_tracklets`).
    """
    from soccerfactory.curation.tracking.tracklets import box_iou_pairs

    track_id, frame_index = np.asarray(track_id, np.int64), np.asarray(frame_index, np.int64)
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    read_track, read_frame = np.asarray(read_track, np.int64), np.asarray(read_frame, np.int64)
    keep = (np.asarray(number) >= 1) & (np.asarray(confidence, np.float32) >= min_confidence)
    if not keep.any() or not len(track_id):
        return {}
    crossing = np.zeros(len(track_id), bool)
    for frame in np.unique(frame_index):
        rows = np.flatnonzero(frame_index == frame)
        if len(rows) > 1:
            iou = box_iou_pairs(xyxy[rows], xyxy[rows])
            np.fill_diagonal(iou, 0.0)
            crossing[rows] = iou.max(axis=1) >= min_iou
    cuts: dict[int, list[tuple[int, int]]] = {}
    next_id = int(first_new_id)
    for track in np.unique(read_track[keep]):
        frames = read_frame[keep & (read_track == track)]
        first_read, last_read = int(frames.min()), int(frames.max())
        crossed = frame_index[(track_id == track) & crossing]
        before, after = crossed[crossed < first_read], crossed[crossed > last_read]
        pieces = []
        if len(before):  # rows up to the last crossing before the first read: a piece of their own
            pieces.append((int(frame_index[track_id == track].min()), next_id))
            pieces.append((int(before.max()) + 1, int(track)))
            next_id += 1
        if len(after):
            pieces.append((int(after.min()), next_id))
            next_id += 1
        if pieces:
            cuts[int(track)] = pieces
    return cuts


def split_tracklets(
    track_id: np.ndarray,
    frame_index: np.ndarray,
    xyxy: np.ndarray,
    crop_track: np.ndarray,
    crop_frame: np.ndarray,
    read_track: np.ndarray,
    read_frame: np.ndarray,
    number: np.ndarray,
    confidence: np.ndarray,
    min_confidence: float,
    min_reads: int,
    crossing_iou: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`jersey_splits`, then (``crossing_iou`` not None) :func:`crossing_cuts`, applied to
    the track rows, the team crops and the reads alike.

    Returns:
        New tracklet ids of the track rows ``(N,)``, of the crops and of the reads.
    """
    ids = [np.asarray(a, np.int64) for a in (track_id, crop_track, read_track)]
    frames = [np.asarray(a, np.int64) for a in (frame_index, crop_frame, read_frame)]
    if not len(ids[0]) or not len(ids[2]):
        return tuple(ids)
    first_new = int(max(int(a.max()) for a in ids if len(a))) + 1
    cuts = jersey_splits(ids[2], frames[2], number, confidence, min_confidence, min_reads, first_new)
    ids = [remap_tracklets(i, f, cuts) for i, f in zip(ids, frames)]
    if crossing_iou is not None:
        first_new = int(max(int(a.max()) for a in ids if len(a))) + 1
        cuts = crossing_cuts(ids[0], frames[0], xyxy, ids[2], frames[2], number, confidence, min_confidence, crossing_iou, first_new)
        ids = [remap_tracklets(i, f, cuts) for i, f in zip(ids, frames)]
    return tuple(ids)
