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
