"""Backends are picked by name from a registry of builders; an unknown name lists the valid ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["pick_builder"]

_B = TypeVar("_B", bound=Callable[..., Any])


def pick_builder(registry: Mapping[str, _B], name: str, kind: str) -> _B:
    """The builder registered as ``name``.

    Raises:
        ValueError: ``unknown <kind> '<name>'; valid choices: a, b`` for an unknown name.
    """
    try:
        return registry[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown {kind} {name!r}; valid choices: {', '.join(sorted(registry))}") from None
