"""The calibration backends by name: :func:`build_feature_detector` and :func:`build_calibrator`.

Backends: ``heatmap`` (the default, as in the curation config: the bundled heatmap keypoint
model), ``yolo-pose`` (a YOLOv8-pose keypoint model, none bundled), ``lines-classic`` (line pixels
named by a prior camera) and, for the calibrator, ``lines`` (the line search places the camera).
Model-backed detectors are imported and loaded only when built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from soccerfactory.curation.calibration.calibrator import Calibrator
from soccerfactory.curation.calibration.features import PitchFeatureDetector, YoloPoseDetector
from soccerfactory.curation.calibration.lines import LinesClassicDetector

__all__ = ["CALIBRATOR_BACKENDS", "FEATURE_DETECTORS", "build_calibrator", "build_feature_detector"]


def _build_heatmap(
    weights: str | Path | None = None,
    keypoint_conf: float = 0.5,
    min_peak: float = 0.3,
    device: str = "cpu",
    batch_size: int = 8,
    runtime: str = "torch",
) -> PitchFeatureDetector:
    from soccerfactory.curation.calibration.heatmap import HeatmapKeypointDetector

    return HeatmapKeypointDetector(
        weights, keypoint_conf=keypoint_conf, min_peak=min_peak, device=device, batch_size=batch_size, runtime=runtime
    )


FEATURE_DETECTORS = {"heatmap": _build_heatmap, "yolo-pose": YoloPoseDetector, "lines-classic": LinesClassicDetector}
#: Backend names :func:`build_calibrator` accepts: the feature detectors and ``lines``.
CALIBRATOR_BACKENDS = (*FEATURE_DETECTORS, "lines")
# How build_calibrator routes its keyword arguments, stated once per receiver: a keypoint
# backend's builder takes these ...
_KEYPOINT_OPTIONS = {
    "heatmap": frozenset({"weights", "keypoint_conf", "min_peak", "device", "batch_size", "runtime"}),
    "yolo-pose": frozenset({"weights", "imgsz", "conf", "keypoint_conf", "device", "batch_size"}),
}
# ... the line detector these (``pitch`` it shares with the calibrator), the Calibrator the rest.
_LINE_OPTIONS = frozenset({
    "search_px", "tophat_px", "threshold", "max_saturation", "max_pixels_per_line", "min_pixels_per_line",
    "min_visible_fraction", "min_coverage",
})


def build_feature_detector(name: str, **params: Any) -> PitchFeatureDetector:
    """Build a pitch feature detector by backend name.

    ``"heatmap"``: ``weights`` (default ``curation/weights/pitch-keypoints-heatmap.pt``),
    ``keypoint_conf``, ``min_peak``, ``device``, ``batch_size``
    (:class:`~soccerfactory.curation.calibration.heatmap.HeatmapKeypointDetector`).
    ``"yolo-pose"``: ``weights`` (default ``curation/weights/pitch-keypoints.pt``), ``imgsz``
    (default: the trained size), ``conf``, ``keypoint_conf``, ``device``, ``batch_size``.
    ``"lines-classic"``: see :class:`LinesClassicDetector`.

    Raises:
        ValueError: Unknown ``name``, listing the valid ones.
        FileNotFoundError: Missing weights, saying how to get them.
    """
    if name not in FEATURE_DETECTORS:
        raise ValueError(f"unknown pitch feature detector {name!r}; valid choices: {', '.join(FEATURE_DETECTORS)}")
    return FEATURE_DETECTORS[name](**params)


def build_calibrator(name: str, **params: Any) -> Calibrator:
    """Build a :class:`Calibrator` by feature backend name (no default here: the curation config's
    ``calibrate.backend`` is the one place it is chosen; ``heatmap`` there).

    * ``"heatmap"``: keypoints from the heatmap model
      (:class:`~soccerfactory.curation.calibration.heatmap.HeatmapKeypointDetector`: ``weights``,
      ``keypoint_conf``, ``min_peak``, ``device``, ``batch_size``), refined with ``lines-classic``
      line pixels unless ``lines=False``.
    * ``"yolo-pose"``: keypoints from :class:`YoloPoseDetector` (its arguments: ``weights``,
      ``imgsz``, ``conf``, ``keypoint_conf``, ``device``, ``batch_size``), refined with
      ``lines-classic`` line pixels unless ``lines=False``.
    * ``"lines-classic"``: lines only; from ``initial_camera`` (the camera of the first frame)
      when given, else from the line search.
    * ``"lines"``: no model: the line search places the camera
      (:class:`~soccerfactory.curation.calibration.line_search.LineSearchInitialiser`),
      line pixels track it.

    Other keyword arguments go to :class:`LinesClassicDetector` (``search_px``, ``threshold``,
    ...) or to :class:`Calibrator` (``pitch``, ``max_error_px``, ``max_prior_gap``,
    ``smoothing``, ``line_passes``, ``initial_camera``, and :func:`calibrate_frame` options).

    Raises:
        ValueError: Unknown ``name``, listing the valid ones.
    """
    if name not in CALIBRATOR_BACKENDS:
        raise ValueError(f"unknown calibrator {name!r}; valid choices: {', '.join(CALIBRATOR_BACKENDS)}")
    params = dict(params)
    if name == "lines":
        params.setdefault("line_search", True)
    use_lines = params.pop("lines", True) if name in _KEYPOINT_OPTIONS else True
    pitch = params.get("pitch")
    line_params = {k: params.pop(k) for k in list(params) if k in _LINE_OPTIONS}
    line_detector = LinesClassicDetector(pitch, **line_params) if use_lines else None
    detector = None
    if name in _KEYPOINT_OPTIONS:
        keys = _KEYPOINT_OPTIONS[name]
        detector = FEATURE_DETECTORS[name](**{k: params.pop(k) for k in list(params) if k in keys})
    return Calibrator(detector, line_detector, **params)
