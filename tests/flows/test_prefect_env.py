"""Prefect runs on its ephemeral API with all of its state in the session's temporary home."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soccerfactory.flows.prefect_env import (
    ANALYTICS_OFF,
    EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    USER_CONFIG_VARIABLES,
    apply_env,
    embedded_prefect,
    embedded_prefect_env,
    hermetic_prefect_env,
    sqlite_url,
    subprocess_env,
)

USER_PREFECT_DIR = Path.home() / ".prefect"
STARTUP_TIMEOUT = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(EPHEMERAL_STARTUP_TIMEOUT_SECONDS)}


def _snapshot(directory: Path) -> dict[str, int] | None:
    if not directory.exists():
        return None
    return {str(path): path.stat().st_mtime_ns for path in directory.rglob("*")}


def test_hermetic_env_names_only_settings_prefect_knows(tmp_path):
    from prefect.settings import Settings
    from prefect.settings.legacy import _get_valid_setting_names

    known = _get_valid_setting_names(Settings) | {"PREFECT_PROFILE"}  # the profile selector is not a setting
    env = hermetic_prefect_env(tmp_path, environ={})
    prefect_names = {name for name in env if name.startswith("PREFECT_")}
    assert prefect_names <= known, prefect_names - known
    assert env["PREFECT_HOME"] == str(tmp_path.resolve())
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] == sqlite_url(tmp_path)
    assert env["PREFECT_SERVER_EPHEMERAL_ENABLED"] == "true"
    assert int(env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]) >= 60
    assert env.items() >= ANALYTICS_OFF.items()


def test_hermetic_env_removes_inherited_prefect_variables(tmp_path):
    inherited = {"PREFECT_API_URL": "http://prefect.example:4200/api", "PREFECT_API_KEY": "secret", "HOME": "/x"}
    env = hermetic_prefect_env(tmp_path, environ=inherited)
    assert env["PREFECT_API_URL"] is None and env["PREFECT_API_KEY"] is None
    assert "HOME" not in env
    merged = subprocess_env(env, base=inherited)
    assert "PREFECT_API_URL" not in merged and merged["HOME"] == "/x"
    assert merged["PREFECT_HOME"] == str(tmp_path.resolve())


def test_session_settings_resolve_to_the_temporary_home(hermetic_runtime):
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    home = hermetic_runtime.prefect_home.resolve()
    assert settings.home == home
    assert settings.api.url is None
    assert settings.server.ephemeral.enabled
    assert settings.server.analytics_enabled is False
    assert settings.server.database.connection_url.get_secret_value() == sqlite_url(home)
    assert settings.results.local_storage_path == home / "storage"
    assert settings.profiles_path == home / "profiles.toml"


def test_flow_runs_on_the_ephemeral_api_and_is_recorded_in_the_temporary_home(hermetic_runtime):
    from prefect import flow, task
    from prefect.client.orchestration import get_client

    before = _snapshot(USER_PREFECT_DIR)

    @task
    def double(value: int) -> int:
        return value * 2

    @flow(name="prefect-env-smoke")
    def smoke(value: int) -> int:
        return double(value) + 1

    state = smoke(20, return_state=True)
    assert state.is_completed()
    assert state.result() == 41

    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
        assert flow_run.state is not None and flow_run.state.is_completed()
        assert str(client.api_url).startswith("http://127.0.0.1:")  # the local ephemeral server

    database = hermetic_runtime.prefect_home / "prefect.db"
    assert database.is_file()
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT name FROM flow_run WHERE id = ?", (str(flow_run_id),)
        ).fetchall()
    assert len(rows) == 1
    assert _snapshot(USER_PREFECT_DIR) == before, "Prefect wrote to ~/.prefect"


def test_apply_env_sets_removes_and_restores(monkeypatch):
    monkeypatch.setenv("SF_TEST_KEEP", "before")
    monkeypatch.delenv("SF_TEST_NEW", raising=False)
    with apply_env({"SF_TEST_KEEP": None, "SF_TEST_NEW": "value"}):
        assert "SF_TEST_KEEP" not in os.environ
        assert os.environ["SF_TEST_NEW"] == "value"
    assert os.environ["SF_TEST_KEEP"] == "before"
    assert "SF_TEST_NEW" not in os.environ


def test_apply_env_refreshes_prefect_settings_after_import(tmp_path, hermetic_runtime):
    from prefect.settings import get_current_settings

    other_home = tmp_path / "other-home"
    with apply_env(hermetic_prefect_env(other_home)):
        assert get_current_settings().home == other_home.resolve()
    assert get_current_settings().home == hermetic_runtime.prefect_home.resolve()


def test_embedded_env_defaults_to_a_project_local_home(tmp_path):
    env = embedded_prefect_env(tmp_path / "project", environ={"HOME": str(tmp_path / "user")})
    home = (tmp_path / "project" / ".prefect").resolve()
    assert env["PREFECT_HOME"] == str(home)
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] == sqlite_url(home)
    assert env["PREFECT_SERVER_EPHEMERAL_ENABLED"] == "true"
    assert env.items() >= ANALYTICS_OFF.items()
    assert all(value is not None for value in env.values())


@pytest.mark.parametrize(
    "variable, value",
    [
        ("PREFECT_API_URL", "http://127.0.0.1:4200/api"),
        ("PREFECT_HOME", "/srv/prefect"),
        ("PREFECT_PROFILE", "local"),
    ],
)
def test_embedded_env_respects_a_user_configured_prefect(tmp_path, variable, value):
    environ = {"HOME": str(tmp_path / "user"), variable: value}
    assert embedded_prefect_env(tmp_path / "project", environ=environ) == {**ANALYTICS_OFF, **STARTUP_TIMEOUT}


def test_embedded_env_respects_an_active_profile_with_an_api_url(tmp_path):
    profiles = tmp_path / "user" / ".prefect" / "profiles.toml"
    profiles.parent.mkdir(parents=True)
    profiles.write_text('active = "local"\n[profiles.local]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n')
    environ = {"HOME": str(tmp_path / "user")}
    assert embedded_prefect_env(tmp_path / "project", environ=environ) == {**ANALYTICS_OFF, **STARTUP_TIMEOUT}


def test_embedded_env_never_overrides_a_variable_the_user_set(tmp_path):
    environ = {
        "HOME": str(tmp_path / "user"),
        "PREFECT_API_URL": "http://127.0.0.1:4200/api",
        "DO_NOT_TRACK": "0",
    }
    assert embedded_prefect_env(tmp_path, environ=environ) == {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", **STARTUP_TIMEOUT}
    # ... the start-up timeout included.
    environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "30"
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" not in embedded_prefect_env(tmp_path, environ=environ)


def test_embedded_env_respects_user_api_url_in_the_real_environment(tmp_path):
    # apply_env (not monkeypatch) sets the user's URL, so Prefect's settings are rebuilt when it is
    # removed again and later flows in this session keep the ephemeral API.
    with apply_env({"PREFECT_API_URL": "http://127.0.0.1:4200/api"}):
        env = embedded_prefect_env(tmp_path)
        assert "PREFECT_HOME" not in env and "PREFECT_API_URL" not in env
        with apply_env(env):
            assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"


def test_embedded_prefect_runs_flows_on_its_own_server_for_the_block_only(tmp_path):
    # The one set-up every command runs its flows under (cli_*.py, bench.py). The root does not
    # exist yet: `soccerfactory train --output NEW` used to fail its server start (Prefect made
    # only `.prefect`).
    from prefect import flow, task

    @task
    def add_one(x: int) -> int:
        return x + 1

    @flow(name="embedded-check")
    def check() -> int:
        return add_one(41)

    root = tmp_path / "new" / "project"
    (tmp_path / "user").mkdir()
    # A user who configured nothing: the session's hermetic settings (its database) are removed too.
    unset = {name: None for name in os.environ if name.startswith("PREFECT_")}
    with apply_env({**unset, "HOME": str(tmp_path / "user")}):
        expected = embedded_prefect_env(root)
        assert expected["PREFECT_HOME"] == str((root / ".prefect").resolve())
        before = dict(os.environ)
        with embedded_prefect(root) as server:
            assert {key: os.environ[key] for key in expected} == expected
            assert os.environ["PREFECT_API_URL"] == server.api_url and server.api_url.startswith("http://127.0.0.1:")
            process = server.process
            assert check() == 42
        assert dict(os.environ) == before
    assert process.poll() is not None and server.process is None  # stopped with the block
    with sqlite3.connect(root / ".prefect" / "prefect.db") as db:
        runs = db.execute("SELECT f.name, r.state_type FROM flow_run r JOIN flow f ON f.id = r.flow_id").fetchall()
        tasks = db.execute("SELECT state_type FROM task_run").fetchall()
    assert ("embedded-check", "COMPLETED") in runs
    assert tasks and all(state == "COMPLETED" for (state,) in tasks)  # events reached the server before it stopped


_KILLED_IN_THE_BLOCK = """
import os, signal, sys
from soccerfactory.flows.prefect_env import embedded_prefect
with embedded_prefect(sys.argv[1]) as server:
    print(server.process.pid, flush=True)
    print(sorted(m for m in ("prefect.server.api.server", "fastapi", "sqlalchemy") if m in sys.modules), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no finally, no atexit: only the server's death signal is left
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_command_leaves_no_server_and_never_imported_the_server_package(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", _KILLED_IN_THE_BLOCK, str(tmp_path / "root")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    pid_line, imported_line = done.stdout.splitlines()[:2]
    # The command itself never loads Prefect's server package: the server process does.
    assert imported_line == "[]"
    deadline = time.monotonic() + 15
    while _alive(int(pid_line)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(int(pid_line))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_completed_task_lines_are_dropped_and_everything_else_kept(monkeypatch):
    import logging

    from soccerfactory.flows.prefect_env import quiet_lifecycle_logs

    monkeypatch.delenv("SOCCERFACTORY_VERBOSE", raising=False)
    quiet_lifecycle_logs()
    quiet_lifecycle_logs()  # idempotent: one filter
    logger = logging.getLogger("prefect.task_runs")
    assert sum(type(f).__name__ == "_LifecycleNoise" for f in logger.filters) == 1

    def passes(message: str, level: int = logging.INFO) -> bool:
        return bool(logger.filter(logging.LogRecord("prefect.task_runs", level, __file__, 1, message, None, None)))

    assert not passes("Finished in state Completed()")
    assert passes("Finished in state Failed('Task run encountered an exception')")
    assert passes("synth-1-000000-000100: 80/118 frames, 0.59 frames/s, ETA 1m04s")
    assert passes("Finished in state Completed()", logging.WARNING)
    monkeypatch.setenv("SOCCERFACTORY_VERBOSE", "1")
    assert passes("Finished in state Completed()")
