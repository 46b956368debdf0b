"""Broadcast shot plans: hard cuts between the main camera, zoomed main-camera segments and
pitch-side close-ups, as a match director cuts them (``SynthConfig.shots = "broadcast"``).

* ``main``: the main camera of :class:`~soccerfactory.curation.synth.broadcast.BroadcastCameraOperator`.
* ``zoomed``: the same camera (same position and lens distortion) zoomed in on the ball so that
  it shows 1/4 to 1/10 of the pitch area the main camera shows at that moment. When no line
  would be in view, it frames the ball off-centre towards the nearest line, or zooms out (to
  1/4 at most) until one is: the view stays one a camera could be fitted to.
* ``close-up``: another camera framing one athlete (the one nearest the ball 70 % of the time,
  another player 15 %, the referee 15 %) so that they are 0.5 to 1.3 image heights
  tall (above 1: knees or waist up), from a different place: a tight camera high in the near
  stand (most shots), or, when the athlete is within 30 m of the near touchline, now and then a
  pitch-side camera 1.4-2.0 m up behind the near touchline. Little pitch, few or no lines.

The main camera keeps following play during the other shots, so a cut back to it lands where
play is, as a live broadcast does. Everything is drawn from the generator given, so the seed
fixes the plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soccerfactory.curation.camera import Camera
from soccerfactory.curation.pitch import GOAL_LINE_NAMES, PitchModel
from soccerfactory.curation.synth.broadcast import BroadcastCameraOperator

__all__ = ["SHOT_VIEWS", "SHOT_SHARES", "Shot", "ShotDirector", "VIEW_CLOSE_UP", "VIEW_MAIN", "VIEW_ZOOMED", "plan_shots"]

VIEW_MAIN = "main"
VIEW_ZOOMED = "zoomed"
VIEW_CLOSE_UP = "close-up"
#: The views a shot can have (the names of ``curation/calibration/view.py``'s ``VIEWS``).
SHOT_VIEWS: tuple[str, ...] = (VIEW_MAIN, VIEW_ZOOMED, VIEW_CLOSE_UP)
#: Share of frames each view aims at; the planner picks the next non-main view by deficit.
SHOT_SHARES: dict[str, float] = {VIEW_MAIN: 0.65, VIEW_ZOOMED: 0.20, VIEW_CLOSE_UP: 0.15}
# Seconds per shot, drawn uniformly. Main shots run longer: a director returns to the main
# camera between zooms and close-ups and stays there while play develops.
# Main (3.5, 6.0) s, zoomed (2.0, 4.5), close-up (2.0, 3.5) and an 85 % return to main gave main
# 53-67 % of frames on dev seeds 401-404 (30 s). These lengths, a 90 % return and no chain while
# main is behind its share give, over the plans of dev seeds 400-499 (30 s): main 0.655, zoomed
# 0.200, close-up 0.146 of all frames; per clip (5th-95th percentile) main 0.60-0.72, zoomed
# 0.12-0.26, close-up 0.08-0.19. Shots last 1.6-6.9 s (the last shot of a clip is cut short by
# its end or takes in a remainder under 1.5 s).
_LENGTH_S = {VIEW_MAIN: (4.0, 6.0), VIEW_ZOOMED: (2.0, 4.0), VIEW_CLOSE_UP: (2.0, 3.0)}
_BACK_TO_MAIN = 0.9
_MIN_SHOT_S = 1.5  # a remainder shorter than this joins the shot before it (no flash shots)
_ZOOM_AREA = (4.0, 10.0)  # pitch area of the main shot / that of the zoomed shot
_CLOSE_UP_HEIGHT = (0.5, 1.3)  # athlete height / image height
_MIN_HFOV_DEG = 1.5  # the longest broadcast zoom lenses (~100x) reach about this
_MAX_HFOV_DEG = 60.0


@dataclass(frozen=True)
class Shot:
    """Frames ``[start, stop)`` seen by one camera, as ``view``."""

    start: int
    stop: int
    view: str

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.stop:
            raise ValueError(f"a shot needs 0 <= start < stop, got [{self.start}, {self.stop})")
        if self.view not in SHOT_VIEWS:
            raise ValueError(f"shot view must be one of {', '.join(SHOT_VIEWS)}, got {self.view!r}")


def plan_shots(frame_count: int, fps: float, rng: np.random.Generator) -> tuple[Shot, ...]:
    """Cut ``frame_count`` frames into shots: main, then a zoom or close-up, then main again ...

    The first shot's view is drawn by ``SHOT_SHARES`` (a clip starts anywhere in a broadcast);
    after a main shot comes the non-main view furthest below its share; after a non-main shot
    the director goes back to main (90 %) or cuts to the other non-main view.
    """
    views = list(SHOT_SHARES)
    shares = np.array([SHOT_SHARES[v] for v in views])
    view = views[int(rng.choice(len(views), p=shares / shares.sum()))]
    shots: list[Shot] = []
    frames_in = dict.fromkeys(views, 0)
    start = 0
    while start < frame_count:
        lo, hi = _LENGTH_S[view]
        stop = min(start + max(int(round(rng.uniform(lo, hi) * fps)), 1), frame_count)
        if frame_count - stop < _MIN_SHOT_S * fps:
            stop = frame_count
        shots.append(Shot(start, stop, view))
        frames_in[view] += stop - start
        start = stop
        others = [v for v in views if v != VIEW_MAIN]
        if view == VIEW_MAIN:
            deficit = [SHOT_SHARES[v] * start - frames_in[v] for v in others]
            view = others[int(np.argmax(deficit))] if rng.random() < 0.8 else others[int(rng.integers(len(others)))]
        else:
            # Straight to the other non-main view only while main has its share (a 30 s clip has
            # about seven shots, so one chain otherwise skews it: main 49 % on dev seed 405).
            behind = frames_in[VIEW_MAIN] < SHOT_SHARES[VIEW_MAIN] * start
            view = VIEW_MAIN if behind or rng.random() < _BACK_TO_MAIN else next(v for v in others if v != view)
    return tuple(shots)


def _focal_for_width(width_px: int, distance: float, view_width_m: float) -> float:
    focal = width_px * distance / max(view_width_m, 1e-3)
    lo = width_px / (2 * np.tan(np.radians(_MAX_HFOV_DEG / 2)))
    hi = width_px / (2 * np.tan(np.radians(_MIN_HFOV_DEG / 2)))
    return float(np.clip(focal, lo, hi))


class _Spring:
    """A critically damped follower (a fluid head's pan), as the main camera operator uses."""

    def __init__(self, start: np.ndarray, omega: float) -> None:
        self.value = np.asarray(start, float).copy()
        self.velocity = np.zeros_like(self.value)
        self.omega = omega

    def follow(self, wanted: np.ndarray, dt: float) -> np.ndarray:
        acceleration = self.omega**2 * (np.asarray(wanted, float) - self.value) - 2 * self.omega * self.velocity
        self.velocity = np.clip(self.velocity + acceleration * dt, -25, 25)
        self.value = self.value + self.velocity * dt
        return self.value


class ShotDirector:
    """The camera and the true view of every frame of a broadcast shot plan.

    Args:
        shots: the plan (``plan_shots``), covering every frame in order.
        pitch: the pitch.
        width, height: image size in pixels.
        fps: frames per second.
        rng: source of the per-shot choices (zoom factor, close-up camera and framing).
    """

    def __init__(self, shots: tuple[Shot, ...], pitch: PitchModel, width: int, height: int, fps: float, rng: np.random.Generator) -> None:
        self.shots = shots
        self.pitch = pitch
        self.width, self.height = width, height
        self.dt = 1.0 / fps
        self.rng = rng
        self._starts = np.array([shot.start for shot in shots])
        self._current = -1
        self._spring: _Spring | None = None
        self._area_ratio = 1.0
        self._target = -1
        self._camera_position = np.zeros(3)
        self._athlete_share = 1.0
        names = tuple(name for name in pitch.lines if name not in GOAL_LINE_NAMES)
        self._markings = np.concatenate([points[:, :2] for points in pitch.sample_lines(1.0, names).values()])

    def shot_of(self, frame_index: int) -> Shot:
        return self.shots[int(np.searchsorted(self._starts, frame_index, side="right")) - 1]

    def camera(self, frame_index: int, main: Camera, operator: BroadcastCameraOperator, sim, people_xy: np.ndarray) -> tuple[Camera, str, bool]:
        """The camera of ``frame_index``, its view, and whether the frame starts a new shot.

        Args:
            frame_index: frames must come in order, one call each.
            main: the main camera of this frame (``operator.update`` runs every frame, so the main
                camera keeps following play during other shots).
            operator: the main camera operator (its position, lens and current width of view).
            sim: the match (``MatchSimulation``): ball, athletes, positions, velocities.
            people_xy: float (N, 2) pitch metres of everyone on and off the pitch, the match's
                athletes first (``sim.athletes`` order); a pitch-side camera is put where nobody
                stands in front of it.
        """
        index = int(np.searchsorted(self._starts, frame_index, side="right")) - 1
        shot = self.shots[index]
        cut = index != self._current
        if cut:
            self._current = index
            self._start(shot, sim, people_xy)
        if shot.view == VIEW_MAIN:
            return main, shot.view, cut
        if shot.view == VIEW_ZOOMED:
            return self._zoomed(operator, sim), shot.view, cut
        return self._close_up(sim), shot.view, cut

    # ------------------------------------------------------------------ shots
    def _ball_aim(self, sim) -> np.ndarray:
        ball = sim.ball
        return ball.position[:2] + np.clip(ball.velocity[:2] * 0.3, -4.0, 4.0)

    def _start(self, shot: Shot, sim, people_xy: np.ndarray) -> None:
        rng = self.rng
        if shot.view == VIEW_ZOOMED:
            self._area_ratio = float(rng.uniform(*_ZOOM_AREA))
            self._spring = _Spring(self._ball_aim(sim), omega=float(rng.uniform(2.2, 3.0)))
        elif shot.view == VIEW_CLOSE_UP:
            candidates = np.flatnonzero(sim.is_player)
            referees = [k for k, athlete in enumerate(sim.athletes) if athlete.role == "referee"]
            pick = rng.random()
            if pick < 0.7:  # the athlete on the ball, or nearest to it
                distances = np.linalg.norm(sim.position[candidates] - sim.ball.position[:2], axis=1)
                self._target = int(candidates[int(np.argmin(distances))])
            elif pick < 0.85 or not referees:  # another player: the scorer, the fouled, the keeper
                self._target = int(rng.choice(candidates))
            else:  # the referee, as directors show after a whistle
                self._target = referees[0]
            self._athlete_share = float(rng.uniform(*_CLOSE_UP_HEIGHT))
            target = sim.position[self._target]
            hl, hw = self.pitch.half_length, self.pitch.half_width
            # Cameras stand on the near side and look across the pitch, never along it: the stand
            # only rises beyond the far touchline.
            if float(target[1]) > hw - 30.0 and rng.random() < 0.5:
                self._camera_position = self._pitch_side_camera(target, people_xy, self._target)
            else:  # a tight camera in the near stand, looking down on the athlete
                x = float(np.clip(float(target[0]) + rng.uniform(-25.0, 25.0), -hl, hl))
                self._camera_position = np.array([x, hw + float(rng.uniform(10.0, 25.0)), -float(rng.uniform(6.0, 14.0))])
            self._spring = _Spring(target, omega=float(rng.uniform(3.5, 5.0)))

    def _pitch_side_camera(self, target: np.ndarray, people_xy: np.ndarray, target_index: int) -> np.ndarray:
        """A camera 5-8 m behind the near touchline, 1.4-2.0 m up, where nobody stands in front of it.

        Somebody within a few metres of a long lens fills the picture, which the cut detector
        rightly reads as a cut (seen on dev seed 404 before this rule).
        """
        rng = self.rng
        y = self.pitch.half_width + float(rng.uniform(5.0, 8.0))
        span = y - float(target[1])
        others = np.delete(np.asarray(people_xy, float).reshape(-1, 2), target_index, axis=0)
        best, best_clearance = None, -1.0
        for _ in range(6):
            x = float(target[0]) + float(rng.uniform(-1.0, 1.0)) * min(10.0, 0.7 * span)
            position = np.array([x, y])
            # Clearance: how far the nearest person is from the line of sight, within 12 m of the lens.
            sight = np.asarray(target, float) - position
            length = float(np.linalg.norm(sight))
            along = np.clip((others - position) @ sight / max(length, 1e-6), 0.0, min(12.0, length - 1.5))
            nearest = position + along[:, None] * sight / max(length, 1e-6)
            clearance = float(np.min(np.linalg.norm(others - nearest, axis=1))) if len(others) else np.inf
            if clearance > best_clearance:
                best, best_clearance = position, clearance
        return np.array([best[0], best[1], -float(rng.uniform(1.4, 2.0))])

    def _zoomed(self, operator: BroadcastCameraOperator, sim) -> Camera:
        hl, hw = self.pitch.half_length, self.pitch.half_width
        wanted = np.clip(self._ball_aim(sim), [-hl - 3, -hw - 3], [hl + 3, hw + 3])
        target = np.array([self._spring.value[0], self._spring.value[1], 0.0])
        distance = float(np.linalg.norm(target - operator.position))
        # Ground area in view ~ width^2 / sin(depression), so the main camera's area over ``zoom``
        # asks for this width at the zoomed aim point.
        main_target = np.array([*operator.aim, 0.0])
        depression_main = abs(operator.position[2]) / max(float(np.linalg.norm(main_target - operator.position)), 1e-6)
        depression_zoom = abs(operator.position[2]) / max(distance, 1e-6)
        ratio = depression_zoom / depression_main
        width_m = operator.view_width * np.sqrt(ratio / self._area_ratio)
        wanted, width_m = self._keep_a_line(wanted, width_m, operator.view_width * np.sqrt(ratio / _ZOOM_AREA[0]))
        aim = self._spring.follow(wanted, self.dt)
        target = np.array([aim[0], aim[1], 0.0])
        distance = float(np.linalg.norm(target - operator.position))
        focal = _focal_for_width(self.width, distance, width_m)
        camera = Camera.look_at(operator.position, target, focal, (self.width, self.height))
        if operator.dist.size:
            camera = Camera(K=camera.K, R=camera.R, position=camera.position, image_size=camera.image_size, dist=operator.dist)
        return camera

    def _keep_a_line(self, aim: np.ndarray, width_m: float, max_width_m: float) -> tuple[np.ndarray, float]:
        """Aim and width (metres) that keep the nearest pitch marking in view with the ball.

        A point within ``reach`` (0.35 of the width) of the aim is comfortably in the picture; the
        aim moves towards the nearest marking by at most ``reach`` (the ball stays in), and when
        that is not enough the width grows to ``max_width_m`` at most. Both change continuously
        with the ball, so the camera does not jump.
        """
        offsets = self._markings - aim
        distances = np.linalg.norm(offsets, axis=1)
        nearest = int(np.argmin(distances))
        gap = float(distances[nearest])
        reach = 0.35 * width_m
        if gap <= reach:
            return aim, width_m
        if gap > 2 * reach:
            width_m = max(width_m, min(max_width_m, gap / 0.7))
            reach = 0.35 * width_m
        shift = min(gap - reach, reach) if gap > reach else 0.0
        return aim + offsets[nearest] / gap * shift, width_m

    def _close_up(self, sim) -> Camera:
        k = self._target
        athlete_height = sim.athletes[k].height_m
        wanted = sim.position[k] + sim.velocity[k] * 0.15
        aim = self._spring.follow(wanted, self.dt)
        share = self._athlete_share
        # Whole body: aim at the hips; closer than that the head stays 10 % below the top edge.
        aim_height = athlete_height * (0.5 if share <= 0.8 else 1.0 - 0.4 / share)
        target = np.array([aim[0], aim[1], -aim_height])
        position = self._camera_position
        if np.hypot(*(target[:2] - position[:2])) < 1.0:  # the athlete walked into the camera
            target[:2] = position[:2] + np.array([0.0, -1.0])
        distance = float(np.linalg.norm(target - position))
        pixels_per_metre = share * self.height / athlete_height
        focal = _focal_for_width(self.width, distance, self.width / pixels_per_metre)
        return Camera.look_at(position, target, focal, (self.width, self.height))
