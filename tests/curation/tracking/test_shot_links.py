"""Identities across shots: tracks of consecutive clips of one source linked in pitch space."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from soccerfactory.curation.tracking.shot_links import (
    LinkConfig, ShotTrack, identities_from_rows, link_shot_tracks, shot_tracks_from_rows,
)

FPS = 25.0


def _track(clip, track_id, frames, start_xy, velocity=(0.0, 0.0), team="A", role="player", jerseys=(), placed=True):
    """A track at ``start_xy`` (metres) moving at ``velocity`` (m/s) over ``frames``."""
    frames = np.asarray(list(frames), dtype=np.int64)
    t = (frames - frames[0])[:, None] / FPS
    xy = np.asarray(start_xy, np.float64) + t * np.asarray(velocity, np.float64)
    if not placed:
        xy = np.full_like(xy, np.nan)
    return ShotTrack(clip, track_id, frames, xy, team, role, tuple(jerseys))


def _at_end(track: ShotTrack) -> np.ndarray:
    return track.pitch_xy[-1]


def _squad(clip, first_id, frames, origins, velocity=(0.0, 0.0), team="A"):
    """Players of one team at ``origins`` (metres) all moving at ``velocity`` (m/s): the common
    motion across a cut that lets the linker trust it."""
    return [_track(clip, first_id + k, frames, xy, velocity, team=team) for k, xy in enumerate(origins)]


#: Five team-A players spread over the pitch, far from the athletes each test is about.
SQUAD = [(-40.0, -30.0), (-25.0, -28.0), (-10.0, -31.0), (5.0, -27.0), (20.0, -30.0)]


def test_tracks_are_followed_across_a_cut_whatever_their_ids():
    # Six players 8-15 m apart run together at (1.5, 0.5) m/s; after the cut the tracker numbers
    # them the other way round.
    origins = [(0, 0), (10, 5), (-8, 12), (15, -10), (-12, -6), (25, 3)]
    shot_1 = [_track("c1", k, range(0, 50), xy, (1.5, 0.5), team="AB"[k % 2]) for k, xy in enumerate(origins)]
    shot_2 = [
        _track("c2", 15 - k, range(50, 100), _at_end(shot_1[k]) + (0.06 + 0.3 * (k % 2), 0.02 - 0.2 * (k % 3)), (1.5, 0.5), team="AB"[k % 2])
        for k in range(6)
    ]
    links = link_shot_tracks(shot_1 + shot_2, FPS)
    for k in range(6):
        assert links.identity[("c1", k)] == links.identity[("c2", 15 - k)]
    assert len(set(links.identity.values())) == 6
    assert {link.kind for link in links.links} == {"position"} and not links.refused
    assert all("m apart after" in link.reason and "common shift" in link.reason and link.distance_m < 1.0 for link in links.links)


def _crossing(clip_after):
    """Two team-B players run at each other at 4 m/s, 2 m apart across the pitch; during a 1.5 s
    gap they pass, so where each ends is nearer where the *other* starts. Five team-A players
    stand still far away (the cut's common shift is zero)."""
    p_end, q_end = np.array([-4.0, 0.0]), np.array([4.0, 2.0])
    gap = (87 - 49) / FPS
    before = [
        _track("c1", 1, range(0, 50), p_end - (4.0 * 49 / FPS, 0), (4.0, 0), team="B"),
        _track("c1", 2, range(0, 50), q_end + (4.0 * 49 / FPS, 0), (-4.0, 0), team="B"),
    ]
    after = [
        _track(clip_after, 11, range(87, 140), p_end + (4.0 * gap, 0), (4.0, 0), team="B"),
        _track(clip_after, 12, range(87, 140), q_end - (4.0 * gap, 0), (-4.0, 0), team="B"),
    ]
    squad = _squad("c1", 20, range(0, 50), SQUAD) + _squad(clip_after, 30, range(87, 140), SQUAD)
    return before + after + squad


def test_a_pair_crossing_during_a_gap_is_never_linked_wrongly():
    # Across a cut: holding still, each end is 2.9 m from the wrong start and 6 m from its own.
    # Extrapolated by half their velocity relative to the others' (the squad stands still), the
    # two pairings come within the ambiguity margin: both refused, neither made wrong.
    links = link_shot_tracks(_crossing("c3"), FPS)
    assert links.identity[("c1", 1)] != links.identity[("c3", 12)] and links.identity[("c1", 2)] != links.identity[("c3", 11)]
    assert len(links.links) == 5 and len(links.refused) == 2 and all(link.reason.startswith("ambiguous") for link in links.refused)
    # Inside one clip (a gap the tracker left) the ends are extrapolated: with half the velocity
    # (the default) the two pairings stay within the ambiguity margin and both are refused ...
    inside = LinkConfig(within_clip=True)
    cautious = link_shot_tracks(_crossing("c1"), FPS, inside)
    assert cautious.identity[("c1", 1)] != cautious.identity[("c1", 12)] and cautious.identity[("c1", 2)] != cautious.identity[("c1", 11)]
    assert {(link.earlier, link.later) for link in cautious.refused} == {(("c1", 1), ("c1", 12)), (("c1", 2), ("c1", 11))}
    assert all(link.reason.startswith("ambiguous") for link in cautious.refused)
    # ... and carrying the whole velocity through the gap, the crossing is seen and both are right.
    sure = link_shot_tracks(_crossing("c1"), FPS, LinkConfig(within_clip=True, extrapolate=1.0))
    assert sure.identity[("c1", 1)] == sure.identity[("c1", 11)] and sure.identity[("c1", 2)] == sure.identity[("c1", 12)]


def test_a_shift_all_athletes_share_across_a_cut_is_removed_before_matching():
    # A line of six team-B players 6 m apart; during a 2.4 s zoomed shot (no positions) play
    # carries them all 10 m up the pitch, so each ends nearer its neighbour's start (4 m) than
    # its own (10 m). The common shift is found and removed; then each pair is 0.3 m apart.
    rng = np.random.default_rng(0)
    before = [_track("c1", k, range(0, 50), (6.0 * k, 0)) for k in range(6)]
    after = [
        _track("c3", 20 + k, range(110, 160), (6.0 * k + 10 + rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3))) for k in range(6)
    ]
    links = link_shot_tracks(before + after, FPS)
    assert all(links.identity[("c1", k)] == links.identity[("c3", 20 + k)] for k in range(6))
    assert all("common shift (+10.1, -0.0) m of 6 athletes" in link.reason for link in links.links)
    # Too few athletes to trust a shared shift: matched under the wide gate instead (and the
    # line is then ambiguous or unlinked, never linked one place off).
    two = link_shot_tracks(before[:2] + after[:2], FPS)
    assert two.identity[("c1", 0)] != two.identity[("c3", 21)] and two.identity[("c1", 1)] != two.identity[("c3", 20)]


def test_two_athletes_side_by_side_at_a_cut_are_refused_not_guessed():
    tracks = [
        # a metre apart before the cut, both half a metre from either start after it
        _track("c1", 1, range(0, 50), (0, 0)), _track("c1", 2, range(0, 50), (0, 1.0)),
        _track("c2", 1, range(50, 100), (0, 0.45)), _track("c2", 2, range(50, 100), (0, 0.6)),
    ] + _squad("c1", 10, range(0, 50), SQUAD) + _squad("c2", 10, range(50, 100), SQUAD)
    links = link_shot_tracks(tracks, FPS)
    ids = links.identity
    assert len({ids[("c1", 1)], ids[("c1", 2)], ids[("c2", 1)], ids[("c2", 2)]}) == 4
    assert all(ids[("c1", k)] == ids[("c2", k)] for k in range(10, 15))  # the rest are linked all the same
    assert len(links.refused) == 2 and all("ambiguous" in link.reason for link in links.refused)


def test_different_numbers_teams_roles_and_shared_frames_are_never_linked():
    same_spot = [
        _track("c1", 1, range(0, 50), (0, 0), jerseys=(7,)), _track("c2", 1, range(50, 100), (0, 0), jerseys=(9,)),
        _track("c1", 2, range(0, 50), (30, 0), team="A"), _track("c2", 2, range(50, 100), (30, 0), team="B"),
        _track("c1", 3, range(0, 50), (-30, 0), role="referee", team=None), _track("c2", 3, range(50, 100), (-30, 0), team=None),
        _track("c1", 4, range(0, 50), (0, 30), role="goalkeeper", team="A"),
        _track("c2", 4, range(50, 100), (0, 30), role="goalkeeper", team="B"),
    ]
    # Five players standing still in both shots: the cut's common shift is zero, so each pair
    # above would be 0 m apart; only the labels keep them apart.
    squad = _squad("c1", 10, range(0, 50), SQUAD) + _squad("c2", 10, range(50, 100), SQUAD)
    links = link_shot_tracks(same_spot + squad, FPS)
    assert len({links.identity[t.key] for t in same_spot}) == 8 and len(links.links) == 5
    # A chain through an unnumbered track must not join #7 to #9 either.
    chain = [
        _track("c1", 1, range(0, 50), (0, 0), jerseys=(7,)), _track("c2", 1, range(50, 100), (0, 0)),
        _track("c3", 1, range(100, 150), (0, 0), jerseys=(9,)),
    ] + [t for clip, frames in (("c1", range(0, 50)), ("c2", range(50, 100)), ("c3", range(100, 150))) for t in _squad(clip, 10, frames, SQUAD)]
    ids = link_shot_tracks(chain, FPS).identity
    assert ids[("c1", 1)] == ids[("c2", 1)] or ids[("c2", 1)] == ids[("c3", 1)]
    assert ids[("c1", 1)] != ids[("c3", 1)]
    # Two tracks of one clip that share a frame are two people, however close.
    overlapping = [_track("c1", 1, range(0, 50), (0, 0)), _track("c1", 2, range(49, 100), (0, 0.2))]
    assert len(set(link_shot_tracks(overlapping, FPS).identity.values())) == 2


def test_a_gap_of_shots_without_camera_is_bridged_up_to_max_gap():
    # main shot, 2.4 s close-up (a track without positions), main shot again: five players walked
    # 3 m up the pitch together.
    tracks = (
        _squad("c1", 1, range(0, 100), SQUAD, (1.0, 0))
        + [_track("c2", 1, range(100, 160), (0, 0), placed=False)]
        + _squad("c3", 1, range(160, 250), [(x + 99 / FPS + 2.4 + 0.6, y) for x, y in SQUAD], (1.0, 0))
        + [_track("c3", 9, range(160, 250), (25, 10))]  # somebody else
    )
    links = link_shot_tracks(tracks, FPS)
    assert all(links.identity[("c1", k)] == links.identity[("c3", k)] for k in range(1, 6))
    assert links.identity[("c2", 1)] not in {links.identity[("c1", k)] for k in range(1, 6)}
    assert len(links.links) == 5 and all(link.kind == "position" and 2.3 < link.gap_s < 2.5 for link in links.links)
    assert link_shot_tracks(tracks, FPS, LinkConfig(max_gap_s=2.0)).identity[("c3", 1)] != links.identity[("c1", 1)]


def test_a_number_read_in_a_close_up_joins_the_shots_on_both_sides():
    # Main shot, a close-up where player 1's number 7 is read (no camera), main shot again where
    # 7 is read too: the label joins the close-up to the later shot, and the earlier shot's
    # player 1 (no number) is still followed across by position: the close-up track has no
    # position, so it is no reason to refuse the link (it was, on every such shot of dev seeds).
    tracks = (
        _squad("c1", 1, range(0, 100), SQUAD, (1.0, 0))
        + [_track("c2", 1, range(100, 160), (0, 0), placed=False, jerseys=(7,))]
        + _squad("c3", 1, range(160, 250), [(x + 99 / FPS + 2.4 + 0.6, y) for x, y in SQUAD], (1.0, 0))
    )
    tracks[-5] = _track("c3", 1, range(160, 250), _at_end(tracks[0]) + (3.0, 0), (1.0, 0), jerseys=(7,))
    links = link_shot_tracks(tracks, FPS)
    assert links.identity[("c1", 1)] == links.identity[("c2", 1)] == links.identity[("c3", 1)]
    assert all(links.identity[("c1", k)] == links.identity[("c3", k)] for k in range(2, 6))
    kinds = {(link.earlier, link.later): link.kind for link in links.links}
    assert kinds[(("c2", 1), ("c3", 1))] == "jersey" and kinds[(("c1", 1), ("c3", 1))] == "position"
    # What the linker found at each cut is kept: the cut c1 -> c3 had a common shift of 5 athletes.
    assert links.cuts[("c1", "c3")].startswith("common shift") and "of 5 athletes" in links.cuts[("c1", "c3")]
    # A positioned track between them still refuses the link.
    between = tracks + [_track("c2", 2, range(100, 160), (0, 0))]
    between[5] = _track("c2", 1, range(100, 130), _at_end(tracks[0]) + (1.0, 0), jerseys=(7,))
    assert link_shot_tracks(between, FPS).identity[("c1", 1)] != link_shot_tracks(between, FPS).identity[("c3", 1)]


def test_an_athlete_running_against_the_play_is_linked_in_a_second_pass():
    # Five players walk together across a 2.4 s cut; a sixth sprinted 11 m the other way (the
    # first pass allows 2.5 + 2.5 * 2.4 = 8.5 m once the shift is removed). Left alone at the
    # ends of the cut, he is linked by the second, wider pass; with another loose start as near,
    # he is refused as ambiguous.
    shift = np.array([3.0, 0.0])
    before = _squad("c1", 1, range(0, 50), SQUAD, (1.0, 0)) + [_track("c1", 9, range(0, 50), (0.0, 10.0))]
    after = _squad("c2", 1, range(110, 160), [(x + 49 / FPS + shift[0], y) for x, y in SQUAD], (1.0, 0))
    runner = _track("c2", 9, range(110, 160), _at_end(before[-1]) + shift + (-11.0, 0.0))
    links = link_shot_tracks(before + after + [runner], FPS)
    assert all(links.identity[("c1", k)] == links.identity[("c2", k)] for k in range(1, 6))
    second = [link for link in links.links if link.reason.startswith("second pass")]
    assert [(link.earlier, link.later) for link in second] == [(("c1", 9), ("c2", 9))]
    assert link_shot_tracks(before + after + [runner], FPS, LinkConfig(wide_speed_mps=0)).identity[("c2", 9)] != links.identity[("c1", 9)]
    rival = _track("c2", 10, range(110, 160), _at_end(before[-1]) + shift + (0.0, 12.0))
    crowded = link_shot_tracks(before + after + [runner, rival], FPS)
    assert crowded.identity[("c1", 9)] not in (crowded.identity[("c2", 9)], crowded.identity[("c2", 10)])
    assert any(link.reason.startswith("ambiguous: second pass") for link in crowded.refused)


def test_a_cut_without_a_common_shift_is_not_bridged():
    # One athlete left alone near where another appears after a cut: the new shot may show another
    # part of the pitch, so nothing says it is the same athlete.
    tracks = [_track("c1", 1, range(0, 50), (0, 0)), _track("c2", 1, range(50, 100), (0.5, 0))]
    assert len(set(link_shot_tracks(tracks, FPS).identity.values())) == 2
    assert len(set(link_shot_tracks(tracks, FPS, LinkConfig(cut_needs_shift=False)).identity.values())) == 1


def test_a_gap_the_tracker_left_inside_a_clip_is_linked_when_asked():
    tracks = [_track("c1", 1, range(0, 50), (0, 0)), _track("c1", 4, range(90, 150), (1.5, 1.0))]
    links = link_shot_tracks(tracks, FPS, LinkConfig(within_clip=True))
    assert links.identity[("c1", 1)] == links.identity[("c1", 4)]
    assert len(set(link_shot_tracks(tracks, FPS).identity.values())) == 2  # off by default


def test_labels_join_tracks_far_apart_and_a_key_worn_twice_names_nobody():
    tracks = [
        _track("c1", 1, range(0, 50), (0, 0), jerseys=(10,)), _track("c5", 1, range(900, 950), (40, 20), jerseys=(10,)),
        _track("c1", 2, range(0, 50), (-40, 0), role="goalkeeper", team="B"),
        _track("c5", 2, range(900, 950), (-45, 5), role="goalkeeper", team="B"),
        _track("c2", 3, range(100, 150), (0, -20), jerseys=(5,)), _track("c2", 4, range(120, 170), (10, -20), jerseys=(5,)),
        _track("c3", 5, range(500, 550), (0, 20), jerseys=(5,)),
    ]
    links = link_shot_tracks(tracks, FPS)
    ids = links.identity
    assert ids[("c1", 1)] == ids[("c5", 1)] and ids[("c1", 2)] == ids[("c5", 2)]
    assert len({ids[("c2", 3)], ids[("c2", 4)], ids[("c3", 5)]}) == 3
    assert sorted(link.kind for link in links.links) == ["goalkeeper", "jersey"]
    assert sorted(set(ids.values())) == list(range(1, 6))
    assert ids[("c1", 1)] == 1  # numbered by first frame
    assert link_shot_tracks(tracks, FPS, LinkConfig(by_jersey=False)).identity[("c5", 1)] != ids[("c1", 1)]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="pitch_xy"):
        ShotTrack("c", 1, np.arange(3), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="increasing"):
        ShotTrack("c", 1, np.array([2, 1]), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="role"):
        ShotTrack("c", 1, np.arange(2), np.zeros((2, 2)), role="coach")
    with pytest.raises(ValueError, match="LinkConfig"):
        LinkConfig(base_m=0)
    with pytest.raises(ValueError, match="twice"):
        link_shot_tracks([_track("c", 1, range(3), (0, 0))] * 2, FPS)
    with pytest.raises(ValueError, match="fps"):
        link_shot_tracks([], 0)


def test_stored_rows_become_tracks_and_identities():
    def rows(clip, track, frames, x, role="player", team="A", jersey=None):
        return [
            {"clip_id": clip, "track_id": track, "frame_index": f, "role": role, "team": team, "jersey": jersey,
             "pitch_x": x, "pitch_y": 0.0 if x is not None else None}
            for f in frames
        ]

    athletes = [r for k in range(5) for r in rows("c1", k, range(0, 50), 10.0 * k, jersey=4 if k == 0 else None)]
    athletes += [r for k in range(5) for r in rows("c2", 9 - k, range(50, 100), 10.0 * k + 0.3)] + rows("c2", 20, range(50, 60), None)
    tracks = {t.key: t for t in shot_tracks_from_rows(athletes)}
    assert tracks[("c1", 0)].jerseys == (4,) and np.isnan(tracks[("c2", 20)].pitch_xy).all()
    ids = identities_from_rows(athletes, [{"fps": FPS}])
    assert all(ids[("c1", k)] == ids[("c2", 9 - k)] for k in range(5))
    assert list(ids.values()).count(ids[("c2", 20)]) == 1  # no position: an identity of its own
    # within one clip the stored track ids are kept (the smallest of each identity)
    one_clip = rows("c1", 3, range(0, 50), 0.0) + rows("c1", 8, range(70, 100), 1.0)
    assert identities_from_rows(one_clip, [{"fps": FPS}]) == {("c1", 3): 3, ("c1", 8): 8}
    assert identities_from_rows(one_clip, [{"fps": FPS}], LinkConfig(within_clip=True)) == {("c1", 3): 3, ("c1", 8): 3}
    assert identities_from_rows([], [{"fps": FPS}]) == {}


def test_the_game_state_export_joins_two_shots_by_position():
    from soccerfactory.storage.gamestate import gamestate_predictions
    from soccerfactory.storage.schemas import example_shard_tables

    def shot(clip_id, start, x_of_track):
        tables = example_shard_tables(clip_id=clip_id, n_frames=30, n_tracks=5, start_frame=start)
        rows = tables["athletes"].to_pylist()
        for r in rows:  # unnumbered team-A players standing still, far apart (the last frame has no camera)
            placed = r["pitch_x"] is not None
            r.update(role="player", team="A", jersey=None, pitch_x=x_of_track[r["track_id"]] if placed else None, pitch_y=0.0 if placed else None)
        tables["athletes"] = pa.Table.from_pylist(rows, schema=tables["athletes"].schema)
        return tables

    # five players 10 m apart; after the cut the tracker numbers them the other way round
    first = shot("clip-0", 100, {k: 10.0 * k for k in range(1, 6)})
    second = shot("clip-1", 130, {k: 10.0 * (6 - k) + 0.4 for k in range(1, 6)})
    merged = {name: pa.concat_tables([first[name], second[name]]) for name in ("clips", "athletes", "cameras", "frames")}
    plain = gamestate_predictions(merged, frames="source")
    linked = gamestate_predictions(merged, frames="source", identities=identities_from_rows)
    assert len({p["track_id"] for p in plain["predictions"]}) == 10
    assert len({p["track_id"] for p in linked["predictions"]}) == 5
    by_place = {}
    for p in linked["predictions"]:
        by_place.setdefault(round(p["bbox_pitch"]["x_bottom_middle"] / 10), set()).add(p["track_id"])
    assert len(by_place) == 5 and all(len(ids) == 1 for ids in by_place.values())
