"""Appearance across shots: per-row crop embeddings, a track's mean, and the linker's appearance pass."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.tracking.shot_appearance import mean_appearance, row_embeddings, rows_with_vectors
from soccerfactory.curation.tracking.shot_links import LinkConfig, ShotTrack, link_shot_tracks, shot_tracks_from_rows

FPS = 25.0
DIM = 16


def _look(k: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """A unit embedding: one of a few base looks that share a common (kit) part, plus noise."""
    rng = np.random.default_rng(seed)
    base = np.full(DIM, 1.0)  # what teammates share: the kit
    base[k] += 1.2
    vector = base + noise * rng.normal(size=DIM)
    return vector / np.linalg.norm(vector)


def _track(clip, track_id, frames, xy, look=None, team="A", role="player", jerseys=(), crops=4):
    frames = np.asarray(list(frames), dtype=np.int64)
    pitch = np.tile(np.asarray(xy, np.float64), (frames.size, 1)) if xy is not None else np.full((frames.size, 2), np.nan)
    return ShotTrack(clip, track_id, frames, pitch, team, role, tuple(jerseys), look, crops if look is not None else 0)


def test_mean_appearance_averages_unit_vectors_and_skips_what_is_not_one():
    mean, n = mean_appearance([[3.0, 0.0], None, [0.0, 0.5], [np.nan, 1.0], [0.0, 0.0], [1.0, 0.0, 0.0]])
    assert n == 2  # the two good vectors count once each, whatever their length
    np.testing.assert_allclose(mean, [np.sqrt(0.5), np.sqrt(0.5)])
    assert mean_appearance([None, None]) == (None, 0)
    with pytest.raises(ValueError, match="appearance"):
        _track("c", 1, range(3), (0, 0), look=np.zeros(DIM))


def test_row_embeddings_put_each_crop_on_its_row_and_nan_elsewhere():
    out = row_embeddings(
        np.array([10, 10, 11, 12]), np.array([1, 2, 1, 1]), np.array([12, 10]), np.array([1, 2]), np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    )
    assert out.shape == (4, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out[1], [0.0, 1.0])
    np.testing.assert_array_equal(out[3], [1.0, 0.0])
    assert np.isnan(out[[0, 2]]).all()


def _long_gap(looks_after, teams_after=("A", "A", "A"), xy_after=None):
    """Three team-A players end in shot c1; 8 s later (longer than position links bridge) three
    tracks start in shot c3, numbered the other way round, with ``looks_after``."""
    before = [_track("c1", k, range(0, 50), (10.0 * k, 0.0), look=_look(k, 0.05, seed=k)) for k in range(3)]
    after = [
        _track("c3", 9 - k, range(250, 300), (xy_after or (10.0 * k + 3, 2.0)), look=look, team=team)
        for k, (look, team) in enumerate(zip(looks_after, teams_after))
    ]
    return before, after


def test_appearance_links_teammates_across_a_gap_position_cannot_bridge():
    before, after = _long_gap([_look(k, 0.1, seed=10 + k) for k in range(3)])
    without = link_shot_tracks(before + after, FPS, LinkConfig(appearance=False))
    assert len(set(without.identity.values())) == 6  # 8 s is past max_gap_s: nothing linked
    links = link_shot_tracks(before + after, FPS)
    for k in range(3):
        assert links.identity[("c1", k)] == links.identity[("c3", 9 - k)]
    assert {link.kind for link in links.links} == {"appearance"}
    assert all("alike over 4 and 4 crops" in link.reason and "above the next best" in link.reason and "after 8.04 s" in link.reason for link in links.links)
    assert all(0 <= link.cost < 0.2 for link in links.links)


def test_two_teammates_who_look_alike_are_not_told_apart_by_appearance():
    # Players 1 and 2 come back looking the same: appearance is not clearly closer to either, so
    # neither is linked; player 0 still is.
    alike = _look(1, 0.0)
    before, after = _long_gap([_look(0, 0.05, seed=10), alike, alike])
    before[2] = _track("c1", 2, range(0, 50), (20.0, 0.0), look=_look(1, 0.01, seed=3))
    links = link_shot_tracks(before + after, FPS)
    assert links.identity[("c1", 0)] == links.identity[("c3", 9)]
    linked = {(link.earlier, link.later) for link in links.links}
    assert not any(a in (("c1", 1), ("c1", 2)) for a, _ in linked)


def test_appearance_never_links_across_teams_or_where_the_athlete_could_not_have_run():
    looks = [_look(k, 0.05, seed=10 + k) for k in range(3)]
    before, after = _long_gap(looks, teams_after=("B", "B", "B"))
    assert not link_shot_tracks(before + after, FPS).links  # another kit: appearance has no say
    # 105 m away 8 s later is more than anyone runs (15 m + 10 m/s * 8 s): not a candidate.
    before, after = _long_gap(looks, xy_after=(-52.5, 0.0))
    before = [_track("c1", k, range(0, 50), (52.5, 0.0), look=_look(k, 0.05, seed=k)) for k in range(3)]
    assert not link_shot_tracks(before + after, FPS).links
    # ... but a track with no pitch position (a close-up) is not constrained.
    before, after = _long_gap(looks)
    after = [_track(t.clip_id, t.track_id, t.frames, None, look=t.appearance) for t in after]
    assert len(link_shot_tracks(before + after, FPS).links) == 3


def test_appearance_needs_enough_crops_and_a_close_look():
    before, after = _long_gap([_look(k, 0.1, seed=10 + k) for k in range(3)])
    one_crop = [_track(t.clip_id, t.track_id, t.frames, t.pitch_xy[0], look=t.appearance, crops=1) for t in after]
    assert not link_shot_tracks(before + one_crop, FPS).links
    assert not link_shot_tracks(before + after, FPS, LinkConfig(appearance_min_similarity=0.999)).links


def test_shot_tracks_from_rows_average_the_rows_embeddings():
    rows = [
        {"clip_id": "c", "frame_index": f, "track_id": 1, "team": "A", "role": "player", "jersey": None, "pitch_x": 0.0, "pitch_y": 0.0,
         "appearance": ([1.0, 0.0] if f == 0 else [0.0, 2.0] if f == 2 else None)}
        for f in range(4)
    ] + [{"clip_id": "c", "frame_index": 0, "track_id": 2, "team": "A", "role": "player", "jersey": None, "pitch_x": 1.0, "pitch_y": 0.0}]
    one, two = sorted(shot_tracks_from_rows(rows), key=lambda t: t.track_id)
    assert one.appearance_crops == 2
    np.testing.assert_allclose(one.appearance, [np.sqrt(0.5), np.sqrt(0.5)])
    assert two.appearance is None and two.appearance_crops == 0  # rows from before the column


@pytest.mark.slow
def test_real_crops_link_teammates_by_appearance_and_never_wrongly(tmp_path):
    """A real 720p broadcast render (a dev seed): the ReID embedding of each athlete's crops on its
    rows, then each athlete cut into a track before and one after an 8 s gap without pitch
    positions, where only appearance can link them. Every appearance link must join one athlete."""
    import pyarrow.parquet as pq

    from soccerfactory.curation.attribute.crops import AthleteCrops
    from soccerfactory.curation.quality.clips import BROADCAST_SYNTH
    from soccerfactory.curation.synth.config import SynthConfig
    from soccerfactory.curation.synth.render import render_clip
    from soccerfactory.curation.testing import decode_video
    from soccerfactory.curation.tracking.reid import REID_DIM, ReidEmbedder
    from soccerfactory.curation.tracking.shot_appearance import with_crop_embeddings
    from soccerfactory.curation.types import CLASS_NAMES, Tracks

    fps = 5.0
    render_clip(SynthConfig(seconds=6.0, fps=fps, seed=461, width=1280, height=720, **{**BROADCAST_SYNTH, "motion_blur": False}), tmp_path)
    frames = decode_video(tmp_path / "video.mp4", fps=fps)
    gt = [r for r in pq.read_table(tmp_path / "gt" / "athletes.parquet").to_pylist() if r["x1"] is not None and r["y2"] - r["y1"] >= 24 and r["role"] == "player"]
    tracks = Tracks(
        xyxy=np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in gt], np.float32), confidence=np.ones(len(gt), np.float32),
        class_id=np.full(len(gt), CLASS_NAMES.index("player")), frame_index=np.array([r["frame_index"] for r in gt]),
        track_id=np.array([r["track_id"] for r in gt]),
    )
    tracks = with_crop_embeddings(tracks, AthleteCrops.from_frames(frames, tracks), ReidEmbedder())
    reid = tracks.data["reid"]
    assert reid.shape == (len(gt), REID_DIM) and np.isfinite(reid).all()  # every row had a crop
    np.testing.assert_allclose(np.linalg.norm(reid, axis=1), 1.0, rtol=1e-4)

    middle, gap = int(np.median(tracks.frame_index)), int(8 * fps)
    shots, team_of = [], {r["track_id"]: r["team"] for r in gt}
    for athlete in np.unique(tracks.track_id).tolist():
        rows = np.flatnonzero(tracks.track_id == athlete)
        for clip, part in (("c1", rows[tracks.frame_index[rows] < middle]), ("c2", rows[tracks.frame_index[rows] >= middle])):
            if part.size >= 3:
                frames_of = tracks.frame_index[part] + (gap if clip == "c2" else 0)
                look, n = mean_appearance(reid[part])
                shots.append(ShotTrack(clip, athlete, frames_of, np.full((part.size, 2), np.nan), team_of[athlete], "player", (), look, n))
    links = link_shot_tracks(shots, fps)
    by_kind = [link for link in links.links if link.kind == "appearance"]
    both = {t.track_id for t in shots if t.clip_id == "c1"} & {t.track_id for t in shots if t.clip_id == "c2"}
    assert len(both) >= 10
    assert all(link.earlier[1] == link.later[1] for link in by_kind), [link.reason for link in by_kind]
    # Measured on this render: 8 of 18 athletes linked across the gap, none wrongly.
    assert len(by_kind) >= 0.3 * len(both)


def test_rows_with_vectors_reads_the_embeddings_as_float32_views_whatever_the_chunks():
    import pyarrow as pa

    table = pa.table({"track_id": [1, 2, 3], "appearance": pa.array([[1.0, 2.0], None, [3.0, 4.0]], pa.list_(pa.float32()))})
    rows = rows_with_vectors(pa.concat_tables([table.slice(1, 2), table.slice(0, 1)]))
    assert [r["track_id"] for r in rows] == [2, 3, 1] and rows[0]["appearance"] is None
    assert rows[1]["appearance"].dtype == np.float32 and rows[1]["appearance"].tolist() == [3.0, 4.0] and rows[2]["appearance"].tolist() == [1.0, 2.0]
    assert rows_with_vectors(table.drop_columns(["appearance"])) == [{"track_id": 1}, {"track_id": 2}, {"track_id": 3}]


def test_a_lone_candidate_is_judged_against_the_teammates_beside_it():
    # One track ends, one starts 8 s later: no rival pair. Alike as they are, that may be the kit's
    # look; only a teammate on screen beside one of them (another athlete for sure) who looks less
    # alike makes the link clear.
    later = _track("c3", 5, range(250, 300), (3.0, 0.0), look=_look(0, 0.1, seed=2), jerseys=(9,))
    alone = [_track("c1", 0, range(0, 50), (0.0, 0.0), look=_look(0, 0.1, seed=1)), later]
    assert not link_shot_tracks(alone, FPS).links
    # (number 7 read on the teammate: it cannot be the later number 9, so it is no rival pair)
    other = _track("c1", 1, range(0, 50), (20.0, 0.0), look=_look(3, 0.1, seed=3), jerseys=(7,))
    (link,) = link_shot_tracks(alone + [other], FPS).links
    assert (link.earlier, link.later, link.kind) == (("c1", 0), ("c3", 5), "appearance") and "beside them" in link.reason
    twin = _track("c1", 1, range(0, 50), (20.0, 0.0), look=_look(0, 0.1, seed=4), jerseys=(7,))  # looks the same: not clear
    assert not link_shot_tracks(alone + [twin], FPS).links


def test_a_small_appearance_margin_is_enough_where_position_agrees():
    # Two teammates 10 m apart, back 8 s later: each is 0.032 more alike to himself than to the
    # other (below appearance_margin, above appearance_agree_margin).
    def unit(v):
        return v / np.linalg.norm(v)

    axis = np.eye(DIM)
    x, y = unit(5.5 * axis[0] + axis[1]), unit(5.5 * axis[0] + axis[2])
    x_later, y_later = unit(5.5 * axis[0] + axis[1] + 0.3 * axis[3]), unit(5.5 * axis[0] + axis[2] + 0.3 * axis[4])
    before = [_track("c1", 0, range(0, 50), (0.0, 0.0), look=x), _track("c1", 1, range(0, 50), (10.0, 0.0), look=y)]

    def linked(x_at, y_at):
        after = [_track("c3", 5, range(250, 300), x_at, look=x_later), _track("c3", 6, range(250, 300), y_at, look=y_later)]
        return link_shot_tracks(before + after, FPS).links

    links = linked((1.0, 0.0), (11.0, 0.0))  # each came back where he left: position ranks the same pairs first
    assert {(link.earlier, link.later) for link in links} == {(("c1", 0), ("c3", 5)), (("c1", 1), ("c3", 6))}
    assert all(link.kind == "appearance" and "position ranks it first too" in link.reason for link in links)
    assert not linked((11.0, 0.0), (1.0, 0.0))  # the two cues disagree: nothing
    assert not link_shot_tracks(before + [_track("c3", 5, range(250, 300), (1.0, 0.0), look=x_later), _track("c3", 6, range(250, 300), (11.0, 0.0), look=y_later)],
                                FPS, LinkConfig(appearance_agree_margin=0.05)).links


#: Five team-A players far from the athletes a test is about, in both shots: the cut's common shift.
SQUAD = [(-40.0, -30.0), (-25.0, -28.0), (-10.0, -31.0), (5.0, -27.0), (20.0, -30.0)]


def _side_by_side(rescue: bool):
    """Two teammates a metre apart at a cut (position cannot tell which start is whose: both pairs
    ambiguous), and a third who looks like the first leaving the picture 12 m away (so appearance
    alone, over every pair it could reach, is not clear either)."""
    squad = [_track(clip, 10 + k, frames, xy) for clip, frames in (("c1", range(0, 50)), ("c2", range(50, 100))) for k, xy in enumerate(SQUAD)]
    side = [
        _track("c1", 1, range(0, 50), (0.0, 0.0), look=_look(0, 0.05, seed=1)), _track("c1", 2, range(0, 50), (0.0, 1.0), look=_look(1, 0.05, seed=2)),
        _track("c2", 1, range(50, 100), (0.0, 0.45), look=_look(0, 0.05, seed=3)), _track("c2", 2, range(50, 100), (0.0, 0.6), look=_look(1, 0.05, seed=4)),
        _track("c1", 3, range(0, 50), (12.0, 0.0), look=_look(0, 0.05, seed=5)),
    ]
    return link_shot_tracks(squad + side, FPS, LinkConfig(appearance_rescue=rescue))


def test_appearance_settles_a_pair_position_found_ambiguous():
    without = _side_by_side(rescue=False)
    assert without.identity[("c1", 1)] != without.identity[("c2", 1)]  # refused by both passes
    assert any(link.reason.startswith("ambiguous") and link.earlier == ("c1", 1) for link in without.refused)
    links = _side_by_side(rescue=True)
    ids = links.identity
    assert ids[("c1", 1)] == ids[("c2", 1)] and ids[("c1", 2)] == ids[("c2", 2)] and ids[("c1", 3)] not in (ids[("c2", 1)], ids[("c2", 2)])
    (link,) = [link for link in links.links if link.earlier == ("c1", 1)]
    assert link.kind == "position" and "the next best assignment costs only" in link.reason and "appearance picks it" in link.reason


def test_an_ambiguous_pair_appearance_cannot_tell_stays_refused():
    # The same two teammates, now looking alike: position and appearance both unsure, nothing linked.
    squad = [_track(clip, 10 + k, frames, xy) for clip, frames in (("c1", range(0, 50)), ("c2", range(50, 100))) for k, xy in enumerate(SQUAD)]
    alike = [_track(c, k, frames, xy, look=_look(0, 0.02, seed=10 * k + len(c))) for c, k, frames, xy in (
        ("c1", 1, range(0, 50), (0.0, 0.0)), ("c1", 2, range(0, 50), (0.0, 1.0)), ("c2", 1, range(50, 100), (0.0, 0.45)), ("c2", 2, range(50, 100), (0.0, 0.6)))]
    links = link_shot_tracks(squad + alike, FPS, LinkConfig(appearance_rescue=True))
    assert len({links.identity[(c, k)] for c in ("c1", "c2") for k in (1, 2)}) == 4
    # a rival without an embedding says nothing either
    blind = [alike[0], _track("c1", 2, range(0, 50), (0.0, 1.0)), _track("c2", 1, range(50, 100), (0.0, 0.45), look=_look(0, 0.05, seed=3)), _track("c2", 2, range(50, 100), (0.0, 0.6))]
    links = link_shot_tracks(squad + blind, FPS, LinkConfig(appearance_rescue=True, appearance=False))
    assert len({links.identity[(c, k)] for c in ("c1", "c2") for k in (1, 2)}) == 4


def _three_shots(middle_looks, between=True):
    """Two teammates followed by position from shot c1 to shot c3 across a zoomed shot c2 (no
    pitch positions) that shows them too: their c2 tracks are left alone by the position pass."""
    squad = [_track(clip, 10 + k, frames, xy) for clip, frames in (("c1", range(0, 50)), ("c3", range(100, 150))) for k, xy in enumerate(SQUAD)]
    ends = [
        _track("c1", 1, range(0, 50), (0.0, 0.0), look=_look(0, 0.05, seed=1)), _track("c1", 2, range(0, 50), (10.0, 0.0), look=_look(1, 0.05, seed=2)),
        _track("c3", 1, range(100, 150), (0.2, 0.1), look=_look(0, 0.05, seed=3)), _track("c3", 2, range(100, 150), (10.1, 0.2), look=_look(1, 0.05, seed=4)),
    ]
    middle = [_track("c2", 5 + k, range(55, 95), None, look=look) for k, look in enumerate(middle_looks)]
    return link_shot_tracks(squad + ends + middle, FPS, LinkConfig(appearance_between=between))


def test_a_track_without_positions_joins_the_identity_around_it_that_it_looks_like():
    links = _three_shots([_look(1, 0.05, seed=5), _look(0, 0.05, seed=6)])
    ids = links.identity
    assert ids[("c1", 1)] == ids[("c3", 1)] == ids[("c2", 6)] and ids[("c1", 2)] == ids[("c3", 2)] == ids[("c2", 5)]
    inserted = [link for link in links.links if link.later[0] == "c2"]
    assert {(link.earlier, link.later) for link in inserted} == {(("c1", 2), ("c2", 5)), (("c1", 1), ("c2", 6))}
    assert all(link.kind == "appearance" and "no pitch position, between tracks" in link.reason for link in inserted)
    off = _three_shots([_look(1, 0.05, seed=5), _look(0, 0.05, seed=6)], between=False)
    assert off.identity[("c2", 5)] not in (off.identity[("c1", 1)], off.identity[("c1", 2)])


def test_a_track_between_two_identities_it_looks_alike_is_left_alone():
    # The middle track looks like both (the kit's look, nothing of its own): not decided.
    links = _three_shots([_look(0, 0.0) + _look(1, 0.0)])
    assert links.identity[("c2", 5)] not in (links.identity[("c1", 1)], links.identity[("c1", 2)])


def test_a_rival_of_too_few_crops_decides_nothing_in_the_rescue_as_in_the_other_rules():
    # The rescue's rivals obey appearance_min_crops like the appearance pass's and the insertions':
    # a one-crop rival's look is noise, so it neither lets the pair through nor blocks it.
    from types import SimpleNamespace

    from soccerfactory.curation.tracking.shot_rescue import appearance_agrees

    config = LinkConfig()
    pair = [_track("c1", 1, range(0, 50), (0.0, 0.0), look=_look(0)), _track("c2", 1, range(50, 100), (0.0, 0.5), look=_look(0, 0.05, seed=3))]
    candidates = [SimpleNamespace(earlier=("c1", 1), later=("c2", 1)), SimpleNamespace(earlier=("c1", 2), later=("c2", 1))]

    def agrees(rival_crops):
        rival = _track("c1", 2, range(0, 50), (0.0, 1.0), look=_look(3), crops=rival_crops)
        tracks = pair + [rival]
        return appearance_agrees(("c1", 1), ("c2", 1), candidates, {t.key: t for t in tracks}, tracks, config)

    assert "the closest of 1 rival pairs" in agrees(config.appearance_min_crops)
    assert agrees(1) is None
