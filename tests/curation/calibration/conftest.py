"""Fixtures shared by the calibration tests: a rendered broadcast clip with its exact cameras, and
the two measures of a camera against the truth.

The synthetic renderer writes the exact camera of every frame with its keypoints and line samples,
so every accuracy figure is measured against ground truth, not against another estimate.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from soccerfactory.curation.calibration.observations import PitchObservations
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.types import Frames

PITCH = PitchModel()
WIDTH, HEIGHT = 640, 360


class RenderedClip:
    """A rendered clip with its frames and ground-truth tables."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cameras = pq.read_table(root / "gt" / "cameras.parquet").to_pandas()
        self.keypoints = pq.read_table(root / "gt" / "keypoints.parquet").to_pandas()
        self.lines = pq.read_table(root / "gt" / "lines.parquet").to_pandas()
        self.athletes = pq.read_table(root / "gt" / "athletes.parquet").to_pandas()
        files = sorted((root / "img1").glob("*.jpg"))
        images = np.stack([cv2.imread(str(f)) for f in files])
        index = np.arange(len(images), dtype=np.int64)
        self.frames = Frames(images, index, index / 25.0, 25.0, str(root))

    def camera(self, frame: int) -> Camera:
        row = self.cameras[self.cameras.frame_index == frame].iloc[0]
        K = np.array([[row.fx, 0, row.cx], [0, row.fy, row.cy], [0, 0, 1]])
        return Camera(K, np.reshape(row.rotation, (3, 3)), [row.position_x, row.position_y, row.position_z],
                      (WIDTH, HEIGHT), dist=np.asarray(row.distortion, dtype=np.float64))

    def observed_keypoints(self, frame: int, sigma: float, rng: np.random.Generator) -> PitchObservations:
        """The visible dataset keypoints (ids < 32) of a frame, with Gaussian pixel noise."""
        k = self.keypoints
        k = k[(k.frame_index == frame) & k.in_image & ~k.occluded & (k.keypoint_id < 32)]
        pixels = k[["x", "y"]].to_numpy() + rng.normal(0, sigma, (len(k), 2))
        return PitchObservations(pixels, k.keypoint_id.to_numpy(), np.ones(len(k)))

    def gt_lines(self, frame: int) -> list[tuple[str, np.ndarray]]:
        rows = self.lines[self.lines.frame_index == frame]
        return [(name, group[["x", "y"]].to_numpy()) for name, group in rows.groupby("line")]

    def athlete_boxes(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        a = self.athletes[self.athletes.frame_index == frame]
        return a[["x1", "y1", "x2", "y2"]].to_numpy(), a[["pitch_x", "pitch_y"]].to_numpy()


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> RenderedClip:
    """10 frames of 640x360 broadcast footage, seed 1."""
    root = tmp_path_factory.mktemp("calibrate-seed1")
    render_clip(SynthConfig(seconds=0.4, seed=1, width=WIDTH, height=HEIGHT), root, images=True)
    return RenderedClip(root)


@pytest.fixture(scope="session")
def read_rendered_clip():
    """:class:`RenderedClip`, for the tests that render a clip of their own."""
    return RenderedClip


def _line_error_px(camera: Camera, truth: Camera) -> float:
    """RMS pixel distance between where ``camera`` and ``truth`` put the pitch lines in the image."""
    samples = np.concatenate(list(PITCH.sample_lines(1.0).values()))
    samples = samples[truth.depth(samples) > 0]
    expected = truth.project(samples)
    inside = (expected[:, 0] >= 0) & (expected[:, 0] < truth.width) & (expected[:, 1] >= 0) & (expected[:, 1] < truth.height)
    return float(np.sqrt(np.mean(np.sum((camera.project(samples[inside]) - expected[inside]) ** 2, axis=1))))


def _panned(camera: Camera, pan_deg: float, focal_factor: float) -> Camera:
    """``camera`` turned about the world vertical by ``pan_deg`` and zoomed by ``focal_factor``."""
    turn = cv2.Rodrigues(np.array([0.0, 0.0, math.radians(pan_deg)]))[0]
    K = camera.K.copy()
    K[0, 0] *= focal_factor
    K[1, 1] *= focal_factor
    return Camera(K, camera.R @ turn, camera.position, camera.image_size, camera.dist)


@pytest.fixture(scope="session")
def line_error_px():
    """:func:`_line_error_px`: how far a camera puts the pitch lines from where the truth does."""
    return _line_error_px


@pytest.fixture(scope="session")
def panned():
    """:func:`_panned`: a camera turned and zoomed off the truth."""
    return _panned
