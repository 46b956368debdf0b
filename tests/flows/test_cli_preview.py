"""`soccerfactory preview`: renders a real shard's clip to an MP4, one-line errors with exit 2."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import groundtruth_shard
from soccerfactory.flows.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    clip_dir = tmp_path_factory.mktemp("cli-preview-clip")
    render_clip(SynthConfig(seconds=1.0, seed=4, width=640, height=360), clip_dir)
    root = tmp_path_factory.mktemp("cli-preview-root")
    clip, _ = groundtruth_shard(clip_dir, root, match_id="cli-match")
    return root, clip


def _frames(path: Path) -> tuple[int, int, int]:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.grab():
        count += 1
    size = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    capture.release()
    return count, *size


def test_help_teaches_with_an_example():
    result = runner.invoke(app, ["preview", "--help"])
    assert result.exit_code == 0
    assert "Example: soccerfactory preview" in result.output
    assert "--max-frames" in result.output and "--match" in result.output
    for option in ("--style", "--radar", "--trail-seconds", "bottom-left", "ellipse"):
        assert option in result.output, option


def test_preview_writes_the_file_and_prints_its_path(shard, tmp_path):
    root, clip = shard
    target = tmp_path / "qa" / "clip.mp4"
    result = runner.invoke(app, ["preview", clip.clip_id, "--output", str(root), "--to", str(target), "--max-frames", "6"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(target)
    assert _frames(target) == (6, clip.width, clip.height)


def test_default_target_is_under_the_shard_root(shard):
    root, clip = shard
    result = runner.invoke(app, ["preview", clip.clip_id, "--match", "cli-match", "-o", str(root), "--max-frames", "2", "-q", "--radar", "off", "--style", "box"])
    assert result.exit_code == 0, result.output
    expected = root / "previews" / "cli-match" / f"{clip.clip_id}.mp4"
    assert result.output.strip() == str(expected)
    assert _frames(expected)[0] == 2


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["no-such-clip"], "no shard of clip 'no-such-clip'"),
        (["no-such-clip", "--match", "cli-match"], "no shard of match 'cli-match' clip 'no-such-clip'"),
        (["CLIP", "--max-frames", "0"], "--max-frames must be >= 1"),
        (["CLIP", "--to", "x.avi"], "must be an .mp4 file"),
        (["CLIP", "--style", "circle"], "--style must be one of ellipse, box, got 'circle'"),
        (["CLIP", "--radar", "middle"], "--radar must be one of bottom-right, bottom-left, top-right, top-left, off"),
        (["CLIP", "--trail-seconds", "-1"], "--trail-seconds must be in [0, 10]"),
        (["CLIP", "--source", "/nonexistent/video.mp4"], "/nonexistent/video.mp4"),
    ],
)
def test_bad_requests_give_one_line_and_exit_2(shard, tmp_path, arguments, message):
    root, clip = shard
    arguments = [clip.clip_id if a == "CLIP" else a for a in arguments]
    target = [] if "--to" in arguments else ["--to", str(tmp_path / "p.mp4")]
    result = runner.invoke(app, ["preview", *arguments, "--output", str(root), *target, "-q"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "p.mp4").exists()


def test_unknown_clip_error_lists_existing_clips(shard):
    root, clip = shard
    result = runner.invoke(app, ["preview", "nope", "--output", str(root), "-q"])
    assert result.exit_code == 2
    assert clip.clip_id in result.output


def test_preview_is_listed_with_its_own_help(listed_commands, own_help):
    assert "preview" in listed_commands()
    assert "Render a curated clip as an MP4 to look at" in own_help("preview")
