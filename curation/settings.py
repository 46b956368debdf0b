"""The project's settings machinery: one frozen-section base and one loader for every config.

Both configs use it: the curation config (:mod:`soccerfactory.curation.config`) and the model run
config (:mod:`soccerfactory.model.config`). A config is a pydantic model whose fields are
:class:`Section` subclasses; :func:`load_settings` reads it from YAML/JSON and applies
``section.key=value`` overrides, and every mistake is a one-line :class:`ConfigError` naming the
file and the field. Layer: curation base (imports nothing of the project).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["ConfigError", "Section", "load_settings", "set_dotted"]


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the file and the field."""


SettingsT = TypeVar("SettingsT", bound=BaseModel)


class Section(BaseModel):
    """Base of every config section (the curation config's and the model run config's): frozen,
    and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse_value(text: str) -> Any:
    # YAML scalars: `true`, `0.3`, `null`, `[a, b]` all mean what a user expects.
    return yaml.safe_load(text)


def set_dotted(tree: dict[str, Any], dotted: str, value: Any, defaults: Mapping[str, Any] | None = None) -> None:
    """Set ``tree[a][b][c] = value`` for ``dotted`` ``"a.b.c"``, creating (or seeding) what is missing."""
    parts = dotted.split(".")
    node, default = tree, defaults
    for depth, part in enumerate(parts[:-1]):
        default = default.get(part) if isinstance(default, Mapping) else None
        if part not in node:
            # Below a section, a mapping field starts from its default: `--set
            # train.loss_weights.athletes=2` changes one weight instead of dropping the others.
            node[part] = copy.deepcopy(dict(default)) if depth >= 1 and isinstance(default, Mapping) else {}
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {part} is not a section")
    node[parts[-1]] = value


def _defaults(model: type[BaseModel]) -> dict[str, Any]:
    """The model's defaults as a plain tree (what a nested ``--set`` starts from)."""
    try:
        return model().model_dump()
    except ValidationError:  # a model without defaults for every field: nothing to start from
        return {}


def load_settings(model: type[SettingsT], path: str | os.PathLike | None = None, overrides: list[str] | None = None,
                  what: str = "config") -> SettingsT:
    """Read a YAML/JSON file (optional) into ``model`` and apply ``section.key=value`` overrides.

    The one loader of the project's configs (the curation config's ``load_config``, and the model run config's
    ``load_model_config``). An empty file, or one of comments only, means all defaults.

    Args:
        model: The pydantic model of the whole config (sections as fields).
        path: The YAML/JSON file; None: defaults and overrides only.
        overrides: ``section.key=value`` strings, values parsed as YAML scalars, applied in order.
        what: How the messages name the config (``"config"``, ``"model config"``).

    Raises:
        ConfigError: naming the file and the offending fields; never a raw traceback.
    """
    tree: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        path = Path(path)
        origin = str(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise ConfigError(f"cannot read {what} {path}: {error.strerror or error}") from None
        except UnicodeDecodeError as error:
            raise ConfigError(f"{what} {path} is not valid YAML/JSON: {str(error).splitlines()[0]}") from None
        try:
            loaded = yaml.safe_load(text) if text.strip() else {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{what} {path} is not valid YAML/JSON: {str(error).splitlines()[0]}") from None
        if loaded is None:  # comments only
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{what} {path} must be a mapping of sections, got {type(loaded).__name__}")
        tree = loaded
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects section.key=value, got {item!r}")
        try:
            parsed = _parse_value(value)
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {item}: the value is not valid YAML: {str(error).splitlines()[0]}") from None
        set_dotted(tree, key.strip(), parsed, _defaults(model) if key.count(".") >= 2 else {})
        origin += f" + --set {item}"
    try:
        return model.model_validate(tree)
    except ValidationError as error:
        # One line: every offending field with pydantic's reason, not its multi-line report.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"invalid {what} ({origin}): {problems}") from None
