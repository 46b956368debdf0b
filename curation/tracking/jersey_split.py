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

__all__ = ["jersey_splits", "remap_tracklets"]


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
