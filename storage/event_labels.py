"""Event labels from other datasets, joined to curated shards by match and game time.

SoccerNet-v2 action spotting ships one ``Labels-v2.json`` per game: ``annotations`` with
``gameTime`` (``"1 - 05:23"``: half, minutes:seconds), ``label`` (``"Goal"``, ``"Corner"``,
``"Ball out of play"``, ...), ``position`` (milliseconds into the half's video), ``team`` and
``visibility``. :func:`read_soccernet_labels` turns one file into rows of the catalog's
``event_labels`` table: ``match_id``, ``timestamp_s`` (seconds into the *source video* of that
half, from ``position``), ``half``, ``label``, ``team``, ``visible``, ``source``. A curated frame
of that match and half then carries every label within a window of its ``timestamp_s``: the
"cross-dataset fusion" of SoccerFactory (spatial labels from curation, events from SoccerNet).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

__all__ = ["EVENT_LABEL_COLUMNS", "read_soccernet_labels"]

EVENT_LABEL_COLUMNS = ("match_id", "half", "timestamp_s", "label", "team", "visible", "source")
_GAME_TIME = re.compile(r"^\s*([12])\s*-\s*(\d+):(\d{2})\s*$")


def read_soccernet_labels(path: str | Path, match_id: str) -> list[dict[str, Any]]:
    """Rows of ``event_labels`` from a SoccerNet-v2 ``Labels-v2.json``.

    Raises:
        ValueError: naming the file and the annotation that is malformed.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read SoccerNet labels {path}: {error}") from None
    annotations = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(annotations, list):
        raise ValueError(f"{path} has no 'annotations' list: not a SoccerNet Labels-v2.json")
    rows = []
    for number, item in enumerate(annotations):
        match = _GAME_TIME.match(str(item.get("gameTime", "")))
        if match is None or "label" not in item:
            raise ValueError(f"{path}: annotation {number} needs gameTime like '1 - 05:23' and a label, got {item!r}")
        half = int(match.group(1))
        position = item.get("position")
        seconds = float(position) / 1000 if position not in (None, "") else int(match.group(2)) * 60 + int(match.group(3))
        rows.append({
            "match_id": match_id, "half": half, "timestamp_s": seconds, "label": str(item["label"]),
            "team": item.get("team"), "visible": item.get("visibility", "visible") == "visible", "source": str(path.name),
        })
    return rows
