"""SoccerNet-v2 labels into the catalog, and from there into training windows."""

from __future__ import annotations

import json

import duckdb
import pytest

from soccerfactory.storage.catalog import record_event_labels
from soccerfactory.storage.event_labels import read_soccernet_labels

LABELS = {"UrlLocal": "england_epl/x", "annotations": [
    {"gameTime": "1 - 00:01", "label": "Ball out of play", "position": "1400", "team": "away", "visibility": "visible"},
    {"gameTime": "2 - 12:05", "label": "Goal", "position": "725000", "team": "home", "visibility": "not shown"},
]}


def test_labels_become_catalog_rows_by_match_and_time(tmp_path):
    path = tmp_path / "Labels-v2.json"
    path.write_text(json.dumps(LABELS))
    rows = read_soccernet_labels(path, "m-five")
    assert [(r["half"], r["timestamp_s"], r["label"], r["visible"]) for r in rows] == [(1, 1.4, "Ball out of play", True), (2, 725.0, "Goal", False)]
    catalog = tmp_path / "catalog.duckdb"
    assert record_event_labels(catalog, rows) == 2
    record_event_labels(catalog, rows)  # importing the same file again replaces, not duplicates
    with duckdb.connect(str(catalog), read_only=True) as connection:
        assert connection.execute("SELECT count(*), min(timestamp_s) FROM event_labels").fetchone() == (2, 1.4)


def test_malformed_files_are_named(tmp_path):
    bad = tmp_path / "Labels-v2.json"
    bad.write_text(json.dumps({"annotations": [{"gameTime": "first half", "label": "Goal"}]}))
    with pytest.raises(ValueError, match="annotation 0 needs gameTime"):
        read_soccernet_labels(bad, "m")
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a SoccerNet"):
        read_soccernet_labels(bad, "m")


def test_imported_labels_reach_the_training_windows(tmp_path, catalog):
    """The cross-dataset join: events from a SoccerNet file, boxes and cameras from the shards."""
    from soccerfactory.model.data import EVENT_CLASSES, ShardWindowDataset, load_event_labels, select_windows
    from soccerfactory.model.config import ModelConfig

    import shutil

    path = tmp_path / "catalog.duckdb"
    shutil.copy(catalog[0], path)  # the shared catalog stays as it was
    record_event_labels(path, [{"match_id": "m-five", "half": 1, "timestamp_s": 0.02, "label": "Shots on target", "source": "t.json"}])
    events = load_event_labels(path)
    assert events["m-five"] == [(0.02, EVENT_CLASSES.index("shot"))]
    dataset = ShardWindowDataset(select_windows(path, window=2), ModelConfig.tiny(window=2), events=events, event_margin_s=0.0)
    assert int(dataset[0][1]["event"]) == EVENT_CLASSES.index("shot") and int(dataset[3][1]["event"]) == 0
