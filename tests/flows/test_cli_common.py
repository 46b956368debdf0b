"""What the commands share: the load-config / run / report-errors block and the local output folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from soccerfactory.flows.cli_common import OneLineErrors, fail, local_root, reported, run_with_config


def test_local_root_follows_the_storage_rule_for_local_urls(tmp_path):
    assert local_root("out") == Path("out")
    assert local_root(f"file://{tmp_path}") == tmp_path
    assert local_root(f"local://{tmp_path}") == tmp_path
    assert local_root("s3://bucket/root") is None and local_root("memory://root") is None


def test_fail_prints_one_error_line_and_exits_2(capsys):
    with pytest.raises(typer.Exit) as exited:
        fail("no such file")
    assert exited.value.exit_code == 2 and capsys.readouterr().err == "error: no such file\n"


def test_run_with_config_runs_on_the_resolved_config():
    assert run_with_config(None, ["detect.conf=0.4"], lambda config: config.detect.conf) == 0.4
    assert run_with_config(None, []).config_hash() == run_with_config(None, []).config_hash()


def test_run_with_config_reports_a_bad_config_in_one_line(capsys):
    with pytest.raises(typer.Exit) as exited:
        run_with_config(None, ["detect.nope=1"], lambda config: pytest.fail("ran on a bad config"))
    error = capsys.readouterr().err
    assert exited.value.exit_code == 2 and error.startswith("error: ") and "detect.nope" in error and error.count("\n") == 1


def test_run_with_config_reports_a_bad_input_the_run_meets(capsys):
    def run(config):
        raise FileNotFoundError("no weights at /nowhere/model.pt")

    with pytest.raises(typer.Exit) as exited:
        run_with_config(None, [], run)
    assert exited.value.exit_code == 2 and capsys.readouterr().err == "error: no weights at /nowhere/model.pt\n"


def test_run_with_config_takes_the_model_run_loader(capsys):
    from soccerfactory.model.config import load_model_config

    assert run_with_config(None, ["train.steps=7"], lambda config: config.train.steps, load=load_model_config) == 7
    with pytest.raises(typer.Exit):
        run_with_config(None, ["train.steps=-1"], load=load_model_config)
    assert "train.steps" in capsys.readouterr().err


def test_reported_lets_a_bug_through():
    def bug():
        raise RuntimeError("a bug, not a bad input")

    with pytest.raises(RuntimeError):
        reported(bug)
    assert reported(lambda: 3) == 3


def _group_raising(error: Exception):
    app = typer.Typer(cls=OneLineErrors)

    @app.command()
    def go() -> None:
        raise error

    @app.command()
    def other() -> None:  # two commands: a group, as soccerfactory is
        pass

    return typer.main.get_command(app)


def test_a_prefect_server_that_did_not_start_in_time_is_one_line_exit_1(capsys, monkeypatch):
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    command = _group_raising(RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server."))
    with pytest.raises(SystemExit) as exit_info:
        command.main(["go"], prog_name="soccerfactory")
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "120 s" in err and "PREFECT_API_URL" in err
    assert "Traceback" not in err


def test_any_other_runtime_error_is_a_bug_and_goes_through():
    with pytest.raises(RuntimeError, match="something else"):
        _group_raising(RuntimeError("something else")).main(["go"], prog_name="soccerfactory")
