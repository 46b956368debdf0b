"""Weighted majority votes of per-observation labels over tracklets.

Attribution (:mod:`soccerfactory.curation.attribute`) labels each sampled observation of a
track on its own: a team, a role, a jersey number, each possibly missing and each with a
confidence. A tracklet is one athlete, so its labels should agree; this module turns the
noisy observations into one consensus per tracklet, says how strongly the observations
agree, and maps the consensus back onto every row of the tracklet, sampled or not.

Rules, shared by every function here:

* A row votes when its value is present (not ``None`` and not a float NaN) and its weight
  is ``> 0``. Rows with ``track_id < 0`` (not assigned to a track) never vote and get no
  consensus.
* The consensus is the value with the largest total weight. Ties (exactly equal float64
  totals) go to the value observed most recently: the largest ``frame_index`` of its votes
  when ``frame_index`` is given, else the latest row; then the latest row. Every tie is
  thus broken by the input alone, whatever the values' types.
* ``agreement`` is the consensus' total weight over the total weight of all votes of the
  track, in ``(0, 1]``; NaN for a track without votes, whose consensus is ``None``.

:class:`AthleteLabels` is what voting hands on: the labels of every athlete row of a clip, which
:mod:`soccerfactory.curation.layout` lays out as the shard's ``athletes`` columns.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from soccerfactory.curation.arrays import readonly
from soccerfactory.curation.attribute.kits import TeamKits

__all__ = ["AthleteLabels", "TrackVotes", "broadcast", "vote_fields", "vote_tracklets"]


def _missing(value: Any) -> bool:
    # pandas and pyarrow hand missing numbers over as NaN rather than None.
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


@dataclasses.dataclass(frozen=True, eq=False)
class TrackVotes:
    """Consensus of one field for ``T`` tracks.

    Attributes:
        track_ids: ``int64`` ``(T,)`` strictly increasing track ids (every id ``>= 0`` of the
            input, with or without votes).
        consensus: ``object`` ``(T,)`` the winning value, ``None`` for a track without votes.
        agreement: ``float32`` ``(T,)`` weight of the consensus over the total weight of the
            track's votes, in ``(0, 1]``; NaN without votes.
        n_votes: ``int32`` ``(T,)`` number of rows that voted.
    """

    track_ids: np.ndarray
    consensus: np.ndarray
    agreement: np.ndarray
    n_votes: np.ndarray

    def __post_init__(self) -> None:
        owner = "TrackVotes"
        track_ids = np.asarray(self.track_ids)
        if track_ids.size == 0:
            track_ids = track_ids.reshape(0).astype(np.int64)
        if track_ids.ndim != 1 or track_ids.dtype.kind not in "iu":
            raise ValueError(f"{owner}.track_ids must be a 1-D integer array, got {track_ids.dtype} {track_ids.shape}")
        track_ids = track_ids.astype(np.int64, copy=False)
        t = track_ids.shape[0]
        if t > 1 and not (np.diff(track_ids) > 0).all():
            raise ValueError(f"{owner}.track_ids must be strictly increasing")
        consensus = np.asarray(self.consensus, dtype=object).reshape(-1)
        agreement = np.asarray(self.agreement, dtype=np.float32).reshape(-1)
        n_votes = np.asarray(self.n_votes).reshape(-1)
        if n_votes.size and n_votes.dtype.kind not in "iu":
            raise ValueError(f"{owner}.n_votes must be integer, got {n_votes.dtype}")
        n_votes = n_votes.astype(np.int32, copy=False)
        for name, arr in (("consensus", consensus), ("agreement", agreement), ("n_votes", n_votes)):
            if arr.shape != (t,):
                raise ValueError(f"{owner}.{name} must have shape ({t},) like track_ids, got {arr.shape}")
        if (n_votes < 0).any():
            raise ValueError(f"{owner}.n_votes must be >= 0")
        voted = n_votes > 0
        if np.isnan(agreement[voted]).any() or ((agreement[voted] <= 0) | (agreement[voted] > 1)).any():
            raise ValueError(f"{owner}.agreement must be in (0, 1] where a track has votes")
        if not np.isnan(agreement[~voted]).all() or any(c is not None for c in consensus[~voted]):
            raise ValueError(f"{owner}: a track without votes must have consensus None and agreement NaN")
        object.__setattr__(self, "track_ids", readonly(track_ids))
        object.__setattr__(self, "consensus", readonly(consensus))
        object.__setattr__(self, "agreement", readonly(agreement))
        object.__setattr__(self, "n_votes", readonly(n_votes))

    def __len__(self) -> int:
        return int(self.track_ids.shape[0])

    def __repr__(self) -> str:
        return f"TrackVotes(tracks={len(self)}, with_votes={int((self.n_votes > 0).sum())})"

    def get(self, track_id: int) -> tuple[Any, float, int]:
        """``(consensus, agreement, n_votes)`` of one track; ``(None, nan, 0)`` if unknown."""
        i = int(np.searchsorted(self.track_ids, track_id))
        if i < len(self) and self.track_ids[i] == track_id:
            return self.consensus[i], float(self.agreement[i]), int(self.n_votes[i])
        return None, math.nan, 0


def _track_ids(track_id: Any) -> np.ndarray:
    arr = np.asarray(track_id)
    if arr.size == 0:
        return arr.reshape(0).astype(np.int64)
    if arr.ndim != 1:
        raise ValueError(f"track_id must have shape (N,), got {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"track_id must be an integer array, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def vote_tracklets(
    track_id: np.ndarray | Sequence[int],
    values: np.ndarray | Sequence[Hashable | None],
    weights: np.ndarray | Sequence[float] | None = None,
    frame_index: np.ndarray | Sequence[int] | None = None,
) -> TrackVotes:
    """Weighted majority vote of ``values`` within each track.

    Args:
        track_id: ``int64`` ``(N,)`` track of each row; rows with ``-1`` are ignored.
        values: ``(N,)`` hashable labels (``"A"``, ``7``, ...); ``None`` or NaN = no
            observation. Equal values vote together (``7`` and ``7.0`` are one value).
        weights: ``float32`` ``(N,)`` finite, ``>= 0`` (e.g. the confidences); ``None``
            gives every row weight 1. Rows of weight 0 do not vote.
        frame_index: optional ``int64`` ``(N,)`` frame of each row, used only to break
            ties in favour of the most recently seen value; without it, row order does.

    Returns:
        One :class:`TrackVotes` row per distinct track id ``>= 0``, sorted by id.

    Raises:
        ValueError: on misaligned inputs, bad weights or an unhashable value.
    """
    tracks = _track_ids(track_id)
    n = tracks.shape[0]
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise ValueError(f"values must have shape (N,), got {values.shape}")
    given = values if isinstance(values, np.ndarray) else list(values)
    if len(given) != n:
        raise ValueError(f"values must have length {n} (one per row of track_id), got {len(given)}")
    vals = np.empty(n, dtype=object)
    for i, value in enumerate(given):  # element-wise: tuples stay values, not rows
        vals[i] = value
    if weights is None:
        w = np.ones(n, dtype=np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape != (n,):
            raise ValueError(f"weights must have shape ({n},), got {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any():
            raise ValueError("weights must be finite and >= 0")
    if frame_index is None:
        recency = np.arange(n, dtype=np.int64)
    else:
        frames = np.asarray(frame_index)
        if frames.shape != (n,) or (n and frames.dtype.kind not in "iu"):
            raise ValueError(f"frame_index must be an integer array of shape ({n},), got {frames.dtype} {frames.shape}")
        # Frame first, row second: one integer that orders observations by time.
        recency = np.lexsort((np.arange(n), frames)).argsort().astype(np.int64)

    track_ids = np.unique(tracks[tracks >= 0])
    t = track_ids.shape[0]
    consensus = np.full(t, None, dtype=object)
    agreement = np.full(t, np.nan, dtype=np.float32)
    n_votes = np.zeros(t, dtype=np.int32)

    present = np.fromiter((not _missing(v) for v in vals), dtype=bool, count=n)
    voting = np.flatnonzero(present & (w > 0) & (tracks >= 0))
    if voting.size == 0:
        return TrackVotes(track_ids, consensus, agreement, n_votes)

    # Integer codes for the values, in order of first appearance.
    codes: dict[Any, int] = {}
    labels: list[Any] = []
    value_code = np.empty(voting.size, dtype=np.int64)
    for k, row in enumerate(voting):
        value = vals[row]
        try:
            code = codes.get(value)
        except TypeError as exc:
            raise ValueError(f"values[{row}] = {value!r} is not hashable") from exc
        if code is None:
            code = codes[value] = len(labels)
            labels.append(value)
        value_code[k] = code

    slot = np.searchsorted(track_ids, tracks[voting])
    pair = slot * len(labels) + value_code
    pairs, inverse = np.unique(pair, return_inverse=True)
    pair_weight = np.zeros(pairs.size, dtype=np.float64)
    np.add.at(pair_weight, inverse, w[voting])  # row order, so sums are reproducible
    pair_last = np.full(pairs.size, -1, dtype=np.int64)
    np.maximum.at(pair_last, inverse, recency[voting])
    pair_slot = pairs // len(labels)

    # Best pair of each track: sort by track, then weight, then recency, all ascending; the
    # last pair of each track's run wins.
    order = np.lexsort((pair_last, pair_weight, pair_slot))
    last_of_run = np.r_[pair_slot[order][1:] != pair_slot[order][:-1], True]
    winners = order[last_of_run]
    total = np.bincount(slot, weights=w[voting], minlength=t)
    counts = np.bincount(slot, minlength=t)

    win_slot = pair_slot[winners]
    consensus[win_slot] = [labels[int(c)] for c in pairs[winners] % len(labels)]
    agreement[win_slot] = (pair_weight[winners] / total[win_slot]).astype(np.float32)
    n_votes[:] = counts.astype(np.int32)
    return TrackVotes(track_ids, consensus, np.minimum(agreement, np.float32(1.0)), n_votes)


def broadcast(
    votes: TrackVotes, track_id_rows: np.ndarray | Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map per-track results back onto rows (every row of a tracklet, sampled or not).

    Args:
        votes: the result of :func:`vote_tracklets`.
        track_id_rows: ``int64`` ``(M,)`` track id of each row; ids unknown to ``votes``
            (including ``-1``) get no consensus.

    Returns:
        ``(consensus, agreement, n_votes)``: ``object`` ``(M,)`` (``None`` where no
        consensus), ``float32`` ``(M,)`` (NaN there) and ``int32`` ``(M,)`` (0 there).
    """
    rows = _track_ids(track_id_rows)
    m = rows.shape[0]
    consensus = np.full(m, None, dtype=object)
    agreement = np.full(m, np.nan, dtype=np.float32)
    n_votes = np.zeros(m, dtype=np.int32)
    if m == 0 or len(votes) == 0:
        return consensus, agreement, n_votes
    slot = np.minimum(np.searchsorted(votes.track_ids, rows), len(votes) - 1)
    known = votes.track_ids[slot] == rows
    consensus[known] = votes.consensus[slot[known]]
    agreement[known] = votes.agreement[slot[known]]
    n_votes[known] = votes.n_votes[slot[known]]
    return consensus, agreement, n_votes


def vote_fields(
    track_id: np.ndarray | Sequence[int],
    fields: Mapping[str, tuple[Any, Any]],
    frame_index: np.ndarray | Sequence[int] | None = None,
) -> dict[str, TrackVotes]:
    """:func:`vote_tracklets` for several fields of the same rows.

    Args:
        track_id: ``int64`` ``(N,)`` track of each row.
        fields: name -> ``(values, weights)``, each ``(N,)``; ``weights`` may be ``None``.
        frame_index: optional ``(N,)`` frames, for tie-breaking (see :func:`vote_tracklets`).

    Returns:
        name -> :class:`TrackVotes`, in the order of ``fields``.
    """
    out: dict[str, TrackVotes] = {}
    for name, spec in fields.items():
        if not isinstance(spec, tuple) or len(spec) != 2:
            raise ValueError(f"fields[{name!r}] must be a (values, weights) tuple; weights may be None")
        values, weights = spec
        try:
            out[name] = vote_tracklets(track_id, values, weights, frame_index)
        except ValueError as exc:
            raise ValueError(f"field {name!r}: {exc}") from exc
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class AthleteLabels:
    """The voted labels of every athlete row of a clip, row-aligned with its ``Tracks``.

    Attributes:
        track_id: ``int64`` ``(N,)`` athlete id (tracklets of one athlete joined by team and
            jersey, when linking is on; else the tracker's id).
        tracklet_id: ``int64`` ``(N,)`` the tracker's own id.
        team: ``object`` ``(N,)`` ``"A"`` / ``"B"`` / None (too few votes, or a referee).
        team_agreement: ``float32`` ``(N,)`` fraction of the tracklet's team votes agreeing; NaN
            without votes.
        role: ``object`` ``(N,)`` voted role, None without votes.
        role_agreement: ``float32`` ``(N,)``.
        jersey: ``object`` ``(N,)`` voted number (int) or None.
        jersey_agreement: ``float32`` ``(N,)``.
        jersey_votes: ``int32`` ``(N,)`` number of legible jersey reads of the tracklet.
        track_length: ``int32`` ``(N,)`` rows of the row's ``track_id`` in the clip.
        role_reason: ``object`` ``(N,)`` what decided the role (str), None when nothing did.
        flags: ``object`` ``(N,)`` comma-separated flags of the row's track (``duplicate``,
            ``off-pitch``, ``role-kit``, ``short``), None when it has none.
        flag_reason: ``object`` ``(N,)`` one clause per flag with its evidence, None without flags.
        shirt_colour: ``object`` ``(N,)`` the row's tracklet's median shirt colour ``"#rrggbb"``,
            None when no crop of it had one.
        shirt_crops: ``int32`` ``(N,)`` crops that median is over (0 without).
        kits: The clip's two kits (colours, sides); not row-aligned. None when no teams were found.
    """

    track_id: np.ndarray
    tracklet_id: np.ndarray
    team: np.ndarray
    team_agreement: np.ndarray
    role: np.ndarray
    role_agreement: np.ndarray
    jersey: np.ndarray
    jersey_agreement: np.ndarray
    jersey_votes: np.ndarray
    track_length: np.ndarray
    role_reason: np.ndarray | None = None
    flags: np.ndarray | None = None
    flag_reason: np.ndarray | None = None
    kits: TeamKits | None = None
    shirt_colour: np.ndarray | None = None
    shirt_crops: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.track_id)
        for name in ("role_reason", "flags", "flag_reason", "shirt_colour"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.full(n, None, dtype=object))
        object.__setattr__(self, "shirt_crops", np.zeros(n, np.int32) if self.shirt_crops is None else np.asarray(self.shirt_crops, np.int32))
        if self.kits is not None and not isinstance(self.kits, TeamKits):
            raise ValueError(f"AthleteLabels.kits must be TeamKits or None, got {type(self.kits).__name__}")
        for field in dataclasses.fields(self):
            if field.name == "kits":
                continue
            value = getattr(self, field.name)
            if not isinstance(value, np.ndarray) or value.shape != (n,):
                shape = getattr(value, "shape", type(value).__name__)
                raise ValueError(f"AthleteLabels.{field.name} must be an array of shape ({n},) like track_id, got {shape}")
            object.__setattr__(self, field.name, readonly(value))

    def __len__(self) -> int:
        return int(self.track_id.shape[0])
