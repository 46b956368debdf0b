"""Stage declarations: a chain is checked before any model loads."""

from __future__ import annotations

import pytest

from soccerfactory.curation.pipeline import STAGE_SPECS, ChainError, validate_chain


def test_full_chain_is_valid():
    specs = validate_chain(list(STAGE_SPECS))
    assert [s.name for s in specs] == list(STAGE_SPECS)


def test_stage_missing_an_input_names_what_provides_it():
    with pytest.raises(ChainError, match=r"stage 'track' needs \['detections'\].*\['detect'\]"):
        validate_chain(["decode", "track"])


def test_vote_without_attribute_is_rejected():
    with pytest.raises(ChainError, match=r"'vote' needs .*team_observations"):
        validate_chain(["decode", "detect", "track", "vote"])


def test_unknown_stage_lists_the_valid_ones():
    with pytest.raises(ChainError, match=r"unknown stage 'ocr'; valid stages: \['decode'"):
        validate_chain(["decode", "ocr"])
