"""Athlete labels of the preview: text, size scaled with the frame, placement without collisions.

A label is ``"<track_id> <role> #<jersey>"`` on a filled box in the athlete's colour, with dark
text on light colours and white text on dark ones. :func:`place_labels` puts each label at its
preferred spot (under the feet for the ellipse style, above the box for the box style) and, when
that spot overlaps a label already placed, tries the nearest free spot a label height at a time
away from the athlete (then towards it), in its own column or a label width to either side; a
displaced label gets a thin leader line back to its athlete.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from soccerfactory.curation.preview.style import Colour, contrast_colour, role_of

__all__ = ["Label", "TextStyle", "draw_labels", "label_text", "place_labels", "put_label", "text_style"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
# Tries per direction before a label settles for the least crowded spot: 6 label heights (~110 px
# at 720p) keep a displaced label near its athlete.
_MAX_SHIFTS = 6


Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), pixels


@dataclasses.dataclass(frozen=True)
class TextStyle:
    """Font scale, stroke thickness and padding of labels for one frame height."""

    scale: float
    thickness: int
    pad: int


def text_style(height: int) -> TextStyle:
    """Label text for a frame ``height`` pixels tall.

    0.5 at 720p (cap height ~11 px, readable when the video plays full screen), scaled with the
    height and never below 0.35 (smaller Hershey text breaks up at 360p); strokes turn 2 px wide
    from 1080p on.
    """
    scale = max(0.35, 0.5 * height / 720)
    return TextStyle(scale=round(scale, 3), thickness=1 if height < 1000 else 2, pad=max(2, int(round(3 * height / 720))))


def label_text(row: Mapping[str, Any]) -> str:
    """``"<track_id> <role> #<jersey>"``, leaving out what the row lacks."""
    parts = []
    if row.get("track_id") is not None:
        parts.append(str(row["track_id"]))
    parts.append(role_of(row))
    if row.get("jersey") is not None:
        parts.append(f"#{row['jersey']}")
    return " ".join(parts)


def put_label(image: np.ndarray, text: str, x: int, y: int, colour: Colour, scale: float = 0.4) -> None:
    """Text with its baseline at ``y`` on a dark plate, nudged inside the image (the header line)."""
    (width, height), baseline = cv2.getTextSize(text, _FONT, scale, 1)
    x = int(min(max(x, 0), max(image.shape[1] - width - 2, 0)))
    y = int(min(max(y, height + 2), image.shape[0] - baseline - 1))
    cv2.rectangle(image, (x - 1, y - height - 2), (x + width + 1, y + baseline), (0, 0, 0), cv2.FILLED)
    cv2.putText(image, text, (x, y), _FONT, scale, colour, 1, cv2.LINE_AA)


@dataclasses.dataclass(frozen=True)
class Label:
    """One placed label: its text, box, colour and the athlete point it belongs to."""

    text: str
    rect: Rect
    colour: Colour
    anchor: tuple[int, int]
    moved: bool


def _overlap(a: Rect, b: Rect) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def _candidates(step_x: int, step_y: int, direction: int) -> list[tuple[int, int]]:
    """Offsets to try, nearest first: up to ``_MAX_SHIFTS`` label heights either way, in the
    label's own column or the ones beside it; moving away from the athlete before towards it."""
    offsets = []
    for column in (0, 1, -1):
        for k in range(-_MAX_SHIFTS, _MAX_SHIFTS + 1):
            dy = k * step_y
            distance = abs(dy) + abs(column) * step_x
            towards = k * direction < 0
            offsets.append((distance * (1.25 if towards else 1.0), column * step_x, dy))
    return [(dx, dy) for _, dx, dy in sorted(offsets, key=lambda o: o[0])]


def place_labels(
    requests: Sequence[tuple[str, Colour, tuple[int, int], int]],
    image_size: tuple[int, int],
    style: TextStyle,
    avoid: Sequence[Rect] = (),
) -> list[Label]:
    """Place labels so that none covers another.

    Args:
        requests: ``(text, colour, anchor, direction)`` per label: ``anchor`` is the pixel the
            label hangs from (its top-centre when ``direction`` is +1, below the athlete; its
            bottom-left when -1, above the box), ``direction`` the way it first slides when taken.
        image_size: ``(width, height)``; labels are kept inside.
        style: Font of the labels (:func:`text_style`).
        avoid: Rectangles no label should cover (e.g. the header line).

    Returns:
        One :class:`Label` per request, in request order. Placement is greedy in order of the
        anchors' height; a label with no free spot within a few label heights takes the one it
        overlaps least.
    """
    width, height = image_size
    placed: list[Rect] = list(avoid)
    out: dict[int, Label] = {}
    order = sorted(range(len(requests)), key=lambda i: (requests[i][2][1], requests[i][2][0]))
    for i in order:
        text, colour, (ax, ay), direction = requests[i]
        (tw, th), baseline = cv2.getTextSize(text, _FONT, style.scale, style.thickness)
        w, h = tw + 2 * style.pad, th + baseline + 2 * style.pad
        x0 = ax - w // 2 if direction > 0 else ax
        y0 = ay if direction > 0 else ay - h
        x0 = int(min(max(x0, 0), max(width - w, 0)))
        best: tuple[int, bool, Rect] | None = None
        for dx, dy in _candidates(w + 2, h + 1, direction):
            left = int(min(max(x0 + dx, 0), max(width - w, 0)))
            top = int(min(max(y0 + dy, 0), max(height - h, 0)))
            rect = (left, top, left + w, top + h)
            cost = sum(_overlap(rect, other) for other in placed)
            if best is None or cost < best[0]:
                best = (cost, (dx, dy) != (0, 0), rect)
            if cost == 0:
                break
        assert best is not None
        placed.append(best[2])
        out[i] = Label(text, best[2], colour, (int(ax), int(ay)), moved=best[1])
    return [out[i] for i in range(len(requests))]


def draw_labels(image: np.ndarray, labels: Sequence[Label], style: TextStyle) -> None:
    """Draw placed labels in place: filled box in the label colour, contrasting text, dark edge."""
    for label in labels:
        x0, y0, x1, y1 = label.rect
        if label.moved:
            # A displaced label points back at its athlete, so it is not read as a neighbour's.
            # Every leader goes down before any box, so no leader crosses another label's text.
            cx = min(max(label.anchor[0], x0), x1 - 1)
            cy = y0 if label.anchor[1] < y0 else y1 - 1
            cv2.line(image, (cx, cy), label.anchor, label.colour, 1, cv2.LINE_AA)
    for label in labels:
        x0, y0, x1, y1 = label.rect
        cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), label.colour, cv2.FILLED)
        cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (0, 0, 0), 1)
        _, baseline = cv2.getTextSize(label.text, _FONT, style.scale, style.thickness)
        cv2.putText(
            image, label.text, (x0 + style.pad, y1 - style.pad - baseline), _FONT, style.scale,
            contrast_colour(label.colour), style.thickness, cv2.LINE_AA,
        )
