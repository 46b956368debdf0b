"""Curated athlete tracks as MOTChallenge sequences, in the SoccerNet-Tracking layout.

One folder per clip under the export folder, as SoccerNet-Tracking ships its ``SNMOT-*``
sequences::

    OUT/<sequence>/seqinfo.ini        [Sequence] name, imDir=img1, frameRate, seqLength, imWidth, imHeight, imExt
    OUT/<sequence>/gameinfo.ini       per track: trackletID_<id>= player team left;10 (role, side, jersey)
    OUT/<sequence>/gt/gt.txt          frame,id,x,y,w,h,conf,-1,-1,-1
    OUT/seqmaps/SoccerFactory-all.txt the sequence names (TrackEval's seqmap)

``gt.txt`` lines: ``frame`` 1-based from the clip's first frame (``frame_index - start_frame +
1``; a frame the curation skipped has no line, the sequence still spans the whole clip),
``id`` the curated ``track_id`` (one athlete in the clip), ``x,y,w,h`` the box in source pixels
(top left, width, height; 2 decimals), ``conf`` the detector confidence (4 decimals, at least
0.0001: TrackEval drops a ground-truth line whose 7th column is 0), then ``-1,-1,-1`` (no class,
no visibility, as SoccerNet writes them). One line per track and frame; athletes only (the
ball is not a track here).

TrackEval reads the folder as ground truth with ``MotChallenge2DBox`` and ``GT_FOLDER=OUT,
SKIP_SPLIT_FOL=True, BENCHMARK='SoccerFactory', SPLIT_TO_EVAL='all', DO_PREPROC=False`` (the
SoccerNet-Tracking settings: the class column is -1). To score the curated tracks as a tracker
instead, copy ``OUT/<sequence>/gt/gt.txt`` to ``TRACKERS/<name>/data/<sequence>.txt``.

``gameinfo.ini`` sides come from :func:`~soccerfactory.storage.gamestate.team_sides` (the stored
``team_a_side``, else the teams' mean positions); an unknown side is written ``unknown`` and an
unread jersey ``X``, never guessed.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from soccerfactory.storage.formats.selection import ExportSummary, Progress, SelectedClip, athlete_rows, selected_clips
from soccerfactory.storage.gamestate import team_sides

__all__ = ["BENCHMARK", "SPLIT", "export_mot", "gameinfo_text", "mot_lines", "seqinfo_text"]

#: TrackEval's ``BENCHMARK`` and ``SPLIT_TO_EVAL`` for an export: the seqmap is ``seqmaps/SoccerFactory-all.txt``.
BENCHMARK = "SoccerFactory"
SPLIT = "all"
# TrackEval keeps a ground-truth row only where its 7th column is non-zero.
_MIN_CONFIDENCE = 1e-4


def mot_lines(clip: SelectedClip, athletes: Sequence[Mapping[str, Any]]) -> list[str]:
    """``frame,id,x,y,w,h,conf,-1,-1,-1`` lines of one clip's athlete rows (one per track and frame).

    Raises:
        ValueError: a row of another clip, a frame outside the clip, or a negative track id.
    """
    lines = []
    for row in athletes:
        frame = clip.frame_number(row["frame_index"])
        if (row["match_id"], row["clip_id"]) != clip.key or not 1 <= frame <= clip.num_frames:
            raise ValueError(f"athlete row of {row['match_id']}/{row['clip_id']} frame {row['frame_index']} is not in clip {clip.name}")
        if int(row["track_id"]) < 0:
            raise ValueError(f"clip {clip.name}: track id {row['track_id']} is negative; MOT ids cannot be")
        x1, y1, x2, y2 = (float(row[k]) for k in ("x1", "y1", "x2", "y2"))
        confidence = max(min(float(row["confidence"]), 1.0), _MIN_CONFIDENCE)
        lines.append(f"{frame},{int(row['track_id'])},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{confidence:.4f},-1,-1,-1")
    return lines


def seqinfo_text(clip: SelectedClip) -> str:
    """The sequence's ``seqinfo.ini`` (MOTChallenge keys; ``seqLength`` spans the whole clip)."""
    row = clip.row
    fps = float(row["fps"])
    rate = int(fps) if fps.is_integer() else round(fps, 3)
    return (
        f"[Sequence]\nname={clip.name}\nimDir=img1\nframeRate={rate}\nseqLength={clip.num_frames}\n"
        f"imWidth={int(row['width'])}\nimHeight={int(row['height'])}\nimExt=.jpg\n"
    )


def gameinfo_text(clip: SelectedClip, athletes: Sequence[Mapping[str, Any]]) -> str:
    """SoccerNet-Tracking's ``gameinfo.ini``: per track its role, the side its team defends and its jersey."""
    sides, _ = team_sides(clip.row, athletes)
    tracks: dict[int, Mapping[str, Any]] = {}
    for row in athletes:
        tracks.setdefault(int(row["track_id"]), row)
    lines = [f"[Sequence]\nname={clip.name}\ngameID={clip.row['match_id']}\nnum_tracklets={len(tracks)}"]
    for track_id, row in sorted(tracks.items()):
        jersey = "X" if row.get("jersey") is None else str(int(row["jersey"]))
        if row["role"] in ("player", "goalkeeper"):
            side = sides.get(row.get("team")) or "unknown"
            lines.append(f"trackletID_{track_id}= {row['role']} team {side};{jersey}")
        else:
            lines.append(f"trackletID_{track_id}= {row['role']};X")
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def export_mot(
    catalog: str | os.PathLike, where: str | None, out: str | os.PathLike, *, drop_flagged: bool = False, progress: Progress | None = None
) -> ExportSummary:
    """Write the clips a catalog selection names as MOTChallenge sequences under ``out``.

    Args:
        catalog: The DuckDB catalog file.
        where: SQL condition on the ``clips`` columns (e.g. ``match_id = 'm1'``); None for all.
        out: The export folder (created; files of the same names are replaced).
        drop_flagged: Leave out the rows of tracks the curation flagged (``athletes.flags``).
        progress: Called with one line per sequence written.

    Returns:
        The summary; ``images`` counts the frames the sequences span.

    Raises:
        FileNotFoundError, ValueError: as :func:`~soccerfactory.storage.formats.selection.selected_clips`.
    """
    out = Path(out)
    skipped: Counter = Counter()
    frames = labels = 0
    with selected_clips(catalog, where) as (connection, clips):
        for k, clip in enumerate(clips, start=1):
            athletes = athlete_rows(connection, clip, skipped, drop_flagged=drop_flagged)
            lines = mot_lines(clip, athletes)
            folder = out / clip.name
            _write(folder / "seqinfo.ini", seqinfo_text(clip))
            _write(folder / "gameinfo.ini", gameinfo_text(clip, athletes))
            _write(folder / "gt" / "gt.txt", "\n".join(lines) + ("\n" if lines else ""))
            frames += clip.num_frames
            labels += len(lines)
            if progress is not None:
                progress(f"mot {k}/{len(clips)}: {clip.name} ({len(lines)} boxes, {clip.num_frames} frames)")
        _write(out / "seqmaps" / f"{BENCHMARK}-{SPLIT}.txt", "name\n" + "".join(f"{c.name}\n" for c in clips))
    return ExportSummary("mot", out, len(clips), frames, labels, dict(skipped))
