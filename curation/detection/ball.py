"""The ball track of a clip: one ball per frame, implausible jumps dropped, short gaps filled.

The detector sees the ball in some frames and not others (hidden by a player, blurred by a kick,
too small). :func:`follow_ball` turns per-frame candidates into one trajectory:

1. per frame, the most confident candidate;
2. a candidate that jumps further from *both* its neighbours than the ball can travel is dropped
   (a white sock, a penalty mark: the ball does not teleport and come back);
3. a gap of at most ``max_gap_s`` between two kept detections is filled by linear
   interpolation of the box, flagged ``interpolated`` (a pass is close to a straight line over a
   fraction of a second; longer gaps are left empty rather than guessed).
"""

from __future__ import annotations

import numpy as np

from soccerfactory.curation.types import BALL, Detections

__all__ = ["best_ball_per_frame", "follow_ball"]


def best_ball_per_frame(detections: Detections) -> Detections:
    """The most confident ``BALL`` row of each frame, sorted by frame."""
    balls = detections[detections.class_id == BALL]
    if len(balls) == 0:
        return balls
    order = np.lexsort((-balls.confidence, balls.frame_index))
    balls = balls[order]
    first = np.ones(len(balls), dtype=bool)
    first[1:] = balls.frame_index[1:] != balls.frame_index[:-1]
    return balls[first]


def follow_ball(
    candidates: Detections,
    fps: float,
    frame_width: int,
    max_gap_s: float = 0.4,
    max_speed: float = 1.5,
    frame_step: int = 1,
) -> Detections:
    """One ball per frame for a clip, with short gaps interpolated.

    Args:
        candidates: Boxes of any class over the clip's frames; only ``BALL`` rows are used.
        fps: Frame rate of the source (to turn seconds into frames).
        frame_width: Frame width in pixels; speeds are in frame widths per second, so the limit
            holds at any resolution.
        max_gap_s: Longest gap (seconds) filled by interpolation.
        max_speed: Fastest plausible ball motion in the image, frame widths per second
            (a 30 m/s shot across a wide view is ~0.5; the camera's own pan adds to it).
        frame_step: Frame index step between curated frames (the spatial stride).

    Returns:
        Ball rows sorted by frame, at most one per frame, ``data["interpolated"]`` (``bool``
        ``(N,)``) True for filled-in rows, whose confidence is the lower of the two detections
        they were interpolated between.
    """
    if fps <= 0 or frame_width <= 0 or max_gap_s < 0 or max_speed <= 0 or frame_step < 1:
        raise ValueError(
            f"follow_ball needs fps, frame_width, max_speed > 0, max_gap_s >= 0, frame_step >= 1; "
            f"got fps={fps}, frame_width={frame_width}, max_gap_s={max_gap_s}, max_speed={max_speed}, frame_step={frame_step}"
        )
    balls = best_ball_per_frame(candidates)
    if len(balls) == 0:
        return balls.with_data(interpolated=np.zeros(0, dtype=bool))
    # Pixels the ball may move per frame index.
    reach = max_speed * frame_width / fps
    centres = balls.centers
    frames = balls.frame_index
    keep = np.ones(len(balls), dtype=bool)
    if len(balls) >= 3:
        gap_prev = np.diff(frames)[:-1]
        gap_next = np.diff(frames)[1:]
        jump_prev = np.linalg.norm(centres[1:-1] - centres[:-2], axis=1)
        jump_next = np.linalg.norm(centres[1:-1] - centres[2:], axis=1)
        neighbours_agree = np.linalg.norm(centres[2:] - centres[:-2], axis=1) <= reach * (gap_prev + gap_next)
        outlier = (jump_prev > reach * gap_prev) & (jump_next > reach * gap_next) & neighbours_agree
        keep[1:-1] = ~outlier
    balls = balls[keep]
    xyxy, confidence, frames, centres = balls.xyxy, balls.confidence, balls.frame_index, centres[keep]

    max_gap = int(np.floor(max_gap_s * fps / frame_step)) * frame_step
    new_boxes, new_conf, new_frames = [], [], []
    for i in range(len(balls) - 1):
        gap = int(frames[i + 1] - frames[i])
        if gap <= frame_step or gap - frame_step > max_gap:
            continue
        distance = float(np.linalg.norm(centres[i + 1] - centres[i]))
        if distance > reach * gap:
            continue
        inner = np.arange(frames[i] + frame_step, frames[i + 1], frame_step)
        weight = ((inner - frames[i]) / gap)[:, None]
        new_boxes.append((1 - weight) * xyxy[i] + weight * xyxy[i + 1])
        new_conf.append(np.full(len(inner), min(confidence[i], confidence[i + 1])))
        new_frames.append(inner)
    if not new_frames:
        return balls.with_data(interpolated=np.zeros(len(balls), dtype=bool))
    filled = Detections(
        xyxy=np.concatenate(new_boxes),
        confidence=np.concatenate(new_conf),
        class_id=np.full(sum(len(f) for f in new_frames), BALL),
        frame_index=np.concatenate(new_frames),
    )
    merged = Detections.merge([Detections(xyxy, confidence, balls.class_id, frames), filled])
    interpolated = np.concatenate([np.zeros(len(balls), dtype=bool), np.ones(len(filled), dtype=bool)])
    order = np.argsort(merged.frame_index, kind="stable")
    return merged[order].with_data(interpolated=interpolated[order])
