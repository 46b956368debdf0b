"""The training commands of ``soccerfactory``: ``train-detector`` and ``train-keypoints`` (the
curation's own models), ``import-events`` (SoccerNet action labels into the catalog), and
``train``, ``evaluate`` and ``pipeline`` (the multi-task model on catalogued shards)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from soccerfactory.flows.cli_common import fail, preflight, reported, run_with_config
from soccerfactory.flows.prefect_env import embedded_prefect

if TYPE_CHECKING:  # torch and pydantic load only when a command runs
    from soccerfactory.model.config import ModelRunConfig

__all__ = [
    "evaluate_command", "import_events_command", "pipeline_command", "train_command", "train_detector_command",
    "train_keypoints_command",
]


def _labelled_data_root(data_root: Optional[Path], dataset: str) -> Path:
    """``data_root`` (default: shared/data or $SOCCERFACTORY_DATA) when it holds ``dataset/train``;
    exits with a clear error otherwise."""
    from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT

    data_root = DEFAULT_DATA_ROOT if data_root is None else data_root
    if not (data_root / dataset / "train").is_dir():
        fail(f"{data_root / dataset / 'train'} not found; pass --data-root DIR holding {dataset}/")
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
        fail(f"--synth-seeds must be first:stop with 0 <= first < stop, or none; got {text!r}")
    return first, stop


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
    # Ultralytics' own epoch lines are this command's progress display (curation keeps it quiet).
    os.environ.setdefault("YOLO_VERBOSE", "True")
    if imgsz % 32:
        fail(f"--imgsz must be a multiple of 32, got {imgsz}")
    seed_range = _seed_range(synth_seeds)
    seeds = f"{seed_range[0]}:{seed_range[1]}" if seed_range else None
    from soccerfactory.flows.cli_preflight import check_base_weights

    preflight(check_base_weights, base_weights, "train-detector base weights")
    # One Prefect home per project folder: out/models -> out/.prefect, as `curate --output out` uses.
    with embedded_prefect(out_dir.resolve().parent):
        from soccerfactory.flows.train_detector import train_detector

        manifest = reported(lambda: train_detector(
            work_dir=work_dir, out_dir=out_dir, data_root=data_root, base_weights=base_weights, epochs=epochs,
            imgsz=imgsz, batch=batch, freeze=freeze, time_hours=time_hours, synth_seeds=seeds, real_limit=real_limit,
            device=device, ball_slices=ball_slices,
        ), (FileNotFoundError,))
    metrics = manifest.get("metrics_valid", {})
    typer.echo(f"wrote {out_dir / 'detector.pt'} (sha256 {manifest['sha256'][:12]}); valid mAP50 {metrics.get('map50')}")
    detector = out_dir.resolve() / "detector.pt"  # absolute and quoted: the hint works as printed from any folder
    typer.echo(f"use it: soccerfactory curate VIDEO --set {shlex.quote(f'detect.weights={detector}')}")


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
    from soccerfactory.flows.cli_preflight import check_base_weights

    preflight(check_base_weights, base_weights, "train-keypoints base weights")
    with embedded_prefect(out_dir.resolve().parent):
        from soccerfactory.flows.train_keypoints import train_keypoints

        manifest = reported(lambda: train_keypoints(
            work_dir=work_dir, out_dir=out_dir, data_root=data_root, base_weights=base_weights, epochs=epochs,
            minutes=minutes, batch=batch, synth_seeds=seeds, real_limit=real_limit,
        ))
    metrics = manifest.get("metrics_valid", {})
    weights = out_dir / "pitch-keypoints-heatmap.pt"
    typer.echo(f"wrote {weights} (sha256 {manifest['sha256'][:12]}); valid PCK@5 {metrics.get('pck5')}, PCK@10 {metrics.get('pck10')}")
    typer.echo(f"use it: soccerfactory curate VIDEO --set {shlex.quote(f'calibrate.weights={weights.resolve()}')}")


def _model_run_config(config: Optional[Path], overrides: list[str]) -> ModelRunConfig:
    """The resolved model run config; a bad file or override exits 2 in one line."""
    from soccerfactory.model.config import load_model_config

    return run_with_config(config, overrides, load=load_model_config)


def _catalog_of(catalog: Optional[Path], output: Optional[Path]) -> Path:
    root = _root_of(catalog, output)
    path = catalog or root / "catalog.duckdb"
    if not path.is_file():
        fail(f"catalog {path} not found; curate footage first (soccerfactory curate SOURCE --output {root}) or pass --catalog")
    return path


def _root_of(catalog: Optional[Path], output: Optional[Path]) -> Path:
    """``--output``, else the catalog's folder, else ``out``: checkpoints land next to the catalog
    they were trained from, never under whatever folder the command was typed in."""
    if output is not None:
        return output
    return catalog.resolve().parent if catalog is not None else Path("out")


def _latest_checkpoint(catalog: Path) -> str:
    """The checkpoint of the catalog's most recently finished training run; exits 2 when none."""
    from soccerfactory.storage.catalog import connect

    with connect(catalog, read_only=True) as connection:
        row = connection.execute(
            "SELECT run_id, checkpoint_url FROM training_runs WHERE status = 'completed' AND checkpoint_url IS NOT NULL "
            "ORDER BY finished_at DESC NULLS LAST LIMIT 1"
        ).fetchone()
    if row is None:
        fail(f"no finished training run in {catalog}; train one first (soccerfactory train --catalog {catalog}) or pass --checkpoint")
    typer.echo(f"evaluating the latest finished training run {row[0]}: {row[1]}")
    return row[1]


def import_events_command(
    labels: Path = typer.Argument(..., help="A SoccerNet-v2 Labels-v2.json."),
    match_id: str = typer.Option(..., help="The match_id its video was curated under."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Root holding the catalog [default: out]."),
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
    rows = reported(lambda: read_soccernet_labels(labels, match_id), (ValueError,))
    record_event_labels(path, rows)
    kinds = sorted({row["label"] for row in rows})
    typer.echo(f"imported {len(rows)} labels for {match_id} ({', '.join(kinds[:8])}{', ...' if len(kinds) > 8 else ''}) into {path}")


def train_command(
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Root: checkpoints go to OUTPUT/models/RUN_ID/ [default: the catalog's folder, else out]."
    ),
    catalog: Optional[Path] = typer.Option(None, help="DuckDB catalog [default: OUTPUT/catalog.duckdb]."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Model run config (YAML/JSON: model, train, data sections)."),
    overrides: list[str] = typer.Option([], "--set", help="e.g. --set train.steps=500 --set model.size=vit-large"),
    where: Optional[str] = typer.Option(None, help="SQL over frames f, cameras c, clips k [default: c.valid_camera]."),
    run_id: Optional[str] = typer.Option(None, help="Resume this run from its last checkpoint (or start it under this id)."),
    processes: Optional[int] = typer.Option(
        None, "--processes", min=1, help="Data-parallel processes (DDP): one GPU each with model.device=cuda, else CPU processes "
        "(gloo); the global batch is train.batch_size x N [default: train.processes, 1]."
    ),
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

      soccerfactory train --processes 4 --set model.device=cuda --set train.batch_size=8   # 4 GPUs, global batch 32
    """
    path = _catalog_of(catalog, output)
    root = _root_of(path if catalog is not None else None, output).resolve()
    extra = ([f"data.where={where}"] if where else []) + ([f"train.processes={processes}"] if processes is not None else [])
    resolved = _model_run_config(config, overrides + extra)
    from soccerfactory.flows.cli_preflight import check_train

    preflight(check_train, path, root, resolved, run_id)
    with embedded_prefect(root):
        from soccerfactory.flows.train_model import train_flow

        record = reported(lambda: train_flow(str(path), str(root), resolved, run_id))
    typer.echo(f"run {record['run_id']}: {record['steps']} steps on {record['n_windows']} windows; checkpoint {record['checkpoint_url']}")
    for name, value in (record.get("last_losses") or {}).items():
        typer.echo(f"  {name}: loss {record['first_losses'].get(name, float('nan')):.3f} -> {value:.3f}")
    # A hint that works as printed, from any folder: the catalog by its absolute path; evaluate
    # picks this run as the catalog's latest finished one.
    typer.echo(f"evaluate it: soccerfactory evaluate --catalog {path.resolve()}")


def evaluate_command(
    checkpoint: Optional[str] = typer.Option(
        None, help="Checkpoint URL (OUTPUT/models/RUN_ID/checkpoint.pt) [default: the catalog's latest finished training run]."
    ),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Root holding the catalog [default: out]."),
    catalog: Optional[Path] = typer.Option(None, help="DuckDB catalog [default: OUTPUT/catalog.duckdb]."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Model run config [default: rebuilt from the checkpoint]."),
    overrides: list[str] = typer.Option([], "--set", help="e.g. --set data.where=\"k.match_id = 'm1'\""),
    split: str = typer.Option("eval", help="eval (held-out matches), train, or all."),
) -> None:
    """Score a checkpoint and the untrained model on held-out windows (Prefect flow `evaluate`).

    Without --checkpoint, the catalog's latest finished training run is scored. Writes one row
    per checkpoint, data snapshot, task and metric to the catalog's `evaluations` table (with the
    split scored): athletes/ap50, keypoints/pck_cell, camera/reprojection_px, align/recall@1 and
    @5, event/accuracy and balanced_accuracy (null without event labels).

    Examples:

      soccerfactory evaluate --catalog runs/catalog.duckdb            # the latest training run

      soccerfactory evaluate --checkpoint out/models/RUN_ID/checkpoint.pt --split all

      soccerfactory query "SELECT checkpoint_url, split, task, metric, value FROM evaluations ORDER BY task, metric"
    """
    if split not in ("eval", "train", "all"):
        fail(f"--split must be eval, train or all; got {split!r}")
    path = _catalog_of(catalog, output)
    output = _root_of(path if catalog is not None else None, output)
    checkpoint = checkpoint or _latest_checkpoint(path)
    resolved = _model_run_config(config, overrides) if (config or overrides) else None
    from soccerfactory.flows.cli_preflight import check_evaluate

    preflight(check_evaluate, path, checkpoint, resolved, None if split == "all" else split)
    with embedded_prefect(output.resolve()):
        from soccerfactory.flows.train_model import evaluate_flow

        result = reported(lambda: evaluate_flow(str(path), checkpoint, resolved, split=None if split == "all" else split))
    scope = "all matches (training data included)" if result["split"] == "all" else f"the {result['split']} side of the split"
    typer.echo(f"{result['n_windows']} windows of {scope} (snapshot {result['data_snapshot']}):")
    for name, value in result["checkpoint"].items():
        typer.echo(f"  {name}: {value}  (untrained: {result.get('untrained', {}).get(name)})")


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
    from soccerfactory.flows.cli_preflight import check_catalog_target, check_shards_root

    preflight(check_shards_root, str(output))
    preflight(check_catalog_target, output / "catalog.duckdb")
    output.mkdir(parents=True, exist_ok=True)
    with embedded_prefect(output.resolve()):
        from soccerfactory.flows.train_model import pipeline_flow

        result = reported(lambda: pipeline_flow(source, str(output.resolve()), model_run=resolved, min_new_clips=min_new_clips))
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


