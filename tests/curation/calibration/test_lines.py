"""The line-pixel detector on rendered broadcast frames, and camera-free line segments."""

from __future__ import annotations

import numpy as np

from soccerfactory.curation.calibration.lines import LinesClassicDetector, fit_line_segments
from soccerfactory.curation.calibration.refinement import refine_camera
from soccerfactory.curation.pitch import LINE_NAMES, PitchModel

PITCH = PitchModel()
WIDTH, HEIGHT = 640, 360


def test_lines_classic_finds_and_names_line_pixels(clip):
    detector = LinesClassicDetector(PITCH)
    truth = clip.camera(3)
    mask = detector.line_mask(clip.frames.images[3])
    assert mask.dtype == bool and mask.shape == (HEIGHT, WIDTH) and 0 < mask.mean() < 0.1
    # Named with the previous frame's camera, every pixel lies on its line under the true camera.
    lines = detector.observe(clip.frames.images[3], clip.camera(2), mask=mask)
    assert len(lines) >= 5 and all(name in LINE_NAMES for name, _ in lines)
    for name, pixels in lines:
        _, stats = refine_camera(truth, None, [(name, pixels)], PITCH, prior_weight=1e6)
        assert np.median(stats.line_error_px) < 1.0, name
    # Without a camera there is nothing to name the pixels with.
    assert [(len(o), o.lines) for o in detector(clip.frames[:2])] == [(0, ())] * 2
    named = detector(clip.frames[3:4], [clip.camera(2)])
    assert [n for n, _ in named[0].lines] == [n for n, _ in lines]


def test_fitted_line_segments_lie_on_the_painted_lines(clip):
    mask = LinesClassicDetector(PITCH).line_mask(clip.frames.images[0])
    segments = fit_line_segments(mask)
    assert len(segments) >= 5
    lengths = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    assert (np.diff(lengths) <= 1e-9).all() and lengths.min() >= 0.06 * WIDTH
    truth = clip.camera(0)
    samples = np.concatenate(list(PITCH.sample_lines(0.1).values()))
    painted = truth.project(samples[truth.depth(samples) > 0])
    worst = []
    for segment in segments:
        along = np.linspace(segment[:2], segment[2:], 20)
        worst.append(np.min(np.linalg.norm(along[:, None] - painted[None], axis=2), axis=1).max())
    # Measured: 1.1-2.2 px for the straight markings; a chord of the penalty arc strays ~4 px.
    assert np.median(worst) < 2.0 and np.mean(np.array(worst) < 3.0) >= 0.8
    # One segment per painted line: no two nearly identical segments survive the merge.
    for i in range(len(segments)):
        for j in range(i + 1, len(segments)):
            assert np.abs(segments[i] - segments[j]).max() > 4.0
    assert fit_line_segments(np.zeros((HEIGHT, WIDTH), bool)).shape == (0, 4)
