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


def _box_track(track_id, frames, x0, cls=PLAYER, confidence=0.9, jitter=0.0):
    frames = np.asarray(list(frames))
    xs = x0 + jitter * np.sin(frames)
    return Tracks(
        xyxy=np.column_stack([xs, np.full(len(frames), 300.0), xs + 20, np.full(len(frames), 360.0)]),
        confidence=np.full(len(frames), confidence), class_id=np.full(len(frames), cls),
        frame_index=frames, track_id=np.full(len(frames), track_id),
    )


def test_duplicate_tracks_on_one_person_are_merged_into_the_longest_with_a_reason():
    # Track 0 follows a player for 80 frames; 4 and 7 are the detector's second and third box
    # on the same player (another class) for 31 and 20 frames, nearly the same box; track 9 is
    # another player who stands in front of him for 4 frames only.
    tracks = _merge(
        _box_track(0, range(80), 100), _box_track(4, range(20, 51), 101, cls=REFEREE, confidence=0.5),
        _box_track(7, range(40, 60), 100.5, jitter=0.5), _box_track(9, range(30, 80), 300),
    )
    crossing = _box_track(9, range(30, 34), 100)
    tracks = _merge(tracks[~((tracks.track_id == 9) & np.isin(tracks.frame_index, range(30, 34)))], crossing)
    mapping = TrackletCleanup(duplicate_min_s=0.5)(tracks, fps=25, frame_width=1280)
    assert mapping == {0: 0, 4: 0, 7: 0, 9: 9}
    assert mapping.merged == {4, 7}
    assert mapping.reasons[0] == (
        "merged duplicate track 4 (IoU >= 0.7 on 31 of 31 shared frames), track 7 (IoU >= 0.7 on 20 of 20 shared frames)"
    )
    merged = relabel_tracks(tracks, mapping)  # Tracks validates one row per id and frame
    kept = merged.tracklet(0)
    assert len(kept) == 80 and (kept.class_id == PLAYER).all()  # the kept track's own boxes win
    assert set(merged.data["duplicate_reason"][merged.track_id == 0]) == {mapping.reasons[0]}
    assert set(merged.data["duplicate_reason"][merged.track_id == 9]) == {None}


def test_duplicates_extend_the_kept_track_and_follow_its_stitching():
    # 3 overlaps the end of 0 for 15 frames and goes on alone: one person, one track of 0..99.
    tracks = _merge(_box_track(0, range(50), 100), _box_track(3, range(35, 100), 100))
    mapping = TrackletCleanup()(tracks, fps=25, frame_width=1280)
    assert mapping == {0: 3, 3: 3} and mapping.merged == {0}
    merged = relabel_tracks(tracks, mapping)
    assert merged.track_ids().tolist() == [3] and merged.frame_index.tolist() == list(range(100))


def test_short_overlaps_and_switched_tracks_are_not_duplicates():
    brief = _merge(_box_track(0, range(80), 100), _box_track(1, range(80), 400))
    brief = _merge(brief[~((brief.track_id == 1) & (brief.frame_index < 8))], _box_track(1, range(8), 100))
    assert TrackletCleanup()(brief, fps=25, frame_width=1280) == {0: 0, 1: 1}  # 8 frames < 0.5 s
    assert TrackletCleanup(duplicate_min_s=0)(
        _merge(_box_track(0, range(80), 100), _box_track(1, range(80), 100)), fps=25, frame_width=1280
    ) == {0: 0, 1: 1}
    with pytest.raises(ValueError, match="duplicate"):
        TrackletCleanup(duplicate_min_iou=0)
