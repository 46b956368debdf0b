"""``soccerfactory report``: the HTML page of a catalog with thumbnails decoded from the footage, and its errors."""

from __future__ import annotations

import base64
import importlib.util
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from soccerfactory.flows.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def graded(catalog, tmp_path_factory):
    """(catalog, match id, clip): a perfect curation of the session's rendered 1 s clip, its truth registered."""
    from soccerfactory.curation.testing import groundtruth_shard
    from soccerfactory.storage.catalog import register_ground_truth, register_shards
    from soccerfactory.storage.shards import list_manifests

    clip_dir = Path(catalog[0]).parent / "clip"
    match_id = pq.read_table(clip_dir / "gt" / "athletes.parquet", columns=["match_id"]).column(0)[0].as_py()
    base = tmp_path_factory.mktemp("cli-report")
    clip, _ = groundtruth_shard(clip_dir, base / "shards", match_id=match_id)
    path = base / "catalog.duckdb"
    register_shards(path, list_manifests(base / "shards"))
    register_ground_truth(path, clip_dir)
    return path, match_id, clip


def _chromium():
    spec = importlib.util.spec_from_file_location("sf_report_chromium", Path(__file__).parents[1] / "storage" / "report" / "chromium.py")
    module = sys.modules.get("sf_report_chromium") or importlib.util.module_from_spec(spec)
    if "sf_report_chromium" not in sys.modules:
        sys.modules["sf_report_chromium"] = module
        spec.loader.exec_module(module)
    return module


def test_help_names_the_sections(own_help):
    text = own_help("report")
    assert "self-contained HTML report" in text and "--match" in text and "--run" in text and "--thumbnails" in text


def test_report_draws_thumbnails_from_the_footage(graded, tmp_path):
    path, match_id, clip = graded
    out = tmp_path / "qa" / "report.html"
    result = runner.invoke(app, ["report", "--catalog", str(path), "--match", match_id, "--thumbnails", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    assert "report: reading" in result.stderr and f"drawing 2 frame(s) of {match_id}/{clip.clip_id}" in result.stderr
    page = out.read_text(encoding="utf-8")
    jpegs = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(jpegs) == 2
    image = cv2.imdecode(np.frombuffer(base64.b64decode(jpegs[0]), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (clip.height, clip.width, 3)  # 640 px wide: under the still width, kept as is
    assert 'id="plot-truth"' in page and "Could not draw" not in page


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--match", "nope"], "error: --match 'nope' is not in the catalog; its matches:"),
        (["--run", "nope"], "error: --run 'nope' is not in the catalog's runs; latest runs: none yet"),
        (["--out", "report.txt"], "error: --out report.txt must be an .html file"),
        (["--catalog", "missing/catalog.duckdb"], "error: no catalog at missing/catalog.duckdb"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(graded, tmp_path, arguments, message):
    path, _, _ = graded
    base = ["report", "--catalog", str(path), "--out", str(tmp_path / "r.html")]
    result = runner.invoke(app, base + arguments)
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith(message), line
    assert not (tmp_path / "r.html").exists()


@pytest.mark.slow
def test_demo_then_report_loads_clean_in_chromium(tmp_path):
    """End to end: render and curate a 2 s clip with truth (`demo`), report it, open it in headless Chromium."""
    chromium = _chromium()
    if chromium.chromium_binary() is None:
        pytest.skip("no Chromium on PATH: `make browser` installs it (apt-get install chromium)")
    demo = runner.invoke(app, ["demo", "--output", str(tmp_path / "out"), "--seconds", "2", "--width", "640", "--height", "360"])
    assert demo.exit_code == 0, demo.output
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", "--catalog", str(tmp_path / "out" / "catalog.duckdb"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    loaded = chromium.load_page(out, "Array.from(document.querySelectorAll('figure img')).map(i => [i.alt, i.naturalWidth])")
    assert loaded.console_errors == []
    assert len(loaded.check) >= 9 + 4 and all(alt and width > 0 for alt, width in loaded.check)
    assert "Could not draw" not in out.read_text(encoding="utf-8")
