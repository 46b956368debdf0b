"""The chain of stages: what each stage needs and produces, checked before any model loads.

TrackLab's rule: stages declare their inputs and outputs (:data:`STAGE_SPECS`), and
:func:`validate_chain` checks a configured chain in milliseconds, so a misconfigured run fails
before the detector has spent a minute loading.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

__all__ = ["STAGE_SPECS", "ChainError", "StageSpec", "validate_chain"]


@dataclasses.dataclass(frozen=True)
class StageSpec:
    """What a stage reads and writes, by name of the artefact."""

    name: str
    needs: frozenset[str]
    produces: frozenset[str]


def _spec(name: str, needs: Iterable[str], produces: Iterable[str]) -> StageSpec:
    return StageSpec(name, frozenset(needs), frozenset(produces))


#: The stages in pipeline order. ``write`` needs only what every shard has; the optional stages'
#: outputs become null columns when they are switched off.
STAGE_SPECS: dict[str, StageSpec] = {
    spec.name: spec
    for spec in (
        _spec("decode", [], ["frames"]),
        _spec("detect", ["frames"], ["detections", "ball"]),
        _spec("track", ["frames", "detections"], ["tracks"]),
        _spec("calibrate", ["frames"], ["cameras", "pitch_positions"]),
        _spec("refine", ["frames", "tracks"], ["masks", "refined_boxes"]),
        _spec("attribute", ["frames", "tracks"], ["team_observations", "jersey_observations", "role_observations"]),
        _spec("vote", ["tracks", "team_observations", "jersey_observations", "role_observations"], ["consensus"]),
        _spec("write", ["tracks", "ball"], ["shard"]),
    )
}


class ChainError(ValueError):
    """A stage needs something no earlier stage produces."""


def validate_chain(stages: Sequence[str]) -> list[StageSpec]:
    """Check that every stage's inputs are produced by the stages before it.

    Args:
        stages: Stage names in execution order, e.g. ``["decode", "detect", "track", "write"]``.

    Returns:
        The stage specs, in order.

    Raises:
        ChainError: naming the first stage with a missing input, or an unknown stage with the valid
            names.
    """
    available: set[str] = set()
    specs = []
    for name in stages:
        if name not in STAGE_SPECS:
            raise ChainError(f"unknown stage {name!r}; valid stages: {list(STAGE_SPECS)}")
        spec = STAGE_SPECS[name]
        missing = spec.needs - available
        if missing:
            providers = sorted({s.name for s in STAGE_SPECS.values() if s.produces & missing})
            raise ChainError(
                f"stage {name!r} needs {sorted(missing)}, which no earlier stage produces "
                f"(enable one of {providers} before it)"
            )
        available |= spec.produces
        specs.append(spec)
    return specs
