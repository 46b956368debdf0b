"""`soccerfactory server` plus PREFECT_API_URL: runs land in a real local Prefect server (the UI's API)."""

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

from soccerfactory.flows.prefect_env import hermetic_prefect_env, subprocess_env


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
