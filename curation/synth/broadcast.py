"""The main broadcast camera: fixed high in the stand by the halfway line, panning, tilting and
zooming to follow play the way a camera operator does (smoothly, a little behind the ball)."""

from __future__ import annotations

import numpy as np

from soccerfactory.curation.camera import Camera
from soccerfactory.curation.pitch import PitchModel

__all__ = ["BroadcastCameraOperator"]


class BroadcastCameraOperator:
    """Chooses the camera of each frame.

    The camera stands ``back`` metres behind the near touchline and ``height`` metres up, near the
    halfway line (drawn from ``rng``). Its aim point on the grass follows the ball through a
    critically damped spring, so pans accelerate and settle like a fluid head; the zoom keeps a
    play-dependent width of pitch in view, giving focal lengths of broadcast wide shots.
    """

    def __init__(self, pitch: PitchModel, width: int, height: int, fps: float, rng: np.random.Generator, distortion: float = 0.0) -> None:
        self.pitch = pitch
        self.width = width
        self.height = height
        self.dt = 1.0 / fps
        self.position = np.array([rng.uniform(-4.0, 4.0), pitch.half_width + rng.uniform(18.0, 32.0), -rng.uniform(14.0, 22.0)])
        self.base_view_width = rng.uniform(34.0, 46.0)  # metres of pitch across the image at the aim point
        self.stiffness = rng.uniform(1.4, 2.0)  # spring's natural frequency, rad/s
        self.dist = np.array([distortion, 0.0, 0.0, 0.0]) if distortion else np.zeros(0)
        self._aim: np.ndarray | None = None
        self._aim_velocity = np.zeros(2)
        self._view_width: float | None = None

    @property
    def view_width(self) -> float:
        """Metres of pitch across the image at the aim point, as of the last ``update``."""
        return float(self._view_width if self._view_width is not None else self.base_view_width)

    @property
    def aim(self) -> np.ndarray:
        """The (x, y) pitch point the camera aimed at in the last ``update``, metres."""
        return np.zeros(2) if self._aim is None else self._aim.copy()

    def _wanted_aim(self, ball_xy: np.ndarray, ball_velocity_xy: np.ndarray) -> np.ndarray:
        hl, hw = self.pitch.half_length, self.pitch.half_width
        lead = np.clip(ball_velocity_xy * 0.35, -6, 6)
        aim = np.array([ball_xy[0] + lead[0], 0.7 * ball_xy[1] + lead[1] * 0.5 + 2.0])
        return np.clip(aim, [-hl + 6, -hw + 6], [hl - 6, hw - 6])

    def update(self, ball_xy: np.ndarray, ball_velocity_xy: np.ndarray) -> Camera:
        """The camera of the next frame, given where the ball is and how it moves."""
        wanted = self._wanted_aim(np.asarray(ball_xy, float), np.asarray(ball_velocity_xy, float))
        ball_speed = float(np.linalg.norm(ball_velocity_xy))
        wanted_width = self.base_view_width + min(ball_speed, 20.0) * 0.6
        if self._aim is None:
            self._aim = wanted.copy()
            self._view_width = wanted_width
        else:
            omega = self.stiffness
            acceleration = omega * omega * (wanted - self._aim) - 2 * omega * self._aim_velocity
            self._aim_velocity = np.clip(self._aim_velocity + acceleration * self.dt, -25, 25)
            self._aim = self._aim + self._aim_velocity * self.dt
            self._view_width += (wanted_width - self._view_width) * min(1.0, 0.8 * self.dt)
        target = np.array([self._aim[0], self._aim[1], 0.0])
        distance = float(np.linalg.norm(target - self.position))
        focal = self.width * distance / self._view_width
        # Stay within the zoom range of broadcast lenses: 8 to 60 degrees horizontal field of view.
        focal = float(np.clip(focal, self.width / (2 * np.tan(np.radians(30))), self.width / (2 * np.tan(np.radians(4)))))
        camera = Camera.look_at(self.position, target, focal, (self.width, self.height))
        if self.dist.size:
            camera = Camera(K=camera.K, R=camera.R, position=camera.position, image_size=camera.image_size, dist=self.dist)
        return camera
