"""The ``soccerfactory`` command.

Heavy libraries (torch, ultralytics, prefect) are imported inside the commands that need them,
so ``--help`` and argument errors answer at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from soccerfactory.flows.cli_catalog import catalog_app, print_query, query
from soccerfactory.flows.cli_common import OneLineErrors
from soccerfactory.flows.cli_common import fail as _fail
from soccerfactory.flows.cli_common import preflight as _preflight

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
        _fail(str(error))
    except OSError as error:
        _fail(f"cannot write to {output}: {error.strerror or error}")
    from soccerfactory.flows.prefect_env import apply_env, embedded_prefect_env

    with apply_env(embedded_prefect_env(output.resolve())):
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
    typer.echo(f'\nsample query: soccerfactory query "{sample}" --catalog {summary.catalog}')
    print_query(Path(summary.catalog), sample, "table", None)
    typer.echo("\nground truth of the synthetic clip is catalogued next to it as gt_athletes, gt_cameras, ...")
    clip_ids = [c["clip"].clip_id for c in summary.clips if c["status"] in ("curated", "skipped")]
    if clip_ids:
        typer.echo(f"look at it: soccerfactory preview {clip_ids[0]} --output {output}")


def _print_summary(summary) -> None:
    typer.echo(
        f"\nrun {summary.run_id}: {summary.count('curated')} clips curated, {summary.count('skipped')} already done, "
        f"{len(summary.failures)} failed, in {summary.seconds:.0f} s"
    )
    typer.echo(f"shards:  {summary.output.rstrip('/')}/shards/")
    typer.echo(f"catalog: {summary.catalog}")
    for failure in summary.failures:
        typer.echo(f"failed: {failure['reason']} (stage {failure['stage']})", err=True)
    if summary.catalog_note:
        typer.echo(f"catalog behind: {summary.catalog_note}", err=True)


@app.command()
def curate(
    sources: list[str] = typer.Argument(..., help="Video files, folders of videos / image-sequence folders, or fsspec URLs (s3://, memory://)."),
    output: str = typer.Option("out", "--output", "-o", help="Root of the shards (local folder or fsspec URL)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML/JSON config; see `soccerfactory config show`."),
    overrides: list[str] = typer.Option([], "--set", help="Override one value, e.g. --set detect.conf=0.3 (repeatable)."),
    catalog: Optional[Path] = typer.Option(None, help="DuckDB catalog file [default: OUTPUT/catalog.duckdb]."),
    parallel: Optional[int] = typer.Option(None, min=1, help="Clips curated at the same time [default: run.max_parallel_clips]."),
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
    from soccerfactory.flows.config import ConfigError, load_config

    try:
        if parallel is not None:
            overrides = [*overrides, f"run.max_parallel_clips={parallel}"]
        resolved = load_config(config, overrides)
        from soccerfactory.flows.backends import check_config

        check_config(resolved)
    except (ConfigError, FileNotFoundError, ValueError) as error:
        _fail(str(error))
    local_output = "://" not in output or output.startswith("file://")
    if local_output:
        try:
            _check_writable(Path(output.removeprefix("file://")))
        except OSError as error:
            _fail(f"cannot write to {output}: {error.strerror or error}")
    elif catalog is None:
        _fail(f"output {output} is remote; pass --catalog PATH for the local DuckDB file")
    from soccerfactory.flows.preflight import check_catalog_target

    # Before the run record exists: a catalog that cannot be written must not fail mid-run.
    _preflight(check_catalog_target, catalog or Path(output.removeprefix("file://")) / "catalog.duckdb")
    from soccerfactory.flows.prefect_env import apply_env, embedded_prefect_env

    root = Path(output.removeprefix("file://")).resolve() if local_output else Path.cwd()
    with apply_env(embedded_prefect_env(root)):
        from soccerfactory.flows.curate import run_curate

        summary = run_curate(sources if len(sources) > 1 else sources[0], output, resolved, None if catalog is None else str(catalog))
    _print_summary(summary)
    if summary.failures or summary.catalog_note:
        raise typer.Exit(1)


# query and catalog rebuild | verify | sync live in flows/cli_catalog.py.
app.command()(query)
app.add_typer(catalog_app, name="catalog")


config_app = typer.Typer(help="Inspect the curation config.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML/JSON config to resolve."),
    overrides: list[str] = typer.Option([], "--set", help="section.key=value overrides."),
) -> None:
    """Print the resolved config as YAML (a starting point for --config) and its hash."""
    import yaml

    from soccerfactory.flows.config import ConfigError, load_config

    try:
        resolved = load_config(config, overrides)
    except ConfigError as error:
        _fail(str(error))
    typer.echo(yaml.safe_dump(resolved.model_dump(mode="json"), sort_keys=False).rstrip())
    typer.echo(f"# config hash: {resolved.config_hash()}")


def _labelled_data_root(data_root: Optional[Path], dataset: str) -> Path:
    """``data_root`` (default: shared/data or $SOCCERFACTORY_DATA) when it holds ``dataset/train``;
    exits with a clear error otherwise."""
    from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT

    data_root = DEFAULT_DATA_ROOT if data_root is None else data_root
    if not (data_root / dataset / "train").is_dir():
        _fail(f"{data_root / dataset / 'train'} not found; pass --data-root DIR holding {dataset}/")
    return data_root


def _seed_range(text: str) -> tuple[int, int] | None:
    """``--synth-seeds`` as ``(first, stop)``, or None for 'none'; exits with a clear error otherwise."""
    if text.lower() == "none":
        return None
    try:
        first, stop = (int(v) for v in text.split(":"))
        if not 0 <= first < stop:
            raise ValueError
    except ValueError:
        _fail(f"--synth-seeds must be first:stop with 0 <= first < stop, or none; got {text!r}")
    return first, stop


@app.command("train-detector")
def train_detector_command(
    out_dir: Path = typer.Option(Path("out/models"), "--out-dir", help="Where detector.pt and its manifest detector.json go."),
    work_dir: Path = typer.Option(Path("out/train-detector"), "--work-dir", help="Dataset and training run folder (kept)."),
    data_root: Optional[Path] = typer.Option(None, help="Folder with football-players/ [default: shared/data beside the checkout, or $SOCCERFACTORY_DATA]."),
    base_weights: Optional[Path] = typer.Option(None, help="Local YOLOv8 checkpoint to start from [default: the bundled detector]."),
    epochs: int = typer.Option(5, min=1),
    imgsz: int = typer.Option(768, min=64, help="Training size (multiple of 32)."),
    batch: int = typer.Option(8, min=1),
    freeze: int = typer.Option(10, min=0, help="First layers kept frozen (10 = the backbone): 3x faster on a CPU."),
    time_hours: Optional[float] = typer.Option(None, help="Stop after this long; ultralytics re-plans the epochs to fit."),
    synth_seeds: str = typer.Option("100:110", help="first:stop seeds of rendered clips added to train; 'none' for real frames only."),
    real_limit: Optional[int] = typer.Option(None, help="Only the first N real images per split (quick checks)."),
    device: str = typer.Option("cpu", help="cpu, or 0 for the first GPU."),
    ball_slices: int = typer.Option(2, min=0, max=6, help="Also train on real frames cut into NxN native-resolution slices (the ball's scale); 0 = none."),
) -> None:
    """Fine-tune the YOLOv8 athlete and ball detector offline (Prefect flow `train-detector`).

    Trains on the real football-players frames (unstretched to 16:9) plus synthetic frames with
    exact boxes, from a local checkpoint (nothing is downloaded), then scores the result on the
    real valid split and writes OUT_DIR/detector.pt with a manifest (data, command, epochs,
    metrics, sha256). A 2-core CPU manages ~1 image/s with the backbone frozen; pass --device 0
    to train on a GPU.

    Examples:

      soccerfactory train-detector --epochs 1 --real-limit 8 --synth-seeds none   # a 1-minute check

      soccerfactory train-detector --epochs 10 --time-hours 1

      soccerfactory curate match.mp4 --set detect.weights=out/models/detector.pt
    """
    data_root = _labelled_data_root(data_root, "football-players")
    if imgsz % 32:
        _fail(f"--imgsz must be a multiple of 32, got {imgsz}")
    seed_range = _seed_range(synth_seeds)
    seeds = f"{seed_range[0]}:{seed_range[1]}" if seed_range else None
    from soccerfactory.flows.preflight import check_base_weights

    _preflight(check_base_weights, base_weights, "train-detector base weights")
    from soccerfactory.flows.prefect_env import apply_env, embedded_prefect_env

    # One Prefect home per project folder: out/models -> out/.prefect, as `curate --output out` uses.
    with apply_env(embedded_prefect_env(out_dir.resolve().parent)):
        from soccerfactory.flows.train_detector import train_detector

        try:
            manifest = train_detector(
                work_dir=work_dir, out_dir=out_dir, data_root=data_root, base_weights=base_weights, epochs=epochs,
                imgsz=imgsz, batch=batch, freeze=freeze, time_hours=time_hours, synth_seeds=seeds, real_limit=real_limit,
                device=device, ball_slices=ball_slices,
            )
        except FileNotFoundError as error:
            _fail(str(error))
    metrics = manifest.get("metrics_valid", {})
    typer.echo(f"wrote {out_dir / 'detector.pt'} (sha256 {manifest['sha256'][:12]}); valid mAP50 {metrics.get('map50')}")
    typer.echo(f"use it: soccerfactory curate VIDEO --set detect.weights={out_dir / 'detector.pt'}")


@app.command("train-keypoints")
def train_keypoints_command(
    out_dir: Path = typer.Option(Path("out/models"), "--out-dir", help="Where pitch-keypoints-heatmap.pt and its .json manifest go."),
    work_dir: Path = typer.Option(Path("out/train-keypoints"), "--work-dir", help="Dataset folder (kept)."),
    data_root: Optional[Path] = typer.Option(None, help="Folder with football-field/ [default: shared/data beside the checkout, or $SOCCERFACTORY_DATA]."),
    base_weights: Optional[Path] = typer.Option(None, help="YOLOv8s checkpoint whose backbone is used [default: the bundled detector]."),
    epochs: int = typer.Option(40, min=1),
    minutes: Optional[float] = typer.Option(None, help="Stop after the epoch that passes this budget."),
    batch: int = typer.Option(16, min=1),
    synth_seeds: str = typer.Option("100:124", help="first:stop seeds of rendered 4 s clips added to train; 'none' for real frames only."),
    real_limit: Optional[int] = typer.Option(None, help="Only the first N real images per split (quick checks)."),
) -> None:
    """Train the heatmap pitch keypoint model offline (Prefect flow `train-keypoints`).

    Builds the data (football-field frames unstretched to 16:9, plus synthetic frames with exact
    keypoints), caches the frozen backbone's features once and trains the heatmap decoder on
    the CPU (~25 min for the shipped model's 40 epochs on 2 cores), then scores it on the real
    valid split (PCK at 5 and 10 px, 960x540) and writes the weights with a manifest.

    Examples:

      soccerfactory train-keypoints --epochs 1 --real-limit 8 --synth-seeds none   # a quick check

      soccerfactory curate match.mp4 --set calibrate.weights=out/models/pitch-keypoints-heatmap.pt
    """
    data_root = _labelled_data_root(data_root, "football-field")
    seeds = _seed_range(synth_seeds)
    from soccerfactory.flows.preflight import check_base_weights

    _preflight(check_base_weights, base_weights, "train-keypoints base weights")
    from soccerfactory.flows.prefect_env import apply_env, embedded_prefect_env

    with apply_env(embedded_prefect_env(out_dir.resolve().parent)):
        from soccerfactory.flows.train_keypoints import train_keypoints

        try:
            manifest = train_keypoints(
                work_dir=work_dir, out_dir=out_dir, data_root=data_root, base_weights=base_weights, epochs=epochs,
                minutes=minutes, batch=batch, synth_seeds=seeds, real_limit=real_limit,
            )
        except (FileNotFoundError, ValueError) as error:
            _fail(str(error))
    metrics = manifest.get("metrics_valid", {})
    weights = out_dir / "pitch-keypoints-heatmap.pt"
    typer.echo(f"wrote {weights} (sha256 {manifest['sha256'][:12]}); valid PCK@5 {metrics.get('pck5')}, PCK@10 {metrics.get('pck10')}")
    typer.echo(f"use it: soccerfactory curate VIDEO --set calibrate.weights={weights}")


def _model_run_config(config: Optional[Path], overrides: list[str]):
    from soccerfactory.flows.config import ConfigError
    from soccerfactory.flows.train_model import load_model_config

    try:
        return load_model_config(config, overrides)
    except ConfigError as error:
        _fail(str(error))


def _catalog_of(catalog: Optional[Path], output: Path) -> Path:
    path = catalog or output / "catalog.duckdb"
    if not path.is_file():
        _fail(f"catalog {path} not found; curate footage first (soccerfactory curate SOURCE --output {output}) or pass --catalog")
    return path


@app.command("import-events")
def import_events_command(
    labels: Path = typer.Argument(..., help="A SoccerNet-v2 Labels-v2.json."),
    match_id: str = typer.Option(..., help="The match_id its video was curated under."),
    output: Path = typer.Option(Path("out"), "--output", "-o", help="Root holding the catalog."),
    catalog: Optional[Path] = typer.Option(None, help="DuckDB catalog [default: OUTPUT/catalog.duckdb]."),
) -> None:
    """Import SoccerNet-v2 action labels for a curated match (catalog table `event_labels`).

    The labels join the match's curated frames by time (`position`, seconds into the half's video),
    so `train` learns events from SoccerNet and athletes, pitch and camera from the shards. Running
    it again for the same file replaces that file's labels.

    Example:

      soccerfactory import-events SoccerNet/england_epl/2016-2017/game/Labels-v2.json --match-id epl-game-1
    """
    from soccerfactory.storage.catalog import record_event_labels
    from soccerfactory.storage.event_labels import read_soccernet_labels

    path = _catalog_of(catalog, output)
    try:
        rows = read_soccernet_labels(labels, match_id)
    except ValueError as error:
        _fail(str(error))
    record_event_labels(path, rows)
    kinds = sorted({row["label"] for row in rows})
    typer.echo(f"imported {len(rows)} labels for {match_id} ({', '.join(kinds[:8])}{', ...' if len(kinds) > 8 else ''}) into {path}")


@app.command("train")
def train_command(
    output: Path = typer.Option(Path("out"), "--output", "-o", help="Root: checkpoints go to OUTPUT/models/RUN_ID/."),
    catalog: Optional[Path] = typer.Option(None, help="DuckDB catalog [default: OUTPUT/catalog.duckdb]."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Model run config (YAML/JSON: model, train, data sections)."),
    overrides: list[str] = typer.Option([], "--set", help="e.g. --set train.steps=500 --set model.size=vit-large"),
    where: Optional[str] = typer.Option(None, help="SQL over frames f, cameras c, clips k [default: c.valid_camera]."),
    run_id: Optional[str] = typer.Option(None, help="Resume this run from its last checkpoint (or start it under this id)."),
) -> None:
    """Train the multi-task model on catalogued shards (Prefect flow `train`).

    Windows of consecutive frames are selected with SQL over the catalog (matches on the train side
    of a stable split by match), decoded from the source videos and labelled from the shards. The
    run (config, data query and snapshot, code version, losses) lands in the catalog's
    `training_runs` table; checkpoints are written atomically and a run resumes from its last one.

    Examples:

      soccerfactory train --set train.steps=300

      soccerfactory train --set train.tensorboard_dir=out/tb   # then: tensorboard --logdir out/tb

      soccerfactory train --where "c.valid_camera AND k.match_id LIKE 'bundesliga%'" --run-id nightly

      soccerfactory train --set model.size=vit-large --set model.device=cuda:0 --set train.batch_size=8
    """
    path = _catalog_of(catalog, output)
    resolved = _model_run_config(config, overrides + ([f"data.where={where}"] if where else []))
    from soccerfactory.flows.preflight import check_train

    _preflight(check_train, path, output.resolve(), resolved, run_id)
    from soccerfactory.flows.prefect_env import apply_env, embedded_prefect_env

    with apply_env(embedded_prefect_env(output.resolve())):
        from soccerfactory.flows.train_model import train_flow

        try:
            record = train_flow(str(path), str(output.resolve()), resolved, run_id)
        except (FileNotFoundError, ValueError) as error:
            _fail(str(error))
    typer.echo(f"run {record['run_id']}: {record['steps']} steps on {record['n_windows']} windows; checkpoint {record['checkpoint_url']}")
    for name, value in (record.get("last_losses") or {}).items():
        typer.echo(f"  {name}: loss {record['first_losses'].get(name, float('nan')):.3f} -> {value:.3f}")
    typer.echo(f"evaluate it: soccerfactory evaluate --checkpoint {record['checkpoint_url']}")


@app.command("evaluate")
def evaluate_command(
    checkpoint: str = typer.Option(..., help="Checkpoint URL (OUTPUT/models/RUN_ID/checkpoint.pt)."),
    output: Path = typer.Option(Path("out"), "--output", "-o", help="Root holding the catalog."),
    catalog: Optional[Path] = typer.Option(None, help="DuckDB catalog [default: OUTPUT/catalog.duckdb]."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Model run config [default: rebuilt from the checkpoint]."),
    overrides: list[str] = typer.Option([], "--set", help="e.g. --set data.where=\"k.match_id = 'm1'\""),
    split: str = typer.Option("eval", help="eval (held-out matches), train, or all."),
) -> None:
    """Score a checkpoint and the untrained model on held-out windows (Prefect flow `evaluate`).

    Writes one row per checkpoint, data snapshot, task and metric to the catalog's `evaluations`
    table: athletes/ap50, keypoints/pck_cell, camera/reprojection_px, align/recall@1 and @5,
    event/accuracy and balanced_accuracy (null without event labels). Compare checkpoints with SQL, e.g.

      soccerfactory query "SELECT checkpoint_url, task, metric, value FROM evaluations ORDER BY task, metric"
    """
    if split not in ("eval", "train", "all"):
        _fail(f"--split must be eval, train or all; got {split!r}")
    path = _catalog_of(catalog, output)
    resolved = _model_run_config(config, overrides) if (config or overrides) else None
    from soccerfactory.flows.preflight import check_evaluate

    _preflight(check_evaluate, path, checkpoint, resolved, None if split == "all" else split)
    from soccerfactory.flows.prefect_env import apply_env, embedded_prefect_env

    with apply_env(embedded_prefect_env(output.resolve())):
        from soccerfactory.flows.train_model import evaluate_flow

        try:
            result = evaluate_flow(str(path), checkpoint, resolved, split=None if split == "all" else split)
        except (FileNotFoundError, ValueError) as error:
            _fail(str(error))
    typer.echo(f"{result['n_windows']} windows (snapshot {result['data_snapshot']}):")
    for name, value in result["checkpoint"].items():
        typer.echo(f"  {name}: {value}  (untrained: {result.get('untrained', {}).get(name)})")


@app.command("pipeline")
def pipeline_command(
    source: str = typer.Argument(..., help="Video file, folder or fsspec URL to curate."),
    output: Path = typer.Option(Path("out"), "--output", "-o", help="Root of shards, catalog and checkpoints."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Model run config (model, train, data sections)."),
    overrides: list[str] = typer.Option([], "--set", help="Model run overrides, e.g. --set train.steps=100"),
    min_new_clips: int = typer.Option(1, "--min-new-clips", min=0, help="Train only when curation registered at least this many new clips (0: always)."),
) -> None:
    """Curate SOURCE, train the multi-task model on the catalog, evaluate it (Prefect flow `pipeline`).

    Runs on the embedded default: Prefect's local ephemeral API, OUTPUT/catalog.duckdb, Parquet
    shards and checkpoints under OUTPUT. With a single match there is no held-out match, so the
    evaluation then scores every match and says so. Run it on a schedule: footage already
    curated is skipped, and training starts only when at least --min-new-clips clips are new.

    Examples:

      soccerfactory synth clips/ --seconds 8 --seed 3 && soccerfactory pipeline clips/ --set train.steps=100
    """
    resolved = _model_run_config(config, overrides)
    from soccerfactory.flows.preflight import check_catalog_target, check_shards_root

    _preflight(check_shards_root, str(output))
    _preflight(check_catalog_target, output / "catalog.duckdb")
    output.mkdir(parents=True, exist_ok=True)
    from soccerfactory.flows.prefect_env import apply_env, embedded_prefect_env

    with apply_env(embedded_prefect_env(output.resolve())):
        from soccerfactory.flows.train_model import pipeline_flow

        try:
            result = pipeline_flow(source, str(output.resolve()), model_run=resolved, min_new_clips=min_new_clips)
        except (FileNotFoundError, ValueError) as error:
            _fail(str(error))
    # Bad inputs fail alone, as in `curate`: listed, and exit 1 once the rest is done.
    for failure in result["failures"]:
        typer.echo(f"failed: {failure['reason']} (stage {failure['stage']})", err=True)
    if result["training_run"] is None:
        typer.echo(f"curated {result['curated']} new clip(s), fewer than --min-new-clips {min_new_clips}: nothing trained")
    else:
        trained, evaluation = result["training_run"], result["evaluation"]
        typer.echo(f"trained run {trained['run_id']} ({trained['steps']} steps); evaluated on {evaluation['n_windows']} windows ({result['eval_split']}):")
        for name, value in evaluation["checkpoint"].items():
            typer.echo(f"  {name}: {value}  (untrained: {evaluation.get('untrained', {}).get(name)})")
    if result["failures"]:
        raise typer.Exit(1)


quality_app = typer.Typer(help="Measure quality against labels: detection AP@50, ball recall, HOTA, calibration error.", no_args_is_help=True)
app.add_typer(quality_app, name="quality")


@quality_app.command("detector")
def quality_detector(
    split: Optional[Path] = typer.Option(None, help="YOLO split with images/ and labels/ [default: football-players/valid]."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Curation config whose detect section is measured."),
    overrides: list[str] = typer.Option([], "--set", help="e.g. --set detect.weights=out/models/detector.pt"),
    imgsz: list[int] = typer.Option([], "--imgsz", help="Inference sizes to compare (repeatable) [default: the config's]."),
    out: Optional[Path] = typer.Option(None, help="Also write the figures as JSON here."),
) -> None:
    """COCO AP@50 per class and for all persons, and ball recall at IoU 0.3, on real labelled frames.

    Examples:

      soccerfactory quality detector

      soccerfactory quality detector --imgsz 640 --imgsz 768 --imgsz 960 --out detector-quality.json
    """
    from soccerfactory.flows.config import ConfigError, load_config
    from soccerfactory.flows.quality import DEFAULT_SPLIT, detector_quality

    try:
        resolved = load_config(config, overrides)
        figures = detector_quality(split or DEFAULT_SPLIT, resolved, imgsz=imgsz or None, progress=lambda line: typer.echo(line, err=True))
    except (ConfigError, FileNotFoundError, ValueError) as error:
        _fail(str(error))
    _emit(figures, out)


@quality_app.command("ball")
def quality_ball(
    work_dir: Path = typer.Option(Path("out/tracking-quality"), help="Rendered clips (shared with `quality tracking`; reused by reruns)."),
    seeds: list[int] = typer.Option([201, 202, 203, 204, 205], "--seed", help="Renderer seeds, one clip each (repeatable)."),
    seconds: float = typer.Option(30.0, min=1.0, help="Length of each clip."),
    every: int = typer.Option(25, min=1, help="Score every N-th frame (neighbouring frames are near-duplicates)."),
    slices: list[int] = typer.Option([], "--slices", help="Slice grids to compare (repeatable) [default: the config's]."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Curation config whose detect section is the baseline."),
    overrides: list[str] = typer.Option([], "--set", help="e.g. --set detect.imgsz=960"),
    out: Optional[Path] = typer.Option(None, help="Also write the figures as JSON here."),
) -> None:
    """Ball recall and precision (IoU 0.3) of ball-slicing settings on held-out synthetic clips.

    The detect.ball_slice_* defaults are chosen here, on rendered clips with exact ball boxes, so
    the real split `quality detector` reports on is never tuned on. Each grid is detected once;
    every slice confidence and retry threshold is then scored from the same candidates.

    Examples:

      soccerfactory quality ball

      soccerfactory quality ball --slices 2 --slices 3 --slices 4 --out ball-quality.json
    """
    from soccerfactory.flows.config import ConfigError, load_config
    from soccerfactory.flows.quality import ball_quality

    try:
        resolved = load_config(config, overrides)
        figures = ball_quality(
            work_dir, seeds=seeds, seconds=seconds, every=every, config=resolved, slices=slices or None,
            progress=lambda line: typer.echo(line, err=True),
        )
    except (ConfigError, FileNotFoundError, ValueError) as error:
        _fail(str(error))
    _emit(figures, out)
    best = max(figures["grid"], key=lambda row: (row["recall"], row["precision"]))
    typer.echo(
        f"configured: {figures['configured']}; highest recall: {best['slices']}x{best['slices']} at conf {best['slice_conf']}, "
        f"retry below {best['retry_below']}: recall {best['recall']}, precision {best['precision']}",
        err=True,
    )


@quality_app.command("calibration")
def quality_calibration(
    split: Optional[Path] = typer.Option(None, help="YOLO-pose split with images/ and labels/ [default: football-field/valid]."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Curation config whose calibrate section is measured."),
    overrides: list[str] = typer.Option([], "--set", help="e.g. --set calibrate.backend=heatmap"),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N real images."),
    synthetic: bool = typer.Option(False, "--synthetic", help="Also calibrate held-out rendered clips (completeness, line and athlete error, keyframes vs every frame)."),
    work_dir: Path = typer.Option(Path("out/tracking-quality"), help="Rendered clips (shared with `quality tracking`)."),
    seeds: list[int] = typer.Option([201, 202, 203, 204, 205], "--seed", help="Renderer seeds of the synthetic clips (repeatable)."),
    seconds: float = typer.Option(10.0, min=0.2, help="Seconds of each synthetic clip to calibrate."),
    out: Optional[Path] = typer.Option(None, help="Also write the figures as JSON here."),
) -> None:
    """Pitch keypoint PCK and camera reprojection error on real labelled frames, at 960x540.

    Every real frame is calibrated on its own. The reprojection error is that of every labelled
    keypoint through the solved camera; frames without a camera count as misses in the share
    within 5 px, so refusing hard frames does not raise the score. With --synthetic, rendered
    clips with exact cameras are calibrated in order as `curate` does: completeness, line
    reprojection error, athlete pitch-position error, and frames per second with keypoints on
    every frame against keyframes with line tracking between.

    Examples:

      soccerfactory quality calibration

      soccerfactory quality calibration --synthetic --seed 201 --seconds 4

      soccerfactory quality calibration --set calibrate.backend=lines --limit 10
    """
    from soccerfactory.flows.config import ConfigError, load_config
    from soccerfactory.flows.quality_calibration import DEFAULT_FIELD_SPLIT, real_calibration_quality, synthetic_calibration_quality

    say = lambda line: typer.echo(line, err=True)  # noqa: E731
    try:
        resolved = load_config(config, overrides)
        figures = {"real": real_calibration_quality(split or DEFAULT_FIELD_SPLIT, resolved, limit=limit, progress=say)}
        if synthetic:
            figures["synthetic"] = synthetic_calibration_quality(work_dir, seeds=seeds, seconds=seconds, config=resolved, progress=say)
    except (ConfigError, FileNotFoundError, ValueError) as error:
        _fail(str(error))
    _emit(figures, out)


@quality_app.command("tracking")
def quality_tracking(
    work_dir: Path = typer.Option(Path("out/tracking-quality"), help="Rendered clips and cached detections (reused by reruns)."),
    seeds: list[int] = typer.Option([201, 202, 203, 204, 205], "--seed", help="Renderer seeds, one clip each (repeatable)."),
    seconds: float = typer.Option(30.0, min=1.0, help="Length of each clip."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Curation config (detect, track, vote sections)."),
    overrides: list[str] = typer.Option([], "--set", help="e.g. --set track.backend=bytetrack"),
    out: Optional[Path] = typer.Option(None, help="Also write the figures as JSON here."),
    plot: Optional[Path] = typer.Option(None, help="Also draw HOTA/DetA/AssA/IDF1 per tracker as a PNG here."),
) -> None:
    """HOTA, DetA, AssA, IDF1 (trackeval) of detection + tracking on held-out synthetic clips.

    Compares ByteTrack (the default; with and without camera-motion compensation, track clean-up
    and jersey linking), StrongSORT and OC-SORT on the same detections, with the configured detector, and times the
    detector alone against detector + tracker. The first run renders and detects (minutes per
    clip on a CPU); reruns reuse both.

    Examples:

      soccerfactory quality tracking --seed 201 --seconds 10

      soccerfactory quality tracking --out tracking-quality.json --plot tracking-quality.png
    """
    from soccerfactory.flows.config import ConfigError, load_config
    from soccerfactory.flows.quality import tracking_quality

    try:
        resolved = load_config(config, overrides)
        figures = tracking_quality(work_dir, seeds=seeds, seconds=seconds, config=resolved, progress=lambda line: typer.echo(line, err=True))
    except (ConfigError, FileNotFoundError, ValueError) as error:
        _fail(str(error))
    _emit(figures, out)
    if plot is not None:
        from soccerfactory.flows.quality import plot_tracking

        typer.echo(f"plot: {plot_tracking(figures, plot)}", err=True)


def _emit(figures: dict, out: Optional[Path]) -> None:
    import json

    text = json.dumps(figures, indent=2)
    typer.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        temporary = out.with_suffix(out.suffix + ".tmp")
        temporary.write_text(text + "\n")
        os.replace(temporary, out)


@app.command()
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
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    raise typer.Exit(subprocess.call([str(Path(sys.executable).with_name("prefect")), "server", "start", "--host", "127.0.0.1", "--port", str(port)], env=env))


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


@app.command()
def preview(
    clip_id: str = typer.Argument(..., help="Clip to render, e.g. video-000000-000250 (list them: soccerfactory query \"SELECT match_id, clip_id FROM clips\")."),
    match: Optional[str] = typer.Option(None, "--match", "-m", help="Match of the clip [default: found by searching OUTPUT]."),
    output: str = typer.Option("out", "--output", "-o", help="Root of the shards (local folder or fsspec URL)."),
    to: Optional[Path] = typer.Option(None, "--to", help="MP4 to write [default: OUTPUT/previews/MATCH/CLIP.mp4, or ./MATCH-CLIP.mp4 for a remote OUTPUT]."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Render only the first N frames."),
    source: Optional[str] = typer.Option(None, "--source", help="Read the footage from here instead of the path the shard recorded (footage that moved)."),
    minimap: bool = typer.Option(True, "--minimap/--no-minimap", help="Top-down pitch map in the bottom-right corner."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Render a curated clip as an MP4 to look at: boxes coloured by team with "track role #jersey"
    labels, mask outlines, the ball, the calibrated pitch lines (magenta) and a top-down minimap.

    Reads the clip's shard under OUTPUT and decodes its footage again; prints the path written.

    Example: soccerfactory preview video-000000-000250 --output out --to qa/clip.mp4 --max-frames 100
    """
    from soccerfactory.curation.preview import find_clip_manifest, preview_manifest
    from soccerfactory.storage.shards import CorruptShardError

    if max_frames is not None and max_frames < 1:
        _fail(f"--max-frames must be >= 1, got {max_frames}")
    if to is not None and to.suffix.lower() != ".mp4":
        _fail(f"--to {to} must be an .mp4 file")
    try:
        manifest = find_clip_manifest(output, clip_id, match)
        if to is None:
            local = "://" not in output or output.startswith("file://")
            base = Path(output.removeprefix("file://")) / "previews" / manifest.match_id if local else Path.cwd()
            to = base / (f"{manifest.clip_id}.mp4" if local else f"{manifest.match_id}-{manifest.clip_id}.mp4")
        if quiet or not sys.stderr.isatty():
            path = preview_manifest(manifest, to, source=source, max_frames=max_frames, minimap=minimap)
        else:
            with typer.progressbar(length=1, label="rendering", file=sys.stderr) as bar:
                done = [0]

                def progress(frames: int, total: int) -> None:
                    bar.length = total
                    bar.update(frames - done[0])
                    done[0] = frames

                path = preview_manifest(manifest, to, source=source, max_frames=max_frames, minimap=minimap, progress=progress)
    except (FileNotFoundError, ValueError, CorruptShardError, OSError) as error:
        _fail(" ".join(str(error).split()))
    typer.echo(str(path))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
