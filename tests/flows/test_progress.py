"""Progress lines: rate-limited in logs, with rate and ETA; a live bar in a terminal."""

from __future__ import annotations

import io

import pytest

from soccerfactory.flows import progress as progress_module
from soccerfactory.flows.progress import Progress, format_duration


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (59.4, "59s"), (75, "1m15s"), (3725, "1h02m"), (float("nan"), "?"), (-1, "?")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_plain_lines_are_rate_limited_and_carry_rate_eta_and_the_last_line(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock[0])
    monkeypatch.delenv("PREFECT_LOGGING_LEVEL", raising=False)
    lines: list[str] = []
    with Progress(say=lines.append, interval_s=10, live=False) as board:
        steps = board.task("train", total=100, unit="steps")
        for step in range(1, 101):
            clock[0] += 0.5  # 2 steps/s
            steps.update(step, note=f"loss {1 / step:.3f}")
    # 50 s of work: a line every 10 s (5) and the finishing one; never a line per step.
    assert 4 <= len(lines) <= 6, lines
    assert lines[0].startswith("train: 20/100 steps, 2.00 steps/s, loss 0.050, ETA 40s")
    assert lines[-1] == "train: 100/100 steps, 2.00 steps/s, loss 0.010, done in 50s"


def test_a_resumed_task_counts_only_this_processs_rate(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock[0])
    monkeypatch.delenv("PREFECT_LOGGING_LEVEL", raising=False)
    lines: list[str] = []
    board = Progress(say=lines.append, interval_s=0, live=False)
    steps = board.task("train", total=300, unit="steps", done=200)
    clock[0] = 10.0
    steps.update(210)
    assert lines == ["train: 210/300 steps, 1.00 steps/s, ETA 1m30s"]


def test_quiet_runs_print_no_lines(monkeypatch):
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "WARNING")
    lines: list[str] = []
    board = Progress(say=lines.append, interval_s=0, live=False)
    board.task("curate", total=2, unit="clips").advance(2)
    assert lines == []


def test_the_live_bar_draws_in_place_with_eta(monkeypatch):
    from rich.console import Console

    monkeypatch.delenv("PREFECT_LOGGING_LEVEL", raising=False)
    buffer = io.StringIO()
    monkeypatch.setattr("rich.console.Console", lambda **kw: Console(file=buffer, force_terminal=True, width=120))
    with Progress(live=True) as board:
        clips = board.task("curate", total=4, unit="clips")
        clips.advance(2, note="seed-1")
    text = buffer.getvalue()
    assert "curate" in text and "2/4" in text and "ETA" in text and "seed-1" in text
