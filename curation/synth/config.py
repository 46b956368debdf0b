"""Settings of one synthetic broadcast clip, validated on construction."""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass

__all__ = ["SHOTS", "SynthConfig"]

#: Shot plans: ``main`` = the main camera only (one shot); ``broadcast`` = hard cuts between the
#: main camera, zoomed main-camera segments and pitch-side close-ups (see ``synth/shots.py``).
SHOTS: tuple[str, ...] = ("main", "broadcast")
_MAX_STAFF = 40

# Beyond these, either OpenCV's writers refuse or a 2-core machine needs hours per clip: both are
# almost always a typo (e.g. 12800 for 1280), so they are refused with the accepted range.
_MIN_WIDTH, _MAX_WIDTH = 320, 3840
_MIN_HEIGHT, _MAX_HEIGHT = 180, 2160
_MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class SynthConfig:
    """What to render. Every field has a broadcast-like default (720p, 25 fps, 105 x 68 m).

    Attributes:
        seconds: clip length in seconds, (0, 3600].
        fps: frames per second, [1, 120].
        width: image width in pixels, [320, 3840].
        height: image height in pixels, [180, 2160].
        seed: every random choice (kits, camera, play) follows from it; same seed, same files.
        pitch_length: goal line to goal line, metres.
        pitch_width: touchline to touchline, metres.
        referees: 1 (referee only), 2 or 3 (plus one or two assistant referees on the touchlines).
        lens_distortion: radial k1 of the broadcast lens (0 = ideal pinhole; -0.1 is a mild barrel).
        motion_blur: blur along the camera's pan, as a 1/50 s shutter would.
        jpeg_quality: quality of the optional image sequence, [50, 100].
        shots: one of :data:`SHOTS`; ``main`` (one continuous main-camera shot) or ``broadcast``
            (cuts between main, zoomed and close-up shots; the true view of each frame is in
            ``gt/cameras.parquet`` ``view``).
        staff: people off the pitch (coaches, substitutes warming up, stewards, ball kids), 2 to
            8 m outside the lines in non-team clothing, [0, 40]; labelled role ``other``.
        staff_in_kit: how many of those substitutes warm up in their team's kit colour instead of a
            bib, about 2 m beyond a touchline (opt-in; still role ``other``), [0, ``staff``]. Left
            out of :meth:`to_dict` at 0.

    The defaults of ``shots`` and ``staff`` add nothing: a clip rendered without them is the
    same, byte for byte, as before they existed.
    """

    seconds: float = 10.0
    fps: float = 25.0
    width: int = 1280
    height: int = 720
    seed: int = 0
    pitch_length: float = 105.0
    pitch_width: float = 68.0
    referees: int = 3
    lens_distortion: float = 0.0
    motion_blur: bool = False
    jpeg_quality: int = 95
    shots: str = "main"
    staff: int = 0
    staff_in_kit: int = 0

    def __post_init__(self) -> None:
        checks = [
            (0 < self.seconds <= _MAX_SECONDS, f"seconds must be in (0, {_MAX_SECONDS:g}], got {self.seconds}"),
            (1 <= self.fps <= 120, f"fps must be in [1, 120], got {self.fps}"),
            (
                _MIN_WIDTH <= self.width <= _MAX_WIDTH and _MIN_HEIGHT <= self.height <= _MAX_HEIGHT,
                f"resolution {self.width}x{self.height} is outside {_MIN_WIDTH}x{_MIN_HEIGHT} .. "
                f"{_MAX_WIDTH}x{_MAX_HEIGHT}",
            ),
            (self.width % 2 == 0 and self.height % 2 == 0, f"width and height must be even for video codecs, got {self.width}x{self.height}"),
            (0.25 <= self.width / self.height <= 4, f"aspect ratio {self.width}x{self.height} is not a broadcast image"),
            (self.seed >= 0, f"seed must be non-negative, got {self.seed}"),
            (90 <= self.pitch_length <= 120, f"pitch length must be in [90, 120] m (Laws of the Game), got {self.pitch_length}"),
            (45 <= self.pitch_width <= 90, f"pitch width must be in [45, 90] m (Laws of the Game), got {self.pitch_width}"),
            (self.pitch_length > self.pitch_width, "pitch length must exceed its width"),
            (1 <= self.referees <= 3, f"referees must be 1, 2 or 3, got {self.referees}"),
            (-0.5 <= self.lens_distortion <= 0.5, f"lens distortion k1 must be in [-0.5, 0.5], got {self.lens_distortion}"),
            (50 <= self.jpeg_quality <= 100, f"jpeg quality must be in [50, 100], got {self.jpeg_quality}"),
            (self.shots in SHOTS, f"shots must be one of {', '.join(SHOTS)}, got {self.shots!r}"),
            (isinstance(self.staff, numbers.Integral) and not isinstance(self.staff, bool) and 0 <= self.staff <= _MAX_STAFF, f"staff must be an integer in [0, {_MAX_STAFF}], got {self.staff!r}"),
            (isinstance(self.staff_in_kit, numbers.Integral) and 0 <= self.staff_in_kit <= self.staff, f"staff_in_kit must be an integer in [0, staff], got {self.staff_in_kit!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def frame_count(self) -> int:
        return max(int(round(self.seconds * self.fps)), 1)

    def to_dict(self) -> dict:
        out = asdict(self)
        if not self.staff_in_kit:  # opt-in: clips rendered without it keep their manifest (and are not rendered again)
            del out["staff_in_kit"]
        return out
