"""Curated labels as SoccerNet game-state (GSR) predictions: one ``Labels-GameState.json`` per sequence.

A thin writer over :func:`~soccerfactory.storage.gamestate.catalog_gamestate`, which holds every
convention (10-character image ids, 1-based frames, ``bbox_image``, ``bbox_pitch``, role / team
side / jersey string, track ids): ``OUT/<sequence>/Labels-GameState.json``, as SoccerNet ships its
``SNGS-*`` sequences, read by sn-trackeval's ``SoccerNetGS`` evaluator (as
``soccerfactory quality gamestate`` does) and by TrackLab.
"""

from __future__ import annotations

import os
from pathlib import Path

from soccerfactory.storage.formats.selection import ExportSummary, Progress
from soccerfactory.storage.gamestate import Identities, catalog_gamestate, write_gamestate

__all__ = ["GSR_FILE", "export_gsr"]

#: The file each sequence folder holds.
GSR_FILE = "Labels-GameState.json"


def export_gsr(
    catalog: str | os.PathLike,
    where: str | None,
    out: str | os.PathLike,
    *,
    split: str = "valid",
    frames: str = "clip",
    unplaced: str = "drop",
    progress: Progress | None = None,
    identities: Identities | None = None,
    stored_identities: bool = True,
) -> ExportSummary:
    """Write the game-state predictions of the clips a catalog selection names under ``out``.

    Args:
        catalog: The DuckDB catalog file.
        where: SQL condition on the ``clips`` columns (e.g. ``match_id = 'm1'``); None for all.
        out: The export folder (created; files of the same names are replaced).
        split, frames, unplaced: As :func:`~soccerfactory.storage.gamestate.gamestate_predictions`
            (the split digit of the image ids; one sequence per clip or per source; rows without
            a pitch position dropped or kept with ``bbox_pitch: null``).
        progress: Called with one line per sequence written.
        identities, stored_identities: One track id per athlete across the clips of a sequence:
            the catalog's stored identities, else the caller's function, as
            :func:`~soccerfactory.storage.gamestate.catalog_gamestate` takes them.

    Returns:
        The summary; ``skipped`` counts rows without a pitch position (when dropped) and
        repeated track rows.

    Raises:
        FileNotFoundError, ValueError: as :func:`~soccerfactory.storage.gamestate.catalog_gamestate`.
    """
    out = Path(out)
    documents = catalog_gamestate(catalog, where, split=split, frames=frames, unplaced=unplaced, identities=identities,
                                   stored_identities=stored_identities)
    images = labels = unplaced_rows = repeated = 0
    for k, (name, document) in enumerate(documents.items(), start=1):
        write_gamestate(document, out / name / GSR_FILE)
        info = document["info"]
        images += len(document["images"])
        labels += len(document["predictions"])
        unplaced_rows += info["rows_without_pitch_position"] if unplaced == "drop" else 0
        repeated += info["repeated_track_rows_dropped"]
        if progress is not None:
            progress(f"gsr {k}/{len(documents)}: {name} ({len(document['predictions'])} predictions)")
    skipped = {"row without pitch position": unplaced_rows, "repeated track in a frame": repeated}
    return ExportSummary("gsr", out, len(documents), images, labels, {k: v for k, v in skipped.items() if v})
