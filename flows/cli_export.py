"""The ``soccerfactory export gsr | mot | coco | yolo`` commands: curated labels into the field's tools.

Each command selects clips from the catalog with ``--where`` (SQL on the ``clips`` table) and
hands them to its writer in :mod:`soccerfactory.storage.formats`; ``yolo`` also decodes the
labelled frames from the clips' source footage (``curation.video``), which storage cannot do
itself. Progress goes to stderr, one summary line to stdout; bad input is one ``error:`` line
and exit status 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from soccerfactory.flows.cli_common import fail

if TYPE_CHECKING:  # numpy and storage load only when a command runs
    import numpy as np

    from soccerfactory.storage.formats.selection import ExportSummary, SelectedClip

__all__ = ["export_app", "read_clip_frames"]

export_app = typer.Typer(
    help="Export curated labels from the catalog: gsr (SoccerNet game state), mot (TrackEval), coco, yolo (ultralytics).",
    no_args_is_help=True,
)

_CATALOG_HELP = "The DuckDB catalog file."
_WHERE_HELP = "SQL condition on the clips table, e.g. \"match_id = 'final-2026'\" [default: every clip]."
_OUT_HELP = "Folder to write (created; files of the same names are replaced)."
_FLAGGED_HELP = "Leave out the rows of tracks the curation flagged (athletes.flags: duplicate, off-pitch, role-kit, short)."


def _say(line: str) -> None:
    """Progress: on stderr, so stdout holds only the summary line."""
    typer.echo(line, err=True)


def _export(out: Path, run: Callable[[], ExportSummary]) -> None:
    """Run one export; a bad input ends in one ``error:`` line (exit 2), a locked or unreadable catalog exit 1."""
    import duckdb

    from soccerfactory.storage.catalog import CatalogLockedError

    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file; give a folder to write the export into")
    try:
        summary = run()
    except CatalogLockedError as error:  # a writer (curate) held it for the whole wait: try again later
        fail(str(error), 1)
    except (FileNotFoundError, ValueError) as error:
        fail(str(error))
    except duckdb.Error as error:
        fail(f"the catalog cannot be read ({str(error).splitlines()[0]}); run `soccerfactory catalog rebuild`", 1)
    except OSError as error:
        fail(f"cannot write under {out}: {error.strerror or error}", 1)
    typer.echo(summary.line())


@export_app.command("gsr")
def export_gsr_command(
    catalog: Path = typer.Option(Path("out/catalog.duckdb"), "--catalog", help=_CATALOG_HELP),
    where: Optional[str] = typer.Option(None, "--where", help=_WHERE_HELP),
    out: Path = typer.Option(..., "--out", help=_OUT_HELP),
    split: str = typer.Option("valid", help="SoccerNet split whose digit starts the 10-character image ids (train, valid, test, challenge)."),
    per_source: bool = typer.Option(False, "--per-source", help="One sequence per source video (frames numbered from the source's first) instead of one per clip."),
    keep_unplaced: bool = typer.Option(False, "--keep-unplaced", help="Keep rows without a pitch position (bbox_pitch null); the GS-HOTA evaluator cannot score them."),
    link_tracks: bool = typer.Option(True, "--link-tracks/--no-link-tracks", help="One track id per athlete across shots: the catalog's identities (linked by curate), or linked now for clips curated before identities were stored; --no-link-tracks: each clip's tracks are their own."),
) -> None:
    """SoccerNet game-state predictions: OUT/SEQUENCE/Labels-GameState.json, one per clip.

    Read by sn-trackeval's SoccerNetGS evaluator (GS-HOTA) and TrackLab: image ids, 1-based
    frames, bbox_image, bbox_pitch (metres), role, team side, jersey and track ids.

    Example: soccerfactory export gsr --catalog out/catalog.duckdb --where "match_id = 'synth-1'" --out out/export/gsr
    """
    from soccerfactory.curation.tracking.shot_links import identities_from_rows
    from soccerfactory.storage.formats.gsr import export_gsr
    from soccerfactory.storage.gamestate import SPLITS

    if split not in SPLITS:
        fail(f"--split {split!r} is not a SoccerNet split; use one of {', '.join(SPLITS)}")
    _export(out, lambda: export_gsr(
        catalog, where, out, split=split, frames="source" if per_source else "clip", unplaced="keep" if keep_unplaced else "drop", progress=_say,
        identities=identities_from_rows if link_tracks else None, stored_identities=link_tracks,
    ))


@export_app.command("mot")
def export_mot_command(
    catalog: Path = typer.Option(Path("out/catalog.duckdb"), "--catalog", help=_CATALOG_HELP),
    where: Optional[str] = typer.Option(None, "--where", help=_WHERE_HELP),
    out: Path = typer.Option(..., "--out", help=_OUT_HELP),
    drop_flagged: bool = typer.Option(False, "--drop-flagged", help=_FLAGGED_HELP),
) -> None:
    """MOTChallenge tracks in the SoccerNet-Tracking layout: OUT/SEQUENCE/gt/gt.txt, seqinfo.ini, gameinfo.ini.

    gt.txt lines are frame,id,x,y,w,h,conf,-1,-1,-1 (frames 1-based from the clip's first, the
    curated track ids). TrackEval reads OUT as ground truth with MotChallenge2DBox and
    GT_FOLDER=OUT, SKIP_SPLIT_FOL=True, BENCHMARK=SoccerFactory, SPLIT_TO_EVAL=all,
    DO_PREPROC=False (OUT/seqmaps/SoccerFactory-all.txt lists the sequences).

    Example: soccerfactory export mot --catalog out/catalog.duckdb --where "match_id = 'synth-1'" --out out/export/mot
    """
    from soccerfactory.storage.formats.mot import export_mot

    _export(out, lambda: export_mot(catalog, where, out, drop_flagged=drop_flagged, progress=_say))


@export_app.command("coco")
def export_coco_command(
    catalog: Path = typer.Option(Path("out/catalog.duckdb"), "--catalog", help=_CATALOG_HELP),
    where: Optional[str] = typer.Option(None, "--where", help=_WHERE_HELP),
    out: Path = typer.Option(..., "--out", help=_OUT_HELP),
    drop_flagged: bool = typer.Option(False, "--drop-flagged", help=_FLAGGED_HELP),
) -> None:
    """COCO detection and instance masks: OUT/annotations.json.

    One image per curated frame (file_name SEQUENCE/img1/000001.jpg), boxes [x, y, w, h] in
    source pixels, a category per role (player, goalkeeper, referee, other) and the ball, the
    track id and team / jersey as attributes, and the athlete's mask as COCO RLE where the
    curation made one. Loads in faster-coco-eval and pycocotools.

    Example: soccerfactory export coco --catalog out/catalog.duckdb --where "view = 'main'" --out out/export/coco
    """
    from soccerfactory.storage.formats.coco import export_coco

    _export(out, lambda: export_coco(catalog, where, out, drop_flagged=drop_flagged, progress=_say))


@export_app.command("yolo")
def export_yolo_command(
    catalog: Path = typer.Option(Path("out/catalog.duckdb"), "--catalog", help=_CATALOG_HELP),
    where: Optional[str] = typer.Option(None, "--where", help=_WHERE_HELP),
    out: Path = typer.Option(..., "--out", help="Folder to write: new, or without images/ and labels/ (ultralytics would train on every image there)."),
    val_where: Optional[str] = typer.Option(None, "--val-where", help="SQL condition on clips naming the clips for val [default: none held out; val = train]."),
    every: int = typer.Option(1, min=1, help="Keep every N-th curated frame of a clip (neighbouring frames are near-duplicates)."),
    drop_flagged: bool = typer.Option(False, "--drop-flagged", help=_FLAGGED_HELP),
) -> None:
    """An ultralytics YOLO dataset: OUT/images, OUT/labels and OUT/data.yaml.

    The frames are decoded from each clip's source footage (it must still be where it was
    curated); labels use the project detector's classes (ball, goalkeeper, player, referee), so
    `yolo train data=OUT/data.yaml` retrains it on curated labels. Role `other` and
    interpolated ball boxes are left out.

    Example: soccerfactory export yolo --catalog out/catalog.duckdb --where "match_id = 'synth-1'" --val-where "clip_id LIKE '%-000750'" --every 5 --out out/export/yolo
    """
    from soccerfactory.storage.formats.yolo import export_yolo

    _export(out, lambda: export_yolo(
        catalog, where, out, read_clip_frames, val_where=val_where, every=every, drop_flagged=drop_flagged, progress=_say,
    ))


def read_clip_frames(clip: SelectedClip, frame_indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    """The source frames ``frame_indices`` of a catalogued clip, decoded as ``curate`` decoded them.

    The clip is rebuilt from its shard's manifest (``curation.layout.clip_from_manifest``) and
    read once from the first to the last wanted frame, at the largest stride that hits them all.

    Yields:
        ``(frame_index, image)``, image ``uint8`` ``(height, width, 3)`` BGR.

    Raises:
        ValueError: the clip has no shard manifest, or the footage cannot be decoded (``BadInputError``).
        FileNotFoundError: the manifest is gone.
    """
    import dataclasses
    import math

    import pyarrow as pa

    from soccerfactory.curation.layout import clip_from_manifest
    from soccerfactory.curation.video.clips import clip_hash
    from soccerfactory.curation.video.decode import read_frames
    from soccerfactory.storage.shards import read_manifest

    wanted = sorted({int(f) for f in frame_indices})
    if not wanted:
        return
    if clip.manifest_url is None:
        raise ValueError(f"clip {clip.name} has no shard in the catalog's shards table; run `soccerfactory catalog sync`")
    spec = clip_from_manifest(read_manifest(clip.manifest_url), pa.Table.from_pylist([dict(clip.row)]))
    first, last = wanted[0], wanted[-1]
    if first < spec.start_frame or last >= spec.stop_frame:
        raise ValueError(f"clip {clip.name}: frames {first}..{last} are outside its range [{spec.start_frame}, {spec.stop_frame})")
    part = dataclasses.replace(spec, start_frame=first, stop_frame=last + 1, content_hash=clip_hash(spec.source_hash, first, last + 1))
    stride = math.gcd(*(f - first for f in wanted)) or 1
    keep = set(wanted)
    for batch in read_frames(part, batch_size=8, stride=stride):
        for index, image in zip(batch.frame_index.tolist(), batch.images):
            if index in keep:
                yield index, image
