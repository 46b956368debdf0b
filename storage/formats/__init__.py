"""Curated labels in the field's formats, each from a catalog SQL selection of clips.

One module per format, each with an ``export_<format>(catalog, where, out, ...)`` that returns an
:class:`~soccerfactory.storage.formats.selection.ExportSummary`:

* :mod:`.gsr`: SoccerNet game-state predictions (``Labels-GameState.json`` per sequence; sn-trackeval, TrackLab);
* :mod:`.mot`: MOTChallenge / SoccerNet-Tracking sequences (``gt/gt.txt``, ``seqinfo.ini``; TrackEval);
* :mod:`.coco`: one COCO file, boxes, categories by role, track ids, RLE masks (faster-coco-eval, pycocotools);
* :mod:`.yolo`: an ultralytics detection dataset, frames decoded by a reader the caller passes.

:mod:`.selection` holds what they share: the read-only catalog selection, sequence names and
the per-track row rules. Not to be confused with :mod:`soccerfactory.storage.export`, which writes
a SQL result (``soccerfactory query --format``).
"""

from __future__ import annotations

__all__ = ["FORMATS"]

#: The export formats, as ``soccerfactory export`` names them.
FORMATS: tuple[str, ...] = ("gsr", "mot", "coco", "yolo")
