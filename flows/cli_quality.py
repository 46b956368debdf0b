"""The ``soccerfactory quality`` commands: detector AP@50, ball recall, calibration error,
tracking HOTA and game-state GS-HOTA, measured against labels (real labelled frames or rendered
clips with exact truth)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import typer

from soccerfactory.flows.cli_common import fail, run_with_config

if TYPE_CHECKING:  # pydantic and the weights registry load only when a command runs
    from soccerfactory.curation.config import CurateConfig

__all__ = ["curate_with_flow", "quality_app"]


quality_app = typer.Typer(
    help="Measure quality against labels: detection AP@50, ball recall, HOTA, GS-HOTA, calibration error.", no_args_is_help=True
)


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
    from soccerfactory.curation.quality.detection import DEFAULT_SPLIT, detector_quality

    figures = run_with_config(
        config, overrides, lambda resolved: detector_quality(split or DEFAULT_SPLIT, resolved, imgsz=imgsz or None, progress=_say)
    )
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
    from soccerfactory.curation.quality.ball import ball_quality

    figures = run_with_config(config, overrides, lambda resolved: ball_quality(
        work_dir, seeds=seeds, seconds=seconds, every=every, config=resolved, slices=slices or None, progress=_say,
    ))
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
    from soccerfactory.curation.quality.calibration import DEFAULT_FIELD_SPLIT, real_calibration_quality, synthetic_calibration_quality

    def measure(resolved: CurateConfig) -> dict:
        figures = {"real": real_calibration_quality(split or DEFAULT_FIELD_SPLIT, resolved, limit=limit, progress=_say)}
        if synthetic:
            figures["synthetic"] = synthetic_calibration_quality(work_dir, seeds=seeds, seconds=seconds, config=resolved, progress=_say)
        return figures

    figures = run_with_config(config, overrides, measure)
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
    from soccerfactory.curation.quality.tracking import tracking_quality

    figures = run_with_config(
        config, overrides, lambda resolved: tracking_quality(work_dir, seeds=seeds, seconds=seconds, config=resolved, progress=_say)
    )
    _emit(figures, out)
    if plot is not None:
        from soccerfactory.curation.quality.tracking import plot_tracking

        typer.echo(f"plot: {plot_tracking(figures, plot)}", err=True)


@quality_app.command("gamestate")
def quality_gamestate(
    seeds: list[int] = typer.Option([], "--seed", "--seeds", help="Renderer seeds, one clip each (repeatable) [default: the held-out seeds]."),
    seconds: float = typer.Option(30.0, min=1.0, help="Length of each clip."),
    work_dir: Path = typer.Option(Path("out/gamestate-quality"), help="Rendered clips, their curated shards and catalog (reused by reruns)."),
    split: str = typer.Option("valid", help="SoccerNet split whose digit starts the 10-character image ids (train, valid, test, challenge)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Curation config the clips are curated with."),
    overrides: list[str] = typer.Option([], "--set", help="e.g. --set track.backend=strongsort"),
    out: Optional[Path] = typer.Option(None, help="Also write the figures as JSON here."),
) -> None:
    """GS-HOTA of curated held-out clips, scored by SoccerNet's official game-state evaluator.

    Renders each seed's broadcast clip with its exact labels (Labels-GameState.json), curates it
    with the `curate` flow into WORK_DIR/curated/<match>-<video hash> (a catalog with the ground
    truth beside it as gt_* views and, where they exist, truth_* views), exports every curated clip as SoccerNet game-state predictions (10-character
    image ids, 1-based frames, bbox_image, bbox_pitch, role / team / jersey, track ids) and
    scores them with sn-trackeval's SoccerNetGS evaluator, combined over the clips and per clip:

    GS-HOTA (pitch space, 5 m tolerance; a prediction matches only with the right role, team and
    jersey), the same without jersey numbers, without any attribute (positions and identities
    alone), and HOTA of the image boxes alone. Rows without a pitch position (no valid camera) cannot be scored in pitch space
    and are left out, as TrackLab does; the true athletes they show stay misses. Where the
    catalog has the truth_quality view, its rows for these clips are included.

    Progress goes to stderr, the figures (JSON) to stdout. Reruns reuse the rendered clips and
    skip clips curated with the same config and code.

    Examples:

      soccerfactory quality gamestate --seed 401 --seconds 6

      soccerfactory quality gamestate --out gamestate-quality.json
    """
    from soccerfactory.curation.quality.gamestate import gamestate_quality
    from soccerfactory.storage.gamestate import SPLITS

    if split not in SPLITS:
        fail(f"--split {split!r} is not a SoccerNet split; use one of {', '.join(SPLITS)}")
    if len(set(seeds)) != len(seeds):
        fail(f"--seed repeats a seed ({', '.join(str(s) for s in seeds)}); give each once")
    figures = run_with_config(config, overrides, lambda resolved: gamestate_quality(
        work_dir, curate_with_flow(resolved), seeds=seeds or None, seconds=seconds, split=split, progress=_say,
    ))
    _emit(figures, out)
    scores = figures["gs_hota"]["combined"]
    typer.echo(f"GS-HOTA {scores['HOTA']:.1f} (DetA {scores['DetA']:.1f}, AssA {scores['AssA']:.1f}) over {len(figures['clips'])} clips", err=True)


def curate_with_flow(config: CurateConfig) -> Callable[[list[str], str], list[dict[str, Any]]]:
    """``curate(sources, output)``: the ``curate`` flow on the embedded default with ``config``,
    returning the run's failures (a failed clip leaves its athletes as misses, not a skipped clip)."""

    def curate(sources: list[str], output: str) -> list[dict[str, Any]]:
        from soccerfactory.flows.prefect_env import embedded_prefect

        root = Path(output).resolve()
        root.mkdir(parents=True, exist_ok=True)
        with embedded_prefect(root):
            from soccerfactory.flows.curate import run_curate

            summary = run_curate(sources, str(root), config)
        for failure in summary.failures:
            _say(f"curate failed: {failure['reason']} (stage {failure['stage']})")
        return list(summary.failures)

    return curate


def _say(line: str) -> None:
    """Progress of a measurement: on stderr, so stdout holds only the JSON figures."""
    typer.echo(line, err=True)


def _emit(figures: dict, out: Optional[Path]) -> None:
    """The figures as JSON on stdout and, with ``--out``, in that file (written atomically)."""
    import json

    text = json.dumps(figures, indent=2)
    typer.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        temporary = out.with_suffix(out.suffix + ".tmp")
        temporary.write_text(text + "\n")
        os.replace(temporary, out)
