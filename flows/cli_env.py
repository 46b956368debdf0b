"""The environment commands of ``soccerfactory``: ``server`` (a local Prefect UI to watch runs)
and ``env`` (versions and the offline settings of the vision stack)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from soccerfactory.flows.cli_common import fail
from soccerfactory.flows.prefect_env import ANALYTICS_OFF, subprocess_env

__all__ = ["env", "server"]


def server(
    port: int = typer.Option(4200, min=1, max=65535, help="Port of the Prefect UI and API."),
) -> None:
    """Start a local Prefect server (UI at http://127.0.0.1:PORT) for watching runs.

    In another shell: export PREFECT_API_URL=http://127.0.0.1:PORT/api, then run
    `soccerfactory curate ...`: the same runs appear in the UI. Without PREFECT_API_URL every
    command runs on Prefect's embedded API and needs no server.
    """
    import subprocess

    typer.echo(f"Prefect UI: http://127.0.0.1:{port}   then: export PREFECT_API_URL=http://127.0.0.1:{port}/api")
    command = [str(Path(sys.executable).with_name("prefect")), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    raise typer.Exit(subprocess.call(command, env=subprocess_env(ANALYTICS_OFF)))


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
