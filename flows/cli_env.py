"""The environment commands of ``soccerfactory``: ``server`` (a local Prefect UI to watch runs)
and ``env`` (versions and the offline settings of the vision stack)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from soccerfactory.flows.cli_common import fail
from soccerfactory.flows.prefect_env import ANALYTICS_OFF, subprocess_env

__all__ = ["env", "run_stopping_child", "server"]


def server(
    port: int = typer.Option(4200, min=1, max=65535, help="Port of the Prefect UI and API."),
) -> None:
    """Start a local Prefect server (UI at http://127.0.0.1:PORT) for watching runs.

    In another shell: export PREFECT_API_URL=http://127.0.0.1:PORT/api, then run
    `soccerfactory curate ...`: the same runs appear in the UI. Without PREFECT_API_URL every
    command runs on Prefect's embedded API and needs no server.
    """
    typer.echo(f"Prefect UI: http://127.0.0.1:{port}   then: export PREFECT_API_URL=http://127.0.0.1:{port}/api")
    command = [str(Path(sys.executable).with_name("prefect")), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    raise typer.Exit(run_stopping_child(command, subprocess_env(ANALYTICS_OFF)))


#: Seconds a child told to stop gets before it is killed. Prefect 3.8.8's server, idle, exits
#: 0.3 s after SIGTERM (measured), but uvicorn's graceful shutdown waits for open connections
#: (a UI tab's websocket) without a limit.
STOP_GRACE_S = 10.0


def run_stopping_child(command: list[str], env: dict[str, str], grace_s: float = STOP_GRACE_S) -> int:
    """Run ``command`` in the foreground and stop it when this process is told to stop.

    SIGTERM or SIGHUP to this process (a supervisor, ``kill``, a closed terminal) and Ctrl-C are
    passed on to the child as SIGTERM, and the child is killed if it has not exited ``grace_s``
    seconds later, so no server is left running without its parent. The child stays in this
    process group: it keeps the terminal (Prefect may prompt on start) and gets Ctrl-C itself too.
    A SIGKILL of this process cannot be caught: the child would then outlive it.

    Returns:
        The child's exit status; 128 + the signal's number when a signal ended it (as a shell says).
    """
    import signal
    import subprocess
    import time

    process = subprocess.Popen(command, env=env)
    kill_at: list[float] = []

    def stop(signum: int = signal.SIGTERM, frame: object = None) -> None:
        if not kill_at and process.poll() is None:
            kill_at.append(time.monotonic() + grace_s)
            process.terminate()

    handled = (signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, stop) for signum in handled}
    try:
        while True:
            try:
                code = process.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if kill_at and time.monotonic() > kill_at[0]:
                    process.kill()
            except KeyboardInterrupt:
                stop()
    finally:
        if process.poll() is None:  # an error here, not a signal: still leave no child behind
            process.kill()
            process.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - code if code < 0 else code


def env(check: bool = typer.Option(False, "--check", help="Exit non-zero if the offline vision stack cannot load.")) -> None:
    """Show versions and the offline settings the vision backends run with."""
    from importlib import metadata

    for package in ("soccerfactory", "torch", "torchvision", "ultralytics", "boxmot", "sam2", "prefect", "duckdb", "pyarrow", "opencv-python", "numpy"):
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "not installed"
        typer.echo(f"{package:>14}  {version}")
    if not check:
        return
    from soccerfactory.curation.runtime import prepare_vision_runtime, torchvision_ops_are_native

    try:
        prepare_vision_runtime()
        import torchvision  # noqa: F401
    except Exception as error:  # report any import failure as one line
        fail(f"vision runtime does not load: {error}", code=1)
    typer.echo(f"{'torchvision ops':>14}  {'native' if torchvision_ops_are_native() else 'pure-torch fallback (CPU torch)'}")
    typer.echo(f"{'YOLO_OFFLINE':>14}  {os.environ.get('YOLO_OFFLINE')}  config: {os.environ.get('YOLO_CONFIG_DIR')}")
