"""`soccerfactory deploy`: a landing folder curated on a schedule, as a Prefect deployment.

Fast: the checks before anything is registered (config, schedule, folders, server), the dry run,
and what registration writes to the session's Prefect server (read back with the client). Slow:
a real `prefect server` on loopback, `soccerfactory deploy` serving from a subprocess, two runs
triggered from the deployment (the second after a new file landed: only it is curated), and the
served process stopped with SIGTERM leaving no process behind.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from soccerfactory.curation.config import load_config
from soccerfactory.flows.bench_faults import render_sources
from soccerfactory.flows.cli import app
from soccerfactory.flows.deploy import FLOW_NAME, MIN_INTERVAL_S, DeploySpec, deployment_name, parse_every, register
from soccerfactory.flows.prefect_env import apply_env, hermetic_prefect_env, subprocess_env

#: Small and quick: the bundled detector at 320 px, no ball slices.
_FAST = {"detect": {"imgsz": 320, "ball_slices": 0}, "decode": {"jersey_fps": 0.5, "semantic_fps": 0.5}, "run": {"max_parallel_clips": 1}}


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "curate.yaml"
    path.write_text(yaml.safe_dump(_FAST))
    return path


@pytest.fixture
def landing(tmp_path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


def _deploy(*args: str):
    return CliRunner().invoke(app, ["deploy", *args])


def test_the_command_is_listed_with_its_own_help(listed_commands, own_help):
    assert "deploy" in listed_commands()
    text = own_help("deploy")
    assert "Curate a landing folder on a schedule" in text
    assert "--every" in text and "--gpu-slots" in text and "--dry-run" in text


def test_a_dry_run_prints_the_deployment_with_the_config_files_values_and_registers_nothing(tmp_path, landing, config_file):
    result = _deploy(str(landing), "--output", str(tmp_path / "out"), "--config", str(config_file), "--every", "90s", "--gpu-slots", "2",
                     "--dry-run")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.output.splitlines() if ":" in line)
    assert lines["deployment"].split()[0] == f"{FLOW_NAME}/landing"
    assert lines["schedule"].strip().startswith("every 90 s")
    assert lines["gpu slots"].split()[0] == "2"
    parameters = json.loads(lines["parameters"])
    assert parameters["landing"] == str(landing.resolve()) and parameters["output"] == str((tmp_path / "out").resolve())
    assert parameters["config"]["detect"]["imgsz"] == 320 and parameters["config"]["run"]["gpu_slots"] == 2
    assert "none set" in lines["server"]  # the hermetic session has no PREFECT_API_URL, and a dry run needs none


@pytest.mark.parametrize(
    "args, message",
    [
        (["--every", "3x"], "--every '3x' is not an interval"),
        (["--every", "5s"], f"shorter than {MIN_INTERVAL_S} s"),
        (["--every", "1h", "--cron", "0 * * * *"], "pass --every or --cron, not both"),
        (["--cron", "every hour"], "--cron 'every hour' is not a schedule"),
        (["--cron", "0 * * * *", "--timezone", "Mars/Base"], "Invalid timezone"),
        (["--timezone", "Europe/Madrid"], "--timezone applies to --cron"),
        (["--set", "detect.conf=7"], "detect.conf"),
        (["--set", "run.gpu_slots=0"], "run.gpu_slots"),
        (["--gpu-slots", "0"], "--gpu-slots"),
        (["--name", "a/b"], "--name 'a/b' cannot name a deployment"),
    ],
)
def test_a_bad_option_or_config_is_one_line_and_exit_2(tmp_path, landing, args, message):
    result = _deploy(str(landing), "--output", str(tmp_path / "out"), "--dry-run", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.startswith("error:") and len(result.output.strip().splitlines()) == 1, result.output


def test_a_bad_config_file_is_refused_before_anything_is_registered(tmp_path, landing):
    bad = tmp_path / "bad.yaml"
    bad.write_text("detect: {imgsz: 320, no_such_key: 1}\n")
    result = _deploy(str(landing), "--output", str(tmp_path / "out"), "--config", str(bad))
    assert result.exit_code == 2, result.output
    assert "no_such_key" in result.output and str(bad) in result.output


def test_a_missing_landing_folder_is_refused(tmp_path):
    result = _deploy(str(tmp_path / "no-such-folder"), "--output", str(tmp_path / "out"), "--dry-run")
    assert result.exit_code == 2, result.output
    assert "landing folder" in result.output and "does not exist" in result.output


def test_without_a_prefect_server_deploy_says_how_to_start_one(tmp_path, landing):
    assert not os.environ.get("PREFECT_API_URL")  # the hermetic session runs on the ephemeral API
    result = _deploy(str(landing), "--output", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "deploy needs a Prefect server" in result.output and "soccerfactory server" in result.output


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), ("600", 600), ("1.5m", 90)])
def test_intervals_read_in_seconds_minutes_hours_and_days(text, seconds):
    assert parse_every(text) == seconds


def test_the_default_name_is_the_landing_folders_own():
    assert deployment_name("/data/landing/") == "landing"
    assert deployment_name("s3://bucket/drop zone") == "drop-zone"


def test_registering_writes_the_schedule_parameters_and_one_run_at_a_time(tmp_path, landing):
    """What `deploy` registers (serve registers the same options), read back from the server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy

    from soccerfactory.flows.concurrency import GPU_TAG, gpu_slots

    config = load_config(None, ["detect.imgsz=320", "run.gpu_slots=2"])
    spec = DeploySpec(name=f"t-{os.getpid()}", landing=str(landing), output=str(tmp_path / "out"), config=config, interval_s=900)
    deployment_id = register(spec)
    try:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(spec.full_name)
        assert str(deployment.id) == deployment_id
        assert deployment.parameters == spec.parameters()
        assert deployment.parameters["config"]["detect"]["imgsz"] == 320
        assert [s.schedule.interval for s in deployment.schedules] == [datetime.timedelta(seconds=900)]
        assert deployment.entrypoint == "soccerfactory.flows.deploy.curate_landing"
        assert deployment.global_concurrency_limit.limit == 1
        assert deployment.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW
        assert gpu_slots() == 2
        # A second deploy of the same name updates it in place: a new schedule, still one deployment.
        assert register(DeploySpec(**{**spec.__dict__, "interval_s": None, "cron": "*/15 * * * *"})) == deployment_id
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(spec.full_name)
        assert [s.schedule.cron for s in deployment.schedules] == ["*/15 * * * *"]
    finally:
        with get_client(sync_client=True) as client:
            client.delete_deployment(deployment_id)
            client.delete_concurrency_limit_by_tag(GPU_TAG)


# --------------------------------------------------------------------------- served, end to end


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(check, what: str, process: subprocess.Popen, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception:  # noqa: BLE001 - not there yet
            pass
        assert process.poll() is None, f"{process.args[:3]} exited {process.returncode}: {process.stderr.read()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.5)


def _healthy(api: str) -> bool:
    with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
        return response.status == 200


def _same_session(pid: int) -> list:
    """Processes still in the session ``pid`` leads (started with start_new_session)."""
    import psutil

    left = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == pid:
                left.append(process)
        except (ProcessLookupError, PermissionError, psutil.Error):
            pass
    return left


@pytest.fixture
def prefect_server(tmp_path):
    """A real `prefect server` on a free loopback port (its own home); yields its API URL."""
    port = _free_port()
    env = subprocess_env(hermetic_prefect_env(tmp_path / "server-home"))
    cli = str(Path(sys.executable).with_name("soccerfactory"))
    server = subprocess.Popen([cli, "server", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        _wait_for(lambda: _healthy(api), "the Prefect server answered", server)
        yield api
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.slow
def test_a_served_deployment_curates_what_lands_and_stops_cleanly(tmp_path, prefect_server, config_file):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    from soccerfactory.flows.concurrency import gpu_slots

    api = prefect_server
    footage = render_sources(tmp_path / "footage", n=2, seconds=0.8)
    landing, output = tmp_path / "landing", tmp_path / "out"
    landing.mkdir()
    shutil.copy(footage / "clip1.mp4", landing / "clip1.mp4")
    env = {**subprocess_env(hermetic_prefect_env(tmp_path / "client-home")), "PREFECT_API_URL": api, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    cli = str(Path(sys.executable).with_name("soccerfactory"))
    command = [cli, "deploy", str(landing), "--output", str(output), "--config", str(config_file), "--every", "1d", "--gpu-slots", "1",
               "--name", "drop"]
    served = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        with apply_env({"PREFECT_API_URL": api}):
            with get_client(sync_client=True) as client:
                deployment = _wait_for(lambda: client.read_deployment_by_name(f"{FLOW_NAME}/drop"), "the deployment was registered", served)
            assert [s.schedule.interval for s in deployment.schedules] == [datetime.timedelta(days=1)]
            assert deployment.parameters["landing"] == str(landing) and deployment.parameters["output"] == str(output)
            assert deployment.parameters["config"]["detect"]["imgsz"] == 320  # from the config file
            assert deployment.parameters["config"]["run"]["gpu_slots"] == 1 and gpu_slots() == 1

            first = run_deployment(f"{FLOW_NAME}/drop", timeout=600, poll_interval=1, as_subflow=False)
            assert first.state.is_completed(), first.state
            assert _catalogued(output) == ["clip1"]
            # A new file lands; the next run curates it and skips the one already done.
            shutil.copy(footage / "clip2.mp4", landing / "clip2.mp4")
            second = run_deployment(f"{FLOW_NAME}/drop", timeout=600, poll_interval=1, as_subflow=False)
            assert second.state.is_completed(), second.state
            assert _catalogued(output) == ["clip1", "clip2"]
            with duckdb.connect(str(output / "catalog.duckdb"), read_only=True) as db:
                runs = db.execute("SELECT status, n_clips, n_curated, n_skipped FROM runs ORDER BY started_at").fetchall()
            # (Skipping needs the same code version: an edit of curation/ between the runs re-curates.)
            assert runs == [("completed", 1, 1, 0), ("completed", 2, 1, 1)]

        served.send_signal(signal.SIGTERM)
        assert served.wait(timeout=60) == 0, served.stderr.read()[-3000:]
        _wait_for_none(served.pid)
        with apply_env({"PREFECT_API_URL": api}):
            with get_client(sync_client=True) as client:
                assert client.read_deployment_by_name(f"{FLOW_NAME}/drop").paused  # no runs pile up while nothing serves it
    finally:
        if served.poll() is None:
            os.killpg(served.pid, signal.SIGKILL)
            served.wait(timeout=30)


def _wait_for_none(session: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while (left := _same_session(session)) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not left, f"left running: {[(p.pid, p.cmdline()) for p in left]}"


def _catalogued(output: Path) -> list[str]:
    """Source ids of the clips in the catalog (clip ids are SOURCE-START-STOP)."""
    with duckdb.connect(str(output / "catalog.duckdb"), read_only=True) as db:
        clips = [clip for (clip,) in db.execute("SELECT clip_id FROM shards ORDER BY clip_id").fetchall()]
    return [clip.rsplit("-", 2)[0] for clip in clips]
