"""Which view each frame of a shot is, and which of its cameras the image supports.

:func:`frame_evidence` measures every processed frame (cheap: 1-4 ms a 720p frame on a
busy CPU, against hundreds for the calibration itself; see
:mod:`~soccerfactory.curation.calibration.view_evidence`); :func:`classify_views` decides the
view of each frame from that evidence, smooths it over the shot and refuses the cameras the
evidence does not support, each refusal with its reason.

The rules, in order, and why (thresholds are :class:`ViewRules` fields; the curation config's
``calibrate.view_*`` fields hold their one default each, with the measurement behind it):

1. ``close-up`` when an athlete fills the frame (``closeup_box_share`` of the image height):
   the main camera, even zoomed, shows athletes a fraction of that tall, so one such box is a
   close-up whatever a calibration claims (and whatever is behind the athlete: a pitch-side
   camera's close-up can show the stands, not grass).
2. ``other`` when little of the frame is grass (``min_grass_share``): crowd, bench, graphics,
   a studio. Grass is the one thing every view of play shows.
   A frame whose camera passes every evidence gate below stays a view of play whatever its
   colour (a washed-out sunlit or snow-covered pitch: one real main frame measured 0 % grass).
3. With a camera: ``close-up`` when it shows less pitch than ``min_pitch_m2`` (a goalmouth or a
   throw-in spot, too little for a broadcast view); when its evidence supports it (the gates
   below), ``main`` from ``main_min_pitch_m2`` up, ``zoomed`` between.
4. Without a camera, or with one its evidence does not support: ``close-up`` when fewer than ``min_athletes`` athletes are detected (grass
   but no camera and nobody, or one or two people: a player's legs, a piece of touchline; the
   detector, trained on the main camera, finds no athlete in most close-ups, while the main
   camera, even zoomed, shows several); otherwise ``zoomed`` when the athletes' median height is
   at least ``zoomed_box_share`` of the frame, else ``main``. With calibration off the same
   rule stands in for the camera, and the reasons say so.
5. Smoothing: each frame takes the view of most of the ``window`` frames around it (ties to the
   less useful view), as a shot's view does not flicker from frame to frame.

A camera is then kept only when every one of these holds (a wrong camera is worse than none):
the frame's view is ``main`` or ``zoomed`` (unless non-main cameras are kept); its inlier
keypoints and line pixels cover at least ``min_spread`` of the frame; it shows at least
``min_pitch_m2`` of pitch; the athletes are the height it gives a person where they stand (median
ratio within ``height_ratio_tolerance`` from three athletes up; below three, none taller than
that); at least ``min_athletes`` athletes are in the frame; and the pitch point under the image
centre does not jump by more than ``max_jump_m`` per frame (see :func:`_inconsistent`: a fresh
keypoint solve may jump unless it is a one-frame spike; a camera tracked on lines may not, nor may
the cameras that go on tracking it).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from soccerfactory.curation.arrays import readonly
from soccerfactory.curation.calibration.results import CalibrationResult
from soccerfactory.curation.calibration.view import MAIN_VIEWS, VIEWS, FrameViews
from soccerfactory.curation.calibration.view_evidence import athlete_height_ratio, grass_share, visible_pitch_m2
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.types import Detections, Frames

__all__ = ["ViewEvidence", "ViewRules", "classify_views", "frame_evidence", "with_cameras"]

# A median of fewer athletes is one athlete's pose (crouching, jumping, cut by the frame border).
_MIN_ATHLETES_FOR_SCALE = 3
# Four pitch keypoints fix a homography: a camera resting on as many is a fresh solve, one resting on
# fewer was carried over from the frame before by its lines.
_MIN_KEYPOINTS_TO_ANCHOR = 4


@dataclasses.dataclass(frozen=True)
class ViewRules:
    """Thresholds of :func:`classify_views` (see the module docstring for each rule).

    Attributes:
        min_grass_share: Below this share of grass the frame is ``other``.
        closeup_box_share: An athlete at least this share of the image height tall makes a close-up.
        zoomed_box_share: Without a camera, athletes of this median share of the image height
            and up make the frame ``zoomed`` rather than ``main``.
        min_athletes: Fewer athletes than this make a frame without a supported camera a
            close-up, and a camera of such a frame unsupported.
        min_spread: Share of the image a camera's keypoints and lines must span.
        min_pitch_m2: A camera showing less pitch is a close-up's and is refused.
        main_min_pitch_m2: A camera showing at least this much pitch is the main view; less is zoomed.
        height_ratio_tolerance: Athletes' median height over what the camera predicts must be
            within ``[1 / tolerance, tolerance]``.
        max_jump_m: Largest move, metres per frame of gap, of the pitch point under the image
            centre from one kept camera to the next.
        window: Frames (odd) over which the view is smoothed; 1 is off.
        refuse_non_main: Refuse the camera of every frame whose view is not main or zoomed.
    """

    min_grass_share: float
    closeup_box_share: float
    zoomed_box_share: float
    min_athletes: int
    min_spread: float
    min_pitch_m2: float
    main_min_pitch_m2: float
    height_ratio_tolerance: float
    max_jump_m: float
    window: int
    refuse_non_main: bool

    def __post_init__(self) -> None:
        for name in ("min_grass_share", "closeup_box_share", "zoomed_box_share", "min_spread"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"ViewRules.{name} must be in [0, 1], got {value}")
        if not 0 <= self.min_pitch_m2 <= self.main_min_pitch_m2:
            raise ValueError(
                f"ViewRules needs 0 <= min_pitch_m2 <= main_min_pitch_m2, got {self.min_pitch_m2}, {self.main_min_pitch_m2}"
            )
        if self.min_athletes < 0:
            raise ValueError(f"ViewRules.min_athletes must be >= 0, got {self.min_athletes}")
        if not self.height_ratio_tolerance > 1 or not self.max_jump_m > 0:
            raise ValueError("ViewRules.height_ratio_tolerance must be > 1 and max_jump_m > 0")
        if self.window < 1 or self.window % 2 == 0:
            raise ValueError(f"ViewRules.window must be an odd number of frames >= 1, got {self.window}")


_FIELDS = ("grass", "spread", "pitch_m2", "max_box", "median_box", "height_ratio", "max_height_ratio")


@dataclasses.dataclass(frozen=True, eq=False)
class ViewEvidence:
    """The measurements of each processed frame that its view and camera are judged on.

    Attributes:
        frame_index: ``int64`` ``(F,)`` source frame indices, strictly increasing.
        grass: ``float32`` ``(F,)`` share of the frame that is grass.
        spread: ``float32`` ``(F,)`` the calibration's :attr:`CalibrationResult.spread`; NaN
            without calibration.
        pitch_m2: ``float32`` ``(F,)`` pitch area the frame's camera shows; NaN without a camera.
        centre_xy: ``float32`` ``(F, 2)`` pitch metres under the image centre; NaN without a
            camera or above the horizon.
        max_box: ``float32`` ``(F,)`` tallest athlete box over the image height; 0 without athletes.
        median_box: ``float32`` ``(F,)`` median athlete box height over the image height; 0 without.
        n_athletes: ``int64`` ``(F,)`` athlete boxes.
        height_ratio: ``float32`` ``(F,)`` median of the athletes' box height over the height the
            camera gives a person standing at their feet; NaN without a camera or with fewer than
            three athletes.
        max_height_ratio: ``float32`` ``(F,)`` the largest of those ratios; NaN without a camera
            or athletes.
    """

    frame_index: np.ndarray
    grass: np.ndarray
    spread: np.ndarray
    pitch_m2: np.ndarray
    centre_xy: np.ndarray
    max_box: np.ndarray
    median_box: np.ndarray
    n_athletes: np.ndarray
    height_ratio: np.ndarray
    max_height_ratio: np.ndarray

    def __post_init__(self) -> None:
        frames = np.asarray(self.frame_index, dtype=np.int64).reshape(-1)
        if frames.size > 1 and not (np.diff(frames) > 0).all():
            raise ValueError("ViewEvidence.frame_index must be strictly increasing")
        n = len(frames)
        object.__setattr__(self, "frame_index", readonly(frames))
        for name in _FIELDS:
            arr = np.asarray(getattr(self, name), dtype=np.float32).reshape(-1)
            if arr.shape != (n,):
                raise ValueError(f"ViewEvidence.{name} must have shape ({n},) like frame_index, got {arr.shape}")
            object.__setattr__(self, name, readonly(arr))
        centre = np.asarray(self.centre_xy, dtype=np.float32).reshape(-1, 2)
        athletes = np.asarray(self.n_athletes, dtype=np.int64).reshape(-1)
        if centre.shape != (n, 2) or athletes.shape != (n,):
            raise ValueError(f"ViewEvidence.centre_xy must be ({n}, 2) and n_athletes ({n},)")
        object.__setattr__(self, "centre_xy", readonly(centre))
        object.__setattr__(self, "n_athletes", readonly(athletes))

    def __len__(self) -> int:
        return int(self.frame_index.shape[0])

    @classmethod
    def concat(cls, parts: Sequence[ViewEvidence]) -> ViewEvidence:
        """The evidence of consecutive batches as one."""
        names = ("frame_index", *_FIELDS, "centre_xy", "n_athletes")
        if not parts:
            return cls(**{name: np.zeros((0, 2) if name == "centre_xy" else 0) for name in names})
        return cls(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in names})


def _shown_centre(camera: Camera, area: float) -> np.ndarray:
    """Pitch point under the image centre; NaN when the camera shows no pitch or the centre is
    at or above the horizon."""
    if not area > 0:
        return np.full(2, np.nan)
    return camera.image_to_pitch(np.array([[camera.width / 2, camera.height / 2]]))[0]


def frame_evidence(
    frames: Frames,
    results: Sequence[CalibrationResult] | None,
    athletes: Detections,
    pitch: PitchModel,
) -> ViewEvidence:
    """Measure each frame of a batch.

    Args:
        frames: The batch.
        results: One calibration per frame, or None when calibration is off.
        athletes: The batch's athlete boxes (no ball), xyxy source pixels, by ``frame_index``.
        pitch: The pitch the cameras are calibrated against.
    """
    n = len(frames)
    if results is not None and len(results) != n:
        raise ValueError(f"frame_evidence got {len(results)} calibrations for {n} frames; pass one per frame or None")
    height = float(frames.height)
    grass = np.array([grass_share(image) for image in frames.images], dtype=np.float32)
    max_box = np.zeros(n, np.float32)
    median_box = np.zeros(n, np.float32)
    count = np.zeros(n, np.int64)
    for i, frame in enumerate(frames.frame_index.tolist()):
        boxes = athletes.xyxy[athletes.frame_index == frame]
        heights = (boxes[:, 3] - boxes[:, 1]) / height
        count[i] = len(boxes)
        if len(boxes):
            max_box[i], median_box[i] = heights.max(), np.median(heights)
    nan = np.full(n, np.nan, np.float32)
    evidence = ViewEvidence(frames.frame_index, grass, nan, nan, np.full((n, 2), np.nan), max_box, median_box, count, nan, nan)
    if results is None:
        return evidence
    return with_cameras(evidence, dict(zip(frames.frame_index.tolist(), results)), athletes, pitch)


def with_cameras(
    evidence: ViewEvidence, results: dict[int, CalibrationResult], athletes: Detections, pitch: PitchModel
) -> ViewEvidence:
    """``evidence`` with the camera measurements of the frames in ``results`` (frame index ->
    calibration) taken from those calibrations: for cameras found after the frame was measured
    (:meth:`~soccerfactory.curation.calibration.calibrator.Calibrator.take_backfilled`).

    Args:
        evidence: Evidence of a shot's frames (its grass and box measurements stay).
        results: The new calibration of some of its frames; other frames are unchanged.
        athletes: Athlete boxes (no ball) of at least those frames, xyxy source pixels.
        pitch: The pitch the cameras are calibrated against.
    """
    fields = {name: np.array(getattr(evidence, name), copy=True) for name in ("spread", "pitch_m2", "centre_xy", "height_ratio",
                                                                               "max_height_ratio")}
    row_of = {f: i for i, f in enumerate(evidence.frame_index.tolist())}
    for frame, result in results.items():
        i = row_of[frame]
        fields["spread"][i] = result.spread
        for name in ("pitch_m2", "centre_xy", "height_ratio", "max_height_ratio"):
            fields[name][i] = np.nan
        if not result.valid or result.camera is None:
            continue
        boxes = athletes.xyxy[athletes.frame_index == frame]
        area = visible_pitch_m2(result.camera, pitch)
        fields["pitch_m2"][i], fields["centre_xy"][i] = area, _shown_centre(result.camera, area)
        ratios = athlete_height_ratio(result.camera, boxes)
        ratios = ratios[np.isfinite(ratios)]
        if len(ratios):
            fields["max_height_ratio"][i] = ratios.max()
        if len(ratios) >= _MIN_ATHLETES_FOR_SCALE:
            fields["height_ratio"][i] = np.median(ratios)
    return dataclasses.replace(evidence, **fields)


def _raw_view(e: ViewEvidence, i: int, valid: bool, rules: ViewRules) -> tuple[str, str]:
    """The view of frame ``i`` on its own evidence, and the evidence that decided it."""
    grass = float(e.grass[i])
    if e.max_box[i] >= rules.closeup_box_share:
        return "close-up", f"an athlete {e.max_box[i]:.0%} of the frame height >= {rules.closeup_box_share:.0%}"
    doubt = _camera_doubt(e, i, rules) if valid else ""
    supported = valid and not doubt
    if grass < rules.min_grass_share and not supported:
        return "other", f"grass {grass:.0%} of the frame < {rules.min_grass_share:.0%}"
    area, spread = float(e.pitch_m2[i]), float(e.spread[i])
    shown = f"camera shows {area:.0f} m2 of pitch"
    if valid and area < rules.min_pitch_m2:
        return "close-up", f"{shown} < {rules.min_pitch_m2:.0f} m2"
    if supported and math.isfinite(area):
        if area >= rules.main_min_pitch_m2:
            return "main", f"{shown} >= {rules.main_min_pitch_m2:.0f} m2, grass {grass:.0%}"
        return "zoomed", f"{shown} < {rules.main_min_pitch_m2:.0f} m2, grass {grass:.0%}"
    # No camera to measure the view with (none, or one the evidence does not support).
    basis = "no calibration" if not math.isfinite(spread) else f"camera doubted ({doubt})" if doubt else "no camera"
    if e.n_athletes[i] < rules.min_athletes:
        structure = f", keypoints and lines span {spread:.1%} of the frame" if math.isfinite(spread) else ""
        return "close-up", (f"{basis} and {int(e.n_athletes[i])} athletes < {rules.min_athletes} (a view of play shows "
                            f"several){structure}, grass {grass:.0%}")
    if e.n_athletes[i] and e.median_box[i] >= rules.zoomed_box_share:
        return "zoomed", f"{basis}; athletes' median height {e.median_box[i]:.0%} of the frame >= {rules.zoomed_box_share:.0%}"
    athletes = f"athletes' median height {e.median_box[i]:.0%}" if e.n_athletes[i] else "no athletes"
    return "main", f"{basis}; grass {grass:.0%}, {athletes} < {rules.zoomed_box_share:.0%} of the frame"


def _smooth(views: list[str], window: int) -> list[str]:
    """Each frame's view: the view of most of the ``window`` frames around it, ties to the less useful."""
    half = window // 2
    out = []
    for i in range(len(views)):
        counts = Counter(views[max(0, i - half): i + half + 1])
        out.append(max(VIEWS, key=lambda v: (counts.get(v, 0), VIEWS.index(v))))
    return out


def _camera_doubt(e: ViewEvidence, i: int, rules: ViewRules) -> str:
    """Why frame ``i``'s own evidence does not support its camera, or ``""``."""
    spread, area, ratio = float(e.spread[i]), float(e.pitch_m2[i]), float(e.height_ratio[i])
    if math.isfinite(spread) and spread < rules.min_spread:
        return f"its keypoints and lines span {spread:.1%} of the frame (need {rules.min_spread:.1%})"
    if math.isfinite(area) and area < rules.min_pitch_m2:
        return f"it shows {area:.0f} m2 of pitch (need {rules.min_pitch_m2:.0f} m2)"
    low, high = 1 / rules.height_ratio_tolerance, rules.height_ratio_tolerance
    if math.isfinite(ratio) and not low <= ratio <= high:
        return (f"the athletes are {ratio:.2f} times the height it gives a person where they stand "
                f"(median of {int(e.n_athletes[i])}, allowed {low:.2f}-{high:.2f})")
    tallest = float(e.max_height_ratio[i])
    if not math.isfinite(ratio) and math.isfinite(tallest) and tallest > high:
        # Too few athletes for a median, but no pose makes a person much taller than they are.
        return f"an athlete is {tallest:.2f} times the height it gives a person where they stand (allowed up to {high:.2f})"
    if e.n_athletes[i] < rules.min_athletes:
        # A camera resting on grass and a line or two, with nobody in the frame, is how a close-up
        # the detector finds no athlete in gets a "valid" camera.
        return f"{int(e.n_athletes[i])} athletes in the frame < {rules.min_athletes} (a view of play shows several)"
    return ""


def _inconsistent(e: ViewEvidence, results: Sequence[CalibrationResult], kept: np.ndarray, rules: ViewRules) -> dict[int, str]:
    """Kept cameras that break the shot's continuity, and why.

    The pitch point under the image centre moves at most ``max_jump_m`` per frame with a real
    camera. Walking the kept cameras in order, against the last accepted one:

    * a camera resting on four keypoints or more (a fresh solve) that jumps is refused only as a
      spike: when the next kept camera agrees with the last accepted one;
    * a camera resting on fewer (tracked on lines from the frame before) that jumps is refused,
      and so are the cameras after it that follow it rather than the last accepted one (line
      tracking that slipped onto the wrong lines keeps itself consistent, and the allowance from
      the last accepted camera grows with every frame), until a camera is clearly back with the
      last accepted one (and away from the slipped run) or a fresh solve takes over.
    """
    rows = [i for i in np.flatnonzero(kept).tolist() if np.isfinite(e.centre_xy[i]).all()]
    frames, centre = e.frame_index, e.centre_xy.astype(np.float64)

    def moved(a: int, b: int) -> tuple[float, float]:
        """Distance from ``a``'s centre to ``b``'s, metres, and that per frame between them."""
        distance = float(np.linalg.norm(centre[b] - centre[a]))
        return distance, distance / max(1, abs(int(frames[b]) - int(frames[a])))

    out: dict[int, str] = {}
    last: int | None = None
    slipped: int | None = None  # the latest refused camera of a run that jumped
    allowed = f"allowed {rules.max_jump_m:g} m per frame"
    for k, i in enumerate(rows):
        if last is None:
            last = i
            continue
        distance, speed = moved(last, i)
        anchored = results[i].n_keypoints >= _MIN_KEYPOINTS_TO_ANCHOR
        # After a slip, line tracking is guided by the slipped camera: only a camera clearly back
        # with the last accepted one (and away from the slipped run) or a fresh solve ends it.
        follows = slipped is not None and not (speed <= rules.max_jump_m < moved(slipped, i)[1])
        if anchored:
            after = rows[k + 1] if k + 1 < len(rows) else None
            if (speed > rules.max_jump_m and after is not None and moved(last, after)[1] <= rules.max_jump_m
                    and moved(i, after)[1] > rules.max_jump_m):
                out[i] = (f"the pitch point under the image centre jumps {distance:.0f} m from frame {frames[last]}'s "
                          f"camera and back at frame {frames[after]} ({allowed})")
            else:
                last, slipped = i, None
        elif follows:
            assert slipped is not None
            out[i] = (f"it follows the camera of frame {frames[slipped]}, which jumped away from frame "
                      f"{frames[last]}'s on lines alone ({allowed})")
            slipped = i
        elif speed <= rules.max_jump_m:
            last, slipped = i, None
        else:
            out[i] = (f"the pitch point under the image centre jumps {distance:.0f} m from frame {frames[last]}'s camera "
                      f"with {results[i].n_keypoints} keypoints to hold it ({allowed})")
            slipped = i
    return out


def classify_views(
    evidence: ViewEvidence, results: Sequence[CalibrationResult] | None, rules: ViewRules
) -> tuple[FrameViews, tuple[CalibrationResult, ...]]:
    """Views of a shot's frames, and its calibrations with the unsupported cameras refused.

    Args:
        evidence: :func:`frame_evidence` of every processed frame of the shot, in order.
        results: One calibration per frame, in the same order; None when calibration is off.
        rules: The thresholds.

    Returns:
        ``(views, results)``: the view of every frame with its reason and the pitch area its
        kept camera shows (NaN where none is kept); the calibrations, each unchanged or made
        invalid with the reason (naming the view or the evidence); empty when ``results`` is None.
    """
    n = len(evidence)
    if results is not None and len(results) != n:
        raise ValueError(f"classify_views got {len(results)} calibrations for {n} frames of evidence")
    valid = np.array([r.valid for r in results], dtype=bool) if results is not None else np.zeros(n, bool)
    raw = [_raw_view(evidence, i, bool(valid[i]), rules) for i in range(n)]
    smoothed = _smooth([v for v, _ in raw], rules.window)
    views, reasons = [], []
    for (view, reason), final in zip(raw, smoothed):
        views.append(final)
        if final == view:
            reasons.append(reason)
        else:
            reasons.append(f"{final} on most of the {rules.window} frames around it (this frame alone: {view}, {reason})")
    out = list(results) if results is not None else []
    kept = valid.copy()
    for i in np.flatnonzero(valid).tolist():
        doubt = _camera_doubt(evidence, i, rules)
        if rules.refuse_non_main and views[i] not in MAIN_VIEWS:
            doubt = f"view {views[i]}: {reasons[i]}"
        if doubt:
            out[i] = out[i].refused(f"camera refused: {doubt}")
            kept[i] = False
    for i, why in _inconsistent(evidence, out, kept, rules).items():
        out[i] = out[i].refused(f"camera refused: {why}")
        kept[i] = False
    area = np.where(kept, evidence.pitch_m2, np.nan).astype(np.float32)
    return FrameViews(evidence.frame_index, np.array(views, dtype=object), np.array(reasons, dtype=object), area), tuple(out)
