"""Someone in a team's kit standing beyond a line: a player who stepped out, or staff in club colours.

A player does leave the pitch: to fetch the ball, to take a throw-in (feet on or just behind the
touchline), to run round an advertising board. So the clip rule of
:func:`~.relational.decide_roles` that makes ``other`` of a player whose median position lies more
than ``off_pitch_margin_m`` beyond a line spared every member of a team's kit. Substitutes warming up
and staff in club colours wear a team's colours too: on held-out seeds one person stood about 2 m
beyond the far touchline in two shots, 2.4 spreads from team A's kit (a member at 2.5), and was
labelled a player of team A in both.

What tells them apart is not the colour but what the track does. A player beyond a line is there for
a moment of play: part of the same track stands on the pitch (it ran out and back), or the ball is
beside it (it fetches or throws it). Whoever stands beyond the line for nearly the whole track, away
from the ball, is not playing, whatever it wears.

"Beyond the line" is counted with each position's uncertainty: a row is beyond when its feet lie
further outside than :data:`BEYOND_SIGMAS` times its ``pitch_sigma_m`` (far-touchline positions are
the least certain: on dev seed 400 the median sigma was 0.75 m beyond the far touchline, 0.43 m in
the middle, 0.31 m on the near side). One sigma, not the two of the share rule: on dev seed 409
(rendered with ``SynthConfig.staff_in_kit``) two substitutes in team A's colour stood 2.1-2.4 m beyond
the far touchline, measured 0.2-3.4 m out (median 1.5-1.6 m) with sigmas of 1.0-1.1 m: at two
sigmas none of their rows was beyond, at one 93 % and 68 %. Their medians were 1.6 and 1.5 m out,
so the rule is asked of a member whose median lies more than :data:`NEAR_LINE_M` beyond a line, not
``off_pitch_margin_m`` (1.5 m): a player taking a throw-in has its feet on or just behind the
touchline (0.3 m in the renderer), within it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BALL_NEAR_M", "BEYOND_SIGMAS", "NEAR_LINE_M", "ball_near_rows", "beyond_evidence", "beyond_line_share", "member_beyond_line"]

#: A row is beyond a line when its feet lie further outside than this many of its sigmas.
BEYOND_SIGMAS = 1.0
#: A member of a kit whose median position lies within this many metres of a line may be taking a
#: throw-in, whatever else: the rule is asked beyond it.
NEAR_LINE_M = 1.0

#: The ball within this many metres of the feet (plus ``off_pitch_sigmas`` times the row's sigma)
#: is beside it: a player fetching the ball or holding it for a throw-in.
BALL_NEAR_M = 3.0


def beyond_line_share(outside_m: np.ndarray, sigma_m: np.ndarray, sigmas: float) -> float:
    """Share of positioned rows whose feet lie beyond a line by more than ``sigmas`` times their sigma.

    Args:
        outside_m: ``(N,)`` metres outside the lines of the positioned rows (0 on or inside).
        sigma_m: ``(N,)`` one-sigma radius of each position (0 where unknown).
        sigmas: Multiples of sigma a row must lie beyond (``vote.off_pitch_sigmas``).

    Returns:
        The share in [0, 1]; NaN without rows.
    """
    outside = np.asarray(outside_m, np.float64).reshape(-1)
    if not len(outside):
        return math.nan
    sigma = np.nan_to_num(np.asarray(sigma_m, np.float64).reshape(-1), nan=0.0)
    return float((outside > np.maximum(sigmas * sigma, 0.0)).mean())


def ball_near_rows(
    frames: np.ndarray, feet_xy: np.ndarray, sigma_m: np.ndarray, ball_frames: np.ndarray | None, ball_xy: np.ndarray | None, sigmas: float
) -> int:
    """Positioned rows of a track with the ball's pitch position within :data:`BALL_NEAR_M` + ``sigmas`` x sigma.

    Args:
        frames: ``int64`` ``(N,)`` frames of the track's positioned rows.
        feet_xy: ``(N, 2)`` metres, their positions.
        sigma_m: ``(N,)`` their one-sigma radii.
        ball_frames: ``int64`` ``(B,)`` frames of the ball track (at most one ball a frame), None: no ball.
        ball_xy: ``(B, 2)`` metres, NaN where unplaced.
    """
    if ball_frames is None or ball_xy is None or not len(frames):
        return 0
    ball_frames = np.asarray(ball_frames, np.int64).reshape(-1)
    ball_xy = np.asarray(ball_xy, np.float64).reshape(-1, 2)
    placed = np.isfinite(ball_xy).all(axis=1)
    ball_frames, ball_xy = ball_frames[placed], ball_xy[placed]
    if not len(ball_frames):
        return 0
    order = np.argsort(ball_frames, kind="stable")
    ball_frames, ball_xy = ball_frames[order], ball_xy[order]
    frames = np.asarray(frames, np.int64).reshape(-1)
    at = np.clip(np.searchsorted(ball_frames, frames), 0, len(ball_frames) - 1)
    same = ball_frames[at] == frames
    gap = np.linalg.norm(np.asarray(feet_xy, np.float64).reshape(-1, 2) - ball_xy[at], axis=1)
    sigma = np.nan_to_num(np.asarray(sigma_m, np.float64).reshape(-1), nan=0.0)
    return int((same & (gap <= BALL_NEAR_M + sigmas * sigma)).sum())


def beyond_evidence(outside_m: np.ndarray, sigma_m: np.ndarray, frames: np.ndarray, feet_xy: np.ndarray, ball, ball_sigmas: float) -> tuple[float, int]:
    """``(beyond_line_share at BEYOND_SIGMAS, ball_near_rows)`` of a track's positioned rows; the ball is
    sought only when the median lies beyond :data:`NEAR_LINE_M` (``ball``: a ``Detections`` with
    ``data["pitch_xy"]``, or None)."""
    share = beyond_line_share(outside_m, sigma_m, BEYOND_SIGMAS)
    if ball is None or not len(outside_m) or float(np.median(outside_m)) <= NEAR_LINE_M:
        return share, 0
    return share, ball_near_rows(frames, feet_xy, sigma_m, ball.frame_index, ball.data.get("pitch_xy"), ball_sigmas)


def member_beyond_line(
    team: str, outside_median_m: float, line: str | None, positioned: int, beyond_share: float, ball_rows: int,
    share: float, sigmas: float, min_ball_rows: int,
) -> str | None:
    """Why a tracklet in ``team``'s kit standing beyond a line is not a player, or None when it may be.

    Called for a kit member whose median position lies beyond :data:`NEAR_LINE_M`. It may be a
    player when fewer than ``share`` of its positioned rows are beyond a line by
    :data:`BEYOND_SIGMAS` (the rest of the track on the pitch, or too near the line for its sigmas
    to say) or when the ball was beside it on ``min_ball_rows`` rows; otherwise it stood beyond the
    line for the track, away from the ball.

    Args:
        team: The kit it wears (``A`` / ``B``).
        outside_median_m: Median metres beyond the lines over its positioned rows.
        line: The line it stands beyond most (:func:`~.officials.line_outside`), None unknown.
        positioned: Its positioned rows.
        beyond_share: :func:`beyond_line_share` of them (at :data:`BEYOND_SIGMAS`).
        ball_rows: :func:`ball_near_rows` of them.
        share: ``vote.off_pitch_share``.
        sigmas: The sigmas ``beyond_share`` was counted at (for the clause).
        min_ball_rows: Rows with the ball beside it that make it a player in play (``vote.min_positioned_rows``).

    Returns:
        The clause (no trailing ``: other``), or None.
    """
    if not math.isfinite(beyond_share) or beyond_share < share or ball_rows >= min_ball_rows:
        return None
    ball = "never with the ball beside it" if ball_rows == 0 else f"the ball beside it on only {ball_rows} rows"
    return (
        f"in team {team}'s kit, but its feet beyond the {line or 'lines'} by more than {sigmas:g} sigma on "
        f"{beyond_share:.0%} of {positioned} positioned rows, a median {outside_median_m:.1f} m out, {ball}: "
        "not playing (a substitute or staff in club colours)"
    )
