"""YOLO dataset files: label lines written and read back, pixel boxes normalised, image folders listed."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.training.yolo_files import images_in, label_rows, link_subset, normalised_boxes, write_label


def test_label_lines_read_back_as_written(tmp_path):
    rows = np.array([[0, 0.5, 0.25, 0.125, 0.0625], [3, 0.1234567, 0.9, 0.2, 0.3]])
    write_label(tmp_path / "a.txt", rows)
    assert (tmp_path / "a.txt").read_text().splitlines()[0] == "0 0.500000 0.250000 0.125000 0.062500"
    np.testing.assert_allclose(label_rows(tmp_path / "a.txt"), rows, atol=5e-7)
    write_label(tmp_path / "pose.txt", np.array([[0, 0.5, 0.5, 1.0, 1.0, 0.2, 0.3, 2]]), integer_columns=(0, 7))
    assert (tmp_path / "pose.txt").read_text() == "0 0.500000 0.500000 1.000000 1.000000 0.200000 0.300000 2\n"
    write_label(tmp_path / "empty.txt", np.zeros((0, 5)))
    assert label_rows(tmp_path / "empty.txt") == []


def test_pixel_boxes_are_clipped_normalised_and_slivers_dropped():
    boxes, keep = normalised_boxes(np.array([[-10, 0, 30, 20], [0, 0, 1, 50], [np.nan, 0, 5, 5]]), 100, 50, min_side=2.0)
    assert keep.tolist() == [True, False, False]
    np.testing.assert_allclose(boxes, [[0.15, 0.2, 0.3, 0.4]])


def test_image_folders_list_images_only_and_subsets_link_their_labels(tmp_path):
    source = tmp_path / "split"
    (source / "images").mkdir(parents=True)
    (source / "labels").mkdir()
    for name in ("b.jpg", "a.PNG", "notes.txt"):
        (source / "images" / name).write_bytes(b"x")
    (source / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    assert [p.name for p in images_in(source / "images")] == ["a.PNG", "b.jpg"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        images_in(tmp_path / "missing")
    subset = link_subset(source, tmp_path / "subset", 1)
    assert [p.name for p in (subset / "images").iterdir()] == ["a.PNG"]
    assert label_rows(subset / "labels" / "a.txt") == [[0.0, 0.5, 0.5, 0.1, 0.1]]
