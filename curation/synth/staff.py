"""People off the pitch: coaches in the technical areas, substitutes warming up along a touchline,
stewards in high-vis on the running track and behind the goals, ball kids in tracksuits.

They stand or walk 2 to 8 m outside the touchlines and goal lines (on the far side at most 5.5 m:
the advertising boards stand 6 m out, see ``painter.STAND_DISTANCE``), wear clothing that is not a
team's kit, and are labelled role ``other`` with no team and no number. Broadcast footage shows
them all the time, and a curation that gives them a team is wrong (issue 15: about 10 % of rows
labelled ``player`` on real footage stood more than 5 m outside the pitch).

Everything here draws from its own ``numpy.random.Generator``, so adding staff to a clip changes
nothing of its match, kits or camera.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.synth.world import HAIR_COLOURS, ROLE_OTHER, SKIN_TONES, STRIDE_LENGTH, Athlete

__all__ = ["STAFF_KINDS", "StaffCrowd", "MIN_OUTSIDE_M", "MAX_OUTSIDE_M"]

#: Who they are, in the order they are added (the first ``staff`` of the cycle are used).
STAFF_KINDS: tuple[str, ...] = ("coach", "substitute", "steward", "ball kid", "coach", "substitute", "steward", "ball kid", "substitute", "steward")
MIN_OUTSIDE_M = 2.0  # metres outside the nearest line, at least ...
MAX_OUTSIDE_M = 8.0  # ... and at most (behind the goals and on the near side)
_FAR_SIDE_MAX_M = 5.5  # in front of the far advertising boards

# Clothing colours, BGR. High-vis is fluorescent yellow or orange; bibs are the loud colours
# clubs use for substitutes; tracksuits and coaches' clothes are dark.
HIGH_VIS = [(20, 250, 215), (10, 130, 250)]
BIBS = [(10, 130, 250), (60, 240, 150), (190, 90, 255), (20, 235, 250), (230, 180, 60), (40, 40, 220)]
DARK = [(60, 25, 10), (28, 28, 30), (70, 70, 72), (35, 25, 95), (90, 55, 20)]


@dataclass
class _Plan:
    home: np.ndarray  # (2,) metres
    lane: np.ndarray  # (2,) unit vector along the line they stand by
    amplitude: float  # metres they walk either side of home along the lane
    speed: float  # m/s when walking
    pause: tuple[float, float]  # seconds they stand at each end
    faces_pitch: bool


def _distance(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a, float) - np.asarray(b, float)))


def _far_from(palette: list, avoid: list, rng: np.random.Generator) -> tuple[int, int, int]:
    """A random colour of ``palette`` at least 90 (BGR distance) from every colour in ``avoid``;
    when none is, the one farthest from them."""
    order = rng.permutation(len(palette))
    for index in order:
        if all(_distance(palette[index], other) >= 90.0 for other in avoid):
            return tuple(palette[index])
    return tuple(max((palette[i] for i in order), key=lambda c: min(_distance(c, other) for other in avoid)))


class StaffCrowd:
    """Off-pitch people of one clip, stepped one frame at a time.

    Args:
        pitch: the pitch; positions are SoccerNet pitch metres.
        count: how many people, >= 0.
        rng: their own generator (not the match's).
        fps: frames per second.
        kits: the clip's kit colours (``MatchSimulation.kit_colours``); bibs and high-vis avoid them.
        first_track_id: track id of the first person; the rest follow.
        in_kit: how many of the substitutes (the first ones) warm up in their bench's team kit
            colour instead of a bib, about 2 m beyond their touchline (opt-in,
            ``SynthConfig.staff_in_kit``): people beside the pitch in a team's colours, whom only
            where they stand tells from players. Every draw and every other person is the same as
            with 0.
    """

    def __init__(
        self, pitch: PitchModel, count: int, rng: np.random.Generator, fps: float, kits: dict, first_track_id: int, in_kit: int = 0
    ) -> None:
        self.pitch = pitch
        self.rng = rng
        self.dt = 1.0 / fps
        avoid = list(kits.values())
        first_bib = _far_from(BIBS, avoid, rng)
        bibs = [first_bib, _far_from(BIBS, avoid + [first_bib], rng)]  # one per team's bench
        self.kinds = [STAFF_KINDS[k % len(STAFF_KINDS)] for k in range(count)]
        self.athletes: list[Athlete] = []
        self._plans: list[_Plan] = []
        in_kit_left = in_kit
        for k, kind in enumerate(self.kinds):
            bench = k % 2
            person = self._person(first_track_id + k, kind, bibs[bench], avoid)
            if kind == "substitute" and in_kit_left > 0:
                # Drawn as any substitute (same generator draws), then dressed in the team's shirt
                # over a dark tracksuit: held-out seeds showed a person 2 m beyond the far touchline
                # in a colour 2.4 spreads from a team's kit voted a player of that team.
                in_kit_left -= 1
                person = replace(person, shirt=tuple(kits[f"team{bench}"]))
                plan = self._plan(kind, bench)
                # ... and about 2 m beyond the touchline, as that person stood (2.05-2.75 m here, where
                # the share rule's 1.5 m + 2 sigma reaches about 3 m on the far side): no new draws.
                out = abs(plan.home[1]) - self.pitch.half_width
                plan.home[1] = np.sign(plan.home[1]) * (self.pitch.half_width + MIN_OUTSIDE_M + 0.25 * (out - MIN_OUTSIDE_M))
                self.athletes.append(person)
                self._plans.append(plan)
                continue
            self.athletes.append(person)
            self._plans.append(self._plan(kind, bench))
        n = len(self.athletes)
        self.position = np.array([p.home for p in self._plans], float).reshape(n, 2)
        self.position += np.array([p.lane * rng.uniform(-p.amplitude, p.amplitude) for p in self._plans]).reshape(n, 2)
        self.position = np.array([self._clamp(xy) for xy in self.position]).reshape(n, 2)
        self.velocity = np.zeros((n, 2))
        self.facing = np.array([self._rest_facing(k) for k in range(n)], float)
        self.phase = rng.uniform(0, 2 * np.pi, n)
        self._direction = rng.choice([-1.0, 1.0], n) if n else np.zeros(0)
        self._rest_until = rng.uniform(0, 2.0, n)
        self._time = 0.0

    def _person(self, track_id: int, kind: str, bib, avoid) -> Athlete:
        rng = self.rng
        dark = _far_from(DARK, avoid, rng)
        if kind == "steward":
            top, sleeves = _far_from(HIGH_VIS, avoid, rng), (dark if rng.random() < 0.6 else None)
        elif kind == "substitute":
            top, sleeves = bib, dark  # a bib over the tracksuit
        elif kind == "coach":
            top, sleeves = dark, dark
        else:  # ball kid
            top, sleeves = dark, dark
        legs = tuple(DARK[int(rng.integers(len(DARK)))])
        return Athlete(
            track_id=track_id, team=-1, role=ROLE_OTHER, jersey=-1,
            height_m=float(rng.normal(1.55 if kind == "ball kid" else 1.79, 0.06)),
            shirt=top, shorts=legs, socks=legs, number_colour=(240, 240, 240),
            skin=SKIN_TONES[int(rng.integers(len(SKIN_TONES)))], hair=HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))],
            top_speed=3.5, sleeves=sleeves, legs=legs,
        )

    def _plan(self, kind: str, bench: int) -> _Plan:
        rng = self.rng
        hl, hw = self.pitch.half_length, self.pitch.half_width
        along_x = np.array([1.0, 0.0])
        along_y = np.array([0.0, 1.0])
        side = -1.0 if bench == 0 else 1.0
        if kind == "coach":
            # Technical areas on the near side (under the main camera), either side of halfway.
            home = np.array([side * rng.uniform(5.0, 14.0), hw + rng.uniform(2.5, 5.0)])
            return _Plan(home, along_x, rng.uniform(0.5, 2.5), rng.uniform(0.6, 1.3), (1.5, 6.0), True)
        if kind == "substitute":
            far = rng.random() < 0.6
            y = -(hw + rng.uniform(2.2, 4.5)) if far else hw + rng.uniform(2.5, 5.0)
            home = np.array([side * rng.uniform(15.0, 40.0), y])
            return _Plan(home, along_x, rng.uniform(5.0, 12.0), rng.uniform(1.8, 3.2), (0.3, 2.0), True)
        if kind == "steward":
            if rng.random() < 0.5:
                home = np.array([side * (hl + rng.uniform(3.0, 7.5)), rng.uniform(-25.0, 25.0)])
                return _Plan(home, along_y, rng.uniform(0.3, 2.0), rng.uniform(0.5, 1.1), (3.0, 10.0), False)
            home = np.array([rng.uniform(-hl + 5, hl - 5), -(hw + rng.uniform(3.5, _FAR_SIDE_MAX_M - 0.3))])
            return _Plan(home, along_x, rng.uniform(0.3, 2.0), rng.uniform(0.5, 1.1), (3.0, 10.0), False)
        # Ball kids: along every line, 2-4 m out.
        where = rng.integers(3)
        if where == 0:
            home = np.array([side * (hl + rng.uniform(2.2, 4.0)), rng.uniform(-hw + 5, hw - 5)])
            return _Plan(home, along_y, rng.uniform(0.3, 1.5), rng.uniform(0.8, 1.6), (2.0, 8.0), True)
        y = -(hw + rng.uniform(2.2, 4.0)) if where == 1 else hw + rng.uniform(2.2, 4.0)
        home = np.array([rng.uniform(-hl + 5, hl - 5), y])
        return _Plan(home, along_x, rng.uniform(0.3, 1.5), rng.uniform(0.8, 1.6), (2.0, 8.0), True)

    def _rest_facing(self, k: int) -> float:
        """Standing: towards the centre of the pitch, or away from it (stewards watch the crowd)."""
        home = self._plans[k].home
        towards = np.arctan2(-home[1], -home[0] * 0.3)
        return float(towards if self._plans[k].faces_pitch else (towards + np.pi + np.pi) % (2 * np.pi) - np.pi)

    def _clamp(self, xy: np.ndarray) -> np.ndarray:
        """Keep a point 2-8 m outside the lines (5.5 m at most on the far side)."""
        hl, hw = self.pitch.half_length, self.pitch.half_width
        x, y = float(xy[0]), float(xy[1])
        outside_x, outside_y = abs(x) - hl, abs(y) - hw
        if outside_y >= outside_x:  # by a touchline
            limit = _FAR_SIDE_MAX_M if y < 0 else MAX_OUTSIDE_M
            y = np.sign(y) * (hw + np.clip(outside_y, MIN_OUTSIDE_M, limit))
            x = float(np.clip(x, -hl - MAX_OUTSIDE_M, hl + MAX_OUTSIDE_M))
        else:  # behind a goal line
            x = np.sign(x) * (hl + np.clip(outside_x, MIN_OUTSIDE_M, MAX_OUTSIDE_M))
            y = float(np.clip(y, -hw - _FAR_SIDE_MAX_M, hw + MAX_OUTSIDE_M))
        return np.array([x, y])

    def step(self) -> None:
        """Advance everyone by one frame: walk to the end of their beat, stand a while, turn back."""
        dt = self.dt
        self._time += dt
        for k, plan in enumerate(self._plans):
            if self._time < self._rest_until[k]:
                self.velocity[k] = 0.0
                wanted = self._rest_facing(k)
            else:
                end = plan.home + plan.lane * plan.amplitude * self._direction[k]
                offset = end - self.position[k]
                distance = float(np.linalg.norm(offset))
                if distance < 0.2:
                    self._direction[k] = -self._direction[k]
                    self._rest_until[k] = self._time + self.rng.uniform(*plan.pause)
                    self.velocity[k] = 0.0
                    wanted = self._rest_facing(k)
                else:
                    self.velocity[k] = offset / distance * min(plan.speed, distance / dt)
                    wanted = float(np.arctan2(offset[1], offset[0]))
            self.position[k] = self._clamp(self.position[k] + self.velocity[k] * dt)
            turn = (wanted - self.facing[k] + np.pi) % (2 * np.pi) - np.pi
            self.facing[k] = (self.facing[k] + np.clip(turn, -4.0 * dt, 4.0 * dt) + np.pi) % (2 * np.pi) - np.pi
        speed = np.linalg.norm(self.velocity, axis=1) if len(self._plans) else np.zeros(0)
        self.phase = (self.phase + 2 * np.pi * speed * dt / STRIDE_LENGTH) % (2 * np.pi)

    @staticmethod
    def outside_m(pitch: PitchModel, xy: np.ndarray) -> np.ndarray:
        """How far each point (N, 2) lies outside the pitch lines, metres (negative inside)."""
        xy = np.asarray(xy, float).reshape(-1, 2)
        return np.maximum(np.abs(xy[:, 0]) - pitch.half_length, np.abs(xy[:, 1]) - pitch.half_width)
