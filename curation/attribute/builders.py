"""Attribution backends by name: the team classifiers and jersey readers the config can choose.

Importing this module loads no model: :class:`.jersey.RapidOcrJerseyReader` imports
``onnxruntime`` (and ``rapidocr``) only when it is built, and the digit network's module
(:mod:`.jersey_digits`, torch) is imported only when a ``digits`` reader is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from soccerfactory.curation.attribute.jersey import JerseyReader, NoJerseyReader, RapidOcrJerseyReader
from soccerfactory.curation.attribute.team import KMeansColorTeams, TeamClassifier
from soccerfactory.curation.registry import pick_builder

__all__ = [
    "JERSEY_BACKENDS",
    "TEAM_BACKENDS",
    "build_jersey_reader",
    "build_team_classifier",
]

TEAM_BACKENDS: dict[str, Callable[..., TeamClassifier]] = {"kmeans-color": KMeansColorTeams}


def build_team_classifier(name: str, **params: Any) -> TeamClassifier:
    """Build a team classifier by name (``"kmeans-color"``), passing ``params`` to it.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    return pick_builder(TEAM_BACKENDS, name, "team classifier")(**params)


def _digits(**params: Any) -> JerseyReader:
    from soccerfactory.curation.attribute.jersey_digits import DigitsJerseyReader

    return DigitsJerseyReader(**params)


def _digits_rapidocr(**params: Any) -> JerseyReader:
    from soccerfactory.curation.attribute.jersey_digits import AgreeingJerseyReader, DigitsJerseyReader

    return AgreeingJerseyReader(DigitsJerseyReader(**params), RapidOcrJerseyReader())


JERSEY_BACKENDS: dict[str, Callable[..., JerseyReader]] = {
    "rapidocr": RapidOcrJerseyReader,
    "digits": _digits,
    "digits+rapidocr": _digits_rapidocr,
    "none": NoJerseyReader,
}


def build_jersey_reader(name: str, **params: Any) -> JerseyReader:
    """Build a jersey reader by name (``"rapidocr"``, ``"digits"``, ``"digits+rapidocr"`` or ``"none"``), passing ``params`` to it.

    ``params`` go to :class:`.jersey.RapidOcrJerseyReader` or, for the two ``digits`` backends,
    to :class:`.jersey_digits.DigitsJerseyReader`.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    return pick_builder(JERSEY_BACKENDS, name, "jersey reader")(**params)
