"""Clip-level track clean-up: short tracks dropped, fragments stitched, jersey linking."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.tracking.tracklets import TrackletCleanup, link_by_jersey, relabel_tracks
from soccerfactory.curation.types import PLAYER, REFEREE, Tracks

RED = np.eye(4, dtype=np.float32)[0]
BLUE = np.eye(4, dtype=np.float32)[1]


def _track(track_id, frames, x0, colour, cls=PLAYER, pitch=None, dx=2.0):
    frames = np.asarray(frames)
    xs = x0 + dx * (frames - frames[0])
    data = {"appearance": np.tile(colour, (len(frames), 1))}
    if pitch is not None:
        data["pitch_xy"] = np.column_stack([pitch[0] + 0.1 * (frames - frames[0]), np.full(len(frames), pitch[1])]).astype(np.float32)
    return Tracks(
        xyxy=np.column_stack([xs, np.full(len(frames), 300.0), xs + 20, np.full(len(frames), 360.0)]),
        confidence=np.full(len(frames), 0.9), class_id=np.full(len(frames), cls),
        frame_index=frames, track_id=np.full(len(frames), track_id), data=data,
    )


def _merge(*parts):
    return Tracks.merge(parts)


def test_empty_in_empty_out():
    assert TrackletCleanup()(Tracks.empty(), fps=25, frame_width=1280) == {}


def test_short_tracks_are_dropped_and_long_ones_kept():
    tracks = _merge(_track(0, range(50), 100, RED), _track(1, range(5), 600, RED))
    mapping = TrackletCleanup(min_length_s=0.4)(tracks, fps=25, frame_width=1280)
    assert mapping == {0: 0}
    kept = relabel_tracks(tracks, mapping)
    assert len(kept) == 50 and set(kept.track_id.tolist()) == {0}


def test_fragment_after_occlusion_is_stitched_in_image_space():
    # Track 0 ends at frame 49 near x=198; track 3 starts 20 frames later 30 px on, same kit.
    tracks = _merge(_track(0, range(50), 100, RED), _track(3, range(70, 120), 228, RED))
    mapping = TrackletCleanup()(tracks, fps=25, frame_width=1280)
    assert mapping == {0: 0, 3: 0}
    assert relabel_tracks(tracks, mapping).track_ids().tolist() == [0]


def test_no_stitch_across_kits_referees_teams_or_impossible_runs():
    cleanup = TrackletCleanup()
    other_kit = _merge(_track(0, range(50), 100, RED), _track(1, range(70, 120), 228, BLUE))
    assert cleanup(other_kit, fps=25, frame_width=1280) == {0: 0, 1: 1}
    referee = _merge(_track(0, range(50), 100, RED), _track(1, range(70, 120), 228, RED, cls=REFEREE))
    assert cleanup(referee, fps=25, frame_width=1280) == {0: 0, 1: 1}
    far = _merge(_track(0, range(50), 100, RED, pitch=(0, 0)), _track(1, range(60, 110), 228, RED, pitch=(40, 0)))
    assert cleanup(far, fps=25, frame_width=1280) == {0: 0, 1: 1}  # 40 m in 0.4 s
    near = _merge(_track(0, range(50), 100, RED, pitch=(0, 0)), _track(1, range(60, 110), 900, RED, pitch=(6, 0)))
    assert cleanup(near, fps=25, frame_width=1280) == {0: 0, 1: 0}  # pitch says it could run there
    teams = _merge(_track(0, range(50), 100, RED), _track(1, range(70, 120), 228, RED))
    teams = teams.with_data(team=np.array(["A"] * 50 + ["B"] * 50, dtype=object))
    assert cleanup(teams, fps=25, frame_width=1280) == {0: 0, 1: 1}


def test_each_fragment_joins_at_most_one_chain_and_chains_never_overlap():
    # Two candidates follow track 0; only the closer one joins it, the other stays apart.
    tracks = _merge(_track(0, range(50), 100, RED), _track(1, range(55, 100), 200, RED), _track(2, range(56, 100), 260, RED))
    mapping = TrackletCleanup()(tracks, fps=25, frame_width=1280)
    assert mapping[1] == 0 and mapping[2] == 2
    merged = relabel_tracks(tracks, mapping)  # Tracks validates one row per id and frame
    assert merged.track_ids().tolist() == [0, 2]


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError):
        TrackletCleanup(max_speed_mps=0)


def test_link_by_jersey_joins_only_disjoint_tracklets_of_one_number():
    track_id = np.array([5, 5, 9, 9, 7, 7, 8, 8, 3, 3])
    frame_index = np.array([0, 10, 20, 30, 5, 25, 40, 50, 60, 70])
    team = np.array(["A", "A", "A", "A", "A", "A", "A", "A", None, None], dtype=object)
    jersey = np.array([10, 10, 10, 10, 10, 10, 4, 4, 4, 4], dtype=object)
    role = np.array(["player"] * 8 + ["referee"] * 2, dtype=object)
    linked = link_by_jersey(track_id, frame_index, team, jersey, role)
    # 5 (0-10) then 9 (20-30): one athlete. 7 (5-25) overlaps 5 and 9: a misread, kept apart.
    # 8 has another number; 3 is a referee without a team.
    assert linked.tolist() == [5, 5, 5, 5, 7, 7, 8, 8, 3, 3]
    assert link_by_jersey(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)).shape == (0,)
