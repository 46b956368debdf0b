"""The ``soccerfactory preview`` command: a curated clip rendered as an MP4 to look at."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from soccerfactory.curation.preview.style import RADAR_CORNERS, STYLES, PreviewOptions
from soccerfactory.flows.cli_common import fail, local_root

__all__ = ["preview"]

_DEFAULTS = PreviewOptions()


def preview(
    clip_id: str = typer.Argument(..., help="Clip to render, e.g. video-000000-000250 (list them: soccerfactory query \"SELECT match_id, clip_id FROM clips\")."),
    match: Optional[str] = typer.Option(None, "--match", "-m", help="Match of the clip [default: found by searching OUTPUT]."),
    output: str = typer.Option("out", "--output", "-o", help="Root of the shards (local folder or fsspec URL)."),
    to: Optional[Path] = typer.Option(None, "--to", help="MP4 to write [default: OUTPUT/previews/MATCH/CLIP.mp4, or ./MATCH-CLIP.mp4 for a remote OUTPUT]."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Render only the first N frames."),
    source: Optional[str] = typer.Option(None, "--source", help="Read the footage from here instead of the path the shard recorded (footage that moved)."),
    style: str = typer.Option(_DEFAULTS.style, "--style", help=f"Athletes as a ring at the feet or their box: {'|'.join(STYLES)}."),
    radar: str = typer.Option(
        _DEFAULTS.radar, "--radar",
        help=f"Corner of the top-down pitch map, or off: {'|'.join(RADAR_CORNERS)}|off. It moves to a free corner while labels lie under it.",
    ),
    trail: float = typer.Option(_DEFAULTS.trail_s, "--trail-seconds", help="Seconds of ball positions drawn as a fading trail (0 = none)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Render a curated clip as an MP4 to look at: athletes in their team's kit colour (rings at the
    feet or boxes; goalkeepers double-ringed, referees yellow, other grey) with "track role #jersey"
    labels, mask outlines, the ball and its trail, the calibrated pitch lines (magenta), a legend
    and a top-down radar.

    Reads the clip's shard under OUTPUT and decodes its footage again; prints the path written.

    Example: soccerfactory preview video-000000-000250 --output out --to qa/clip.mp4 --max-frames 100 --radar top-left
    """
    from soccerfactory.curation.preview.read import find_clip_manifest, preview_manifest
    from soccerfactory.storage.shards import CorruptShardError

    if max_frames is not None and max_frames < 1:
        fail(f"--max-frames must be >= 1, got {max_frames}")
    if style not in STYLES:
        fail(f"--style must be one of {', '.join(STYLES)}, got {style!r}")
    if radar not in (*RADAR_CORNERS, "off"):
        fail(f"--radar must be one of {', '.join(RADAR_CORNERS)}, off; got {radar!r}")
    if not 0 <= trail <= 10:
        fail(f"--trail-seconds must be in [0, 10], got {trail}")
    options = PreviewOptions(style=style, radar=radar, trail_s=trail)  # type: ignore[arg-type]  # checked above
    if to is not None and to.suffix.lower() != ".mp4":
        fail(f"--to {to} must be an .mp4 file")
    try:
        manifest = find_clip_manifest(output, clip_id, match)
        if to is None:
            root = local_root(output)
            base = root / "previews" / manifest.match_id if root is not None else Path.cwd()
            to = base / (f"{manifest.clip_id}.mp4" if root is not None else f"{manifest.match_id}-{manifest.clip_id}.mp4")
        if quiet or not sys.stderr.isatty():
            path = preview_manifest(manifest, to, source=source, max_frames=max_frames, options=options)
        else:
            with typer.progressbar(length=1, label="rendering", file=sys.stderr) as bar:
                done = [0]

                def progress(frames: int, total: int) -> None:
                    bar.length = total
                    bar.update(frames - done[0])
                    done[0] = frames

                path = preview_manifest(manifest, to, source=source, max_frames=max_frames, options=options, progress=progress)
    except (FileNotFoundError, ValueError, CorruptShardError, OSError) as error:
        fail(" ".join(str(error).split()))
    typer.echo(str(Path(path).resolve()))  # absolute: the path still opens when pasted from another folder
