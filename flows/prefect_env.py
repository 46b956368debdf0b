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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "ANALYTICS_OFF",
    "EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
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
    wanted: dict[str, str] = dict(ANALYTICS_OFF)
    if not _user_configured_prefect(environ):
        home = Path(root).expanduser().resolve() / ".prefect"
        wanted.update(
            {
                "PREFECT_HOME": str(home),
                "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(EPHEMERAL_STARTUP_TIMEOUT_SECONDS),
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
def embedded_prefect(root: str | os.PathLike[str]) -> Iterator[None]:
    """Run the block on the embedded default for the project folder ``root``: how every command
    starts its flows (``apply_env(embedded_prefect_env(root))``).

    Import the flow's module inside the block: ``import prefect`` reads the settings once. The
    Prefect home is created first: Prefect makes only its last folder, so a command whose
    ``--output`` did not exist yet (``train``, ``evaluate``) failed its server start with a traceback.
    """
    env = embedded_prefect_env(root)
    if env.get("PREFECT_HOME"):
        Path(env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    quiet_lifecycle_logs()
    with apply_env(env):
        yield


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
