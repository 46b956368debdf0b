"""``curate`` with a CUDA device on a machine without CUDA: one line naming the key, exit 2, nothing written."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from soccerfactory.flows.cli import app


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_cuda_without_cuda_exits_2_with_one_line(tmp_path):
    source = tmp_path / "match.mp4"
    source.write_bytes(b"\0")  # never opened: the config is refused first
    result = CliRunner().invoke(app, ["curate", str(source), "--output", str(tmp_path / "out"), "--set", "detect.device=cuda"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: detect.device='cuda' but torch ") and "set detect.device=cpu" in lines[0]
    assert not (tmp_path / "out").exists()
