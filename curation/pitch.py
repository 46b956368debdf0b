"""The pitch in metres: named keypoints, line markings and goals, per the Laws of the Game.

Coordinate frame (the SoccerNet calibration convention, used everywhere in SoccerFactory):

* origin at the centre mark;
* ``x`` along the touchlines, towards the right-hand goal as seen from the main camera,
  so the goal lines are at ``x = -length/2`` (left) and ``x = +length/2`` (right);
* ``y`` across the pitch, towards the near touchline (the main camera's side), so the far
  touchline ("top" in the image) is at ``y = -width/2`` and the near one at ``y = +width/2``;
* ``z`` pointing down into the ground, so the crossbar is at ``z = -2.44``. The frame is
  right-handed. Units are metres.

Keypoints 0-31 follow the order of the real labels in ``football-field`` (Roboflow, CC BY 4.0):
see ``KEYPOINT_NAMES``. Further named points (centre mark, goal-area width on the penalty-area
lines, goal posts) follow.
Line names follow the SoccerNet calibration classes ("Side line top", "Big rect. left main", ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = ["KEYPOINT_NAMES", "KEYPOINT_FLIP_INDEX", "LINE_NAMES", "PitchModel"]

# Laws of the Game measurements, metres.
GOAL_WIDTH = 7.32
GOAL_HEIGHT = 2.44
GOAL_AREA_LENGTH = 5.5
GOAL_AREA_WIDTH = GOAL_WIDTH + 2 * 5.5  # 18.32
PENALTY_AREA_LENGTH = 16.5
PENALTY_AREA_WIDTH = GOAL_WIDTH + 2 * 16.5  # 40.32
PENALTY_MARK_DISTANCE = 11.0
CIRCLE_RADIUS = 9.15
LINE_WIDTH = 0.12
GOAL_DEPTH = 2.0

KEYPOINT_NAMES: tuple[str, ...] = (
    "left_goal_line_far_corner",  # 0: corner flag, far side
    "left_goal_line_far_penalty_area",
    "left_goal_line_far_goal_area",
    "left_goal_line_near_goal_area",
    "left_goal_line_near_penalty_area",
    "left_goal_line_near_corner",  # 5: corner flag, near side
    "left_goal_area_far_corner",
    "left_goal_area_near_corner",
    "left_penalty_mark",
    "left_penalty_area_far_corner",
    # 10, 11 (and 18, 19): where the penalty arc meets the penalty-area line. The data README
    # calls them goal-area-width points, but the labels sit on the arc ends: fitted through the
    # other labelled points of a frame, arc ends miss them by 1.3-2.4 px median at 960x540 and
    # goal-area-width points by 11-19 px (34 valid frames; see tests/curation/test_pitch.py).
    "left_penalty_arc_far_end",
    "left_penalty_arc_near_end",
    "left_penalty_area_near_corner",
    "halfway_line_far_touchline",
    "halfway_line_far_centre_circle",
    "halfway_line_near_centre_circle",
    "halfway_line_near_touchline",
    "right_penalty_area_far_corner",
    "right_penalty_arc_far_end",
    "right_penalty_arc_near_end",
    "right_penalty_area_near_corner",
    "right_penalty_mark",
    "right_goal_area_far_corner",
    "right_goal_area_near_corner",
    "right_goal_line_far_corner",
    "right_goal_line_far_penalty_area",
    "right_goal_line_far_goal_area",
    "right_goal_line_near_goal_area",
    "right_goal_line_near_penalty_area",
    "right_goal_line_near_corner",
    "centre_circle_left",
    "centre_circle_right",
    # Beyond the 32 of the real labels:
    "centre_mark",
    "left_penalty_area_line_far_goal_area_width",
    "left_penalty_area_line_near_goal_area_width",
    "right_penalty_area_line_far_goal_area_width",
    "right_penalty_area_line_near_goal_area_width",
    "left_goal_post_far_base",
    "left_goal_post_near_base",
    "left_goal_post_far_top",
    "left_goal_post_near_top",
    "right_goal_post_far_base",
    "right_goal_post_near_base",
    "right_goal_post_far_top",
    "right_goal_post_near_top",
)

# A horizontal image flip (x -> -x) maps keypoint k to KEYPOINT_FLIP_INDEX[k].
KEYPOINT_FLIP_INDEX: tuple[int, ...] = (
    24, 25, 26, 27, 28, 29, 22, 23, 21, 17, 18, 19, 20, 13, 14, 15, 16, 9, 10, 11, 12, 8, 6, 7,
    0, 1, 2, 3, 4, 5, 31, 30,
    32, 35, 36, 33, 34, 41, 42, 43, 44, 37, 38, 39, 40,
)

LINE_NAMES: tuple[str, ...] = (
    "Side line top",
    "Side line bottom",
    "Side line left",
    "Side line right",
    "Middle line",
    "Circle central",
    "Circle left",
    "Circle right",
    "Big rect. left top",
    "Big rect. left main",
    "Big rect. left bottom",
    "Big rect. right top",
    "Big rect. right main",
    "Big rect. right bottom",
    "Small rect. left top",
    "Small rect. left main",
    "Small rect. left bottom",
    "Small rect. right top",
    "Small rect. right main",
    "Small rect. right bottom",
    "Goal left crossbar",
    "Goal left post left",
    "Goal left post right",
    "Goal right crossbar",
    "Goal right post left",
    "Goal right post right",
)
GOAL_LINE_NAMES = frozenset(name for name in LINE_NAMES if name.startswith("Goal"))


@dataclass(frozen=True)
class PitchModel:
    """A pitch of the given size with every marking of the Laws of the Game.

    Args:
        length: goal line to goal line, metres (Laws: 90-120 for international matches 100-110).
        width: touchline to touchline, metres (Laws: 45-90; international 64-75).
    """

    length: float = 105.0
    width: float = 68.0
    line_width: float = field(default=LINE_WIDTH)

    def __post_init__(self) -> None:
        if not (2 * (PENALTY_AREA_LENGTH + CIRCLE_RADIUS) < self.length <= 130.0):
            raise ValueError(f"pitch length must be in (51.3, 130] metres, got {self.length}")
        if not (PENALTY_AREA_WIDTH < self.width <= 100.0):
            raise ValueError(f"pitch width must be in (40.32, 100] metres, got {self.width}")
        if not (0.0 < self.line_width <= 0.3):
            raise ValueError(f"line width must be in (0, 0.3] metres, got {self.line_width}")

    @property
    def half_length(self) -> float:
        return self.length / 2

    @property
    def half_width(self) -> float:
        return self.width / 2

    @cached_property
    def keypoints(self) -> np.ndarray:
        """float64 (K, 3) positions of ``KEYPOINT_NAMES`` in metres (z=0 except goal tops)."""
        hl, hw = self.half_length, self.half_width
        pa, ga = PENALTY_AREA_WIDTH / 2, GOAL_AREA_WIDTH / 2
        arc_y = float(np.sqrt(CIRCLE_RADIUS**2 - (PENALTY_AREA_LENGTH - PENALTY_MARK_DISTANCE) ** 2))
        gw = GOAL_WIDTH / 2
        pts = []
        for sign in (-1.0, 1.0):  # left block then right block share the layout, mirrored
            x_goal = sign * hl
            x_small = sign * (hl - GOAL_AREA_LENGTH)
            x_big = sign * (hl - PENALTY_AREA_LENGTH)
            x_mark = sign * (hl - PENALTY_MARK_DISTANCE)
            goal_line = [(x_goal, y) for y in (-hw, -pa, -ga, ga, pa, hw)]
            small = [(x_small, -ga), (x_small, ga)]
            big = [(x_big, y) for y in (-pa, -arc_y, arc_y, pa)]
            if sign < 0:
                pts += goal_line + small + [(x_mark, 0.0)] + big
                pts += [(0.0, y) for y in (-hw, -CIRCLE_RADIUS, CIRCLE_RADIUS, hw)]
            else:
                pts += big + [(x_mark, 0.0)] + small + goal_line
        pts += [(-CIRCLE_RADIUS, 0.0), (CIRCLE_RADIUS, 0.0)]
        xyz = [(x, y, 0.0) for x, y in pts]
        xyz.append((0.0, 0.0, 0.0))
        for sign in (-1.0, 1.0):
            x_big = sign * (hl - PENALTY_AREA_LENGTH)
            xyz += [(x_big, -ga, 0.0), (x_big, ga, 0.0)]
        for sign in (-1.0, 1.0):
            x_goal = sign * hl
            xyz += [(x_goal, -gw, 0.0), (x_goal, gw, 0.0), (x_goal, -gw, -GOAL_HEIGHT), (x_goal, gw, -GOAL_HEIGHT)]
        array = np.asarray(xyz, dtype=np.float64)
        assert array.shape == (len(KEYPOINT_NAMES), 3)
        array.flags.writeable = False
        return array

    def keypoint(self, name: str) -> np.ndarray:
        """float64 (3,) position of one named keypoint; unknown names raise with the valid ones."""
        try:
            return self.keypoints[KEYPOINT_NAMES.index(name)]
        except ValueError:
            raise KeyError(f"unknown keypoint {name!r}; valid names: {', '.join(KEYPOINT_NAMES)}") from None

    @cached_property
    def lines(self) -> dict[str, np.ndarray]:
        """Each marking as a polyline, float64 (P, 3) metres, keyed by SoccerNet line name.

        Straight lines have their two end points; circles and arcs are sampled finely enough
        (every 2 degrees) that straight chords stay within 1 cm of the true curve.
        """
        hl, hw = self.half_length, self.half_width
        pa, ga, gw = PENALTY_AREA_WIDTH / 2, GOAL_AREA_WIDTH / 2, GOAL_WIDTH / 2
        lines: dict[str, np.ndarray] = {
            "Side line top": [(-hl, -hw, 0), (hl, -hw, 0)],
            "Side line bottom": [(-hl, hw, 0), (hl, hw, 0)],
            "Side line left": [(-hl, -hw, 0), (-hl, hw, 0)],
            "Side line right": [(hl, -hw, 0), (hl, hw, 0)],
            "Middle line": [(0, -hw, 0), (0, hw, 0)],
            "Circle central": _arc((0.0, 0.0), CIRCLE_RADIUS, 0.0, 360.0),
        }
        # The penalty arc is the part of the 9.15 m circle around the mark outside the area.
        half_angle = float(np.degrees(np.arccos((PENALTY_AREA_LENGTH - PENALTY_MARK_DISTANCE) / CIRCLE_RADIUS)))
        lines["Circle left"] = _arc((-hl + PENALTY_MARK_DISTANCE, 0.0), CIRCLE_RADIUS, -half_angle, half_angle)
        lines["Circle right"] = _arc((hl - PENALTY_MARK_DISTANCE, 0.0), CIRCLE_RADIUS, 180 - half_angle, 180 + half_angle)
        for side, sign in (("left", -1.0), ("right", 1.0)):
            x_goal = sign * hl
            for kind, depth, half in (("Big", PENALTY_AREA_LENGTH, pa), ("Small", GOAL_AREA_LENGTH, ga)):
                x_in = sign * (hl - depth)
                lines[f"{kind} rect. {side} top"] = [(x_goal, -half, 0), (x_in, -half, 0)]
                lines[f"{kind} rect. {side} main"] = [(x_in, -half, 0), (x_in, half, 0)]
                lines[f"{kind} rect. {side} bottom"] = [(x_goal, half, 0), (x_in, half, 0)]
            # Seen from the pitch, the left goal's left post is on the near side (+y) and the
            # right goal's left post on the far side (-y).
            left_post_y = gw if side == "left" else -gw
            lines[f"Goal {side} crossbar"] = [(x_goal, -gw, -GOAL_HEIGHT), (x_goal, gw, -GOAL_HEIGHT)]
            lines[f"Goal {side} post left"] = [(x_goal, left_post_y, 0), (x_goal, left_post_y, -GOAL_HEIGHT)]
            lines[f"Goal {side} post right"] = [(x_goal, -left_post_y, 0), (x_goal, -left_post_y, -GOAL_HEIGHT)]
        result = {}
        for name in LINE_NAMES:
            array = np.asarray(lines[name], dtype=np.float64)
            array.flags.writeable = False
            result[name] = array
        return result

    @cached_property
    def ground_markings(self) -> dict[str, np.ndarray]:
        """The painted lines only (no goal frame), as ``lines`` but with (P, 2) x/y metres."""
        return {name: pts[:, :2] for name, pts in self.lines.items() if name not in GOAL_LINE_NAMES}

    @property
    def spot_marks(self) -> np.ndarray:
        """float64 (3, 2): centre mark and the two penalty marks, painted as 0.2 m discs."""
        hl = self.half_length
        return np.array([(0.0, 0.0), (-hl + PENALTY_MARK_DISTANCE, 0.0), (hl - PENALTY_MARK_DISTANCE, 0.0)])

    def sample_lines(self, spacing: float = 0.5, names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Points every ``spacing`` metres along each named line, float64 (P, 3) per name."""
        if spacing <= 0:
            raise ValueError(f"spacing must be positive, got {spacing}")
        samples = {}
        for name in names or LINE_NAMES:
            polyline = self.lines[name]
            pieces = []
            for start, end in zip(polyline[:-1], polyline[1:]):
                count = max(int(np.ceil(np.linalg.norm(end - start) / spacing)), 1)
                t = np.arange(count, dtype=np.float64)[:, None] / count
                pieces.append(start + t * (end - start))
            pieces.append(polyline[-1:])
            samples[name] = np.concatenate(pieces)
        return samples


def _arc(centre: tuple[float, float], radius: float, start_deg: float, stop_deg: float) -> np.ndarray:
    steps = max(int(np.ceil(abs(stop_deg - start_deg) / 2.0)), 2)
    angles = np.radians(np.linspace(start_deg, stop_deg, steps + 1))
    return np.stack(
        [centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles), np.zeros_like(angles)], axis=1
    )
