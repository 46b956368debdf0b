"""The preview's legend: what each colour and marker means, drawn on a dark panel in a top corner.

Rows: team A and team B (swatches in the clip's kit colours, "kit" when measured from the shard,
"fixed" when the shard has no team colours), goalkeeper (the double ring of team A's colour),
referee, other / no team, and the ball with its trail. Swatches use the frame's athlete style
(ellipse or box), drawn by the same functions as the athletes.
"""

from __future__ import annotations

import cv2
import numpy as np

from soccerfactory.curation.preview.draw import draw_athlete_shape, draw_ball_marker, shape_thickness
from soccerfactory.curation.preview.labels import TextStyle
from soccerfactory.curation.preview.style import BALL_COLOUR, OTHER_COLOUR, Colour, Kits

__all__ = ["draw_legend", "legend_rows", "legend_size"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
Rect = tuple[int, int, int, int]


def legend_rows(kits: Kits) -> list[tuple[str, str, Colour]]:
    """``(text, marker, colour)`` per legend row; marker is ``athlete``, ``goalkeeper`` or ``ball``."""
    source = "kit" if kits.measured else "fixed"
    return [
        (f"team A ({source})", "athlete", kits.a),
        (f"team B ({source})", "athlete", kits.b),
        ("goalkeeper", "goalkeeper", kits.a),
        ("referee", "athlete", kits.referee),
        ("other / no team", "athlete", OTHER_COLOUR),
        ("ball + trail", "ball", BALL_COLOUR),
    ]


def _metrics(text: TextStyle) -> tuple[int, int]:
    """Row height and swatch width of the legend at ``text``'s size."""
    (_, th), baseline = cv2.getTextSize("Ag", _FONT, text.scale, text.thickness)
    row = th + baseline + 2 * text.pad
    return row, int(row * 1.8)


def legend_size(kits: Kits, text: TextStyle) -> tuple[int, int]:
    """``(width, height)`` of the legend panel."""
    row, swatch = _metrics(text)
    widest = max(cv2.getTextSize(t, _FONT, text.scale, text.thickness)[0][0] for t, _, _ in legend_rows(kits))
    return swatch + widest + 4 * text.pad, row * len(legend_rows(kits)) + 2 * text.pad


def draw_legend(image: np.ndarray, rect: Rect, kits: Kits, text: TextStyle, style: str) -> None:
    """Draw the legend in place inside ``rect`` (xyxy exclusive, sized by :func:`legend_size`)."""
    x0, y0, x1, y1 = (int(v) for v in rect)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, image.shape[1]), min(y1, image.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    # A dark panel at 65 %: the swatches and white text read over grass, stands and white kits alike.
    image[y0:y1, x0:x1] = (image[y0:y1, x0:x1].astype(np.float32) * 0.35).astype(np.uint8)
    cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (0, 0, 0), 1)
    row, swatch = _metrics(text)
    thickness = shape_thickness(image.shape[0])
    for i, (label, marker, colour) in enumerate(legend_rows(kits)):
        top = y0 + text.pad + i * row
        cx, cy = x0 + text.pad + swatch // 2, top + row // 2
        if marker == "ball":
            draw_ball_marker(image, (cx, cy), max(row // 4, 3), thickness)
            for k, dx in enumerate((swatch // 2 - 2, swatch // 3)):
                cv2.circle(image, (cx - dx, cy), max(row // 10, 1) + k, BALL_COLOUR, cv2.FILLED, cv2.LINE_AA)
        else:
            # A stand-in athlete whose feet sit low in the row, so its ring fits inside it.
            w = int(swatch * 0.45)
            h = int(row * 0.8) if style == "box" else 2 * w
            bottom = cy + row // 4 if style == "ellipse" else cy + h // 2
            box = (cx - w // 2, bottom - h, cx + w // 2, bottom)
            draw_athlete_shape(image, box, colour, style, marker == "goalkeeper", thickness)
        (_, th), baseline = cv2.getTextSize(label, _FONT, text.scale, text.thickness)
        cv2.putText(
            image, label, (x0 + 2 * text.pad + swatch, top + (row + th) // 2 - 1), _FONT, text.scale,
            (255, 255, 255), text.thickness, cv2.LINE_AA,
        )
