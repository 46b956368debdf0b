"""The two teams' kits of a clip (:class:`TeamKits`): the colour each team letter stands for and
the goal it defends, stored in the ``clips`` row so an analyst can check that ``A`` means the same
kit in every clip of a match."""

from __future__ import annotations

import dataclasses

__all__ = ["SIDES", "TeamKits"]

#: The goal a team defends: ``left`` is the goal at negative pitch x (SoccerNet frame).
SIDES: tuple[str, ...] = ("left", "right")


def _rgb(value, name: str) -> tuple[int, int, int] | None:
    if value is None:
        return None
    rgb = tuple(int(round(float(c))) for c in value)
    if len(rgb) != 3 or any(c < 0 or c > 255 for c in rgb):
        raise ValueError(f"TeamKits.{name} must be three 0-255 values (R, G, B), got {value!r}")
    return rgb  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True)
class TeamKits:
    """Kit colour and side of play of teams ``A`` and ``B`` in one clip.

    Attributes:
        colour_a: sRGB ``(R, G, B)`` 0-255 of team A's shirt (the median over its players' crops);
            None when no team was found.
        colour_b: the same for team B.
        side_a: the goal team A defends in this clip (:data:`SIDES`), None when unknown (no
            camera, or both teams' players spread over both halves).
    """

    colour_a: tuple[int, int, int] | None = None
    colour_b: tuple[int, int, int] | None = None
    side_a: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "colour_a", _rgb(self.colour_a, "colour_a"))
        object.__setattr__(self, "colour_b", _rgb(self.colour_b, "colour_b"))
        if self.side_a is not None and self.side_a not in SIDES:
            raise ValueError(f"TeamKits.side_a must be one of {SIDES} or None, got {self.side_a!r}")

    @staticmethod
    def hex(colour: tuple[int, int, int] | None) -> str | None:
        """``#rrggbb`` of a colour, None for None."""
        return None if colour is None else "#{:02x}{:02x}{:02x}".format(*colour)
