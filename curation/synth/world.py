"""A small agent-based match: two teams, referees and a ball that is passed, dribbled and shot.

The aim is footage whose statistics look like broadcast play (players jog into shape, sprint to
loose balls, bunch around the ball and hide one another; the ball rolls, flies, bounces and goes
out), not a football engine. Everything is driven by one ``numpy.random.Generator`` so a seed fixes
the whole clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from soccerfactory.curation.pitch import GOAL_HEIGHT, GOAL_WIDTH, PENALTY_AREA_LENGTH, PitchModel

__all__ = ["Athlete", "BallEvent", "MatchSimulation", "ROLE_GOALKEEPER", "ROLE_OTHER", "ROLE_PLAYER", "ROLE_REFEREE", "ROLES"]

ROLE_PLAYER = "player"
ROLE_GOALKEEPER = "goalkeeper"
ROLE_REFEREE = "referee"
ROLE_OTHER = "other"  # off-pitch people: coaches, substitutes, stewards, ball kids (synth/staff.py)
#: Every role of the ground truth, as SoccerNet game-state reconstruction names them.
ROLES: tuple[str, ...] = (ROLE_PLAYER, ROLE_GOALKEEPER, ROLE_REFEREE, ROLE_OTHER)

GRAVITY = 9.81  # m/s^2, +z is down
BALL_RADIUS = 0.11
ROLLING_DECELERATION = 2.2  # m/s^2 on dry grass
STRIDE_LENGTH = 1.9  # metres per full running cycle

# Kit colours, BGR. None of them is grass green, so kits never vanish into the pitch.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (40, 35, 200),
    "white": (238, 238, 238),
    "royal blue": (170, 60, 25),
    "sky blue": (235, 185, 110),
    "yellow": (35, 215, 245),
    "black": (28, 28, 28),
    "orange": (20, 120, 245),
    "purple": (125, 35, 110),
    "navy": (80, 30, 15),
    "maroon": (40, 20, 110),
    "pink": (175, 110, 250),
    "grey": (135, 135, 135),
    "cyan": (210, 210, 40),
    "lime": (40, 240, 180),
}
SKIN_TONES = [(170, 200, 235), (130, 170, 215), (95, 135, 185), (60, 90, 135), (45, 65, 100)]
HAIR_COLOURS = [(20, 20, 25), (30, 45, 70), (60, 90, 140), (40, 40, 45), (110, 150, 190)]

# A 4-4-2 for the team attacking towards +x, as fractions of the half-length / half-width.
FORMATION = np.array(
    [
        (-0.93, 0.0),  # goalkeeper
        (-0.62, -0.62), (-0.68, -0.22), (-0.68, 0.22), (-0.62, 0.62),
        (-0.30, -0.68), (-0.36, -0.22), (-0.36, 0.22), (-0.30, 0.68),
        (-0.05, -0.22), (-0.08, 0.25),
    ]
)


@dataclass(frozen=True)
class Athlete:
    """Who an athlete (or an off-pitch person) is; fixed for the clip.

    ``sleeves`` and ``legs`` colour the arms and the lower legs of long clothing (tracksuits,
    high-vis jackets); None shows bare skin there, as a kit does.
    """

    track_id: int
    team: int  # 0 or 1; -1 for referees and off-pitch people
    role: str
    jersey: int  # -1 when the athlete has no number (referees)
    height_m: float
    shirt: tuple[int, int, int]
    shorts: tuple[int, int, int]
    socks: tuple[int, int, int]
    number_colour: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    top_speed: float
    sleeves: tuple[int, int, int] | None = None
    legs: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class BallEvent:
    """A ball event at a frame: ``pass``, ``shot``, ``out`` (with the restart) or ``goal``."""

    frame_index: int
    kind: str
    team: int
    track_id: int  # the athlete who kicked (pass/shot) or last touched (out/goal); -1 if none
    x: float
    y: float
    detail: str = ""


@dataclass
class _Ball:
    position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
    owner: int = -1
    last_touch: int = -1
    intended_receiver: int = -1
    in_play: bool = True
    restart_team: int = -1
    restart_at: np.ndarray = field(default_factory=lambda: np.zeros(2))
    dead_until_frame: int = -1
    hold_until_frame: int = 0
    kick_frame: int = -100


def _colour_distance(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a, float) - np.asarray(b, float)))


def _pick_kits(rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Five mutually distinct colours: team 0, team 1, their goalkeepers, the referees."""
    names = list(PALETTE)
    order = rng.permutation(len(names))
    chosen: list[tuple[int, int, int]] = []
    for threshold in (120.0, 90.0, 60.0):
        chosen = []
        for index in order:
            colour = PALETTE[names[index]]
            if all(_colour_distance(colour, other) >= threshold for other in chosen):
                chosen.append(colour)
            if len(chosen) == 5:
                return chosen
    raise AssertionError("palette cannot provide five distinct kits")  # pragma: no cover


class MatchSimulation:
    """Steps a match forward one frame at a time.

    Args:
        pitch: the pitch the match is played on.
        rng: source of every random choice.
        fps: frames per second of the clip; one ``step`` advances ``1/fps`` seconds.
        referees: 1 to 3; the second and third are assistant referees on the touchlines.
    """

    def __init__(self, pitch: PitchModel, rng: np.random.Generator, fps: float, referees: int = 3) -> None:
        self.pitch = pitch
        self.rng = rng
        self.dt = 1.0 / fps
        self.frame = 0
        self.events: list[BallEvent] = []
        kits = _pick_kits(rng)
        self.kit_colours = {"team0": kits[0], "team1": kits[1], "goalkeeper0": kits[2], "goalkeeper1": kits[3], "referee": kits[4]}
        self.athletes = self._make_athletes(kits, referees)
        count = len(self.athletes)
        self.team = np.array([a.team for a in self.athletes])
        self.is_goalkeeper = np.array([a.role == ROLE_GOALKEEPER for a in self.athletes])
        self.is_player = self.team >= 0
        self.top_speed = np.array([a.top_speed for a in self.athletes])
        self.position = np.zeros((count, 2))
        self.velocity = np.zeros((count, 2))
        self.facing = np.zeros(count)  # radians, direction the athlete's chest points to
        self.phase = rng.uniform(0, 2 * np.pi, count)  # running cycle
        self._wander = rng.uniform(-np.pi, np.pi, count)
        self.ball = _Ball()
        self._place_start()

    # ------------------------------------------------------------------ set-up
    def _make_athletes(self, kits, referees: int) -> list[Athlete]:
        rng = self.rng
        athletes: list[Athlete] = []
        track_id = 1
        for team in (0, 1):
            numbers = [1] + sorted(rng.choice(np.arange(2, 31), size=10, replace=False).tolist())
            shirt = kits[team]
            shorts = shirt if rng.random() < 0.5 else ((238, 238, 238) if sum(shirt) < 380 else (28, 28, 28))
            for slot in range(11):
                role = ROLE_GOALKEEPER if slot == 0 else ROLE_PLAYER
                kit = kits[2 + team] if slot == 0 else shirt
                athletes.append(
                    Athlete(
                        track_id=track_id,
                        team=team,
                        role=role,
                        jersey=int(numbers[slot]),
                        height_m=float(rng.normal(1.82, 0.06)) if slot else float(rng.normal(1.89, 0.04)),
                        shirt=kit,
                        shorts=kit if slot == 0 else shorts,
                        socks=kit if slot == 0 else shirt,
                        number_colour=(20, 20, 20) if sum(kit) > 380 else (240, 240, 240),
                        skin=SKIN_TONES[int(rng.integers(len(SKIN_TONES)))],
                        hair=HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))],
                        top_speed=float(rng.uniform(7.0, 8.6)) if slot else 6.0,
                    )
                )
                track_id += 1
        for _ in range(referees):
            kit = kits[4]
            athletes.append(
                Athlete(
                    track_id=track_id,
                    team=-1,
                    role=ROLE_REFEREE,
                    jersey=-1,
                    height_m=float(rng.normal(1.80, 0.05)),
                    shirt=kit,
                    shorts=(28, 28, 28),
                    socks=(28, 28, 28),
                    number_colour=(240, 240, 240),
                    skin=SKIN_TONES[int(rng.integers(len(SKIN_TONES)))],
                    hair=HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))],
                    top_speed=6.5,
                )
            )
            track_id += 1
        return athletes

    def _attack_sign(self, team: int) -> float:
        return 1.0 if team == 0 else -1.0

    def _formation_targets(self, ball_xy: np.ndarray, attacking_team: int, shape_only: bool = False) -> np.ndarray:
        hl, hw = self.pitch.half_length, self.pitch.half_width
        targets = np.zeros((len(self.athletes), 2))
        for team in (0, 1):
            sign = self._attack_sign(team)
            base = FORMATION * np.array([sign, 1.0])
            push = 0.0 if shape_only else (9.0 if team == attacking_team else -4.0) * sign
            follow = 0.0 if shape_only else 0.55
            tx = base[:, 0] * hl * 0.62 + follow * ball_xy[0] + push
            ty = base[:, 1] * hw * 0.78 + (0.0 if shape_only else 0.3) * ball_xy[1]
            tx[0] = sign * -(hl - 1.5) + sign * np.clip(abs(ball_xy[0] - sign * -hl) * 0.04, 0, 3)
            ty[0] = np.clip(ball_xy[1] * 0.12, -GOAL_WIDTH / 2, GOAL_WIDTH / 2)
            index = np.flatnonzero(self.team == team)
            targets[index, 0] = np.clip(tx, -hl + 0.5, hl - 0.5)
            targets[index, 1] = np.clip(ty, -hw + 0.5, hw - 0.5)
        return targets

    def _place_start(self) -> None:
        rng = self.rng
        start_ball = np.array([rng.uniform(-30, 30), rng.uniform(-20, 20)])
        attacking = int(rng.integers(2))
        targets = self._formation_targets(start_ball, attacking)
        self.position[:] = targets + rng.normal(0, 2.0, targets.shape)
        for k, index in enumerate(np.flatnonzero(self.team < 0)):
            self.position[index] = self._referee_target(k, start_ball)
        carrier = self._nearest(start_ball, team=attacking, field_players_only=True)
        self.position[carrier] = start_ball - np.array([0.7 * self._attack_sign(attacking), 0.0])
        self.facing[:] = np.where(self.team == 1, np.pi, 0.0)
        self.ball.position = np.array([start_ball[0], start_ball[1], 0.0])
        self._give_ball(carrier)

    # ------------------------------------------------------------------ queries
    def _nearest(self, point: np.ndarray, team: int | None = None, field_players_only: bool = False, exclude: int = -1) -> int:
        mask = self.is_player.copy()
        if team is not None:
            mask &= self.team == team
        if field_players_only:
            mask &= ~self.is_goalkeeper
        if exclude >= 0:
            mask[exclude] = False
        distances = np.where(mask, np.linalg.norm(self.position - point, axis=1), np.inf)
        return int(np.argmin(distances))

    def _referee_target(self, k: int, ball_xy: np.ndarray) -> np.ndarray:
        hl, hw = self.pitch.half_length, self.pitch.half_width
        if k == 0:
            side = -1.0 if ball_xy[1] > 0 else 1.0
            return np.array([np.clip(ball_xy[0] - 7.0, -hl + 4, hl - 4), np.clip(ball_xy[1] + side * 11.0, -hw + 3, hw - 3)])
        # Assistants run the touchline level with the second-last defender of "their" half.
        team = 0 if k == 1 else 1
        sign = -1.0 if k == 1 else 1.0
        xs = np.sort(self.position[self.team == team, 0] * sign)[::-1]
        line = max(xs[1], ball_xy[0] * sign, 0.0) * sign
        y = -hw - 1.5 if k == 1 else hw + 1.5
        return np.array([np.clip(line, -hl, 0) if k == 1 else np.clip(line, 0, hl), y])

    # ------------------------------------------------------------------ ball control
    def _give_ball(self, athlete: int) -> None:
        ball = self.ball
        ball.owner = athlete
        ball.last_touch = athlete
        ball.intended_receiver = -1
        ball.velocity[:] = 0.0
        ball.hold_until_frame = self.frame + int(self.rng.uniform(0.6, 2.4) / self.dt)

    def _kick(self, target_xy: np.ndarray, speed: float, loft: float, kind: str, detail: str = "") -> None:
        ball = self.ball
        kicker = ball.owner
        direction = target_xy - ball.position[:2]
        distance = float(np.linalg.norm(direction))
        direction = direction / max(distance, 1e-6)
        ball.velocity = np.array([direction[0] * speed, direction[1] * speed, -loft])
        ball.owner = -1
        ball.last_touch = kicker
        ball.kick_frame = self.frame
        self.events.append(
            BallEvent(self.frame, kind, int(self.team[kicker]), self.athletes[kicker].track_id, float(ball.position[0]), float(ball.position[1]), detail)
        )

    def _decide_with_ball(self) -> None:
        ball, rng = self.ball, self.rng
        carrier = ball.owner
        team = int(self.team[carrier])
        sign = self._attack_sign(team)
        goal = np.array([sign * self.pitch.half_length, 0.0])
        to_goal = float(np.linalg.norm(goal - self.position[carrier]))
        if self.frame < ball.hold_until_frame:
            return
        if ball.restart_team < 0 and to_goal < 28.0 and rng.random() < 0.55:
            aim = goal + np.array([0.0, rng.uniform(-1.15, 1.15) * GOAL_WIDTH / 2])
            self._kick(aim, speed=rng.uniform(20, 28), loft=rng.uniform(0.5, 4.5), kind="shot")
            return
        mates = np.flatnonzero((self.team == team) & (np.arange(len(self.athletes)) != carrier))
        offsets = self.position[mates] - self.position[carrier]
        distances = np.linalg.norm(offsets, axis=1)
        forward = offsets[:, 0] * sign
        opponents = self.position[self.team == 1 - team]
        openness = np.array([np.min(np.linalg.norm(opponents - self.position[m], axis=1)) for m in mates])
        score = np.where((distances > 6) & (distances < 38), 1.0, 0.05) * (1 + np.clip(forward, -10, 25) / 12) * np.clip(openness, 0.5, 8)
        score = np.where(self.is_goalkeeper[mates] & (forward < 0), score * 0.2, score)
        receiver = int(mates[rng.choice(len(mates), p=score / score.sum())])
        lead = self.velocity[receiver] * 0.6
        target = self.position[receiver] + lead
        distance = float(np.linalg.norm(target - self.position[carrier]))
        lofted = distance > 28 or rng.random() < 0.12 or ball.restart_team >= 0 and abs(ball.position[1]) >= self.pitch.half_width
        if lofted:
            # A lofted ball lands near the receiver: solve the flight time for that distance.
            speed = float(np.clip(distance / 1.6, 9, 24))
            flight = distance / speed
            loft = GRAVITY * flight / 2
        else:
            speed = float(np.sqrt(2 * ROLLING_DECELERATION * distance) + rng.uniform(2.0, 5.0))
            loft = 0.0
        detail = "restart" if ball.restart_team >= 0 else ("lofted" if lofted else "ground")
        ball.restart_team = -1
        self._kick(target, speed=speed, loft=loft, kind="pass", detail=detail)
        ball.intended_receiver = receiver

    def _update_ball(self) -> None:
        ball, dt, rng = self.ball, self.dt, self.rng
        hl, hw = self.pitch.half_length, self.pitch.half_width
        if ball.owner >= 0:
            carrier = ball.owner
            heading = np.array([np.cos(self.facing[carrier]), np.sin(self.facing[carrier])])
            ball.position[:2] = self.position[carrier] + heading * 0.55
            ball.position[2] = 0.0
            ball.velocity = np.array([*self.velocity[carrier], 0.0])
            # Challenges: a close opponent wins the ball now and then.
            opponents = np.flatnonzero(self.team == 1 - self.team[carrier])
            close = opponents[np.linalg.norm(self.position[opponents] - ball.position[:2], axis=1) < 1.0]
            if ball.in_play and len(close) and rng.random() < 1.2 * dt:
                self._give_ball(int(rng.choice(close)))
            else:
                self._decide_with_ball()
            return
        # Free flight / roll.
        ball.position += ball.velocity * dt
        if ball.position[2] < 0 or ball.velocity[2] < 0:
            ball.velocity[2] += GRAVITY * dt
            ball.velocity[:2] *= 1 - 0.05 * dt
        if ball.position[2] >= 0 and ball.velocity[2] > 0:
            ball.position[2] = 0.0
            ball.velocity[2] = -0.45 * ball.velocity[2] if ball.velocity[2] > 1.5 else 0.0
        if ball.position[2] >= 0 and ball.velocity[2] == 0:
            speed = float(np.linalg.norm(ball.velocity[:2]))
            if speed > 0:
                ball.velocity[:2] *= max(0.0, 1 - ROLLING_DECELERATION * dt / speed)
        if not ball.in_play:
            if self.frame >= ball.dead_until_frame:
                self._restart()
            return
        x, y = ball.position[:2]
        if abs(x) > hl + BALL_RADIUS or abs(y) > hw + BALL_RADIUS:
            self._out_of_play()
            return
        # Control: the closest athlete in reach takes the ball; the kicker only after a moment.
        if ball.position[2] > -1.6:
            reach = np.where(self.is_goalkeeper & (np.abs(x - np.sign(self.position[:, 0]) * hl) < PENALTY_AREA_LENGTH), 1.4, 0.9)
            distances = np.linalg.norm(self.position - ball.position[:2], axis=1)
            eligible = self.is_player & (distances < reach)
            if self.frame - ball.kick_frame < int(0.4 / dt):
                eligible[ball.last_touch] = False
            speed = float(np.linalg.norm(ball.velocity[:2]))
            if eligible.any() and (speed < 16 or rng.random() < 0.35):
                self._give_ball(int(np.argmin(np.where(eligible, distances, np.inf))))

    def _out_of_play(self) -> None:
        ball, rng = self.ball, self.rng
        hl, hw = self.pitch.half_length, self.pitch.half_width
        x, y, z = ball.position
        last_team = int(self.team[ball.last_touch]) if ball.last_touch >= 0 else int(rng.integers(2))
        restart_team = 1 - last_team
        track_id = self.athletes[ball.last_touch].track_id if ball.last_touch >= 0 else -1
        if abs(y) > hw + BALL_RADIUS and abs(x) <= hl:
            detail = "throw_in"
            restart = np.array([x, np.sign(y) * (hw + 0.3)])
        elif abs(y) < GOAL_WIDTH / 2 and z > -GOAL_HEIGHT:
            detail = "kick_off"
            scorer_team = last_team if np.sign(x) == self._attack_sign(last_team) else 1 - last_team
            self.events.append(BallEvent(self.frame, "goal", scorer_team, track_id, float(x), float(y)))
            restart_team = 1 - scorer_team
            restart = np.zeros(2)
        else:
            defending = 0 if x < 0 else 1
            if last_team == defending:
                detail = "corner"
                restart = np.array([np.sign(x) * (hl - 0.5), np.sign(y) * (hw - 0.5)])
            else:
                detail = "goal_kick"
                restart = np.array([np.sign(x) * (hl - 5.0), np.sign(y) * 4.0])
            restart_team = 1 - last_team
        self.events.append(BallEvent(self.frame, "out", last_team, track_id, float(x), float(y), detail))
        ball.in_play = False
        ball.restart_team = restart_team
        ball.restart_at = restart
        ball.intended_receiver = -1
        ball.dead_until_frame = self.frame + int(rng.uniform(1.5, 3.0) / self.dt)

    def _restart_taker(self) -> int:
        near_goal_line = abs(self.ball.restart_at[0]) >= self.pitch.half_length - 6
        return self._nearest(self.ball.restart_at, team=self.ball.restart_team, field_players_only=not near_goal_line)

    def _restart(self) -> None:
        """A fresh ball lies at the restart spot (as ball kids do); play resumes once the taker is there."""
        ball = self.ball
        ball.position = np.array([ball.restart_at[0], ball.restart_at[1], 0.0])
        ball.velocity = np.zeros(3)
        taker = self._restart_taker()
        if np.linalg.norm(self.position[taker] - ball.restart_at) < 0.9:
            ball.in_play = True
            self._give_ball(taker)
            ball.hold_until_frame = self.frame + int(0.8 / self.dt)

    # ------------------------------------------------------------------ movement
    def _targets(self) -> tuple[np.ndarray, np.ndarray]:
        ball = self.ball
        ball_xy = ball.position[:2].copy()
        owner = ball.owner
        attacking = int(self.team[owner]) if owner >= 0 else (int(self.team[ball.last_touch]) if ball.last_touch >= 0 else 0)
        targets = self._formation_targets(np.clip(ball_xy, [-60, -40], [60, 40]), attacking, shape_only=not ball.in_play)
        urgency = np.full(len(self.athletes), 0.55)  # fraction of top speed
        hl, hw = self.pitch.half_length, self.pitch.half_width
        if not ball.in_play:
            taker = self._restart_taker()
            targets[taker] = ball.restart_at
            urgency[taker] = 0.8
        elif owner >= 0:
            sign = self._attack_sign(attacking)
            self._wander[owner] += self.rng.normal(0, 0.6) * self.dt * 3
            angle = np.clip(self._wander[owner], -1.0, 1.0)
            goal = np.array([sign * hl, 0.0])
            heading = goal - self.position[owner]
            heading /= max(np.linalg.norm(heading), 1e-6)
            rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            step = rot @ heading * 6.0
            targets[owner] = np.clip(self.position[owner] + step, [-hl + 2, -hw + 2], [hl - 2, hw - 2])
            urgency[owner] = 0.62
            for k, presser in enumerate(self._closest_of_team(ball_xy, 1 - attacking, 2)):
                # The first presses the carrier, the second covers halfway between shape and ball.
                targets[presser] = ball_xy if k == 0 else 0.5 * (ball_xy + targets[presser])
                urgency[presser] = 0.85 if k == 0 else 0.7
        else:
            predicted = ball_xy + ball.velocity[:2] * 0.5
            for team in (0, 1):
                for chaser in self._closest_of_team(predicted, team, 1):
                    targets[chaser] = predicted
                    urgency[chaser] = 1.0
            if ball.intended_receiver >= 0:
                targets[ball.intended_receiver] = self._landing_point()
                urgency[ball.intended_receiver] = 0.9
        for k, index in enumerate(np.flatnonzero(self.team < 0)):
            targets[index] = self._referee_target(k, ball_xy)
            urgency[index] = 0.7
        return targets, urgency

    def _closest_of_team(self, point: np.ndarray, team: int, count: int) -> np.ndarray:
        candidates = np.flatnonzero((self.team == team) & ~self.is_goalkeeper)
        order = np.argsort(np.linalg.norm(self.position[candidates] - point, axis=1), kind="stable")
        return candidates[order[:count]]

    def _landing_point(self) -> np.ndarray:
        ball = self.ball
        velocity = ball.velocity
        if ball.position[2] < 0 or velocity[2] < 0:
            # Time until the ball comes down: z(t) = z0 + vz t + g t^2 / 2 = 0.
            vz, z0 = velocity[2], ball.position[2]
            t = (-vz + np.sqrt(max(vz * vz - 2 * GRAVITY * z0, 0.0))) / GRAVITY
            return ball.position[:2] + velocity[:2] * t
        speed = float(np.linalg.norm(velocity[:2]))
        stop = speed * speed / (2 * ROLLING_DECELERATION)
        return ball.position[:2] + velocity[:2] / max(speed, 1e-6) * min(stop, 12.0)

    def _move_athletes(self, targets: np.ndarray, urgency: np.ndarray) -> None:
        dt = self.dt
        offset = targets - self.position
        distance = np.linalg.norm(offset, axis=1, keepdims=True)
        direction = offset / np.maximum(distance, 1e-6)
        # Slow down on arrival; jog into shape, sprint when urgent.
        desired_speed = np.minimum(self.top_speed * urgency, 1.1 * distance[:, 0])
        desired = direction * desired_speed[:, None]
        # Keep a body's width apart: players bunch but do not stand inside each other.
        gaps = self.position[:, None, :] - self.position[None, :, :]
        gap_length = np.linalg.norm(gaps, axis=2) + np.eye(len(self.position)) * 1e3
        push = np.clip(1.0 - gap_length, 0, None)[:, :, None] * gaps / gap_length[:, :, None]
        desired += push.sum(axis=1) * 3.0
        change = desired - self.velocity
        change_length = np.linalg.norm(change, axis=1, keepdims=True)
        max_change = 4.5 * dt
        self.velocity += change * np.minimum(1.0, max_change / np.maximum(change_length, 1e-9))
        self.position += self.velocity * dt
        speed = np.linalg.norm(self.velocity, axis=1)
        self.phase = (self.phase + 2 * np.pi * speed * dt / STRIDE_LENGTH) % (2 * np.pi)
        # Face where you run; when (almost) still, face the ball.
        ball_direction = self.ball.position[:2] - self.position
        wanted = np.where(
            speed > 1.2,
            np.arctan2(self.velocity[:, 1], self.velocity[:, 0]),
            np.arctan2(ball_direction[:, 1], ball_direction[:, 0]),
        )
        turn = (wanted - self.facing + np.pi) % (2 * np.pi) - np.pi
        self.facing = (self.facing + np.clip(turn, -6.0 * dt, 6.0 * dt) + np.pi) % (2 * np.pi) - np.pi

    def step(self) -> None:
        """Advance the match by one frame."""
        targets, urgency = self._targets()
        self._move_athletes(targets, urgency)
        self._update_ball()
        self.frame += 1

    @property
    def possession_team(self) -> int:
        return int(self.team[self.ball.owner]) if self.ball.owner >= 0 else -1
