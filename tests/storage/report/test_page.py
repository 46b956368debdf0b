"""The report page: self-contained, every section present, sensible without data, and clean in headless Chromium."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from soccerfactory.storage.report.page import SECTIONS, build_report, write_report
from soccerfactory.storage.report.queries import Scope

from .conftest import RUN

#: Plots a graded one-clip catalog must show (every plot the page has).
PLOTS = ("plot-label-counts", "plot-histograms", "plot-calibration", "plot-views", "plot-track-lengths", "plot-team-balance",
         "plot-jersey", "plot-truth", "plot-camera-error")
#: Reads each figure: [id, alt, loaded, natural width, natural height] (an image that failed to decode has width 0).
CHECK = """Array.from(document.querySelectorAll('figure.plot, figure.thumb')).map(f => {
  const i = f.querySelector('img'); return [f.id, i.alt, i.complete, i.naturalWidth, i.naturalHeight]; })"""


def _jpeg(frame: int) -> bytes:
    image = np.full((90, 160, 3), frame % 255, np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def draw(request):
    return [(frame, _jpeg(frame)) for frame in request.frame_indices]


def _self_contained(page: str) -> None:
    assert "<script" not in page.lower()
    assert not re.search(r"""(?:src|href)=["'](?!data:|#)""", page), "a src/href that is not inline data or an anchor"
    assert not re.search(r"url\((?!data:)", page) and "@import" not in page and "@font-face" not in page


def test_every_section_and_plot_of_a_graded_catalog_inline(graded_catalog, tmp_path):
    path, match_id, clip = graded_catalog
    lines = []
    data = write_report(path, tmp_path / "r" / "report.html", thumbnails=draw, progress=lines.append, n_thumbnails=3)
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    _self_contained(page)
    for section_id, heading in SECTIONS:
        assert f'<section id="{section_id}"><h2>{heading}</h2>' in page
    for plot_id in PLOTS:
        assert re.search(rf'<figure class="plot" id="{plot_id}"><img src="data:image/svg\+xml;base64,[A-Za-z0-9+/=]{{500,}}" alt="[^"]+"', page), plot_id
    assert page.count('src="data:image/jpeg;base64,') == 3
    assert "decoder stopped at frame 31" in page and RUN in page and match_id in page
    assert 'class="empty"' not in page.split('id="truth"')[1].split("</section>")[0]
    assert lines[0].startswith("report: reading") and any("drawing 3 frame(s)" in line for line in lines)
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["report.html"]  # no temporary file left
    assert data.overview["frames"] == clip.num_frames


def test_each_empty_section_says_so(empty_catalog):
    page, _ = build_report(empty_catalog, thumbnails=draw)
    _self_contained(page)
    for section_id, _ in SECTIONS:
        body = page.split(f'<section id="{section_id}">')[1].split("</section>")[0]
        assert 'class="empty"' in body, section_id
    assert "<figure" not in page
    assert "No ground truth is registered" in page and "No curated clips in this scope." in page


def test_thumbnails_that_cannot_be_drawn_leave_the_rest(plain_catalog):
    def moved(request):
        raise FileNotFoundError(f"{request.match_id}.mp4: does not exist (check the path)")

    page, data = build_report(plain_catalog, Scope(match_id="match-2"), thumbnails=moved)
    assert "Could not draw match-2/clip-0: match-2.mp4: does not exist" in page and "plot-label-counts" in page
    assert [r.match_id for r in data.thumbnails] == ["match-2"]
    page, _ = build_report(plain_catalog)
    assert "Thumbnails were not drawn" in page


def test_the_page_loads_clean_in_headless_chromium(graded_catalog, tmp_path, chromium):
    path, _, _ = graded_catalog
    out = tmp_path / "report.html"
    write_report(path, out, thumbnails=draw, n_thumbnails=2)
    result = chromium(out, check_script=CHECK)
    assert result.console_errors == []
    assert [url for url in result.requests if not url.startswith("data:")] == [out.resolve().as_uri()]
    figures = {row[0]: row for row in result.check}
    assert set(PLOTS) | {"thumb-1", "thumb-2"} == set(figures)
    for figure_id, alt, loaded, width, height in figures.values():
        assert alt and loaded and width > 100 and height > 50, (figure_id, width, height)


def test_a_broken_image_is_a_console_error_chromium_reports(tmp_path, chromium):
    # The check above must be able to fail: a picture that does not decode is seen.
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                    '<figure class="plot" id="plot-x"><img src="data:image/png;base64,AAAA" alt="x"></figure>'
                    "<script>console.error('boom')</script></body></html>")
    result = chromium(page, check_script=CHECK)
    assert "boom" in result.console_errors
    assert result.check == [["plot-x", "x", True, 0, 0]]


@pytest.mark.parametrize("scope", [Scope(match_id="match-1"), Scope(run_id="run-1")])
def test_a_scope_is_named_in_the_title(plain_catalog, scope):
    page, data = build_report(plain_catalog, scope)
    assert f"<title>SoccerFactory report: {scope.title()}</title>" in page
    assert data.scope == scope
