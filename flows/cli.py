"""The ``soccerfactory`` command: the typer app, its help, and which module holds each command.

Heavy libraries (torch, ultralytics, prefect) are imported inside the commands that need them,
so ``--help`` and argument errors answer at once.

One module per command group; what they share (one-line errors, the load-config / run /
report-errors block) is in ``cli_common.py``, the checks run before a flow in ``cli_preflight.py``:

* ``cli_curate.py``: ``synth``, ``demo``, ``curate``, ``config show``
* ``cli_catalog.py``: ``query``, ``catalog rebuild | verify | sync``
* ``cli_export.py``: ``export gsr | mot | coco | yolo``
* ``cli_train.py``: ``train-detector``, ``train-keypoints``, ``import-events``, ``train``,
  ``evaluate``, ``pipeline``
* ``cli_quality.py``: ``quality detector | ball | calibration | tracking``
* ``cli_env.py``: ``server``, ``env``
* ``cli_deploy.py``: ``deploy``
* ``cli_preview.py``: ``preview``
* ``cli_report.py``: ``report``
"""

from __future__ import annotations

import os

import typer

from soccerfactory.flows.cli_catalog import catalog_app, query
from soccerfactory.flows.cli_common import OneLineErrors
from soccerfactory.flows.cli_curate import config_app, curate, demo, synth
from soccerfactory.flows.cli_deploy import deploy
from soccerfactory.flows.cli_env import env, server
from soccerfactory.flows.cli_export import export_app
from soccerfactory.flows.cli_preview import preview
from soccerfactory.flows.cli_report import report
from soccerfactory.flows.cli_quality import quality_app
from soccerfactory.flows.cli_train import (
    evaluate_command, import_events_command, pipeline_command, train_command, train_detector_command, train_keypoints_command,
)

__all__ = ["app", "main"]

# Bad files are reported by us in one line naming the file; FFmpeg's and OpenCV's own console
# chatter about them ("moov atom not found") only adds noise. Must be set before cv2 is imported.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


app = typer.Typer(
    cls=OneLineErrors,
    name="soccerfactory",
    help=(
        "Turn soccer broadcast footage into a clean, queryable training set.\n\n"
        "Start with `soccerfactory demo` (renders synthetic footage with exact labels and catalogues "
        "it in a local DuckDB file, on Prefect's embedded API: no server needed), or "
        "`soccerfactory synth OUT` to render one clip."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Markdown: docstring paragraphs are re-flowed to the terminal and [brackets] are not markup.
    rich_markup_mode="markdown",
)



def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"soccerfactory {version('soccerfactory')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("soccerfactory (not installed: no version)")
        raise typer.Exit()


@app.callback()
def _global_options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print the package version and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings, errors and the final summary only (no per-clip log lines)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also the libraries' own INFO lines (ultralytics, boxmot) and Prefect's debug log."),
) -> None:
    # No docstring: the app's help above is the page's text.
    if quiet and verbose:
        raise typer.BadParameter("pass -q or -v, not both")
    # Environment variables, read when Prefect and the vision libraries are imported (lazily,
    # inside each command), so they reach flows run in this process and in its workers.
    if quiet:
        os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    if verbose:
        os.environ.update(PREFECT_LOGGING_LEVEL="DEBUG", YOLO_VERBOSE="True", SOCCERFACTORY_VERBOSE="1")


# The order here is the order of `soccerfactory --help`.
app.command()(synth)
app.command()(demo)
app.command()(curate)
app.command()(query)
app.add_typer(export_app, name="export")
app.add_typer(catalog_app, name="catalog")
app.add_typer(config_app, name="config")
app.command("train-detector")(train_detector_command)
app.command("train-keypoints")(train_keypoints_command)
app.command("import-events")(import_events_command)
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("pipeline")(pipeline_command)
app.add_typer(quality_app, name="quality")
app.command()(server)
app.command()(deploy)
app.command()(env)
app.command()(preview)
app.command()(report)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
