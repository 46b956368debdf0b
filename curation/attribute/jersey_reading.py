"""Which jersey crops are read: adaptive, coarse-to-fine reading of each tracklet's crops.

The pipeline keeps crops for jersey reading at ``decode.jersey_fps`` (up to the source rate), far
more than the reader needs for a tracklet whose back is often in view, and what it needs for
one whose number shows for half a second. :func:`read_tracklets` offers every tracklet's crops
to the reader in rounds, spread over the tracklet's life first and filled in after (0, 1/2,
1/4, 3/4, ... of its crops), and stops offering a tracklet's crops once its number is settled
(``settle_reads`` reads agree and none names another number) or its budget is spent.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from soccerfactory.curation.arrays import readonly
from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.attribute.jersey import JerseyReader

__all__ = ["NUMBER_BOX_SHARE", "JerseyObservations", "coarse_to_fine", "legible_size", "number_height_px", "read_tracklets"]


#: Height of a back number as a share of the athlete's box. Measured by eye on the hand-labelled
#: football-players backs (1080p broadcast; README, beside the GS-HOTA figures): 0.11-0.16 of the box;
#: the renderer draws 0.13.
#: Not the blobs :func:`~soccerfactory.curation.attribute.jersey.number_line` finds: on 47 of the 61 train backs a person read it found a
#: line, of 0.06-0.24 of the box (10th-90th percentile, median 0.11; 5 px at the least): split
#: digits and merged shadows, so a gate on them would refuse numbers a person read.
NUMBER_BOX_SHARE = 0.13


def number_height_px(boxes: np.ndarray) -> np.ndarray:
    """Height in pixels of the back number of athletes in ``boxes``, estimated from the box.

    Args:
        boxes: ``float`` ``(N, 4)`` ``xyxy`` in pixels of the image the number would be read on.

    Returns:
        ``float32`` ``(N,)``: box height x :data:`NUMBER_BOX_SHARE`.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return ((boxes[:, 3] - boxes[:, 1]) * NUMBER_BOX_SHARE).astype(np.float32)


def legible_size(crops: AthleteCrops, min_number_px: float) -> np.ndarray:
    """``bool`` ``(N,)``: the crops whose number, at its estimated height, is big enough for a person to read.

    A number is a label only where a person could read it. On the hand-labelled football-players
    backs the smallest number a person read was about 8 px (a 64 px box at 1080p); a person
    read 1 of 99 visible backs with 60-70 px boxes, 36-38 % from 88 px, and labelled none under
    60 px. The readers do read smaller numbers on synthetic backs (lines of 5-8 px right 98 % of
    the time, :func:`~soccerfactory.curation.attribute.jersey.number_region`), but no person could confirm such a read, and on real
    footage, with real fonts, blur and compression, a read below what a person reads is a guess.

    Args:
        crops: The crops; their ``boxes`` are in pixels of the full-resolution frame.
        min_number_px: Fewest pixels of the estimated number (:func:`number_height_px`); ``0``
            keeps every crop.
    """
    return number_height_px(crops.boxes) >= float(min_number_px)


@dataclasses.dataclass(frozen=True, eq=False)
class JerseyObservations:
    """The jersey crops that were offered to the reader and what it read on them.

    Attributes:
        track_id: ``int64`` ``(N,)`` tracklet of each offered crop.
        frame_index: ``int64`` ``(N,)`` its frame.
        number: ``int32`` ``(N,)`` ``1..99``, ``-1`` = nothing read.
        confidence: ``float32`` ``(N,)`` in ``[0, 1]``, ``0`` where nothing was read.
        readers: ``int8`` ``(N,)`` independent readers behind each read (``0`` where nothing was
            read; :attr:`~soccerfactory.curation.attribute.jersey.JerseyReads.readers`); None:
            one per read.
        legible: ``bool`` ``(N,)`` the crop's number is big enough for a person to read
            (:func:`legible_size`); None: every crop. A
            read where it is False is no label: it never makes a tracklet's number, it only
            speaks against another one (:func:`~soccerfactory.curation.attribute.jersey.jersey_consensus`).
    """

    track_id: np.ndarray
    frame_index: np.ndarray
    number: np.ndarray
    confidence: np.ndarray
    readers: np.ndarray | None = None
    legible: np.ndarray | None = None

    def __post_init__(self) -> None:
        number = np.asarray(self.number).reshape(-1).astype(np.int32)
        arrays = {
            "track_id": np.asarray(self.track_id).reshape(-1).astype(np.int64),
            "frame_index": np.asarray(self.frame_index).reshape(-1).astype(np.int64),
            "number": number,
            "confidence": np.asarray(self.confidence, dtype=np.float32).reshape(-1),
            "readers": (number > 0).astype(np.int8) if self.readers is None else np.asarray(self.readers).reshape(-1).astype(np.int8),
            "legible": np.ones(number.shape, bool) if self.legible is None else np.asarray(self.legible).reshape(-1).astype(bool),
        }
        sizes = {name: a.shape[0] for name, a in arrays.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"JerseyObservations arrays must be aligned, got lengths {sizes}")
        for name, a in arrays.items():
            object.__setattr__(self, name, readonly(a))

    def __len__(self) -> int:
        return int(self.track_id.shape[0])

    @classmethod
    def empty(cls) -> JerseyObservations:
        return cls(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, np.int8),
            np.zeros(0, bool),
        )


def coarse_to_fine(n: int) -> np.ndarray:
    """Visiting order of ``n`` time-ordered items: spread over the whole span first, then filled in.

    The bit-reversed (van der Corput) order ``0, n/2, n/4, 3n/4, n/8, ...``: any prefix of it is
    close to evenly spaced, so a tracklet whose reading stops early was still read across its life.

    Returns:
        ``int64`` ``(n,)``, a permutation of ``0..n-1``.
    """
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    bits = max(1, int(np.ceil(np.log2(n))))
    k = np.arange(1 << bits, dtype=np.int64)
    reversed_k = np.zeros_like(k)
    for b in range(bits):
        reversed_k |= ((k >> b) & 1) << (bits - 1 - b)
    return reversed_k[reversed_k < n]


def read_tracklets(
    reader: JerseyReader, crops: AthleteCrops, *, settle_reads: int, max_crops_per_track: int, min_number_px: float,
    use_masks: bool = False,
) -> JerseyObservations:
    """Read jersey numbers on a clip's crops, tracklet by tracklet, until each is settled.

    Each round offers the reader the next crop (in :func:`coarse_to_fine` order over the
    tracklet's frames) of every tracklet that is not settled; all of a round's crops go to the
    reader at once, so the recogniser still runs in batches. A tracklet is settled when
    ``settle_reads`` of its reads agree and none names another number (a tracklet with a
    disagreeing read goes on being read, up to its budget, so that the consensus rule can weigh
    both numbers), or when ``max_crops_per_track`` of its crops were offered.

    Args:
        reader: The jersey reader; it skips by itself the crops it cannot read (referees, tiny
            boxes, crops without a number band) without running its model.
        crops: The clip's jersey crops, one per tracklet and frame.
        settle_reads: Agreeing reads (and no rival) after which a tracklet is no longer read, ``>= 1``.
        max_crops_per_track: Most crops offered per tracklet, ``>= 1``.
        use_masks: Give the reader the crops' foreground masks. Off: on tracked 720p crops of dev
            seed 400 (25 fps) the chroma refiner's masks left out part of the number, so the
            number band was found on 91 % of the legible crops with masks and on all without, and
            reads were accepted on 81 % against 97 % (precision of all reads 0.984 and 0.987).
        min_number_px: Crops whose number would be shorter than this (box height x
            :data:`NUMBER_BOX_SHARE`,
            :func:`legible_size`) are read but flagged
            not ``legible`` (``attribute.jersey_min_number_px``; ``0``: every crop is legible;
            required, so that a caller that forgets it does not turn the gate off): no
            person could read the number there, so no read of it is a label, and such reads never
            settle a tracklet. They are kept as evidence against a number: dev seed 400, a
            tracklet read #29 three times on 60 px boxes (athlete #29) and #30 once by both readers
            on a 73 px box after the tracker swapped it onto #30; dropping the small reads made it
            #30 over rows that were mostly #29's, where the two numbers together refuse it.

    Returns:
        One row per offered crop, in the order they were read.

    Raises:
        ValueError: on ``settle_reads`` or ``max_crops_per_track`` below 1, or a negative ``min_number_px``.
    """
    if settle_reads < 1 or max_crops_per_track < 1:
        raise ValueError(f"settle_reads and max_crops_per_track must be >= 1, got {settle_reads} and {max_crops_per_track}")
    if min_number_px < 0:
        raise ValueError(f"min_number_px must be >= 0, got {min_number_px}")
    if len(crops) == 0:
        return JerseyObservations.empty()
    legible = legible_size(crops, min_number_px)
    if not use_masks:
        crops = dataclasses.replace(crops, masks=None)
    queues: dict[int, list[int]] = {}
    for track in np.unique(crops.track_id).tolist():
        rows = np.flatnonzero(crops.track_id == track)
        rows = rows[np.argsort(crops.frame_index[rows], kind="stable")]
        queues[track] = rows[coarse_to_fine(rows.size)][:max_crops_per_track].tolist()
    counts: dict[int, dict[int, int]] = {track: {} for track in queues}
    legible_counts: dict[int, dict[int, int]] = {track: {} for track in queues}
    order: list[int] = []
    numbers: list[np.ndarray] = []
    confidences: list[np.ndarray] = []
    readers: list[np.ndarray] = []
    step = 0
    while True:
        batch = [
            queue[step]
            for track, queue in queues.items()
            if step < len(queue) and not _settled(counts[track], legible_counts[track], settle_reads)
        ]
        if not batch:
            break
        reads = reader.read(crops[np.asarray(batch, dtype=np.int64)])
        for row, number in zip(batch, reads.number.tolist()):
            if number > 0:
                track = int(crops.track_id[row])
                for seen in (counts[track], legible_counts[track]) if legible[row] else (counts[track],):
                    seen[number] = seen.get(number, 0) + 1
        order.extend(batch)
        numbers.append(reads.number)
        confidences.append(reads.confidence)
        readers.append(reads.readers)
        step += 1
    rows = np.asarray(order, dtype=np.int64)
    return JerseyObservations(
        crops.track_id[rows], crops.frame_index[rows], np.concatenate(numbers), np.concatenate(confidences), np.concatenate(readers),
        legible[rows],
    )


def _settled(counts: dict[int, int], legible_counts: dict[int, int], settle_reads: int) -> bool:
    """All reads name one number, and ``settle_reads`` legible ones."""
    return len(counts) == 1 and sum(legible_counts.values()) >= settle_reads
