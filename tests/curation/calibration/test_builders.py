"""The calibration backends by name: unknown names, argument routing, defaults, the bundled model."""

from __future__ import annotations

import inspect

import cv2
import numpy as np
import pytest

from soccerfactory.curation.calibration import builders as backends
from soccerfactory.curation.calibration.builders import build_calibrator, build_feature_detector
from soccerfactory.curation.calibration.calibrator import Calibrator
from soccerfactory.curation.calibration.lines import LinesClassicDetector
from soccerfactory.curation.config import CalibrateConfig
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.curation.types import Frames

PITCH = PitchModel()


def test_builders_reject_unknown_names():
    with pytest.raises(ValueError, match="heatmap, yolo-pose, lines-classic"):
        build_feature_detector("hough")
    with pytest.raises(ValueError, match="heatmap, yolo-pose, lines-classic, lines"):
        build_calibrator("hough")


def test_defaults_follow_the_curation_config():
    """The config's calibrate section is what runs; the library's own defaults must agree with it."""
    section = CalibrateConfig()
    # The backend is chosen in the config alone; the builder has no default to disagree with it.
    assert inspect.signature(build_calibrator).parameters["name"].default is inspect.Parameter.empty
    assert section.backend in backends.CALIBRATOR_BACKENDS
    assert inspect.signature(Calibrator).parameters["max_error_px"].default == section.max_error_px


def test_build_calibrator_routes_each_argument_to_the_receiver_that_takes_it():
    """The explicit option sets name exactly the parameters of the detector or builder they feed."""
    assert backends._LINE_OPTIONS == set(inspect.signature(LinesClassicDetector).parameters) - {"pitch"}
    for name, options in backends._KEYPOINT_OPTIONS.items():
        assert options == set(inspect.signature(backends.FEATURE_DETECTORS[name]).parameters), name
    calibrator = build_calibrator("lines-classic", pitch=PITCH, search_px=7.0, threshold=25, smoothing=0.5)
    assert calibrator.line_detector.search_px == 7.0 and calibrator.line_detector.threshold == 25
    assert calibrator.smoothing == 0.5 and calibrator.detector is None
    # An argument no receiver of this backend takes reaches the Calibrator, which names it.
    with pytest.raises(TypeError, match="weights"):
        build_calibrator("lines-classic", weights="pitch-keypoints.pt")


PLAYERS_VALID = DEFAULT_DATA_ROOT / "football-players" / "valid"


@pytest.mark.skipif(not PLAYERS_VALID.is_dir(), reason="needs ../shared/data/football-players")
def test_default_calibrator_solves_broadcast_frames_and_rejects_close_ups_and_crowds():
    """The bundled keypoint model places main-camera frames; a 4x zoom on a player (a close-up)
    and a crowd-like texture get no camera, with the reason, instead of a guess."""
    calibrator = build_calibrator("heatmap", pitch=PITCH, max_error_px=15.0)
    image = cv2.resize(cv2.imread(str(sorted((PLAYERS_VALID / "images").glob("*.jpg"))[0])), (1280, 720))
    close_up = cv2.resize(image[300:480, 500:820], (1280, 720))
    crowd = cv2.resize(np.random.default_rng(0).integers(0, 255, (36, 64, 3), dtype=np.uint8), (1280, 720), interpolation=cv2.INTER_NEAREST)
    results = {}
    for name, frame in (("broadcast", image), ("close-up", close_up), ("crowd", crowd)):
        (results[name],) = calibrator.fresh()(Frames(frame[None], np.array([0]), np.zeros(1), 25.0, name))
    assert results["broadcast"].valid and results["broadcast"].n_keypoints >= 6
    for name in ("close-up", "crowd"):
        assert not results[name].valid and results[name].camera is None
        assert "keypoints" in results[name].reason
