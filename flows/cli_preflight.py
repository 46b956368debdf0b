"""Checks the CLI runs on a command's inputs before a flow starts.

A bad input found inside a Prefect flow is logged by Prefect with a traceback (and, for
``curate``, leaves a run record behind), though the README promises one line and exit 2. Every
check here is cheap and has no lasting side effect, raises ``FileNotFoundError`` or
``ValueError`` with one line naming the input and what to do, and runs before any flow, server or
run record exists.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from soccerfactory.flows.cli_common import local_root

__all__ = [
    "check_base_weights",
    "check_catalog_source",
    "check_catalog_target",
    "check_evaluate",
    "check_shards_root",
    "check_train",
]

# Bytes 8-11 of every DuckDB database file (after an 8-byte checksum).
_DUCKDB_MAGIC = b"DUCK"


def _is_duckdb_file(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(12)
    # An empty file is what a crashed create leaves; DuckDB initialises it like a missing one.
    return len(head) == 0 or head[8:12] == _DUCKDB_MAGIC


def check_catalog_target(catalog: str | os.PathLike, replace: bool = False) -> None:
    """Refuse a catalog path the run could not create or write (``curate``, ``catalog rebuild``).

    Args:
        catalog: Local DuckDB file, existing or to be created.
        replace: The command writes a new file next to it and renames it over (``catalog
            rebuild``): an existing file need not be a DuckDB database, its folder must be writable.

    Raises:
        ValueError: a directory, a file that is not a DuckDB database, or a place where no file
            can be created or written; the message names the path.
    """
    path = Path(catalog).expanduser()
    hint = "pass --catalog a writable .duckdb file path"
    if path.is_dir():
        raise ValueError(f"catalog {path} is a directory; {hint}")
    try:
        if path.exists() and not replace:
            if not _is_duckdb_file(path):
                raise ValueError(f"catalog {path} exists but is not a DuckDB database; move it aside or {hint}")
            with open(path, "r+b"):  # opened for writing, nothing written
                pass
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # DuckDB also writes path.wal next to the file: creating a file there is the real test.
        handle, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.probe-")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise ValueError(f"cannot create or write catalog {path}: {error.strerror or error}; {hint}") from None


def check_catalog_source(catalog: str | os.PathLike) -> None:
    """Refuse a catalog that exists but is not a readable DuckDB database (``train``, ``evaluate``).

    Raises:
        FileNotFoundError: nothing at ``catalog``.
        ValueError: a directory, an unreadable file, or not a DuckDB database.
    """
    path = Path(catalog).expanduser()
    if path.is_dir():
        raise ValueError(f"catalog {path} is a directory; pass --catalog the .duckdb file")
    if not path.exists():
        raise FileNotFoundError(f"catalog {path} not found; curate footage first or pass --catalog")
    try:
        ok = _is_duckdb_file(path)
    except OSError as error:
        raise ValueError(f"cannot read catalog {path}: {error.strerror or error}") from None
    if not ok:
        raise ValueError(f"catalog {path} is not a DuckDB database; pass --catalog the file `soccerfactory curate` wrote")


def check_shards_root(output: str, must_exist: bool = False) -> None:
    """Refuse a local ``--output`` that exists but is not a folder, or (``must_exist``: the
    catalog commands, which only read it) that does not exist: a typo must not yield an empty catalog."""
    root = local_root(output)
    if root is None:
        return  # remote roots are checked by their filesystem when read
    path = root.expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"--output {path} is a file, not a shards root; pass the folder `soccerfactory curate` wrote to")
    if must_exist and not path.is_dir():
        raise ValueError(f"no shard root at {path}: pass the --output a `soccerfactory curate` wrote to")


def check_base_weights(weights: str | os.PathLike | None, what: str) -> Path:
    """The base checkpoint of ``train-detector`` / ``train-keypoints``: present and safe to load.

    Args:
        weights: The ``--base-weights`` given, or None for the bundled detector.
        what: How messages name it, e.g. ``"train-detector base weights"``.

    Raises:
        FileNotFoundError: missing (saying how to get it).
        ValueError: unreadable, or it would run code when loaded.
    """
    from soccerfactory.curation.bundled import bundled_weights, require_weights
    from soccerfactory.curation.safe_load import YOLO_MODEL, check_checkpoint

    path = require_weights(weights or bundled_weights("detector.pt"), what)
    check_checkpoint(path, what, YOLO_MODEL)
    return path


def check_train(catalog: str | os.PathLike, root: str | os.PathLike, config: Any, run_id: str | None) -> None:
    """What ``train`` would otherwise find inside its flow: catalog, backbone, resumed checkpoint, data.

    Args:
        catalog: The DuckDB catalog.
        root: The ``--output`` root (checkpoints under ``ROOT/models/RUN_ID``).
        config: The resolved :class:`~soccerfactory.model.config.ModelRunConfig`.
        run_id: The run to resume, if any.

    Raises:
        FileNotFoundError / ValueError: one line naming the input.
    """
    from soccerfactory.curation.bundled import require_weights
    from soccerfactory.curation.safe_load import check_checkpoint
    from soccerfactory.curation.devices import check_device
    from soccerfactory.flows.train_model import checkpoint_url_of, select

    check_catalog_source(catalog)
    check_device(config.model.device, "model.device")  # `cuda` on a CPU-only torch: one line, not a traceback mid-flow
    if config.model.backbone_weights is not None:
        what = "model.backbone_weights"
        check_checkpoint(require_weights(config.model.backbone_weights, what), what)
    if run_id:
        resumed = Path(checkpoint_url_of(str(root), run_id))
        if resumed.exists():
            check_checkpoint(resumed, f"checkpoint of run {run_id}")
    if not select.fn(str(catalog), config, "train"):
        raise ValueError(f"no training windows in {catalog} for WHERE {config.data.where!r} on the train side of the split; "
                         "curate more matches or lower data.eval_fraction")


def check_evaluate(catalog: str | os.PathLike, checkpoint_url: str, config: Any, split: str | None) -> None:
    """What ``evaluate`` would otherwise find inside its flow: catalog, checkpoint, data.

    The checkpoint is loaded as the flow loads it (scanned, then ``weights_only``; a local file
    memory-mapped, so its tensors are not read twice).

    Raises:
        FileNotFoundError / ValueError: one line naming the input.
    """
    from soccerfactory.curation.safe_load import load_state
    from soccerfactory.flows.train_model import select
    from soccerfactory.model.config import checkpoint_run_config
    from soccerfactory.model.train import load_checkpoint

    check_catalog_source(catalog)
    local = local_root(checkpoint_url)
    if local is not None and local.is_file():
        state = load_state(local, "checkpoint", mmap=True)
    else:
        state = load_checkpoint(checkpoint_url)  # missing, a directory, or remote: its own messages
    if not isinstance(state, dict) or "model_config" not in state or "model" not in state:
        raise ValueError(f"checkpoint {checkpoint_url} is not a `soccerfactory train` checkpoint; pass OUTPUT/models/RUN_ID/checkpoint.pt")
    if config is None:
        config = checkpoint_run_config(state)
    if not select.fn(str(catalog), config, split):
        raise ValueError(f"no evaluation windows in {catalog} for WHERE {config.data.where!r} on the {split} side of the split; "
                         "pass --split all to score on every match")
