"""What every exporter shares: the clips a catalog SQL selection names, their rows, and the summary.

:func:`selected_clips` opens the catalog read-only (the lockdown of ``soccerfactory query``),
selects ``clips`` rows with a SQL condition and names one sequence per clip: the clip id, or
``<match_id>.<clip_id>`` for every clip once a clip id repeats across the selected matches (clip
ids are unique within a match only), as the game-state export names them. :func:`clip_rows` reads one clip's rows of a view; :func:`athlete_rows`
applies the two rules every box export applies to athletes: one row per track and frame (the
most confident, as the game-state export does), and optionally no row of a flagged track.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

__all__ = ["ExportSummary", "Progress", "SelectedClip", "athlete_rows", "clip_rows", "curated_frames", "selected_clips"]

#: A progress hook: one line per exported sequence (the CLI prints them on stderr).
Progress = Callable[[str], None]

_CLIP_COLUMNS = ("match_id", "clip_id", "source_url", "start_frame", "stop_frame", "fps", "width", "height")


@dataclass(frozen=True)
class SelectedClip:
    """One selected clip and the sequence name its files go under.

    Attributes:
        name: Folder / sequence name: the clip id, prefixed ``<match_id>.`` when clip ids repeat in the selection.
        row: The clip's ``clips`` row (``source_url``, ``start_frame``, ``stop_frame`` exclusive,
            ``fps``, ``width``, ``height``, ``team_a_side`` ...).
        manifest_url: The shard's manifest, resolved for where the catalog is now; None when the
            ``shards`` table has no row for it.
    """

    name: str
    row: Mapping[str, Any]
    manifest_url: str | None = None

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name in (".", ".."):
            raise ValueError(f"sequence name {self.name!r} cannot be a folder name")
        missing = [c for c in _CLIP_COLUMNS if c not in self.row]
        if missing:
            raise ValueError(f"clips row of {self.name} lacks column(s) {missing}")
        if int(self.row["stop_frame"]) <= int(self.row["start_frame"]):
            raise ValueError(f"clip {self.name} has no frames: [{self.row['start_frame']}, {self.row['stop_frame']})")

    @property
    def key(self) -> tuple[str, str]:
        """``(match_id, clip_id)``, the clip's key in every view."""
        return str(self.row["match_id"]), str(self.row["clip_id"])

    @property
    def start_frame(self) -> int:
        return int(self.row["start_frame"])

    @property
    def num_frames(self) -> int:
        """Frames in the clip, ``stop_frame - start_frame`` (curated or not)."""
        return int(self.row["stop_frame"]) - int(self.row["start_frame"])

    def frame_number(self, frame_index: int) -> int:
        """The 1-based frame number in the clip's sequence of a source frame index (MOT, SoccerNet)."""
        return int(frame_index) - self.start_frame + 1


@dataclass(frozen=True)
class ExportSummary:
    """What one export wrote.

    Attributes:
        format: ``gsr``, ``mot``, ``coco`` or ``yolo``.
        out: The folder written.
        sequences: Clips exported (one sequence each).
        images: Frames listed (COCO, GSR) or written as images (YOLO); MOT: frames of the sequences.
        labels: Boxes written (MOT lines, COCO annotations, YOLO label lines, GSR predictions).
        skipped: Reason -> rows left out (e.g. ``repeated track in a frame``), empty when none.
    """

    format: str
    out: Path
    sequences: int
    images: int
    labels: int
    skipped: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.format not in ("gsr", "mot", "coco", "yolo"):
            raise ValueError(f"unknown export format {self.format!r}")
        if min(self.sequences, self.images, self.labels, *self.skipped.values(), 0) < 0:
            raise ValueError("export counts cannot be negative")

    def line(self) -> str:
        """One line for the terminal."""
        left_out = "; ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()) if n)
        return (
            f"exported {self.sequences} sequence(s), {self.images} image(s), {self.labels} label(s) as {self.format} to {self.out}"
            + (f" (left out: {left_out})" if left_out else "")
        )


@contextmanager
def selected_clips(catalog: str | os.PathLike, where: str | None) -> Iterator[tuple[duckdb.DuckDBPyConnection, list[SelectedClip]]]:
    """The read-only catalog connection and the clips ``where`` selects, in (match, source, first frame) order.

    Args:
        catalog: The DuckDB catalog file.
        where: A SQL condition on the ``clips`` columns, e.g. ``match_id = 'm1'``; None or blank
            selects every clip.

    Raises:
        FileNotFoundError: no catalog at ``catalog``.
        ValueError: the condition fails, or selects no clip (the message says how to list them).
        CatalogLockedError: a writer held the catalog for the whole wait.
    """
    from soccerfactory.storage.locations import read_locator
    from soccerfactory.storage.readonly import open_read_only

    connection, _ = open_read_only(catalog)
    try:
        condition = f"WHERE {where}" if where and where.strip() else ""
        try:
            rows = connection.sql(f"SELECT * FROM clips {condition} ORDER BY match_id, source_url, start_frame, clip_id").to_arrow_table().to_pylist()
        except duckdb.Error as error:
            raise ValueError(f"--where {where!r} cannot select clips: {str(error).splitlines()[0]}") from None
        if not rows:
            listing = f'soccerfactory query "SELECT match_id, clip_id FROM clips" --catalog {catalog}'
            raise ValueError(f"--where {where!r} selects no clip of {catalog}; list them with `{listing}`" if condition else f"catalog {catalog} has no clip; curate some first")
        locator = read_locator(connection, catalog)
        manifests = {
            (m, c): locator.resolve(url) for m, c, url in connection.sql("SELECT match_id, clip_id, manifest_url FROM shards").fetchall()
        }
        # As the game-state export names its sequences: every name prefixed once any id repeats.
        prefixed = max(Counter(r["clip_id"] for r in rows).values()) > 1
        clips = [
            SelectedClip(f"{r['match_id']}.{r['clip_id']}" if prefixed else r["clip_id"], r, manifests.get((r["match_id"], r["clip_id"])))
            for r in rows
        ]
        yield connection, clips
    finally:
        connection.close()


def clip_rows(connection: duckdb.DuckDBPyConnection, clip: SelectedClip, view: str, order: str = "frame_index") -> list[dict[str, Any]]:
    """Every row of ``view`` (athletes, ball, frames, cameras) for one clip, ordered by ``order``.

    Raises:
        ValueError: the view cannot be read (a damaged shard file: the message says what to run).
    """
    try:
        return connection.sql(
            f"SELECT * FROM {view} WHERE match_id = ? AND clip_id = ? ORDER BY {order}", params=list(clip.key)
        ).to_arrow_table().to_pylist()
    except duckdb.Error as error:
        raise ValueError(
            f"cannot read {view} of clip {clip.name}: {str(error).splitlines()[0]}; run `soccerfactory catalog verify` to quarantine a damaged shard"
        ) from None


def athlete_rows(
    connection: duckdb.DuckDBPyConnection, clip: SelectedClip, skipped: Counter, *, drop_flagged: bool = False
) -> list[dict[str, Any]]:
    """One clip's athlete rows, one per (frame, track), ordered by frame then track id.

    Rows left out are counted in ``skipped``: ``repeated track in a frame`` (a track appears
    twice in one frame: its most confident row is kept; trackers and evaluators refuse a repeated
    id), ``flagged track`` (with ``drop_flagged``: a row whose ``flags`` is set) and ``empty box``
    (zero width or height: no tool can match it).
    """
    best: dict[tuple[int, int], dict[str, Any]] = {}
    for row in clip_rows(connection, clip, "athletes", "frame_index, track_id"):
        if drop_flagged and row.get("flags"):
            skipped["flagged track"] += 1
            continue
        if not (row["x2"] > row["x1"] and row["y2"] > row["y1"]):
            skipped["empty box"] += 1
            continue
        slot = (int(row["frame_index"]), int(row["track_id"]))
        if slot in best:
            skipped["repeated track in a frame"] += 1
            if row["confidence"] <= best[slot]["confidence"]:
                continue
        best[slot] = row
    return [best[slot] for slot in sorted(best)]


def curated_frames(connection: duckdb.DuckDBPyConnection, clip: SelectedClip, athletes: Sequence[Mapping[str, Any]]) -> list[int]:
    """The clip's curated source frames (the ``frames`` view), or the frames its athletes are on
    where a shard lists none."""
    frames = sorted({int(r["frame_index"]) for r in clip_rows(connection, clip, "frames")})
    return frames or sorted({int(r["frame_index"]) for r in athletes})
