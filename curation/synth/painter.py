"""Draws one broadcast frame and, alongside it, a label image that says which athlete owns each pixel.

The label image is the ground truth: masks and visible boxes are read from it after every layer
(occlusion, lens distortion) has been applied, so labels and pixels cannot disagree.

Pitch markings are drawn as projected polygons with anti-aliasing rather than sampled from a
texture: far lines are thinner than a pixel at 720p, and a texture would alias them away.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from soccerfactory.curation.camera import Camera
from soccerfactory.curation.pitch import GOAL_DEPTH, GOAL_HEIGHT, GOAL_WIDTH, PitchModel
from soccerfactory.curation.synth.world import BALL_RADIUS, Athlete

__all__ = ["BroadcastPainter", "PaintedFrame", "AthletePose"]

LINE_COLOUR = (236, 240, 238)
_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_SCALE = float(1 << _SHIFT)
STAND_DISTANCE = 6.0  # metres from the far touchline to the advertising boards
GROUND_PPM = 4.0  # grass texture resolution, pixels per metre (stripes only; lines are vector)
STAND_PPM = 8.0


@dataclass(frozen=True)
class AthletePose:
    """Where an athlete is and how they move in this frame (world metres, radians)."""

    x: float
    y: float
    facing: float
    speed: float
    phase: float


@dataclass
class PaintedFrame:
    """One rendered frame.

    Attributes:
        image: uint8 (H, W, 3) BGR.
        labels: int16 (H, W); 0 = background, k = the k-th athlete (1-based, in the order given
            to ``paint``), ``ball_label`` = the ball.
        rois: per label, the (x0, y0, x1, y1) pixel window (x1, y1 exclusive) that holds every
            pixel it may own, or None when it was not drawn.
        back_visible: per athlete, whether the camera sees their back (jersey number side).
        number_height_px: per athlete, the drawn height of the number in pixels (0 if not drawn).
        amodal_boxes: per athlete, the xyxy pixel box of the whole body, hidden parts and parts
            outside the image included, or None when the athlete was not drawn.
    """

    image: np.ndarray
    labels: np.ndarray
    rois: list[tuple[int, int, int, int] | None]
    back_visible: np.ndarray
    number_height_px: np.ndarray
    ball_label: int
    amodal_boxes: list[tuple[float, float, float, float] | None]


def _fixed(points: np.ndarray) -> np.ndarray:
    # Clamp first: OpenCV's int32 fixed-point overflows for points projected far off-screen.
    return np.round(np.clip(points, -1e5, 1e5) * _SCALE).astype(np.int32)


def _clip_polygon(polygon: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Keep the part of a convex polygon where ``line . (x, y, 1) >= 0`` (Sutherland-Hodgman)."""
    if len(polygon) == 0:
        return polygon
    homogeneous = np.column_stack([polygon, np.ones(len(polygon))])
    side = homogeneous @ line
    result = []
    for i in range(len(polygon)):
        j = (i + 1) % len(polygon)
        if side[i] >= 0:
            result.append(polygon[i])
        if (side[i] >= 0) != (side[j] >= 0):
            t = side[i] / (side[i] - side[j])
            result.append(polygon[i] + t * (polygon[j] - polygon[i]))
    return np.asarray(result, dtype=np.float64).reshape(-1, 2)


class BroadcastPainter:
    """Renders frames of one clip; textures and colours are fixed at construction from ``rng``."""

    def __init__(self, pitch: PitchModel, width: int, height: int, rng: np.random.Generator, athletes: list[Athlete]) -> None:
        self.pitch = pitch
        self.width = width
        self.height = height
        self.athletes = athletes
        self.ball_label = len(athletes) + 1
        self._grass_texture, self._grass_origin = self._make_grass(rng)
        self._stand_texture, self._stand_origin = self._make_stand(rng)
        self._surround = tuple(int(c) for c in self._grass_texture[0, 0])
        self._line_bands = self._marking_polygons()
        self._image = np.zeros((height, width, 3), np.uint8)
        self._labels = np.zeros((height, width), np.int16)

    # ------------------------------------------------------------------ textures
    def _make_grass(self, rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float]]:
        hl, hw = self.pitch.half_length, self.pitch.half_width
        x0, y0 = -hl - 15.0, -hw - STAND_DISTANCE
        x1, y1 = hl + 15.0, hw + 25.0
        cols, rows = int((x1 - x0) * GROUND_PPM), int((y1 - y0) * GROUND_PPM)
        base = np.array([rng.uniform(55, 75), rng.uniform(125, 150), rng.uniform(60, 85)])  # BGR green
        xs = x0 + (np.arange(cols) + 0.5) / GROUND_PPM
        stripe_width = self.pitch.length / rng.choice([18, 20, 22])
        stripe = (np.floor((xs + hl) / stripe_width) % 2 == 0).astype(np.float64)
        texture = np.empty((rows, cols, 3), np.float64)
        texture[:] = base
        texture *= (1.0 + 0.10 * stripe)[None, :, None]
        # Low-frequency wear and a fine grain, so the grass is not a flat colour.
        wear = cv2.resize(rng.normal(0, 1, (max(rows // 24, 2), max(cols // 24, 2))), (cols, rows), interpolation=cv2.INTER_CUBIC)
        texture *= (1.0 + 0.04 * wear)[:, :, None]
        texture += rng.normal(0, 3.0, (rows, cols, 1))
        ys = y0 + (np.arange(rows) + 0.5) / GROUND_PPM
        outside = (np.abs(xs)[None, :] > hl + 2.5) | (np.abs(ys)[:, None] > hw + 2.5)
        texture[outside] *= 0.86  # run-off grass is unstriped and duller
        return np.clip(texture, 0, 255).astype(np.uint8), (x0, y0)

    def _make_stand(self, rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float]]:
        hl = self.pitch.half_length
        x0, x1, top = -hl - 60.0, hl + 60.0, 45.0
        cols, rows = int((x1 - x0) * STAND_PPM), int(top * STAND_PPM)
        # Crowd: muted coloured blobs, tier by tier.
        crowd = rng.integers(20, 200, (rows // 3 + 1, cols // 3 + 1, 3)).astype(np.float64)
        crowd = cv2.resize(crowd, (cols, rows), interpolation=cv2.INTER_NEAREST) * 0.7
        tiers = (np.arange(rows) // int(2.2 * STAND_PPM)) % 2 == 0
        crowd[tiers] *= 0.8
        texture = crowd.astype(np.uint8)
        board_rows = int(0.9 * STAND_PPM)
        gap_rows = int(2.0 * STAND_PPM)
        texture[rows - gap_rows - board_rows : rows - board_rows] = (70, 70, 75)
        board = texture[rows - board_rows :]
        panel_colours = [(200, 60, 20), (20, 20, 200), (240, 240, 240), (20, 180, 240), (40, 40, 40)]
        panel_words = ["SOCCERFACTORY", "OPEN DATA", "CC BY 4.0", "PREFECT", "DUCKDB", "PARQUET"]
        panel_px = int(10.0 * STAND_PPM)
        for k, start in enumerate(range(0, cols, panel_px)):
            colour = panel_colours[int(rng.integers(len(panel_colours)))]
            board[:, start : start + panel_px] = colour
            text_colour = (20, 20, 20) if sum(colour) > 400 else (245, 245, 245)
            word = panel_words[k % len(panel_words)]
            cv2.putText(board, word, (start + 4, board_rows - 2), cv2.FONT_HERSHEY_SIMPLEX, board_rows / 32, text_colour, 1, cv2.LINE_AA)
        return texture, (x0, top)

    def _marking_polygons(self) -> tuple[np.ndarray, np.ndarray]:
        """The painted markings as ground polygons in metres (z=0): (B, 4, 2) bands, (S, 16, 2) spots."""
        half = self.pitch.line_width / 2
        bands = []
        for polyline in self.pitch.ground_markings.values():
            for start, end in zip(polyline[:-1], polyline[1:]):
                direction = end - start
                length = np.linalg.norm(direction)
                if length == 0:
                    continue
                normal = np.array([-direction[1], direction[0]]) / length * half
                # Extend by half a line width so corners close without gaps.
                along = direction / length * half
                a, b = start - along, end + along
                bands.append(np.array([a + normal, b + normal, b - normal, a - normal]))
        angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        disc = 0.11 * np.column_stack([np.cos(angles), np.sin(angles)])
        spots = np.stack([centre + disc for centre in self.pitch.spot_marks])
        return np.asarray(bands), spots

    # ------------------------------------------------------------------ layers
    def _ground_region(self, camera: Camera) -> np.ndarray:
        """Image polygon where the grass is seen: below the horizon and in front of the stand."""
        H = camera.homography
        H_inv_T = np.linalg.inv(H).T
        horizon = H_inv_T @ np.array([0.0, 0.0, 1.0])
        stand_base = H_inv_T @ np.array([0.0, 1.0, self.pitch.half_width + STAND_DISTANCE])
        reference = H @ np.array([0.0, 0.0, 1.0])  # the centre mark is on the grass side of both
        polygon = np.array([[0, 0], [self.width, 0], [self.width, self.height], [0, self.height]], np.float64)
        for line in (horizon, stand_base):
            if line @ reference < 0:
                line = -line
            polygon = _clip_polygon(polygon, line)
        return polygon

    def _draw_background(self, camera: Camera) -> None:
        H = camera.homography
        gx0, gy0 = self._grass_origin
        grass_to_pitch = np.array([[1 / GROUND_PPM, 0, gx0], [0, 1 / GROUND_PPM, gy0], [0, 0, 1]])
        image = self._image
        # Grass has no detail finer than its texture (4 px/m), so warping at half resolution and
        # upsampling loses nothing visible and saves most of the cost of the largest layer.
        half = np.diag([0.5, 0.5, 1.0])
        small = cv2.warpPerspective(self._grass_texture, half @ H @ grass_to_pitch, (self.width // 2, self.height // 2), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=self._surround)
        cv2.resize(small, (self.width, self.height), dst=image, interpolation=cv2.INTER_LINEAR)
        stand_rows = int(np.ceil(self._stand_base_rows(camera).max()))
        if stand_rows <= 0:
            return  # the grass fills the frame
        region = self._ground_region(camera)
        # Stand plane y = y_s, parametrised by (x, height above grass, 1) -> pixels.
        K, R, C = camera.K, camera.R, camera.position
        y_s = -self.pitch.half_width - STAND_DISTANCE
        stand_h = K @ np.column_stack([R[:, 0], -R[:, 2], R @ (np.array([0.0, y_s, 0.0]) - C)])
        sx0, top = self._stand_origin
        stand_to_plane = np.array([[1 / STAND_PPM, 0, sx0], [0, -1 / STAND_PPM, top], [0, 0, 1]])
        # Only the band above the grass needs the stand: warp just those rows.
        band_rows = int(np.clip(stand_rows + 2, 1, self.height))
        stand = cv2.warpPerspective(self._stand_texture, stand_h @ stand_to_plane, (self.width, band_rows), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(40, 40, 45))
        grass_mask = np.zeros((band_rows, self.width), np.uint8)
        if len(region) >= 3:
            cv2.fillPoly(grass_mask, [_fixed(region)], 1, cv2.LINE_8, _SHIFT)
        cv2.copyTo(stand, 1 - grass_mask, image[:band_rows])

    def _stand_base_rows(self, camera: Camera) -> np.ndarray:
        y_s = -self.pitch.half_width - STAND_DISTANCE
        xs = np.linspace(-self.pitch.half_length - 60, self.pitch.half_length + 60, 9)
        points = np.column_stack([xs, np.full_like(xs, y_s)])
        ok = camera.depth(points) > 0
        if not ok.any():
            return np.array([self.height])
        return np.clip(camera.project(points[ok])[:, 1], 0, self.height)

    def _draw_markings(self, camera: Camera) -> None:
        H = camera.homography
        polygons = []
        for shapes in self._line_bands:
            homogeneous = np.concatenate([shapes, np.ones(shapes.shape[:2] + (1,))], axis=2) @ H.T
            in_front = np.all(homogeneous[:, :, 2] > 0, axis=1)
            pixels = homogeneous[in_front, :, :2] / homogeneous[in_front, :, 2:3]
            lo, hi = pixels.min(axis=1), pixels.max(axis=1)
            on_screen = (hi[:, 0] >= -2) & (lo[:, 0] <= self.width + 2) & (hi[:, 1] >= -2) & (lo[:, 1] <= self.height + 2)
            polygons.extend(_fixed(pixels[on_screen]))
        if polygons:
            cv2.fillPoly(self._image, polygons, LINE_COLOUR, cv2.LINE_AA, _SHIFT)

    def _draw_goals(self, camera: Camera) -> None:
        hl, gw = self.pitch.half_length, GOAL_WIDTH / 2
        for sign in (-1.0, 1.0):
            x, back = sign * hl, sign * (hl + GOAL_DEPTH)
            frame = np.array([[x, -gw, 0], [x, -gw, -GOAL_HEIGHT], [x, gw, -GOAL_HEIGHT], [x, gw, 0]])
            if np.any(camera.depth(frame) <= 0):
                continue
            net = []
            for t in np.linspace(0, 1, 9):
                y = -gw + t * 2 * gw
                net += [((x, y, -GOAL_HEIGHT), (back, y, -GOAL_HEIGHT * 0.7)), ((back, y, -GOAL_HEIGHT * 0.7), (back, y, 0))]
            for t in np.linspace(0, 1, 4):
                z = -GOAL_HEIGHT * 0.7 * t
                net.append(((back, -gw, z), (back, gw, z)))
            net += [((x, -gw, -GOAL_HEIGHT), (back, -gw, -GOAL_HEIGHT * 0.7)), ((x, gw, -GOAL_HEIGHT), (back, gw, -GOAL_HEIGHT * 0.7))]
            segments = np.array(net, dtype=np.float64).reshape(-1, 3)
            pixels = _fixed(camera.project(segments)).reshape(-1, 2, 2)
            cv2.polylines(self._image, list(pixels), False, (200, 200, 200), 1, cv2.LINE_AA, _SHIFT)
            scale = float(camera.K[0, 0] / max(camera.depth(frame[:1])[0], 1.0))
            thickness = max(int(round(0.12 * scale)), 1)
            cv2.polylines(self._image, [_fixed(camera.project(frame))], False, (245, 245, 245), thickness, cv2.LINE_AA, _SHIFT)

    # ------------------------------------------------------------------ athletes
    def _athlete_polygons(self, camera: Camera, athlete: Athlete, pose: AthletePose):
        """Body parts as image polygons grouped by colour, plus the number placement."""
        foot = np.array([pose.x, pose.y, 0.0])
        head = np.array([pose.x, pose.y, -athlete.height_m])
        p_foot, p_head = camera.project(np.stack([foot, head]))
        up = (p_head - p_foot) / athlete.height_m  # pixels per metre along the body
        depth = float(camera.depth(foot[None])[0])
        across = float(camera.K[0, 0]) / depth  # pixels per metre sideways
        up_norm = np.linalg.norm(up)
        side = np.array([-up[1], up[0]]) / max(up_norm, 1e-9)
        if side[0] < 0:
            side = -side
        view = foot[:2] - camera.position[:2]
        view /= max(np.linalg.norm(view), 1e-9)
        heading = np.array([np.cos(pose.facing), np.sin(pose.facing)])
        toward_back = float(heading @ view)  # +1: back to the camera, -1: facing it
        sideways = float(np.sqrt(max(0.0, 1 - toward_back**2)))
        # Which way "forward" goes in the image when seen side-on.
        forward_sign = 1.0 if view[0] * heading[1] - view[1] * heading[0] < 0 else -1.0
        stride = min(pose.speed / 5.0, 1.0)
        swing = np.sin(pose.phase)

        colours: list[tuple[int, int, int]] = []
        quads: list[tuple[float, ...]] = []

        def add(colour, a0, b0, a1, b1, half0, half1):
            # A limb or trunk segment: centre a0 at height b0 to centre a1 at height b1 (metres).
            colours.append(colour)
            quads.append((a0 - half0, b0, a0 + half0, b0, a1 + half1, b1, a1 - half1, b1))

        h = athlete.height_m / 1.82  # scale the body plan to this athlete
        shoulder = (0.13 + 0.10 * abs(toward_back)) * h
        hip = (0.10 + 0.06 * abs(toward_back)) * h
        for sign in (-1.0, 1.0):
            offset = sign * swing * 0.32 * stride * sideways * forward_sign
            lift = max(0.0, sign * swing) * 0.15 * stride
            hip_a = sign * hip * 0.55
            foot_a = hip_a * 0.6 + offset
            knee_a = (hip_a + foot_a) / 2 + offset * 0.2
            add(athlete.shorts, hip_a, 0.93 * h, knee_a, 0.62 * h, 0.075 * h, 0.06 * h)
            add(athlete.legs or athlete.skin, knee_a, 0.62 * h, knee_a, 0.46 * h, 0.06 * h, 0.055 * h)
            add(athlete.socks, knee_a, 0.47 * h, foot_a, 0.07 * h + lift, 0.055 * h, 0.045 * h)
            add((25, 25, 25), foot_a, 0.08 * h + lift, foot_a + 0.08 * forward_sign * sideways, lift, 0.05 * h, 0.06 * h)
        add(athlete.shorts, 0.0, 0.98 * h, 0.0, 0.78 * h, hip * 1.15, hip * 1.2)
        add(athlete.shirt, 0.0, 1.48 * h, 0.0, 0.95 * h, shoulder, hip * 1.1)
        for sign in (-1.0, 1.0):
            offset = -sign * swing * 0.22 * stride * sideways * forward_sign
            shoulder_a = sign * shoulder * 0.95
            elbow_a = shoulder_a + sign * 0.05 + offset * 0.5
            hand_a = shoulder_a + sign * 0.06 + offset
            add(athlete.sleeves or athlete.shirt, shoulder_a, 1.46 * h, elbow_a, 1.20 * h, 0.055 * h, 0.05 * h)
            add(athlete.sleeves or athlete.skin, elbow_a, 1.21 * h, hand_a, 0.92 * h, 0.045 * h, 0.04 * h)
        add(athlete.skin, 0.0, 1.55 * h, 0.0, 1.46 * h, 0.05 * h, 0.05 * h)
        extra = np.array([[0.0, athlete.height_m - 0.115 * h], [0.0, 1.24 * h]])
        ab = np.concatenate([np.asarray(quads, np.float64).reshape(-1, 2), extra])
        pixels = p_foot + ab[:, 1:2] * up + ab[:, 0:1] * (side * across)
        polygons = pixels[:-2].reshape(-1, 4, 2)
        parts: dict[tuple[int, int, int], list[np.ndarray]] = {}
        for colour, polygon in zip(colours, polygons):
            parts.setdefault(colour, []).append(polygon)
        head_centre, number_centre = pixels[-2], pixels[-1]
        head_radius = max(0.105 * h * across, 0.5)
        number = None
        if athlete.jersey >= 0 and toward_back > 0.35:
            number = (number_centre, float(0.24 * h * up_norm))
        return parts, head_centre, head_radius, number, toward_back

    def _draw_athlete(self, camera: Camera, label: int, athlete: Athlete, pose: AthletePose):
        parts, head_centre, head_radius, number, toward_back = self._athlete_polygons(camera, athlete, pose)
        all_points = np.concatenate([np.concatenate(polys) for polys in parts.values()] + [head_centre[None] + [[-head_radius, -head_radius], [head_radius, head_radius]]])
        lo, hi = all_points.min(axis=0), all_points.max(axis=0)
        x0, y0 = np.floor(lo).astype(int) - 1
        x1, y1 = np.ceil(hi).astype(int) + 2
        if x1 <= 0 or y1 <= 0 or x0 >= self.width or y0 >= self.height:
            return None, None, toward_back > 0.35, 0.0
        image, labels = self._image, self._labels
        for colour, polygons in parts.items():
            fixed = [_fixed(p) for p in polygons]
            cv2.fillPoly(image, fixed, colour, cv2.LINE_8, _SHIFT)
            cv2.fillPoly(labels, fixed, label, cv2.LINE_8, _SHIFT)
        centre = tuple(_fixed(head_centre))
        radius = int(round(head_radius * _SCALE))
        cv2.circle(image, centre, radius, athlete.skin, -1, cv2.LINE_8, _SHIFT)
        cv2.circle(labels, centre, radius, label, -1, cv2.LINE_8, _SHIFT)
        hair_axes = (radius, int(radius * 0.55)) if toward_back < 0.35 else (radius, radius)
        cv2.ellipse(image, centre, hair_axes, 0, 180, 360, athlete.hair, -1, cv2.LINE_8, _SHIFT)
        number_height = 0.0
        if number is not None:
            number_centre, height_px = number
            if height_px >= 2.5:
                text = str(athlete.jersey)
                scale = height_px / 22.0
                thickness = max(int(round(scale * 2.2)), 1)
                (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
                origin = (int(round(number_centre[0] - tw / 2)), int(round(number_centre[1] + th / 2)))
                cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, athlete.number_colour, thickness, cv2.LINE_AA)
                number_height = height_px
        roi = (max(x0, 0), max(y0, 0), min(x1, self.width), min(y1, self.height))
        amodal = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
        return roi, amodal, toward_back > 0.35, number_height

    def _draw_shadows(self, camera: Camera, poses: list[AthletePose], ball_xyz: np.ndarray) -> None:
        shadow = np.zeros((self.height, self.width), np.uint8)
        centres = [(p.x + 0.25, p.y + 0.1, 0.35) for p in poses] + [(ball_xyz[0], ball_xyz[1], 0.12)]
        for x, y, radius in centres:
            ring = np.array([[x - radius, y, 0], [x + radius, y, 0], [x, y - radius * 0.6, 0], [x, y + radius * 0.6, 0]])
            if np.any(camera.depth(ring) <= 0):
                continue
            pixels = camera.project(ring)
            centre = pixels.mean(axis=0)
            axes = (max(abs(pixels[1, 0] - pixels[0, 0]) / 2, 1.0), max(abs(pixels[3, 1] - pixels[2, 1]) / 2, 0.5))
            cv2.ellipse(shadow, tuple(_fixed(centre)), (int(axes[0] * _SCALE), int(axes[1] * _SCALE)), 0, 0, 360, 1, -1, cv2.LINE_8, _SHIFT)
        darker = cv2.convertScaleAbs(self._image, alpha=0.62)
        cv2.copyTo(darker, shadow, self._image)

    def _draw_ball(self, camera: Camera, ball_xyz: np.ndarray):
        centre3 = np.asarray(ball_xyz, np.float64) - np.array([0.0, 0.0, BALL_RADIUS])
        depth = float(camera.depth(centre3[None])[0])
        if depth <= 0.5:
            return None
        pixel = camera.project(centre3[None])[0]
        radius = BALL_RADIUS * float(camera.K[0, 0]) / depth
        if pixel[0] + radius < 0 or pixel[1] + radius < 0 or pixel[0] - radius >= self.width or pixel[1] - radius >= self.height:
            return None
        centre = tuple(_fixed(pixel))
        fixed_radius = max(int(round(radius * _SCALE)), int(0.6 * _SCALE))
        cv2.circle(self._image, centre, fixed_radius, (236, 238, 240), -1, cv2.LINE_8, _SHIFT)
        cv2.circle(self._labels, centre, fixed_radius, self.ball_label, -1, cv2.LINE_8, _SHIFT)
        if radius >= 3:
            spot = tuple(_fixed(pixel + radius * 0.25))
            cv2.circle(self._image, spot, int(radius * 0.35 * _SCALE), (60, 60, 60), -1, cv2.LINE_AA, _SHIFT)
        r = int(np.ceil(radius)) + 2
        x, y = int(pixel[0]), int(pixel[1])
        return (max(x - r, 0), max(y - r, 0), min(x + r + 1, self.width), min(y + r + 1, self.height))

    # ------------------------------------------------------------------ frame
    def paint(self, camera: Camera, poses: list[AthletePose], ball_xyz: np.ndarray) -> PaintedFrame:
        """Render one frame seen by ``camera``.

        Args:
            camera: the broadcast camera of this frame; its ``dist`` is applied last.
            poses: one per athlete, in the order of ``self.athletes``.
            ball_xyz: float (3,) ball centre-bottom in world metres (z <= 0 when in the air).
        """
        self._labels.fill(0)
        pinhole = Camera(K=camera.K, R=camera.R, position=camera.position, image_size=camera.image_size)
        self._draw_background(pinhole)
        self._draw_markings(pinhole)
        self._draw_shadows(pinhole, poses, ball_xyz)
        self._draw_goals(pinhole)
        count = len(poses)
        rois: list[tuple[int, int, int, int] | None] = [None] * (count + 1)
        back_visible = np.zeros(count, bool)
        number_height = np.zeros(count, np.float64)
        amodal: list[tuple[float, float, float, float] | None] = [None] * count
        depths = pinhole.depth(np.array([[p.x, p.y, 0.0] for p in poses]))
        ball_depth = float(pinhole.depth(np.asarray(ball_xyz, float)[None])[0])
        # Painter's algorithm: far to near, so nearer bodies overwrite and own the pixels.
        order = list(np.argsort(-np.append(depths, ball_depth), kind="stable"))
        for index in order:
            if index == count:
                rois[count] = self._draw_ball(pinhole, ball_xyz)
                continue
            if depths[index] <= 1.0:
                continue
            rois[index], amodal[index], back_visible[index], number_height[index] = self._draw_athlete(
                pinhole, int(index) + 1, self.athletes[index], poses[index]
            )
        image, labels = self._image, self._labels
        if camera.dist.size and camera.dist.any():
            image, labels, rois = self._distort(camera, rois)
            amodal = [None if box is None else _distorted_box(camera, box) for box in amodal]
        return PaintedFrame(
            image=image, labels=labels, rois=rois, back_visible=back_visible, number_height_px=number_height,
            ball_label=self.ball_label, amodal_boxes=amodal,
        )

    def _distort(self, camera: Camera, rois):
        """Resample the pinhole image as the real lens would show it; labels follow exactly."""
        step = 8
        # Sample the map where cv2.resize puts its source pixels (cell centres), so upsampling
        # by ``step`` lands every coarse sample back on the pixel it was computed for.
        xs = (np.arange(-(-self.width // step) + 1) + 0.5) * step - 0.5
        ys = (np.arange(-(-self.height // step) + 1) + 0.5) * step - 0.5
        grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
        source = camera.undistort_pixels(grid).reshape(len(ys), len(xs), 2).astype(np.float32)
        full = cv2.resize(source, (len(xs) * step, len(ys) * step), interpolation=cv2.INTER_LINEAR)[: self.height, : self.width]
        map_x, map_y = np.ascontiguousarray(full[..., 0]), np.ascontiguousarray(full[..., 1])
        image = cv2.remap(self._image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        labels = cv2.remap(self._labels, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        moved = []
        for roi in rois:
            if roi is None:
                moved.append(None)
                continue
            x0, y0, x1, y1 = _distorted_box(camera, roi)
            lo = (int(np.floor(x0)) - 3, int(np.floor(y0)) - 3)
            hi = (int(np.ceil(x1)) + 4, int(np.ceil(y1)) + 4)
            moved.append((max(lo[0], 0), max(lo[1], 0), min(hi[0], self.width), min(hi[1], self.height)))
        return image, labels, moved


def _distorted_box(camera: Camera, box) -> tuple[float, float, float, float]:
    """The box that holds ``box`` (pinhole pixels) once the lens distortion is applied."""
    x0, y0, x1, y1 = box
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    outline = np.array([[x0, y0], [xm, y0], [x1, y0], [x1, ym], [x1, y1], [xm, y1], [x0, y1], [x0, ym]], np.float64)
    pixels = camera.distort_pixels(outline)
    lo, hi = pixels.min(axis=0), pixels.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

