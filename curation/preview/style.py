"""What a preview looks like: its options, its colours and how an athlete row picks its colour.

Pure Python (no OpenCV, no NumPy), so the ``soccerfactory preview`` command can read the option
defaults from :class:`PreviewOptions` without loading the drawing stack.

Colours are BGR tuples, as OpenCV draws them. Team colours come from the shard's ``clips`` row
(``team_a_colour`` / ``team_b_colour``, ``#rrggbb`` medians of each kit), so team A is drawn in
the shirt team A wears; a clip without teams falls back to :data:`TEAM_COLOURS`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Literal

__all__ = [
    "BALL_COLOUR",
    "Colour",
    "GOALKEEPER_COLOUR",
    "Kits",
    "OTHER_COLOUR",
    "PITCH_LINE_COLOUR",
    "PreviewOptions",
    "RADAR_CORNERS",
    "REFEREE_COLOUR",
    "REFEREE_ALT_COLOUR",
    "STYLES",
    "TEAM_COLOURS",
    "TEXT_COLOUR",
    "UNASSIGNED_COLOUR",
    "as_rows",
    "athlete_colour",
    "contrast_colour",
    "is_goalkeeper",
    "kits_from_clips",
    "parse_hex_colour",
    "role_of",
]

Colour = tuple[int, int, int]  # BGR

#: Fallback kits (a clip whose shard names no team colours): A blue, B red.
TEAM_COLOURS: dict[str, Colour] = {"A": (235, 140, 30), "B": (40, 40, 230)}
#: Players with no decided team and role ``other`` (staff, crowd, ball boys): grey.
UNASSIGNED_COLOUR: Colour = (170, 170, 170)
OTHER_COLOUR: Colour = UNASSIGNED_COLOUR
REFEREE_COLOUR: Colour = (0, 215, 255)  # yellow
#: Referees when a team's kit is itself close to yellow (see :func:`athlete_colour`): black.
REFEREE_ALT_COLOUR: Colour = (20, 20, 20)
#: A goalkeeper without a team (the double ring still marks the role).
GOALKEEPER_COLOUR: Colour = (200, 255, 0)
BALL_COLOUR: Colour = (0, 140, 255)  # orange
# Magenta appears neither on grass nor in the white paint, so the overlay stays visible on both.
PITCH_LINE_COLOUR: Colour = (255, 0, 255)
TEXT_COLOUR: Colour = (255, 255, 255)

STYLES = ("ellipse", "box")
RADAR_CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")
# Sum of absolute BGR differences under which a kit "is" referee yellow and referees switch to black.
_REFEREE_CLASH = 150
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


@dataclasses.dataclass(frozen=True)
class PreviewOptions:
    """How a preview frame is drawn.

    Attributes:
        style: ``ellipse`` (a ring at each athlete's feet, as supervision's EllipseAnnotator) or
            ``box`` (the detection box).
        radar: Corner of the top-down minimap (``bottom-right``, ``bottom-left``, ``top-right``,
            ``top-left``) or ``off``. The radar moves to another corner while labels lie under it.
        trail_s: Seconds of ball positions drawn as a fading trail behind the ball; 0 = none.
        masks: Draw mask outlines where the shard has masks.
        legend: Draw the colour legend (team kits, goalkeeper, referee, other, ball) in a top corner.
    """

    style: Literal["ellipse", "box"] = "ellipse"
    radar: Literal["bottom-right", "bottom-left", "top-right", "top-left", "off"] = "bottom-right"
    trail_s: float = 1.0
    masks: bool = True
    legend: bool = True

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"preview style must be one of {', '.join(STYLES)}, got {self.style!r}")
        if self.radar not in (*RADAR_CORNERS, "off"):
            raise ValueError(f"preview radar must be one of {', '.join(RADAR_CORNERS)}, off; got {self.radar!r}")
        if isinstance(self.trail_s, bool) or not isinstance(self.trail_s, (int, float)) or not 0 <= self.trail_s <= 10:
            raise ValueError(f"preview trail_s must be seconds in [0, 10], got {self.trail_s!r}")
        for name in ("masks", "legend"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"preview {name} must be true or false, got {getattr(self, name)!r}")


@dataclasses.dataclass(frozen=True)
class Kits:
    """The two teams' drawing colours (BGR) and whether they are the clip's measured kits."""

    a: Colour = TEAM_COLOURS["A"]
    b: Colour = TEAM_COLOURS["B"]
    measured: bool = False

    def team(self, letter: Any) -> Colour | None:
        return {"A": self.a, "B": self.b}.get(letter)

    @property
    def referee(self) -> Colour:
        """Yellow, unless a kit is close to yellow: then black, so referees never pass for a team."""
        clash = any(sum(abs(c - r) for c, r in zip(kit, REFEREE_COLOUR)) < _REFEREE_CLASH for kit in (self.a, self.b))
        return REFEREE_ALT_COLOUR if clash else REFEREE_COLOUR


def parse_hex_colour(text: Any) -> Colour | None:
    """``"#rrggbb"`` as a BGR tuple; None for null or anything else (a preview never stops on a bad cell)."""
    match = _HEX.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    value = match.group(1)
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return (b, g, r)


def kits_from_clips(clips: Any) -> Kits:
    """The kits of a shard's ``clips`` table (pyarrow) or row (dict); the fixed colours where null.

    Each team falls back on its own: a clip with one measured kit draws that one in its colour.
    """
    row: Mapping[str, Any] | None
    if clips is None:
        row = None
    elif isinstance(clips, Mapping):
        row = clips
    else:
        rows = clips.slice(0, 1).to_pylist() if clips.num_rows else []
        row = rows[0] if rows else None
    if row is None:
        return Kits()
    a, b = parse_hex_colour(row.get("team_a_colour")), parse_hex_colour(row.get("team_b_colour"))
    return Kits(a or TEAM_COLOURS["A"], b or TEAM_COLOURS["B"], measured=a is not None or b is not None)


def as_rows(rows: Any) -> list[Mapping[str, Any]]:
    """Row dicts from a list of dicts, a pyarrow Table / RecordBatch, or None."""
    if rows is None:
        return []
    if isinstance(rows, Mapping):
        raise TypeError("athletes must be a sequence of row dicts or a pyarrow table, got a single dict")
    if hasattr(rows, "to_pylist"):
        return rows.to_pylist()
    return list(rows)


def role_of(row: Mapping[str, Any]) -> str:
    """The row's role, or its detector class when the role is missing."""
    return str(row.get("role") or row.get("class") or "?")


def is_goalkeeper(row: Mapping[str, Any]) -> bool:
    return role_of(row) == "goalkeeper"


def athlete_colour(row: Mapping[str, Any], kits: Kits | None = None) -> Colour:
    """BGR colour of an athlete row.

    Referees: yellow (black when a kit is yellow); players and goalkeepers of team A / B: that
    team's kit; a goalkeeper without a team: :data:`GOALKEEPER_COLOUR`; role ``other`` and
    players without a team: grey.
    """
    kits = kits or Kits()
    role = role_of(row)
    if role == "referee":
        return kits.referee
    if role == "other":
        return OTHER_COLOUR
    team = kits.team(row.get("team"))
    if team is not None:
        return team
    return GOALKEEPER_COLOUR if role == "goalkeeper" else UNASSIGNED_COLOUR


def contrast_colour(colour: Colour) -> Colour:
    """Near-black on light colours, white on dark ones (ITU-R BT.601 luma of the BGR colour).

    The cut at luma 150 keeps white text on the fallback blue (luma 132) and red (71), and dark
    text on yellow (188), grey (170) and white kits.
    """
    b, g, r = colour
    return (20, 20, 20) if 0.299 * r + 0.587 * g + 0.114 * b >= 150 else (255, 255, 255)
