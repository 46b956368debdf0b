"""The ``soccerfactory`` command.

Heavy libraries (torch, ultralytics, prefect) are imported inside the commands that need them,
so ``--help`` and argument errors answer at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn, Optional

import typer

app = typer.Typer(
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
)

USAGE_ERROR = 2


def _fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def synth(
    output: Path = typer.Argument(..., help="Folder to write the clip into (created if missing)."),
    seconds: float = typer.Option(10.0, help="Clip length in seconds."),
    seed: int = typer.Option(0, help="Same seed, same clip: kits, camera and play all follow from it."),
    fps: float = typer.Option(25.0, help="Frames per second."),
    width: int = typer.Option(1280, help="Image width in pixels (320-3840)."),
    height: int = typer.Option(720, help="Image height in pixels (180-2160)."),
    referees: int = typer.Option(3, help="1 = referee only; 2-3 adds assistant referees on the touchlines."),
    pitch_length: float = typer.Option(105.0, help="Goal line to goal line, metres."),
    pitch_width: float = typer.Option(68.0, help="Touchline to touchline, metres."),
    distortion: float = typer.Option(0.0, help="Radial lens distortion k1 (e.g. -0.1 for mild barrel)."),
    motion_blur: bool = typer.Option(False, "--motion-blur", help="Blur along the camera pan (1/50 s shutter)."),
    images: bool = typer.Option(False, "--images", help="Also write img1/000001.jpg ... (SoccerNet layout)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Render a synthetic broadcast clip with exact ground truth.

    Writes OUTPUT/video.mp4, OUTPUT/Labels-GameState.json (SoccerNet game-state layout),
    OUTPUT/gt/*.parquet (athletes, ball, cameras, keypoints, lines, events) and OUTPUT/clip.json.

    Example: soccerfactory synth out/clip1 --seconds 10 --seed 1 --images
    """
    from soccerfactory.curation.synth import SynthConfig, render_clip

    try:
        config = SynthConfig(
            seconds=seconds, fps=fps, width=width, height=height, seed=seed, referees=referees,
            pitch_length=pitch_length, pitch_width=pitch_width, lens_distortion=distortion, motion_blur=motion_blur,
        )
    except ValueError as error:
        _fail(str(error))
    try:
        _check_writable(output)
    except OSError as error:
        _fail(f"cannot write to {output}: {error.strerror or error}")
    if quiet:
        result = render_clip(config, output, images=images)
    else:
        with typer.progressbar(length=config.frame_count, label="rendering", file=sys.stderr) as bar:
            done = [0]

            def progress(frames: int, _total: int) -> None:
                bar.update(frames - done[0])
                done[0] = frames

            result = render_clip(config, output, images=images, progress=progress)
    typer.echo(f"wrote {result.frames} frames of {config.width}x{config.height} to {output} ({result.frames_per_second:.1f} fps)")


def _check_writable(output: Path) -> None:
    """Fail before any work when ``output`` cannot hold files (an existing file, a read-only folder)."""
    if output.exists() and not output.is_dir():
        raise NotADirectoryError(20, "exists and is not a folder")
    output.mkdir(parents=True, exist_ok=True)
    probe = output / f".write-probe-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()


@app.command()
def demo(
    output: Path = typer.Option(Path("out"), help="Where clips, Parquet and the DuckDB catalog go."),
    clips: int = typer.Option(2, min=1, max=100, help="How many synthetic clips to render."),
    seconds: float = typer.Option(10.0, help="Length of each clip in seconds."),
) -> None:
    """Run the main job on the embedded default: Prefect's in-process API, a local DuckDB file and
    local Parquet. No server to start; set PREFECT_API_URL to see the runs in a Prefect UI instead."""
    from soccerfactory.curation.synth import SynthConfig

    try:
        SynthConfig(seconds=seconds)
        _check_writable(output)
    except ValueError as error:
        _fail(str(error))
    except OSError as error:
        _fail(f"cannot write to {output}: {error.strerror or error}")
    from soccerfactory.flows.prefect_env import apply_env, embedded_prefect_env

    with apply_env(embedded_prefect_env(output.resolve())):
        from soccerfactory.flows.synthesize import synthesize

        summary = synthesize(output=output, clips=clips, seconds=seconds)
    typer.echo(f"rendered {len(summary['clips'])} clips; catalogue rows: {summary['rows']}")
    typer.echo(f'try: soccerfactory query "SELECT role, count(*) FROM gt_athletes GROUP BY role" --catalog {output / "catalog.duckdb"}')


@app.command()
def query(
    sql: str = typer.Argument(..., help="Read-only SQL, e.g. \"SELECT count(*) FROM gt_athletes\"."),
    catalog: Path = typer.Option(Path("out/catalog.duckdb"), help="The DuckDB catalog file."),
) -> None:
    """Run read-only SQL against the catalog and print the result as a table."""
    import duckdb

    from soccerfactory.storage.catalog import connect

    try:
        with connect(catalog, read_only=True) as connection:
            relation = connection.sql(sql)
            if relation is None:
                _fail("the statement returned no rows to show")
            typer.echo(str(relation))
    except FileNotFoundError as error:
        _fail(str(error))
    except duckdb.Error as error:
        _fail(str(error).splitlines()[0])


@app.command()
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
        _fail(f"vision runtime does not load: {error}", code=1)
    typer.echo(f"{'torchvision ops':>14}  {'native' if torchvision_ops_are_native() else 'pure-torch fallback (CPU torch)'}")
    typer.echo(f"{'YOLO_OFFLINE':>14}  {os.environ.get('YOLO_OFFLINE')}  config: {os.environ.get('YOLO_CONFIG_DIR')}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
