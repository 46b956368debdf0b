"""Attribution backends by name: the team and jersey contracts every backend keeps, and the builders' errors."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.attribute.builders import (
    JERSEY_BACKENDS,
    TEAM_BACKENDS,
    build_jersey_reader,
    build_team_classifier,
)
from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.attribute.jersey import JerseyReads
from soccerfactory.curation.attribute.team import TeamLabels


@pytest.mark.parametrize("name", sorted(TEAM_BACKENDS))
def test_team_contract(name, some_crops):
    classifier = build_team_classifier(name)
    empty = classifier.fit_predict(AthleteCrops.empty())
    assert isinstance(empty, TeamLabels) and len(empty) == 0
    crops = some_crops()
    labels = classifier.fit_predict(crops)
    assert len(labels) == len(crops)
    assert labels.team.dtype == object and labels.confidence.dtype == np.float32
    assert set(labels.team.tolist()) <= {"A", "B", None}


@pytest.mark.parametrize("name", sorted(JERSEY_BACKENDS))
def test_jersey_contract(name, sampled):
    reader = build_jersey_reader(name)
    empty = reader.read(AthleteCrops.empty())
    assert isinstance(empty, JerseyReads) and len(empty) == 0
    crops = sampled[3][:12]
    reads = reader.read(crops)
    assert len(reads) == len(crops)
    assert reads.number.dtype == np.int32 and reads.confidence.dtype == np.float32
    assert ((reads.number == -1) | ((reads.number >= 1) & (reads.number <= 99))).all()
    assert (reads.confidence[reads.number == -1] == 0).all()


def test_builders_list_the_valid_choices():
    with pytest.raises(ValueError, match="kmeans-color"):
        build_team_classifier("svm")
    with pytest.raises(ValueError, match="none.*rapidocr|rapidocr.*none"):
        build_jersey_reader("tesseract")
    with pytest.raises(TypeError):
        build_team_classifier("kmeans-color", nonsense=1)
