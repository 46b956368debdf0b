"""``make gpu-check``: bad arguments in one line (exit 2), a JSON with every part even when parts
fail, and (slow) every part running on the CPU on a short clip."""

from __future__ import annotations

import json

import pytest
import torch

from soccerfactory.flows.gpu_check import GOAL_FPS_720P, PARTS, main


@pytest.mark.parametrize(
    "arguments, words",
    [
        (["--device", "gpu"], "--device='gpu' is not a device"),
        (["--device", "cpu", "--parts", "curate,fly"], "--parts fly: choose from curate,detect,refine,train"),
        (["--device", "cpu", "--batches", "8,x"], "--batches must be comma-separated integers"),
        (["--device", "cpu", "--batches", "0"], "--batches must be in [1, 256]"),
        (["--device", "cpu", "--seconds", "0"], "--seconds must be in (0, 60]"),
        (["--device", "cpu", "--backbone", "vit-huge"], "--backbone must be tiny or vit-large"),
        (["--device", "cpu", "--sam2-checkpoint", "/nowhere/sam2.pt"], "--sam2-checkpoint /nowhere/sam2.pt not found"),
        (["--device", "cpu", "--no-such-option"], "unrecognized arguments: --no-such-option"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(arguments, words, capsys, tmp_path):
    out = tmp_path / "check.json"
    try:
        code = main([*arguments, "--out", str(out)])
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_cuda_without_cuda_says_what_to_do(capsys):
    assert main(["--device", "cuda"]) == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert line.startswith("error: --device='cuda' but torch ") and "set --device=cpu" in line


def test_a_failing_part_is_recorded_and_the_json_still_written(tmp_path, capsys):
    # A part past its limit is killed; the report keeps the device, the clip and the goal.
    out = tmp_path / "check.json"
    assert main(["--device", "cpu", "--seconds", "0.2", "--parts", "train", "--part-limit-s", "0.5", "--out", str(out)]) == 1
    report = json.loads(out.read_text())
    assert report["device"]["device"] == "cpu" and report["device"]["torch"] == torch.__version__
    assert report["clip"] == {**report["clip"], "width": 1280, "height": 720, "seconds": 0.2}
    assert report["parts"]["train"]["ok"] is False and "timed out after 0.5 s" in report["parts"]["train"]["error"]
    assert report["summary"]["goal_fps_720p"] == GOAL_FPS_720P and report["summary"]["parts_failed"] == ["train"]
    assert report["summary"]["meets_goal"] is None
    assert "not GPU figures" in report["note"]


@pytest.mark.slow
def test_every_part_runs_on_the_cpu(tmp_path):
    out = tmp_path / "check.json"
    code = main(["--device", "cpu", "--seconds", "1", "--backbone", "tiny", "--batches", "2", "--train-steps", "1", "--out", str(out)])
    report = json.loads(out.read_text())
    assert code == 0, {name: part.get("error") for name, part in report["parts"].items()}
    parts = report["parts"]
    assert list(parts) == list(PARTS) and all(part["ok"] for part in parts.values())
    curate = parts["curate"]
    assert curate["frames"] == 25 and curate["fps_end_to_end"] > 0 and curate["athlete_rows"] > 0
    assert curate["config"]["detect.device"] == "cpu" and curate["cli"]["exit_code"] == 0
    assert parts["detect"]["half"] is False and [run["batch"] for run in parts["detect"]["runs"]] == [2]
    assert parts["refine"]["boxes"] > 0 and parts["refine"]["on_device"] is False
    assert parts["train"]["fp32"]["steps_per_s"] > 0 and "bf16_autocast" not in parts["train"]
    assert all(part["peak_rss_gb"] > 0 and "peak_gpu_memory_gb" not in part for part in (curate, parts["detect"], parts["refine"]))
    summary = report["summary"]
    assert summary["fps_720p_end_to_end"] == curate["fps_end_to_end"] and summary["meets_goal"] is (curate["fps_end_to_end"] >= 60)
