"""The curation config's weights check, remembered per output root so a cached re-run skips it.

:func:`check_curate_config` is what ``soccerfactory curate`` and the ``curate`` flow run before a
frame is decoded. It lives apart from :mod:`~soccerfactory.flows.cli_preflight` because the flow
imports it, and that module imports the training flow (an import cycle otherwise).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["WEIGHTS_MEMO", "check_curate_config"]

#: Below a local output root: the keys of the model files whose checkpoint scan passed.
WEIGHTS_MEMO = ".cache/checked-weights.json"
_MEMO_SIZE = 64  # keys kept (newest last): a few configs' worth of weights


def check_curate_config(config: Any, root: str | os.PathLike | None) -> None:
    """:func:`~soccerfactory.curation.stages.check_config`, remembering the checkpoint scans that
    passed in ``root``'s :data:`WEIGHTS_MEMO`, so an unchanged weights file is not scanned again.

    The scan unpickles each file's opcodes with torch and looks the detector's classes up in
    ultralytics: importing both was 17 s of a fully cached re-curate on two busy cores (about
    half its wall time), for files that have not changed and, on a cached run, are never loaded.
    A file is skipped only when its bytes (sha256), its kind, the installed torch and ultralytics
    versions and the checking code (``curation/safe_load.py``) all match a scan that passed; the
    rest of ``check_config`` (the stage chain, each stage's device) runs every time.

    Args:
        config: The resolved :class:`~soccerfactory.curation.config.CurateConfig`.
        root: Local output root holding the memo; None (a remote root) checks everything.

    Raises:
        FileNotFoundError / ValueError: as ``check_config``.
    """
    from soccerfactory.curation import stages
    from soccerfactory.curation.chain import validate_chain

    memo = Path(root) / WEIGHTS_MEMO if root is not None else None
    keys = _checkpoint_keys(config.model_files()) if memo is not None else None
    passed = _read_memo(memo) if keys else []
    if keys and set(keys) <= set(passed):
        validate_chain(stages.stage_names(config))
        stages.check_devices(config)
        return
    stages.check_config(config)
    if keys:
        from soccerfactory.storage.fs import write_json_atomic

        kept = [key for key in passed if key not in keys][-(_MEMO_SIZE - len(keys)):] + keys
        try:
            write_json_atomic(str(memo), {"passed": kept})
        except (OSError, ValueError):  # no memo: the next run scans the files again, nothing worse
            pass


def _checkpoint_keys(files: list[Any]) -> list[str] | None:
    """One key per model file (its kind and bytes, and the checker's versions); None when a file
    cannot be read (``check_config`` then says which, and how to get it)."""
    import hashlib
    from importlib import metadata
    from importlib.util import find_spec

    try:
        checker = hashlib.sha256(Path(find_spec("soccerfactory.curation.safe_load").origin).read_bytes())
        for package in ("torch", "ultralytics"):
            checker.update(f"{package}=={metadata.version(package)}".encode())
        keys = []
        for file in files:
            digest = hashlib.sha256(checker.hexdigest().encode() + f"\0{file.kind}\0".encode())
            with open(file.path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 22), b""):
                    digest.update(block)
            keys.append(digest.hexdigest())
    except (OSError, TypeError, AttributeError, metadata.PackageNotFoundError):
        return None
    return keys


def _read_memo(path: Path) -> list[str]:
    import json

    try:
        passed = json.loads(path.read_text(encoding="utf-8")).get("passed", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [key for key in passed if isinstance(key, str)] if isinstance(passed, list) else []
