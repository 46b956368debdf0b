"""Team letters per match: the decision of each clip's letters from its kit colours, and CIEDE2000."""

from __future__ import annotations

import math

import numpy as np
import pytest

from soccerfactory.curation.attribute.match_teams import ClipKits, MatchTeamRules, align_match, ciede2000, hex_to_lab
from soccerfactory.curation.config import CurateConfig

NAVY, WHITE, RED = "#1a2a6c", "#f0f0f0", "#c8102e"
# Two kits ~6 L* apart (royal blue and purple), the pair whose letters swap between shots.
BLUE, PURPLE = "#2f4fc0", "#6a3aa8"


def _rules(**overrides) -> MatchTeamRules:
    a = CurateConfig().attribute
    values = {"min_margin": a.match_min_margin, "max_ratio": a.match_max_ratio, "side_decides": a.match_side_decides}
    return MatchTeamRules(**{**values, **overrides})


def _shade(colour: str, delta_l: float) -> str:
    """The colour under other light: its L* moved by ``delta_l``."""
    import cv2

    lab = hex_to_lab(colour) + np.array([delta_l, 0.0, 0.0])
    bgr = cv2.cvtColor(lab.astype(np.float32).reshape(1, 1, 3), cv2.COLOR_Lab2BGR)[0, 0]
    rgb = np.clip(np.round(bgr[::-1] * 255), 0, 255).astype(int)
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def test_ciede2000_matches_the_published_test_pairs():
    # Sharma, Wu & Dalal (2005), table 1: pairs 1, 7, 17 and 25.
    first = np.array([[50, 2.6772, -79.7751], [50, 0, 0], [50, 2.5, 0], [60.2574, -34.0099, 36.2677]])
    second = np.array([[50, 0, -82.7485], [50, -1, 2], [73, 25, -18], [60.4626, -34.1751, 39.4387]])
    assert ciede2000(first, second) == pytest.approx([2.0425, 2.3669, 27.1492, 1.2644], abs=1e-4)
    assert ciede2000(first, first) == pytest.approx(0.0)


def test_ciede2000_agrees_with_scikit_image_where_installed():
    color = pytest.importorskip("skimage.color")
    rng = np.random.default_rng(0)
    a = np.c_[rng.uniform(0, 100, 500), rng.uniform(-90, 90, (500, 2))]
    b = np.c_[rng.uniform(0, 100, 500), rng.uniform(-90, 90, (500, 2))]
    b[:50] = a[:50] + rng.normal(0, 1, (50, 3))  # near pairs too
    assert np.allclose(ciede2000(a, b), color.deltaE_ciede2000(a, b), atol=1e-9)


def test_hex_to_lab_and_bad_colours():
    assert hex_to_lab("#ffffff") == pytest.approx([100, 0, 0], abs=0.01)
    assert hex_to_lab("#000000") == pytest.approx([0, 0, 0], abs=0.01)
    for bad in ("ffffff", "#fffff", "#gggggg"):
        with pytest.raises(ValueError, match="#rrggbb"):
            hex_to_lab(bad)
    with pytest.raises(ValueError, match="both kit colours or neither"):
        ClipKits("c", NAVY, None)
    with pytest.raises(ValueError, match="side_a"):
        ClipKits("c", NAVY, WHITE, side_a="north")


def test_a_clip_naming_the_kits_the_other_way_swaps_and_its_side_flips():
    clips = [
        ClipKits("c1", NAVY, WHITE, side_a="left", source="half1.mp4", start_frame=0),
        ClipKits("c2", _shade(NAVY, 3), _shade(WHITE, -4), side_a="left", source="half1.mp4", start_frame=750),
        ClipKits("c3", WHITE, NAVY, side_a="right", source="half1.mp4", start_frame=1500),  # the odd one out
        ClipKits("c4", None, None, source="half1.mp4", start_frame=2250),
    ]
    teams = align_match(clips, _rules())
    actions = {d.clip_id: d.action for d in teams.decisions}
    assert actions == {"c1": "keep", "c2": "keep", "c3": "swap", "c4": "no-kits"}
    swapped = teams.decisions[2]
    assert swapped.side_a == "left" and swapped.cost_swap < swapped.cost_keep
    # The match's kits are the majority's letters: A is the navy kit most clips call A.
    assert ciede2000(hex_to_lab(teams.kit_a), hex_to_lab(NAVY)) < 3
    assert teams.sides["half1.mp4"][0] == "left"
    record = teams.record()
    assert record["swapped"] == ["c3"] and record["kept"] == ["c1", "c2"] and record["no_kits"] == ["c4"]


def test_the_majority_sets_the_letters_not_the_first_clip():
    clips = [ClipKits("c1", WHITE, NAVY), ClipKits("c2", NAVY, WHITE), ClipKits("c3", NAVY, WHITE)]
    assert [d.action for d in align_match(clips, _rules()).decisions] == ["swap", "keep", "keep"]


def test_a_later_clip_aligns_with_the_letters_in_the_catalog_even_against_the_majority():
    # The catalog's clip calls the white kit A (an earlier run decided so); two new clips call navy A.
    clips = [
        ClipKits("old", WHITE, NAVY, fixed=True),
        ClipKits("new1", NAVY, WHITE),
        ClipKits("new2", _shade(NAVY, -2), _shade(WHITE, 2)),
    ]
    teams = align_match(clips, _rules())
    assert [d.action for d in teams.decisions] == ["reference", "swap", "swap"]
    assert teams.kit_a == WHITE


def test_two_nearly_equally_good_assignments_are_refused_with_the_reason():
    # The clip's two kits are one colour apart, so both assignments cost about the same.
    clips = [
        ClipKits("ref", BLUE, RED, fixed=True),
        ClipKits("unclear", "#7a3a80", "#80407a"),
    ]
    decision = align_match(clips, _rules()).decisions[1]
    assert decision.action == "ambiguous"
    assert "colours ambiguous" in decision.reason and "keep" in decision.reason and "swap" in decision.reason
    assert abs(decision.cost_keep - decision.cost_swap) < _rules().min_margin


def test_close_kits_a_few_lightness_units_apart_still_align():
    # Blue and purple: the per-clip darker rule may swap them; their hues tell them apart.
    clips = [ClipKits("c1", BLUE, PURPLE, fixed=True), ClipKits("c2", _shade(PURPLE, -4), _shade(BLUE, 3))]
    decision = align_match(clips, _rules()).decisions[1]
    assert decision.action == "swap", decision.reason


def test_the_side_decides_an_ambiguous_clip_between_two_clips_of_its_half_that_agree():
    rules = _rules(min_margin=1000.0)  # every colour comparison ambiguous: only sides can decide
    half = [
        ClipKits("r1", NAVY, WHITE, side_a="left", source="h1", start_frame=0, fixed=True),
        ClipKits("x", WHITE, NAVY, side_a="right", source="h1", start_frame=100),
        ClipKits("r2", NAVY, WHITE, side_a="left", source="h1", start_frame=200, fixed=True),
        # The other half: A defends the other goal there; its sides never decide the first half's clips.
        ClipKits("r3", NAVY, WHITE, side_a="right", source="h2", start_frame=0, fixed=True),
        ClipKits("y", NAVY, WHITE, side_a="right", source="h2", start_frame=50),
    ]
    decisions = {d.clip_id: d for d in align_match(half, rules).decisions}
    assert decisions["x"].action == "swap" and decisions["x"].side_a == "left"
    assert "decided by side" in decisions["x"].reason
    assert decisions["y"].action == "keep" and decisions["y"].side_a == "right"


def test_the_side_does_not_decide_across_a_half_time_switch_or_when_turned_off():
    clips = [
        ClipKits("r1", NAVY, WHITE, side_a="left", source="match.mp4", start_frame=0, fixed=True),
        ClipKits("x", WHITE, NAVY, side_a="right", source="match.mp4", start_frame=100),
        ClipKits("r2", NAVY, WHITE, side_a="right", source="match.mp4", start_frame=200, fixed=True),  # after half-time
    ]
    x = align_match(clips, _rules(min_margin=1000.0)).decisions[1]
    assert x.action == "ambiguous" and "disagree" in x.reason
    off = align_match(clips[:2], _rules(min_margin=1000.0, side_decides=False)).decisions[1]
    assert off.action == "ambiguous" and "not used" in off.reason


def test_no_kits_anywhere_changes_nothing_and_ids_must_be_unique():
    teams = align_match([ClipKits("a", None, None), ClipKits("b", None, None, fixed=True)], _rules())
    assert [d.action for d in teams.decisions] == ["no-kits", "reference"] and teams.kit_a is None
    assert math.isnan(teams.decisions[0].cost_keep)
    with pytest.raises(ValueError, match="clip id twice"):
        align_match([ClipKits("a", NAVY, WHITE), ClipKits("a", NAVY, WHITE)], _rules())
    with pytest.raises(ValueError, match="max_ratio"):
        MatchTeamRules(min_margin=1, max_ratio=0)


# --------------------------------------------------------------------------- tracklets decided by the match's kits

from soccerfactory.curation.attribute.match_tracks import (  # noqa: E402
    ClipTracklets, MatchTrackRules, Tracklet, decide_match_tracklets, fill_athletes, tracklets_of,
)

CYAN, LIME, YELLOW = "#2ccfce", "#b2e92e", "#f5e50a"  # dev seed 400's two kits; a referee's yellow
UNSUPPORTED = "the detector votes player (100% of its weight); no kit evidence (no kit models); nothing else says player (no kit models, no position), so not counted as a player: other"


def _track_rules() -> MatchTrackRules:
    a, v = CurateConfig().attribute, CurateConfig().vote
    return MatchTrackRules(kit_min_spread=a.kit_min_spread, kit_member=a.kit_member, kit_outlier=a.kit_outlier, kit_min_crops=v.kit_min_crops)


def _t(tracklet_id, role, team, shirt=None, crops=3, frames=range(10), reason="kit d=0.5/9.0 spreads from team A/B: player", flags=None):
    return Tracklet(tracklet_id, role, team, reason, flags, np.asarray(list(frames), np.int64), 0, shirt, crops if shirt else 0)


def _aligned_clip(clip_id, action="keep", a=CYAN, b=LIME, referee=YELLOW):
    """Six players of each kit (shaded a little) and a referee, letters as the clip named them."""
    own_a, own_b = ("B", "A") if action == "swap" else ("A", "B")
    players = [_t(k, "player", own_a, _shade(a, k - 3)) for k in range(1, 7)]
    players += [_t(k, "player", own_b, _shade(b, k - 9)) for k in range(7, 13)]
    return ClipTracklets(clip_id, action, tuple(players + [_t(20, "referee", None, referee)]))


def test_a_tracklets_shirt_is_its_colour_in_lab_and_none_without_one():
    lab, crops = _t(1, "other", None, LIME, crops=1).shirt
    assert crops == 1 and np.allclose(lab, hex_to_lab(LIME))
    assert _t(2, "player", None).shirt is None


def test_a_clip_without_kits_is_decided_by_the_matchs_kits():
    # Dev seed 400: a zoomed shot of kit B's players alone (its kits refused: one kit), all left
    # "other"; plus a one-crop tracklet of kit A, and a shirt between the kits.
    zoomed = ClipTracklets("zoomed", "no-kits", (
        _t(1, "other", None, _shade(LIME, 2), reason=UNSUPPORTED),
        _t(2, "player", None, _shade(LIME, -3), reason="the detector votes player (100% of its weight); no kit evidence (no kit models): player"),
        _t(3, "other", None, _shade(CYAN, 1), crops=1, reason=UNSUPPORTED),
        _t(4, "other", None, "#70dc80", reason=UNSUPPORTED),  # halfway between cyan and lime
        _t(5, "other", None, LIME, reason="feet outside the pitch by more than 1.5 m: other", flags="off-pitch"),
    ))
    result = decide_match_tracklets([_aligned_clip("c1"), _aligned_clip("c2", "swap"), zoomed], _track_rules())
    fills = {f.tracklet_id: f for f in result.fills["zoomed"]}
    assert (fills[1].role, fills[1].team) == ("player", "B") and (fills[2].role, fills[2].team) == ("player", "B")
    assert "by the match's kits: shirt d=" in fills[1].clause and fills[1].clause.endswith(": player, team B")
    assert (fills[3].role, fills[3].team) == ("player", "A")  # one crop: cyan and lime lie far apart
    assert 4 not in fills and 5 not in fills  # in neither kit clearly; off the pitch stays off
    assert "c1" not in result.fills and "match kits from 12/12 tracklets" in result.note


def test_one_crop_is_not_enough_where_the_matchs_kits_are_alike():
    alike_a, alike_b = BLUE, PURPLE
    clip = ClipTracklets("zoomed", "no-kits", (_t(1, "other", None, _shade(alike_b, 12), crops=1, reason=UNSUPPORTED),
                                               _t(2, "other", None, _shade(alike_b, 12), crops=2, reason=UNSUPPORTED),
                                               _t(3, "other", None, alike_b, crops=1, reason=UNSUPPORTED)))
    result = decide_match_tracklets([_aligned_clip("c1", a=alike_a, b=alike_b), clip], _track_rules())
    decided = {f.tracklet_id for f in result.fills.get("zoomed", [])}
    assert 1 not in decided  # blue and purple lie a few spreads apart: one crop 1.5 spreads off does not tell them
    assert 2 in decided and 3 in decided  # two crops do; so does one in the core of its kit (dev seed 404)


def test_the_officials_kit_of_the_match_makes_a_referee_but_not_two_at_once_nor_where_staff_wear_it():
    referee = _t(1, "other", None, _shade(YELLOW, 2), frames=range(0, 10), reason=UNSUPPORTED)
    clips = [_aligned_clip("c1"), _aligned_clip("c2"), ClipTracklets("zoomed", "no-kits", (referee,))]
    fills = decide_match_tracklets(clips, _track_rules()).fills["zoomed"]
    assert [(f.tracklet_id, f.role, f.team) for f in fills] == [(1, "referee", None)] and "officials' kit: referee" in fills[0].clause
    # Two people in the officials' colour in view at once: neither is decided.
    twice = ClipTracklets("zoomed", "no-kits", (referee, _t(2, "other", None, YELLOW, frames=range(5, 15), reason=UNSUPPORTED)))
    assert "zoomed" not in decide_match_tracklets(clips[:2] + [twice], _track_rules()).fills
    # A steward the pitch put off it wears that colour too: the colour does not tell them apart.
    steward = _t(30, "other", None, YELLOW, reason="feet outside the pitch: other", flags="off-pitch")
    with_staff = ClipTracklets("c3", "keep", _aligned_clip("c3").tracklets + (steward,))
    assert "zoomed" not in decide_match_tracklets(clips + [with_staff], _track_rules()).fills


def test_an_ambiguous_clip_is_decided_by_its_players_shirts_only_when_they_agree():
    odd = ClipTracklets("odd", "ambiguous", tuple(
        [_t(k, "player", "B", _shade(CYAN, k)) for k in range(1, 4)] + [_t(k, "player", "A", _shade(LIME, k)) for k in range(4, 7)]
    ))
    result = decide_match_tracklets([_aligned_clip("c1"), odd], _track_rules())
    action, why = result.letters["odd"]
    assert action == "swap" and "0 of its player tracklets wear the match kit of their letter, 6 the other" in why
    mixed = ClipTracklets("odd", "ambiguous", odd.tracklets[:3] + tuple(_t(k, "player", "B", _shade(LIME, k)) for k in range(4, 7)))
    assert "odd" not in decide_match_tracklets([_aligned_clip("c1"), mixed], _track_rules()).letters


def test_fill_athletes_rewrites_the_tracklets_rows_and_drops_a_stale_role_kit_flag():
    import pyarrow as pa

    from soccerfactory.curation.attribute.match_tracks import TrackletFill
    from soccerfactory.storage.schemas import example_shard_tables

    athletes = example_shard_tables("m", "c", n_tracks=3)["athletes"]
    n = athletes.num_rows
    ids = athletes.column("tracklet_id").to_pylist()
    roles = ["other" if t == 1 else r for t, r in zip(ids, athletes.column("role").to_pylist())]
    flags = ["role-kit,short" if t == 1 else None for t in ids]
    reasons = ["role-kit: kit d=3.0/3.2, too far for a member of either team, no team vote; decided other; short: 0.2 s" if t == 1 else None for t in ids]
    for name, values in (("role", roles), ("flags", flags), ("flag_reason", reasons)):
        i = athletes.schema.get_field_index(name)
        athletes = athletes.set_column(i, athletes.schema.field(name), pa.array(values, athletes.schema.field(name).type))
    tracklets = tracklets_of(athletes)
    assert [t.role for t in tracklets] == ["other", "player", "referee"] and len(tracklets[0].frames) == n // 3
    # The shirt colour comes from its columns; a table written before them reads as no colour.
    assert [(t.shirt_colour, t.shirt_crops) for t in tracklets] == [("#202080", n // 3), ("#e0e0e0", n // 3), (None, 0)]
    assert np.allclose(tracklets[0].shirt[0], hex_to_lab("#202080")) and tracklets[2].shirt is None
    old = athletes.drop_columns(["shirt_colour", "shirt_crops"])
    assert [t.shirt for t in tracklets_of(old)] == [None] * 3 and [t.role for t in tracklets_of(old)] == ["other", "player", "referee"]
    out = fill_athletes(athletes, [TrackletFill("c", 1, "player", "B", "by the match's kits: player, team B")])
    rows = [r for r in out.to_pylist() if r["tracklet_id"] == 1]
    assert {(r["role"], r["team"], r["flags"], r["flag_reason"]) for r in rows} == {("player", "B", "short", "short: 0.2 s")}
    assert all(r["role_reason"].endswith("; by the match's kits: player, team B") and r["team_agreement"] is None for r in rows)
    assert out.column("team").to_pylist()[n // 3:] == athletes.column("team").to_pylist()[n // 3:]
    assert out.schema == athletes.schema


def test_a_clip_its_players_do_not_settle_has_every_team_given_anew_or_refused():
    mixed = ClipTracklets("odd", "ambiguous", (
        _t(1, "player", "B", _shade(CYAN, 1)), _t(2, "player", "B", _shade(LIME, 1)),  # its letters mean nothing for sure
        _t(3, "player", "A", "#70dc80"),  # between the match kits
        _t(4, "goalkeeper", "A", "#f03c3c"),
        _t(5, "player", "A", "#15151a"),  # a steward in black its clip put in kit A, no position (dev seed 402)
        Tracklet(6, "player", "B", "kit: player", None, np.arange(10, dtype=np.int64), positioned=10, shirt_colour="#15151a", shirt_crops=2),
    ))
    result = decide_match_tracklets([_aligned_clip("c1"), mixed], _track_rules())
    assert "odd" not in result.letters
    fills = {f.tracklet_id: f for f in result.fills["odd"]}
    assert {t: (f.role, f.team) for t, f in fills.items()} == {
        1: ("player", "A"), 2: ("player", "B"), 3: ("player", None), 4: ("goalkeeper", None), 5: ("other", None), 6: ("player", None),
    }
    assert fills[5].clause.endswith("no position: not counted as a player: other") and fills[5].flag.startswith("role-kit: by the match's kits")


def test_a_player_in_the_officials_kit_of_the_match_is_a_referee_with_two_crops_not_one():
    # Dev seed 401: a zoomed shot's kit A took in the grey referee (navy and grey mixed), which so
    # became a player of team A; the match's kits say officials' kit, in neither team's.
    shot = ClipTracklets("c3", "keep", _aligned_clip("c3").tracklets + (
        _t(40, "player", "A", _shade(YELLOW, 1), crops=4), _t(41, "player", "A", YELLOW, crops=1),
        _t(42, "player", "A", _shade(YELLOW, -1), crops=2, frames=range(0, 10)),  # at the same time as 40: an assistant
    ))
    fills = {f.tracklet_id: f for f in decide_match_tracklets([_aligned_clip("c1"), _aligned_clip("c2"), shot], _track_rules()).fills["c3"]}
    assert sorted(fills) == [40, 42] and (fills[40].role, fills[40].team) == ("referee", None)
    assert fills[40].flag.startswith("role-kit: the match's officials' kit says referee, its clip decided player")
    import pyarrow as pa

    table = pa.table({"tracklet_id": pa.array([40, 40, 7], pa.int64()), "role": ["player"] * 3, "team": ["A", "A", "B"],
                      "role_reason": ["kit: player"] * 3, "team_agreement": pa.array([1.0] * 3, pa.float32()),
                      "role_agreement": pa.array([1.0] * 3, pa.float32()), "class": ["referee", "player", "player"],
                      "confidence": pa.array([0.9, 0.3, 0.8], pa.float32()),
                      "flags": ["short", "short", None], "flag_reason": ["short: 0.4 s"] * 2 + [None]})
    out = fill_athletes(table, [fills[40]]).to_pylist()
    assert out[0]["role_agreement"] == pytest.approx(0.75) and out[2]["role_agreement"] == 1.0  # 0.9 of 1.2 voted referee
    assert out[0]["flags"] == "role-kit,short" and out[0]["flag_reason"].startswith("role-kit: the match's") and out[0]["flag_reason"].endswith("; short: 0.4 s")
    assert (out[2]["role"], out[2]["team"], out[2]["flags"]) == ("player", "B", None)


def test_one_crop_is_a_referee_only_in_the_core_of_the_officials_kit():
    core = _t(1, "player", None, YELLOW, crops=1, frames=range(0, 5), reason="the detector votes player (100% of its weight): player")
    edge = _t(2, "player", None, _shade(YELLOW, -15), crops=1, frames=range(20, 25), reason="the detector votes player (100% of its weight): player")
    clips = [_aligned_clip("c1"), _aligned_clip("c2"), ClipTracklets("shot", "keep", (core, edge))]
    fills = decide_match_tracklets(clips, _track_rules()).fills["shot"]
    assert [(f.tracklet_id, f.role) for f in fills] == [(1, "referee")]


def test_the_match_kits_start_from_the_clip_the_others_agree_with_not_the_most_contrasted():
    # Dev seed 402: five clips of cyan and orange, one zoomed shot whose "kits" were stewards in
    # black and a darker orange (its two colours the furthest apart of all): started from it,
    # every other clip came out ambiguous.
    cyan, orange = "#35ccc5", "#e9781d"
    clips = [ClipKits(f"c{k}", _shade(cyan, k - 2), _shade(orange, 2 - k), "right") for k in range(5)]
    clips.append(ClipKits("zoomed", "#161a27", "#c79015"))
    teams = align_match(clips, _rules())
    assert teams.clips("ambiguous") == ["zoomed"] and sorted(teams.clips("keep")) == [f"c{k}" for k in range(5)]
    assert ciede2000(hex_to_lab(teams.kit_a), hex_to_lab(cyan)) < 5


def test_a_referee_its_clip_decided_by_kit_but_in_no_officials_kit_of_the_match_is_not_one():
    neither = "kit d=18.1/3.9 spreads from team A/B over 6 crops, in neither kit, 0% of 147 positioned rows in a penalty area: referee"
    shot = ClipTracklets("c3", "keep", _aligned_clip("c3").tracklets + (
        # Dev seed 403: a lime player 3.8 spreads from the match's lime, 19 from the officials' (here: in shade, 4.5 and 9.7).
        Tracklet(40, "referee", None, neither, None, np.arange(10, dtype=np.int64), 147, _shade(LIME, -24), 6),
        # Someone in navy beside the pitch without a position: in no kit of the match.
        Tracklet(41, "referee", None, neither, None, np.arange(10, dtype=np.int64), 0, "#171a3a", 2),
        Tracklet(42, "referee", None, neither, None, np.arange(10, dtype=np.int64), 20, _shade(YELLOW, 3), 3),
    ))
    fills = {f.tracklet_id: f for f in decide_match_tracklets([_aligned_clip("c1"), _aligned_clip("c2"), shot], _track_rules()).fills["c3"]}
    assert sorted(fills) == [40, 41]
    assert (fills[40].role, fills[40].team) == ("player", None) and "too far from kit B for a member: no team" in fills[40].clause
    assert (fills[41].role, fills[41].team) == ("other", None) and fills[41].flag.startswith("role-kit: by the match's kits its shirt is in no kit")
