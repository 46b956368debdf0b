"""The detector / pitch-keypoint training driver: what its manifest records."""

from __future__ import annotations

from soccerfactory.curation.training.yolo import _reproduce_command


def test_the_reproduce_command_runs_every_stage_with_the_same_arguments():
    module = "python -m soccerfactory.curation.training.yolo"
    assert _reproduce_command(f"{module} detector --stage train --epochs 1 --work-dir '/tmp/a b'") == (
        f"{module} detector --epochs 1 --work-dir '/tmp/a b'"
    )
    # Both argparse spellings of the option, wherever it stands; a value that merely contains
    # the words (a run name) is left alone.
    assert _reproduce_command(f"{module} --stage=train pitch-keypoints --run-name 'x --stage train'") == (
        f"{module} pitch-keypoints --run-name 'x --stage train'"
    )
