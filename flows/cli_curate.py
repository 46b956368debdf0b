"""The curation commands of ``soccerfactory``: ``synth`` (render a clip with exact labels),
``demo`` (render, curate and catalogue it), ``curate`` (footage to shards and the catalog) and
``config show`` (the resolved curation config)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from soccerfactory.flows.cli_catalog import print_query
from soccerfactory.flows.cli_common import fail, local_root, preflight, reported, run_with_config
from soccerfactory.flows.prefect_env import embedded_prefect

if TYPE_CHECKING:  # pydantic and the weights registry load only when a command runs
    from soccerfactory.curation.config import CurateConfig

__all__ = ["synth", "demo", "curate", "config_app"]


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
    shots: str = typer.Option(
        "main", help="main: one main-camera shot; broadcast: hard cuts between main, zoomed and close-up shots "
        "(the true view of every frame is gt/cameras.parquet's view column)."
    ),
    staff: int = typer.Option(0, help="Off-pitch people (coaches, substitutes, stewards; role other), 0-40."),
    images: bool = typer.Option(False, "--images", help="Also write img1/000001.jpg ... (SoccerNet layout)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Render a synthetic broadcast clip with exact ground truth.

    Writes OUTPUT/video.mp4, OUTPUT/Labels-GameState.json (SoccerNet game-state layout),
    OUTPUT/gt/*.parquet (athletes, ball, cameras, keypoints, lines, events) and OUTPUT/clip.json.

    Example: soccerfactory synth out/clip1 --seconds 10 --seed 1 --images
    Broadcast-like (cuts, zooms, close-ups, people beside the pitch):
    soccerfactory synth out/clip2 --seconds 30 --shots broadcast --staff 10
    """
    from soccerfactory.curation.synth import SynthConfig, render_clip

    try:
        config = SynthConfig(
            seconds=seconds, fps=fps, width=width, height=height, seed=seed, referees=referees,
            pitch_length=pitch_length, pitch_width=pitch_width, lens_distortion=distortion, motion_blur=motion_blur,
            shots=shots, staff=staff,
        )
    except ValueError as error:
        fail(str(error))
    try:
        _check_writable(output)
    except OSError as error:
        fail(f"cannot write to {output}: {error.strerror or error}")
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


def demo(
    output: Path = typer.Option(Path("out"), help="Where the clip, shards and the DuckDB catalog go."),
    seconds: float = typer.Option(8.0, help="Length of the synthetic clip in seconds."),
    width: int = typer.Option(1280, help="Width of the synthetic clip."),
    height: int = typer.Option(720, help="Height of the synthetic clip."),
) -> None:
    """The main job on the embedded default: render a synthetic broadcast clip, curate it with the
    bundled models, catalogue shards and ground truth in OUTPUT/catalog.duckdb, show a query.

    Runs on Prefect's in-process API, a local DuckDB file and local Parquet: no server to start.
    Set PREFECT_API_URL (see `soccerfactory server`) to watch the runs in the Prefect UI instead.
    """
    from soccerfactory.curation.synth import SynthConfig

    try:
        SynthConfig(seconds=seconds, width=width, height=height)
        _check_writable(output)
    except ValueError as error:
        fail(str(error))
    except OSError as error:
        fail(f"cannot write to {output}: {error.strerror or error}")
    with embedded_prefect(output.resolve(), preload=("soccerfactory.flows.curate", "soccerfactory.flows.synthesize")):
        from soccerfactory.flows.curate import run_curate
        from soccerfactory.flows.synthesize import synthesize

        synthesize(output=output, clips=1, seconds=seconds, width=width, height=height)
        source = output / "synthetic"
        # The renderer names every clip video.mp4; the sources manifest gives each its own match id.
        (source / "soccerfactory-sources.json").write_text('{"synth-1/video.mp4": "synth-1"}')
        summary = run_curate(str(source), str(output))
    _print_summary(summary)
    sample = (
        "SELECT role, team, count(DISTINCT track_id) AS tracks, count(*) AS rows, "
        "round(avg(confidence), 2) AS conf FROM athletes GROUP BY ALL ORDER BY rows DESC"
    )
    typer.echo(f"\nsample query: soccerfactory query {shlex.quote(sample)} --catalog {_pasteable(summary.catalog)}")
    print_query(Path(summary.catalog), sample, "table", None)
    typer.echo("\nground truth of the synthetic clip is catalogued next to it as gt_athletes, gt_cameras, ...")
    _print_next_steps(summary, query=False)


def _absolute(location: str | Path) -> str:
    """``location`` as it reads from any working folder: a local path made absolute, a URL as it is."""
    root = local_root(str(location))
    return str(root.resolve()) if root is not None else str(location)


def _pasteable(location: str | Path) -> str:
    """``location`` as one shell word that means the same from any working folder (quoted where
    the shell would split or expand it)."""
    return shlex.quote(_absolute(location))


def _print_next_steps(summary, query: bool = True) -> None:
    """The commands that look at what the run made, ready to paste from any folder (absolute
    paths, quoted): preview its first clip, write the HTML report, and (``query``) a query."""
    catalog = _pasteable(summary.catalog)
    clips = [c["clip"] for c in summary.clips if c["status"] in ("curated", "skipped")]
    if clips:
        clip = clips[0]
        typer.echo(f"look at it: soccerfactory preview {shlex.quote(clip.clip_id)} --match {shlex.quote(clip.match_id)} "
                   f"--output {_pasteable(summary.output)}")
    if not Path(summary.catalog).is_file():
        return  # nothing catalogued (every input failed before the catalog was made)
    report = _pasteable(Path(summary.catalog).resolve().parent / "report.html")
    typer.echo(f"report it:  soccerfactory report --catalog {catalog} --out {report}")
    if query:
        typer.echo(f"query it:   soccerfactory query {shlex.quote('SELECT * FROM quality')} --catalog {catalog}")


def _print_summary(summary) -> None:
    typer.echo(
        f"\nrun {summary.run_id}: {summary.count('curated')} clips curated, {summary.count('skipped')} already done, "
        f"{len(summary.failures)} failed, in {summary.seconds:.0f} s"
    )
    typer.echo(f"shards:  {_absolute(summary.output).rstrip('/')}/shards/")
    typer.echo(f"catalog: {_absolute(summary.catalog)}")
    for failure in summary.failures:
        typer.echo(f"failed: {failure['reason']} (stage {failure['stage']})", err=True)
    if summary.catalog_note:
        typer.echo(f"catalog behind: {summary.catalog_note}", err=True)


def curate(
    sources: list[str] = typer.Argument(..., help="Video files, folders of videos / image-sequence folders, or fsspec URLs (s3://, memory://)."),
    output: str = typer.Option("out", "--output", "-o", help="Root of the shards (local folder or fsspec URL)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML/JSON config; see `soccerfactory config show`."),
    overrides: list[str] = typer.Option([], "--set", help="Override one value, e.g. --set detect.conf=0.3 (repeatable)."),
    catalog: Optional[Path] = typer.Option(None, help="DuckDB catalog file [default: OUTPUT/catalog.duckdb]."),
    parallel: Optional[int] = typer.Option(None, min=1, help="Clips curated at the same time [default: run.max_parallel_clips]."),
    spatial_cache: bool = typer.Option(
        True, "--spatial-cache/--no-spatial-cache",
        help="Reuse each clip's detect/track/calibrate pass from OUTPUT/.cache/spatial while its settings, models and code are unchanged.",
    ),
) -> None:
    """Curate footage into SoccerFactory shards and catalogue them for SQL.

    Each video is split at camera cuts into clips (30 s at most); every clip is detected, tracked,
    calibrated, refined, attributed and voted, then written as one Parquet shard under
    OUTPUT/shards/match_id=.../clip_id=.../ and registered in the catalog. Re-running skips clips
    already curated with the same config and code. Exit status 1 when some inputs failed (they are
    listed, and recorded in the catalog's `failures` table), or when the catalog stayed locked by
    another process (an open connection) for `run.catalog_wait_s`: the shards are written, and the
    next `curate` or `soccerfactory catalog sync` registers them.

    Examples:

      soccerfactory curate match.mp4

      soccerfactory curate /data/footage --output /data/curated --set detect.device=cuda:0

      soccerfactory query "SELECT * FROM quality"
    """
    if parallel is not None:
        overrides = [*overrides, f"run.max_parallel_clips={parallel}"]
    if not spatial_cache:
        overrides = [*overrides, "run.spatial_cache=false"]
    from soccerfactory.storage.fs_secrets import check_url_credentials

    reported(lambda: check_url_credentials([*sources, output]))  # stored with the run: never a password
    root = local_root(output)
    # Before anything is created: a bad config or weights file leaves no output folder behind.
    resolved = run_with_config(config, overrides, lambda loaded: _checked(loaded, root))
    if root is not None:
        try:
            _check_writable(root)
        except OSError as error:
            fail(f"cannot write to {output}: {error.strerror or error}")
    elif catalog is None:
        fail(f"output {output} is remote; pass --catalog PATH for the local DuckDB file")
    from soccerfactory.flows.cli_preflight import check_catalog_target

    # Before the run record exists: a catalog that cannot be written must not fail mid-run.
    preflight(check_catalog_target, catalog or root / "catalog.duckdb")
    # The flow's module (Prefect, pyarrow, DuckDB, OpenCV) is imported while the API server boots.
    with embedded_prefect(root.resolve() if root is not None else Path.cwd(), preload=("soccerfactory.flows.curate",)):
        from soccerfactory.flows.curate import run_curate

        summary = run_curate(sources if len(sources) > 1 else sources[0], output, resolved, None if catalog is None else str(catalog))
    _print_summary(summary)
    _print_next_steps(summary)
    if summary.failures or summary.catalog_note:
        raise typer.Exit(1)


def _checked(config: CurateConfig, root: Path | None = None) -> CurateConfig:
    """``config`` once :func:`~soccerfactory.curation.stages.check_config` passed it (the chain
    and every weights file, before a frame is decoded); a weights file whose scan passed before in
    the local output ``root`` is not scanned again (:func:`~soccerfactory.flows.cli_weights.check_curate_config`)."""
    from soccerfactory.flows.cli_weights import check_curate_config

    if config.run.task_runner == "dask" and config.run.dask_address:
        from soccerfactory.flows.task_runners import check_dask_address

        check_dask_address(config.run.dask_address)  # no scheduler there: one line, exit 2, nothing written
    check_curate_config(config, root)
    return config


config_app = typer.Typer(help="Inspect the curation config.", no_args_is_help=True)


@config_app.command("show")
def config_show(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML/JSON config to resolve."),
    overrides: list[str] = typer.Option([], "--set", help="section.key=value overrides."),
) -> None:
    """Print the resolved config as YAML (a starting point for --config) and its hash."""
    import yaml

    resolved = run_with_config(config, overrides)
    typer.echo(yaml.safe_dump(resolved.model_dump(mode="json"), sort_keys=False).rstrip())
    typer.echo(f"# config hash: {resolved.config_hash()}")

