"""The environment commands: `soccerfactory server` plus PREFECT_API_URL lands runs in a real local
Prefect server (the UI's API); `soccerfactory env` lists the versions; each has its own --help."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import json
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soccerfactory.flows.cli import app
from soccerfactory.flows.prefect_env import hermetic_prefect_env, subprocess_env


@pytest.mark.parametrize(
    "path, own_words",
    [
        (("server",), "Start a local Prefect server (UI at http://127.0.0.1:PORT) for watching runs."),
        (("env",), "Show versions and the offline settings the vision backends run with."),
    ],
)
def test_each_command_is_listed_with_its_own_help(path, own_words, listed_commands, own_help):
    assert path[-1] in listed_commands(*path[:-1])
    assert own_words in own_help(*path)


def test_env_lists_the_versions_of_the_stack():
    result = CliRunner().invoke(app, ["env"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1] for line in result.output.splitlines() if line.strip()}
    assert set(rows) >= {"soccerfactory", "torch", "ultralytics", "prefect", "duckdb", "numpy"}
    assert rows["prefect"] != "not"  # installed, so a version, not "not installed"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_runs_show_up_in_the_server_the_cli_starts(tmp_path):
    port = _free_port()
    env = subprocess_env(hermetic_prefect_env(tmp_path / "server-home"))
    cli = str(Path(sys.executable).with_name("soccerfactory"))
    server = subprocess.Popen([cli, "server", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "server did not answer within 120 s"
            time.sleep(0.5)
        client_env = {**subprocess_env(hermetic_prefect_env(tmp_path / "client-home")), "PREFECT_API_URL": api}
        flow = subprocess.run(
            [sys.executable, "-c", f"from soccerfactory.flows.synthesize import synthesize; synthesize(output={str(tmp_path / 'out')!r}, clips=1, seconds=0.2, width=320, height=180)"],
            env=client_env, capture_output=True, text=True, timeout=180,
        )
        assert flow.returncode == 0, flow.stderr[-2000:]
        request = urllib.request.Request(f"{api}/flow_runs/filter", data=b"{}", headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            runs = json.loads(response.read())
        assert [r["state_type"] for r in runs] == ["COMPLETED"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_sigterm_to_the_server_command_stops_the_prefect_server_it_started(tmp_path):
    """A supervisor's TERM reaches only `soccerfactory server`; its Prefect child (the uvicorn
    server) must go too, or the port stays taken by an orphan."""
    import psutil

    port = _free_port()
    env = subprocess_env(hermetic_prefect_env(tmp_path / "server-home"))
    cli = str(Path(sys.executable).with_name("soccerfactory"))
    server = subprocess.Popen([cli, "server", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    children: list = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "server did not answer within 120 s"
            time.sleep(0.3)
        children = psutil.Process(server.pid).children(recursive=True)
        assert children, "the server command answered without a child process"
        os.kill(server.pid, signal.SIGTERM)  # the parent alone, as a supervisor or `kill PID` does
        assert server.wait(timeout=15) == 128 + signal.SIGTERM
        gone, alive = psutil.wait_procs(children, timeout=5)
        assert alive == [], f"left running: {[(p.pid, p.cmdline()) for p in alive]}"
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
    finally:
        for process in [*children, server]:  # whatever the assertions left, by pid
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        server.wait(timeout=30)

