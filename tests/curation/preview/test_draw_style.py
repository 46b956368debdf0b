"""Athletes in their kit colours, goalkeepers marked, legible labels that do not collide, the legend."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest

from soccerfactory.curation.preview.compose import annotate_frame
from soccerfactory.curation.preview.draw import draw_frame, draw_scene, ellipse_axes
from soccerfactory.curation.preview.labels import place_labels, text_style
from soccerfactory.curation.preview.legend import legend_size
from soccerfactory.curation.preview.style import (
    REFEREE_ALT_COLOUR, REFEREE_COLOUR, TEAM_COLOURS, Kits, PreviewOptions, athlete_colour, contrast_colour,
    kits_from_clips, parse_hex_colour,
)

# Kits no fixed colour is near: a lime team A and a purple team B.
LIME, PURPLE = "#40e020", "#8020a0"
LIME_BGR, PURPLE_BGR = (0x20, 0xE0, 0x40), (0xA0, 0x20, 0x80)


def _grass(width: int = 1280, height: int = 720) -> np.ndarray:
    image = np.empty((height, width, 3), np.uint8)
    image[:] = (40, 110, 40)
    return image


def _athlete(track: int, x: float, y: float, team: str | None = "A", role: str = "player", jersey: int | None = 7, w: float = 24, h: float = 60) -> dict:
    return {"track_id": track, "x1": x, "y1": y, "x2": x + w, "y2": y + h, "team": team, "role": role, "jersey": jersey,
            "class": role, "pitch_x": None, "pitch_y": None}


def _near(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: int = 30) -> np.ndarray:
    return np.abs(pixels.astype(int) - np.array(colour)).max(axis=-1) <= tolerance


def _front_of_ring(image: np.ndarray, row: dict) -> np.ndarray:
    """Pixels around the lowest point of the ring at the athlete's feet."""
    box = tuple(int(round(row[k])) for k in ("x1", "y1", "x2", "y2"))
    _, b = ellipse_axes(box)
    cx, y = (box[0] + box[2]) // 2, box[3] + b
    return image[y - 2 : y + 3, cx - 3 : cx + 4].reshape(-1, 3)


def test_kit_colours_come_from_the_clips_row_and_fall_back_when_null(shard):
    _, _, tables = shard
    assert kits_from_clips(tables["clips"]) == Kits(), "the ground-truth shard has no kit colours"
    clips = tables["clips"]
    for name, value in (("team_a_colour", LIME), ("team_b_colour", PURPLE)):
        clips = clips.set_column(clips.schema.get_field_index(name), name, pa.array([value], pa.string()))
    kits = kits_from_clips(clips)
    assert (kits.a, kits.b, kits.measured) == (LIME_BGR, PURPLE_BGR, True)
    half = kits_from_clips({"team_a_colour": "#zz0000", "team_b_colour": PURPLE})
    assert (half.a, half.b) == (TEAM_COLOURS["A"], PURPLE_BGR), "a bad cell falls back for its team only"
    assert parse_hex_colour("#FFa000") == (0, 0xA0, 0xFF) and parse_hex_colour(None) is None


def test_athletes_are_drawn_in_their_kit_colour_on_real_rows(source_frame, changed):
    image, athletes, _, _ = source_frame
    kits = kits_from_clips({"team_a_colour": LIME, "team_b_colour": PURPLE})
    drawn = draw_frame(image, athletes, None, None, kits=kits, masks=False)
    seen = set()
    for row in sorted(athletes, key=lambda r: -(r["x2"] - r["x1"])):
        if row["team"] not in ("A", "B") or row["role"] != "player" or row["x2"] - row["x1"] < 10 or row["y2"] + 12 >= image.shape[0]:
            continue
        colour = LIME_BGR if row["team"] == "A" else PURPLE_BGR
        assert _near(_front_of_ring(drawn, row), colour, 40).any(), (row["track_id"], row["team"])
        seen.add(row["team"])
    assert seen == {"A", "B"}, "both teams have a player in view"
    # The fixed colours are gone: no pixel of the frame is drawn in the fallback blue.
    assert not (_near(drawn, TEAM_COLOURS["A"], 12) & changed(drawn, image)).any()


def test_roles_are_distinguishable():
    kits = Kits(LIME_BGR, PURPLE_BGR, True)
    player, keeper = _athlete(1, 100, 100), _athlete(2, 300, 100, role="goalkeeper")
    referee, other = _athlete(3, 500, 100, team=None, role="referee"), _athlete(4, 700, 100, team=None, role="other")
    assert athlete_colour(player, kits) == athlete_colour(keeper, kits) == LIME_BGR, "a keeper wears the team colour"
    assert athlete_colour(referee, kits) == REFEREE_COLOUR
    assert athlete_colour(other, kits) not in (LIME_BGR, PURPLE_BGR, REFEREE_COLOUR)
    # A team in yellow: referees switch to black rather than pass for that team.
    assert athlete_colour(referee, Kits((10, 220, 250), PURPLE_BGR, True)) == REFEREE_ALT_COLOUR
    image = _grass()
    drawn = draw_frame(image, [player, keeper], None, None, kits=kits)
    accent = contrast_colour(LIME_BGR)

    def ring_band(row):
        box = tuple(int(row[k]) for k in ("x1", "y1", "x2", "y2"))
        a, b = ellipse_axes(box)
        cx = (box[0] + box[2]) // 2
        return drawn[box[3] - b : box[3] + b + 2, cx - a - 6 : cx + a + 7].reshape(-1, 3)

    # The keeper's ring carries an inner ring in the contrasting colour; the player's does not.
    assert _near(ring_band(keeper), accent, 40).sum() > 10
    assert _near(ring_band(player), accent, 40).sum() == 0


@pytest.mark.parametrize("kit, text_dark", [((240, 240, 240), True), ((128, 32, 32), False)])
def test_label_box_is_filled_in_the_kit_colour_with_contrasting_text(kit, text_dark):
    image = _grass()
    row = _athlete(17, 600, 300, jersey=10)
    scene = draw_scene(image.copy(), [row], kits=Kits(kit, PURPLE_BGR, True))
    drawn = draw_frame(image, [row], kits=Kits(kit, PURPLE_BGR, True))
    (label,) = scene.labels
    assert label.text == "17 player #10"
    x0, y0, x1, y1 = label.rect
    inside = drawn[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].reshape(-1, 3)
    assert _near(inside, kit, 10).mean() > 0.5, "the box is filled with the kit colour"
    text = _near(inside, contrast_colour(kit), 60)
    assert text.mean() > 0.05, "the text is drawn in the contrasting colour"
    assert (np.array(contrast_colour(kit)).mean() < 128) == text_dark
    # Under the feet and centred on the athlete, a text readable at 720p: at least 12 px tall.
    assert y0 >= row["y2"] and abs((x0 + x1) / 2 - (row["x1"] + row["x2"]) / 2) <= 1
    assert y1 - y0 >= 16


def test_labels_scale_with_the_frame_height():
    assert text_style(360).scale < text_style(720).scale < text_style(1080).scale
    assert text_style(1080).thickness == 2 and text_style(720).thickness == 1


@pytest.mark.parametrize("style", ["ellipse", "box"])
def test_labels_of_a_crowd_do_not_overlap(style):
    image = _grass()
    # A goalmouth scramble: 14 athletes within 150 x 60 px, both teams, a keeper and a referee.
    crowd = [
        _athlete(i, 560 + 11 * (i % 7), 300 + 20 * (i // 7), team="AB"[i % 2], role="goalkeeper" if i == 3 else "player", jersey=i + 2)
        for i in range(13)
    ] + [_athlete(99, 600, 310, team=None, role="referee", jersey=None)]
    out = image.copy()
    scene = draw_scene(out, crowd, kits=Kits(LIME_BGR, PURPLE_BGR, True), style=style)
    assert len(scene.labels) == len(crowd)
    for a, b in itertools.combinations(scene.labels, 2):
        overlap_w = min(a.rect[2], b.rect[2]) - max(a.rect[0], b.rect[0])
        overlap_h = min(a.rect[3], b.rect[3]) - max(a.rect[1], b.rect[1])
        assert overlap_w <= 0 or overlap_h <= 0, (a.text, a.rect, b.text, b.rect)
    for label in scene.labels:
        assert 0 <= label.rect[0] and label.rect[2] <= 1280 and 0 <= label.rect[1] and label.rect[3] <= 720
    # Each label is still visible whole in the drawn frame: its box colour fills its own rectangle.
    drawn = draw_frame(image, crowd, kits=Kits(LIME_BGR, PURPLE_BGR, True), style=style)
    for label in scene.labels:
        x0, y0, x1, y1 = label.rect
        assert _near(drawn[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1], label.colour, 10).mean() > 0.4, label.text
    # Displaced labels point back at their athletes.
    assert any(label.moved for label in scene.labels)


def test_a_label_with_no_free_spot_takes_the_least_crowded_one():
    style = text_style(720)
    requests = [(f"{i} player", (255, 255, 255), (200, 10), 1) for i in range(40)]
    labels = place_labels(requests, (400, 120), style)
    assert len(labels) == 40 and all(0 <= label.rect[1] and label.rect[3] <= 120 for label in labels)


def test_legend_shows_both_kits_and_every_role(source_frame):
    image = _grass()
    kits = Kits(LIME_BGR, PURPLE_BGR, True)
    composed = annotate_frame(image, [], None, kits=kits, options=PreviewOptions(radar="off"), header="h")
    width, height = legend_size(kits, text_style(720))
    # Top-right corner, under the header line.
    region = composed.image[: 40 + height, 1280 - width - 10 :]
    for colour in (LIME_BGR, PURPLE_BGR, REFEREE_COLOUR, (0, 140, 255)):
        assert _near(region, colour, 25).sum() >= 8, colour
    assert _near(region, (255, 255, 255), 30).sum() > 200, "the legend's text"
    untouched = np.ones(image.shape[:2], bool)
    untouched[: 40 + height, 1280 - width - 10 :] = False
    untouched[:30, :200] = False  # the header
    assert np.array_equal(composed.image[untouched], image[untouched])
    without = annotate_frame(image, [], None, kits=kits, options=PreviewOptions(radar="off", legend=False))
    assert np.array_equal(without.image, image)
