"""Majority votes over tracklets, checked by hand and against a brute-force reference."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from soccerfactory.curation.vote import AthleteLabels, TrackVotes, broadcast, vote_fields, vote_tracklets


def test_majority_wins_and_agreement_is_its_share():
    votes = vote_tracklets([4, 4, 4, 4, 9], ["A", "B", "A", "A", "B"])
    assert votes.track_ids.tolist() == [4, 9]
    assert votes.consensus.tolist() == ["A", "B"]
    np.testing.assert_allclose(votes.agreement, [0.75, 1.0])
    assert votes.n_votes.tolist() == [4, 1]
    assert votes.track_ids.dtype == np.int64 and votes.agreement.dtype == np.float32 and votes.n_votes.dtype == np.int32


def test_weights_can_outvote_the_count():
    track = [1, 1, 1]
    assert vote_tracklets(track, [7, 7, 11]).consensus.tolist() == [7]
    weighted = vote_tracklets(track, [7, 7, 11], np.array([0.2, 0.3, 0.9], np.float32))
    assert weighted.consensus.tolist() == [11]
    np.testing.assert_allclose(weighted.agreement, [0.9 / 1.4], rtol=1e-6)


def test_missing_and_zero_weight_rows_do_not_vote():
    votes = vote_tracklets([1, 1, 1, 1, 2], [None, float("nan"), "B", "A", None], [1, 1, 0.0, 0.5, 1])
    assert votes.consensus.tolist() == ["A", None]
    assert votes.n_votes.tolist() == [1, 0]
    assert votes.agreement[0] == 1.0 and math.isnan(votes.agreement[1])


def test_unassigned_rows_are_ignored():
    votes = vote_tracklets([-1, -1, 3], ["A", "A", "B"])
    assert votes.track_ids.tolist() == [3]
    assert votes.consensus.tolist() == ["B"]


def test_ties_go_to_the_most_recent_value():
    # Equal weight: the value seen last wins, by row order ...
    assert vote_tracklets([1, 1, 1, 1], ["A", "B", "B", "A"]).consensus.tolist() == ["A"]
    assert vote_tracklets([1, 1, 1, 1], ["B", "A", "A", "B"]).consensus.tolist() == ["B"]
    # ... or by frame when frames are given, whatever the row order.
    by_frame = vote_tracklets([1, 1, 1, 1], ["A", "B", "B", "A"], frame_index=[10, 40, 20, 30])
    assert by_frame.consensus.tolist() == ["B"]
    np.testing.assert_allclose(by_frame.agreement, [0.5])
    # Same frame twice (duplicate rows): the later row.
    assert vote_tracklets([1, 1], ["A", "B"], frame_index=[5, 5]).consensus.tolist() == ["B"]


def test_ties_are_reproducible_across_runs_and_value_types():
    track = np.repeat(np.arange(20), 4)
    values = np.array([1, "x", 2.5, None] * 20, dtype=object)
    first = vote_tracklets(track, values)
    for _ in range(3):
        again = vote_tracklets(track, values.copy())
        assert again.consensus.tolist() == first.consensus.tolist()


def test_equal_values_of_different_types_vote_together():
    votes = vote_tracklets([1, 1, 1], [np.int32(7), 7, 8])
    assert votes.consensus.tolist() == [7]
    np.testing.assert_allclose(votes.agreement, [2 / 3], rtol=1e-6)


def test_empty_and_all_missing_inputs():
    empty = vote_tracklets(np.zeros(0, np.int64), np.zeros(0, dtype=object))
    assert len(empty) == 0 and empty.consensus.dtype == object
    none = vote_tracklets([5, 5, 6], [None, None, None])
    assert none.track_ids.tolist() == [5, 6]
    assert none.consensus.tolist() == [None, None]
    assert np.isnan(none.agreement).all() and none.n_votes.tolist() == [0, 0]


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="values"):
        vote_tracklets([1, 2], ["A"])
    with pytest.raises(ValueError, match="weights"):
        vote_tracklets([1, 2], ["A", "B"], [1.0, -1.0])
    with pytest.raises(ValueError, match="weights"):
        vote_tracklets([1, 2], ["A", "B"], [1.0, np.nan])
    with pytest.raises(ValueError, match="track_id"):
        vote_tracklets([1.5, 2.0], ["A", "B"])
    with pytest.raises(ValueError, match="hashable"):
        vote_tracklets([1], [["not", "hashable"]])
    with pytest.raises(ValueError, match="frame_index"):
        vote_tracklets([1, 1], ["A", "B"], frame_index=[1])


def test_broadcast_maps_to_every_row_of_the_tracklet():
    # Votes from two sampled frames; broadcast onto all rows of the clip.
    votes = vote_tracklets([1, 2, 1, 2], ["A", "B", "A", None])
    all_rows = np.array([1, 1, 1, 2, 2, 2, 3, -1, 1])
    consensus, agreement, n_votes = broadcast(votes, all_rows)
    assert consensus.tolist() == ["A", "A", "A", "B", "B", "B", None, None, "A"]
    np.testing.assert_allclose(agreement[:6], 1.0)
    assert np.isnan(agreement[6:8]).all()
    assert n_votes.tolist() == [2, 2, 2, 1, 1, 1, 0, 0, 2]
    assert consensus.dtype == object and agreement.dtype == np.float32 and n_votes.dtype == np.int32
    empty = broadcast(votes, np.zeros(0, np.int64))
    assert [len(a) for a in empty] == [0, 0, 0]
    none = broadcast(vote_tracklets(np.zeros(0, np.int64), []), [4, 5])
    assert none[0].tolist() == [None, None] and none[2].tolist() == [0, 0]


def test_vote_fields_votes_each_field_on_the_same_tracks():
    track = [1, 1, 2, 2]
    out = vote_fields(
        track,
        {
            "team": (np.array(["A", "A", "B", None], dtype=object), np.array([0.9, 0.8, 0.7, 0.0], np.float32)),
            "jersey": (np.array([10, None, 7, 9], dtype=object), None),
        },
        frame_index=[0, 25, 0, 25],
    )
    assert list(out) == ["team", "jersey"]
    assert out["team"].consensus.tolist() == ["A", "B"]
    assert out["jersey"].consensus.tolist() == [10, 9]  # tie on track 2: frame 25 is later
    assert out["jersey"].n_votes.tolist() == [1, 2]
    with pytest.raises(ValueError, match="jersey"):
        vote_fields(track, {"jersey": ([1, 2], None)})
    with pytest.raises(ValueError, match="tuple"):
        vote_fields(track, {"jersey": [1, 2, 3, 4]})


def test_track_votes_validation_and_lookup():
    votes = vote_tracklets([3, 3, 8], ["A", "B", "B"], [1.0, 2.0, 1.0])
    assert votes.get(3)[0] == "B" and votes.get(3)[2] == 2
    assert votes.get(99)[0] is None and math.isnan(votes.get(99)[1])
    with pytest.raises(ValueError, match="increasing"):
        TrackVotes([2, 1], [None, None], [np.nan, np.nan], [0, 0])
    with pytest.raises(ValueError, match="without votes"):
        TrackVotes([1], ["A"], [np.nan], [0])
    with pytest.raises(ValueError, match="agreement"):
        TrackVotes([1], ["A"], [1.5], [1])
    with pytest.raises(ValueError):
        votes.consensus[0] = "C"  # read-only


def _brute_force(track, values, weights, frames):
    """Reference: Counter per track; ties by latest (frame, row) of the value."""
    tally = defaultdict(Counter)
    latest = defaultdict(dict)
    total = defaultdict(float)
    count = Counter()
    for row, (t, v, w, f) in enumerate(zip(track, values, weights, frames)):
        if t < 0 or v is None or w <= 0:
            continue
        tally[t][v] += w
        latest[t][v] = max(latest[t].get(v, (-1, -1)), (f, row))
        total[t] += w
        count[t] += 1
    out = {}
    for t in sorted(set(int(x) for x in track if x >= 0)):
        if not tally[t]:
            out[t] = (None, math.nan, 0)
            continue
        best = max(tally[t], key=lambda v: (tally[t][v], latest[t][v]))
        out[t] = (best, tally[t][best] / total[t], count[t])
    return out


@pytest.mark.parametrize("seed", range(25))
def test_matches_a_brute_force_counter(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 200))
    track = rng.integers(-1, 12, size=n)
    pool = np.array(["A", "B", 3, 17, None], dtype=object)
    values = pool[rng.integers(0, len(pool), size=n)]
    # Integer weights make ties common (exact sums) and check that weight 0 does not vote.
    weights = (
        rng.integers(0, 4, size=n).astype(np.float32) if seed % 2 else rng.uniform(0, 1, size=n).astype(np.float32)
    )
    frames = rng.integers(0, 30, size=n)
    use_frames = seed % 3 == 0
    votes = vote_tracklets(track, values, weights, frames if use_frames else None)
    expected = _brute_force(track, values, weights.astype(np.float64), frames if use_frames else np.zeros(n, int))
    assert votes.track_ids.tolist() == list(expected)
    for i, t in enumerate(votes.track_ids):
        consensus, agreement, n_votes = expected[int(t)]
        assert votes.consensus[i] == consensus, (t, votes.consensus[i], consensus)
        assert votes.n_votes[i] == n_votes
        if n_votes:
            assert votes.agreement[i] == pytest.approx(agreement, rel=1e-5)
        else:
            assert math.isnan(votes.agreement[i])
    # Broadcasting to the rows agrees with a per-row lookup.
    consensus_rows, agreement_rows, n_rows = broadcast(votes, track)
    for row, t in enumerate(track):
        consensus, _, n_votes = expected.get(int(t), (None, math.nan, 0))
        assert consensus_rows[row] == consensus and n_rows[row] == n_votes


def _labels(n: int, **overrides) -> dict:
    fields = dict(
        track_id=np.arange(n, dtype=np.int64), tracklet_id=np.arange(n, dtype=np.int64), team=np.full(n, None, dtype=object),
        team_agreement=np.full(n, np.nan, np.float32), role=np.full(n, None, dtype=object), role_agreement=np.ones(n, np.float32),
        jersey=np.full(n, None, dtype=object), jersey_agreement=np.full(n, np.nan, np.float32),
        jersey_votes=np.zeros(n, np.int32), track_length=np.ones(n, np.int32),
    )
    return {**fields, **overrides}


def test_athlete_labels_are_row_aligned_and_read_only():
    labels = AthleteLabels(**_labels(3))
    assert len(labels) == 3
    with pytest.raises(ValueError, match="read-only"):
        labels.track_id[0] = 5
    with pytest.raises(ValueError, match=r"AthleteLabels.team must be an array of shape \(3,\)"):
        AthleteLabels(**_labels(3, team=np.full(2, None, dtype=object)))
    with pytest.raises(ValueError, match="AthleteLabels.jersey_votes"):
        AthleteLabels(**_labels(3, jersey_votes=[0, 0, 0]))
    assert len(AthleteLabels(**_labels(0))) == 0
