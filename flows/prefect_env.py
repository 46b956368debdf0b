"""The one place that decides which Prefect settings SoccerFactory runs under.

Two situations, two builders:

* ``hermetic_prefect_env(home)``: tests and throwaway runs. Everything Prefect keeps (its sqlite
  database, result storage, profiles, memo store) lives under ``home``; whatever the user has
  configured (``PREFECT_*`` variables, the active profile in ``~/.prefect/profiles.toml``) is ignored,
  and nothing is reported to Prefect.
* ``embedded_prefect_env(root)``: the default for a user running SoccerFactory. Prefect keeps its
  state in ``root/.prefect`` unless the user has pointed Prefect somewhere themselves
  (``PREFECT_HOME``, ``PREFECT_API_URL``, ``PREFECT_PROFILE``, ``PREFECT_PROFILES_PATH``, or an
  active profile that names an API URL); then only analytics are turned off.

Both return environment variables, applied with ``apply_env``. Variables rather than
``prefect.settings.temporary_settings`` because they also reach the processes Prefect starts (its
ephemeral API server, task workers) and threads that do not copy the settings context, and because
they do not need Prefect imported to take effect.

When to apply them: ``import prefect`` reads the environment once, into a global settings context
(``prefect.context.GLOBAL_SETTINGS_CONTEXT``), and configures logging from it. Apply the variables
before Prefect is first imported. ``apply_env`` also refreshes that global context when Prefect is
already imported (``prefect.context.refresh_global_settings_context``, Prefect 3.8), which is enough
for the API location, database and home; logging configured at import and an ephemeral server that
is already running keep what they started with.

How the API is found (Prefect 3.8.8): when ``PREFECT_API_URL`` is not set and
``PREFECT_SERVER_EPHEMERAL_ENABLED`` is true, the first client starts a temporary API server in a
subprocess (uvicorn on a free ``127.0.0.1`` port in 8000-8999, stopped at interpreter exit) on the
configured database, and every flow and task run in the process reports to it; without either, the
client raises "No Prefect API URL provided". Ephemeral mode is on only through the packaged default
profile ``ephemeral``, so both builders set it explicitly. The server only listens on loopback;
nothing leaves the machine. It needs about 10 s to start on a warm database and about 18 s on a
new one (migrations) on two cores, above Prefect's 20 s default timeout under load, hence 120 s.

How the embedded default starts that server (``embedded_prefect``): itself, not through Prefect.
Prefect's way costs a command twice over: the client first imports the whole server package to
find ``SubprocessASGIServer`` (``prefect.server.api.server``: FastAPI, SQLAlchemy, every route;
15.7 s of a 41 s start-up measured under load, about a third), then waits, idle, for the
subprocess to boot (20.8 s there). ``EmbeddedServer`` launches the same command Prefect would
(``uvicorn --factory prefect.server.api.server:create_app`` with ``PREFECT__SERVER_EPHEMERAL``: no
UI, the ephemeral set of services, loopback only) before this process imports Prefect, points
``PREFECT_API_URL`` at it for the block, and lets the command import Prefect and its flow modules
while the server boots (on two cores both proceed at once); the block waits for ``/api/health``
before the first flow. To the client it is a server at a URL, which Prefect 3.8.8 treats as it
treats its ephemeral one (same events and log workers; ``ServerType`` differs only for Cloud). The
server is stopped when the block ends, after Prefect's event and log workers have drained into it
(what Prefect's own exit hooks do before its ephemeral server stops), and on Linux it also dies
with the command (``PR_SET_PDEATHSIG``), so a killed command leaves no server behind.

``PREFECT_API_URL`` must be *unset* for ephemeral mode, not empty: Prefect tests ``is None`` in places
(``determine_server_type``, ``prefect.runtime.task_run``), where an empty string means "a server at
''". So the hermetic builder maps it to ``None``, which ``apply_env`` and ``subprocess_env`` take to
mean "remove". Limitation: Prefect also reads ``.env``, ``prefect.toml`` and ``[tool.prefect]`` in
``pyproject.toml`` from the working directory, below environment variables in priority; a value set
there for a variable that these builders leave unset or remove would still apply. This repository
has none of them.

Every variable name below was checked against the settings model of the installed Prefect 3.8.8
(``prefect.settings.models``); ``DO_NOT_TRACK`` is the client-side analytics opt-out Prefect honours.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "ANALYTICS_OFF",
    "EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
    "EmbeddedServer",
    "USER_CONFIG_VARIABLES",
    "apply_env",
    "embedded_prefect",
    "embedded_prefect_env",
    "hermetic_prefect_env",
    "sqlite_url",
    "subprocess_env",
]

EnvOverrides = dict[str, str | None]
"""Variables to set; a ``None`` value means the variable is removed."""

EPHEMERAL_STARTUP_TIMEOUT_SECONDS = 120

ANALYTICS_OFF: dict[str, str] = {
    # Server side: the ephemeral server's startup telemetry.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Client side: Prefect's SDK analytics check this standard variable.
    "DO_NOT_TRACK": "1",
}

USER_CONFIG_VARIABLES = ("PREFECT_HOME", "PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH")
"""Set by a user who has chosen where Prefect keeps its state or which server it talks to."""

# Prefect's own working variables (PREFECT__SERVER_EPHEMERAL and the like, set for its server
# subprocess); never inherited on purpose, so the hermetic builder removes them as well.
_PREFIX = "PREFECT_"


def sqlite_url(home: str | os.PathLike[str]) -> str:
    """The async sqlite URL of Prefect's database file inside ``home``."""
    return f"sqlite+aiosqlite:///{Path(home).expanduser().resolve() / 'prefect.db'}"


def hermetic_prefect_env(
    home: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> EnvOverrides:
    """Settings that keep Prefect's whole state in ``home`` and ignore the user's configuration.

    Args:
        home: Prefect's home for this run (created by Prefect on import when missing; its parent
            must exist).
        environ: the environment the result will be applied to, for the ``PREFECT_*`` variables to
            remove; defaults to ``os.environ``.

    Returns:
        Variables to set, and every other inherited ``PREFECT_*`` variable (``PREFECT_API_URL``,
        ``PREFECT_API_KEY``, ...) mapped to ``None``: remove it. Apply with ``apply_env`` or
        ``subprocess_env``.
    """
    environ = os.environ if environ is None else environ
    home_path = Path(home).expanduser().resolve()
    wanted: dict[str, str] = {
        "PREFECT_HOME": str(home_path),
        # Derived from PREFECT_HOME by default, but an inherited value would win over the default.
        "PREFECT_PROFILES_PATH": str(home_path / "profiles.toml"),
        # The packaged default profile; a user's PREFECT_PROFILE may name one that only exists in
        # their own profiles file (Prefect then warns and falls back to this one anyway).
        "PREFECT_PROFILE": "ephemeral",
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(EPHEMERAL_STARTUP_TIMEOUT_SECONDS),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": sqlite_url(home_path),
        # The ephemeral server never serves the UI; say so for any server started from this env.
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        **ANALYTICS_OFF,
    }
    env: EnvOverrides = {
        key: None for key in environ if key.upper().startswith(_PREFIX) and key not in wanted
    }
    env.update(wanted)
    return env


def embedded_prefect_env(
    root: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Settings for a user's run: Prefect state in ``root/.prefect`` unless they configured Prefect.

    A variable the user has already set is never overridden. When the user has chosen a Prefect
    home, server or profile (any of ``USER_CONFIG_VARIABLES``, or an active profile in
    ``~/.prefect/profiles.toml`` that sets ``PREFECT_API_URL``), only the analytics opt-outs they
    have not set themselves are returned.

    Args:
        root: the project directory; Prefect's home becomes ``root/.prefect``.
        environ: the environment to inspect; defaults to ``os.environ``.

    Returns:
        Variables to set (no removals), for ``apply_env`` or ``subprocess_env``.
    """
    environ = os.environ if environ is None else environ
    # The start-up timeout is set even for a user's own Prefect home or profile (it is only read when
    # a temporary server starts): Prefect's 20 s default ran out on a fresh PREFECT_HOME at load 16
    # (its first database migration) and the command ended in a traceback.
    wanted: dict[str, str] = {**ANALYTICS_OFF, "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(EPHEMERAL_STARTUP_TIMEOUT_SECONDS)}
    if not _user_configured_prefect(environ):
        home = Path(root).expanduser().resolve() / ".prefect"
        wanted.update(
            {
                "PREFECT_HOME": str(home),
                "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
                "PREFECT_SERVER_DATABASE_CONNECTION_URL": sqlite_url(home),
            }
        )
    return {key: value for key, value in wanted.items() if key not in environ}


def _user_configured_prefect(environ: Mapping[str, str]) -> bool:
    if any(environ.get(name) for name in USER_CONFIG_VARIABLES):
        return True
    return _active_profile_sets_api_url(environ)


def _active_profile_sets_api_url(environ: Mapping[str, str]) -> bool:
    """Whether the active profile of the default ``~/.prefect/profiles.toml`` names an API URL."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            return False

    user_home = environ.get("HOME") or str(Path.home())
    path = Path(user_home).expanduser() / ".prefect" / "profiles.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    profiles = data.get("profiles")
    active = data.get("active")
    if not isinstance(profiles, dict) or not isinstance(active, str):
        return False
    profile = profiles.get(active)
    return isinstance(profile, dict) and bool(profile.get("PREFECT_API_URL"))


@contextmanager
def apply_env(env: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for ``None`` values, remove) environment variables; restore them on exit.

    When Prefect is already imported, its global settings context is rebuilt on entry and again on
    exit, so ``prefect.settings.get_current_settings()`` follows the environment (see the module
    docstring for what that does not reach); settings contexts entered explicitly still take
    precedence. When Prefect is first imported inside the block, it keeps the block's settings after
    it, like everything else it reads at import: rebuilding them from the restored environment would
    also make Prefect create the user's ``~/.prefect`` on the way out.
    """
    saved = {key: os.environ.get(key) for key in env}
    refreshed = False
    try:
        _set_environ(env)
        refreshed = _refresh_prefect_settings()
        yield
    finally:
        _set_environ(saved)
        if refreshed:
            _refresh_prefect_settings()


@contextmanager
def embedded_prefect(root: str | os.PathLike[str], preload: Sequence[str] = ()) -> Iterator[EmbeddedServer | None]:
    """Run the block on the embedded default for the project folder ``root``: how every command
    starts its flows (``apply_env(embedded_prefect_env(root))``, and the API server started early).

    Import the flow's module inside the block: ``import prefect`` reads the settings once. The
    Prefect home is created first: Prefect makes only its last folder, so a command whose
    ``--output`` did not exist yet (``train``, ``evaluate``) failed its server start with a traceback.

    Unless the user configured Prefect (then nothing is started: their server or profile is used),
    the API server is started on entry, ``prefect`` and the ``preload`` modules are imported while
    it boots, and the block begins once it answers; it is stopped when the block ends (see the
    module docstring).

    Args:
        root: the project folder; Prefect's state goes to ``root/.prefect``.
        preload: dotted names of modules the block will import anyway (the flow's module), imported
            while the server boots.

    Yields:
        The server started for the block, or None when the user's Prefect configuration is used.

    Raises:
        RuntimeError: the server did not answer within ``EPHEMERAL_STARTUP_TIMEOUT_SECONDS``.
    """
    import importlib

    env: dict[str, str | None] = dict(embedded_prefect_env(root))
    server = None
    if env.get("PREFECT_HOME"):
        Path(env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
        server = EmbeddedServer(env)
        server.start()
        env["PREFECT_API_URL"] = server.api_url
        if "PREFECT_UI_URL" not in os.environ:
            # It serves no UI: no "View at http://127.0.0.1:PORT/runs/..." line pointing at nothing.
            env["PREFECT_UI_URL"] = ""
    quiet_lifecycle_logs()
    try:
        with apply_env(env):
            if server is not None:
                for name in ("prefect", *preload):
                    importlib.import_module(name)
                server.wait_ready()
            try:
                yield server
            finally:
                if server is not None:
                    _drain_prefect_workers()
    finally:
        if server is not None:
            server.stop()


class EmbeddedServer:
    """Prefect's API server for one command, launched as Prefect launches its ephemeral server.

    Args:
        env: the Prefect settings the server runs under (``embedded_prefect_env``), applied on top
            of this process's environment.
        timeout_s: how long ``wait_ready`` waits for the server to answer; default
            ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` (120 s unless the user set it).
    """

    #: Extra tries on another port when the server exits before answering (a port taken between
    #: choosing it and binding it).
    PORT_RETRIES = 2

    def __init__(self, env: Mapping[str, str | None], timeout_s: float | None = None) -> None:
        self.env = {key: value for key, value in env.items() if key != "PREFECT_API_URL"}
        if timeout_s is None:  # the user's PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, else ours
            name = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
            timeout_s = float(os.environ.get(name) or self.env.get(name) or EPHEMERAL_STARTUP_TIMEOUT_SECONDS)
        self.timeout_s = timeout_s
        self.port: int | None = None
        self.process = None
        self._tries = 0
        self._ready = False

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT/api`` (the value ``PREFECT_API_URL`` takes in the block)."""
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        """Launch the server process on a free loopback port; returns at once."""
        import subprocess
        from importlib.util import find_spec

        spec = find_spec("prefect")
        if spec is None or spec.origin is None:
            raise RuntimeError("Prefect is not installed in this environment; run `make install`")
        self.port = _free_port()
        self._tries += 1
        # Prefect's command for its ephemeral server (SubprocessASGIServer, 3.8.8), run through a
        # small launcher that ties the server's life to this process's (thread's: so only from the
        # main thread, which outlives the block).
        import threading

        parent = os.getpid() if threading.current_thread() is threading.main_thread() else 0
        command = [
            sys.executable, "-c", _SERVER_LAUNCHER, str(parent),
            "--app-dir", str(Path(spec.origin).parent.parent), "--factory", "prefect.server.api.server:create_app",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on",
        ]
        server_env = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        self.process = subprocess.Popen(command, env=subprocess_env({**self.env, **server_env}), stdin=subprocess.DEVNULL)

    def wait_ready(self) -> None:
        """Block until ``/api/health`` answers 200 (at once once it has); restart on another port if
        the process exits first.

        Raises:
            RuntimeError: no answer within ``timeout_s``, or the process kept exiting.
        """
        import urllib.error
        import urllib.request

        if self._ready:
            return
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            code = self.process.poll() if self.process is not None else -1
            if code is not None:
                if self._tries > self.PORT_RETRIES:
                    raise RuntimeError(
                        f"Prefect's embedded API server exited with status {code} before answering (its errors are "
                        "above); or start one with `soccerfactory server` and set PREFECT_API_URL"
                    )
                self.start()
                continue
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        self._ready = True
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"Prefect's embedded API server did not answer within {self.timeout_s:g} s (machine busy?); "
            "raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS or set PREFECT_API_URL to a running server"
        )

    def stop(self, grace_s: float = 5.0) -> None:
        """Terminate the server (killed after ``grace_s`` seconds, as Prefect does); idempotent."""
        import subprocess

        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    """A port nobody listens on now, in the range Prefect's ephemeral server uses (8000-8999)."""
    import random
    import socket

    for _ in range(50):
        port = random.randrange(8000, 9000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8000-8999 on 127.0.0.1 for Prefect's embedded API server")


#: ``python -c`` program of the server process: on Linux, ask for SIGTERM when the parent (argv[1],
#: 0 for none) dies, however it dies (``PR_SET_PDEATHSIG``; set here rather than in a
#: ``preexec_fn``, which is unsafe in a process with threads), then run uvicorn with the rest.
_SERVER_LAUNCHER = """
import os, sys
parent = int(sys.argv[1])
if parent and sys.platform == "linux":
    import ctypes, signal
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        sys.exit(0)
import runpy
sys.argv = ["uvicorn", *sys.argv[2:]]
runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)
"""


def _drain_prefect_workers(timeout_s: float = 10.0) -> None:
    """Send what Prefect's event and log workers still hold to the server before it stops: Prefect's
    exit hooks would do it at interpreter exit, after the block has stopped the server."""
    for module, name in (("prefect.events.worker", "EventsWorker"), ("prefect.logging.handlers", "APILogWorker")):
        worker = getattr(sys.modules.get(module), name, None)
        if worker is None:
            continue
        try:
            worker.drain_all(timeout=timeout_s, at_exit=False)
        except Exception:  # noqa: BLE001 - a worker that cannot drain must not hide the block's outcome
            pass


#: Prefect's INFO lines that say nothing a user acts on: one per task that completed (a curate of
#: 8 clips printed 60 of them) and the server's pointer to its docs. Failures, retries and the
#: flows' own lines stay; ``-v`` (SOCCERFACTORY_VERBOSE) shows everything.
_LIFECYCLE_NOISE = ("Finished in state Completed()", "See https://docs.prefect.io/")


class _LifecycleNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or os.environ.get("SOCCERFACTORY_VERBOSE"):
            return True
        message = record.getMessage()
        return not any(message.startswith(noise) for noise in _LIFECYCLE_NOISE)


def quiet_lifecycle_logs() -> None:
    """Drop Prefect's per-task "Finished in state Completed()" lines (and its docs pointer) from
    the console; idempotent. A filter on the loggers themselves, so Prefect's own logging setup
    (at import) keeps it."""
    for name in ("prefect", "prefect.task_runs", "prefect.flow_runs"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _LifecycleNoise) for f in logger.filters):
            logger.addFilter(_LifecycleNoise())


def subprocess_env(env: Mapping[str, str | None], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A complete environment for ``subprocess``: ``base`` (default ``os.environ``) with ``env`` applied."""
    merged = dict(os.environ if base is None else base)
    for key, value in env.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _set_environ(env: Mapping[str, str | None]) -> None:
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _refresh_prefect_settings() -> bool:
    """Rebuild Prefect's global settings from the environment if Prefect is imported; say whether."""
    context = sys.modules.get("prefect.context")
    refresh = getattr(context, "refresh_global_settings_context", None)
    if refresh is None:
        return False
    refresh()
    return True
