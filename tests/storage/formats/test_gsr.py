"""GSR export: the game-state documents of ``storage.gamestate`` written one folder per sequence."""

from __future__ import annotations

import json

import pytest

from soccerfactory.storage.formats.gsr import GSR_FILE, export_gsr
from soccerfactory.storage.gamestate import catalog_gamestate


def test_each_sequence_is_the_gamestate_document_in_its_folder(examples, tmp_path):
    out = tmp_path / "gsr"
    summary = export_gsr(examples, None, out, split="test")
    documents = catalog_gamestate(examples, None, split="test")
    assert sorted(p.parent.name for p in out.glob(f"*/{GSR_FILE}")) == sorted(documents) == ["match-1.clip-0", "match-1.clip-1", "match-2.clip-0"]
    for name, document in documents.items():
        assert json.loads((out / name / GSR_FILE).read_text()) == document
    # The example's last frame has no camera: its rows cannot be placed and are dropped (counted).
    assert summary.labels == sum(len(d["predictions"]) for d in documents.values()) == 3 * 3 * 3
    assert summary.skipped == {"row without pitch position": 3 * 3} and summary.images == 3 * 4


def test_rows_without_a_position_can_be_kept_and_bad_selections_refused(examples, tmp_path):
    summary = export_gsr(examples, "match_id = 'match-2'", tmp_path / "gsr", unplaced="keep")
    assert summary.labels == 4 * 3 and summary.skipped == {} and summary.sequences == 1
    with pytest.raises(ValueError, match="no clip"):
        export_gsr(examples, "match_id = 'nope'", tmp_path / "none")
    assert not (tmp_path / "none").exists()  # nothing is written for an empty selection
