"""The weights check is remembered per output root, by the files' bytes: a re-run skips the scan
(and torch), a changed or missing file is checked (and refused) again."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from soccerfactory.curation.bundled import bundled_weights
from soccerfactory.curation.config import load_config
from soccerfactory.flows.cli_weights import WEIGHTS_MEMO, check_curate_config


@pytest.fixture
def detector(tmp_path) -> Path:
    """A private copy of the shipped detector (a test may damage it)."""
    return Path(shutil.copy(bundled_weights("detector.pt"), tmp_path / "detector.pt"))


def _config(detector: Path):
    return load_config(None, [f"detect.weights={detector}"])


def _memo(root: Path) -> list[str]:
    return json.loads((root / WEIGHTS_MEMO).read_text())["passed"]


def test_a_passed_check_is_remembered_and_the_next_one_imports_no_torch(tmp_path, detector):
    root = tmp_path / "out"
    check_curate_config(_config(detector), root)
    assert len(_memo(root)) == len(_config(detector).model_files())  # every model file the config loads
    script = (
        "import json, sys\n"
        "from soccerfactory.curation.config import load_config\n"
        "from soccerfactory.flows.cli_weights import check_curate_config\n"
        f"check_curate_config(load_config(None, ['detect.weights={detector}']), {str(root)!r})\n"
        "print(json.dumps(sorted(m for m in ('torch', 'ultralytics') if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_a_changed_weights_file_is_checked_again_and_refused(tmp_path, detector):
    root = tmp_path / "out"
    check_curate_config(_config(detector), root)
    data = detector.read_bytes()
    detector.write_bytes(data[: len(data) // 2])  # truncated in place: same path, other bytes
    with pytest.raises(ValueError, match="detector.pt"):
        check_curate_config(_config(detector), root)
    assert len(_memo(root)) == len(_config(detector).model_files())  # the refused file was not remembered


def test_a_missing_weights_file_is_named_whatever_the_memo_says(tmp_path, detector):
    root = tmp_path / "out"
    check_curate_config(_config(detector), root)
    detector.unlink()
    with pytest.raises(FileNotFoundError, match="detector.pt"):
        check_curate_config(_config(detector), root)


def test_no_root_no_memo(tmp_path, detector):
    check_curate_config(_config(detector), None)
    assert not list(tmp_path.rglob("checked-weights.json"))
