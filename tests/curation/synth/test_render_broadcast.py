"""Broadcast renders: cuts between main, zoomed and close-up views, and off-pitch people, with
the true view of every frame and labels for everyone drawn."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq

from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.video.discover import discover_sources
from soccerfactory.curation.video.scan import scan_video


def _views(clip) -> np.ndarray:
    table = pq.read_table(clip / "gt" / "cameras.parquet", columns=["frame_index", "view"]).to_pydict()
    assert table["frame_index"] == sorted(table["frame_index"])
    return np.array(table["view"], dtype=object)


def test_default_render_is_all_main_view(rendered_clip):
    assert set(_views(rendered_clip)) == {"main"}
    labels = json.loads((rendered_clip / "Labels-GameState.json").read_text())
    assert {image["view"] for image in labels["images"]} == {"main"}
    assert "shots" not in json.loads((rendered_clip / "clip.json").read_text())


def test_broadcast_render_has_all_three_views(broadcast_clip):
    views = _views(broadcast_clip)
    counts = {view: int((views == view).sum()) for view in set(views)}
    assert set(counts) == {"main", "zoomed", "close-up"}
    shots = json.loads((broadcast_clip / "clip.json").read_text())["shots"]
    # Shots last 2 s or more; only the clip's end may cut the last one shorter.
    assert all(shot["stop"] - shot["start"] >= 2 * 25 for shot in shots[:-1]), shots
    for shot in shots:
        assert set(views[shot["start"] : shot["stop"]]) == {shot["view"]}


def test_zoomed_frames_show_less_pitch_and_close_ups_tall_athletes(broadcast_clip):
    views = _views(broadcast_clip)
    cameras = pq.read_table(broadcast_clip / "gt" / "cameras.parquet", columns=["hfov_deg", "position_x", "position_y", "position_z"]).to_pandas()
    cameras["view"] = views
    hfov = cameras.groupby("view").hfov_deg.median()
    assert hfov["zoomed"] < hfov["main"] / 1.8, "zoomed shots are 2x or more narrower"
    main_position = cameras[cameras.view == "main"][["position_x", "position_y", "position_z"]].iloc[0].to_numpy()
    zoomed = cameras[cameras.view == "zoomed"][["position_x", "position_y", "position_z"]].to_numpy()
    close = cameras[cameras.view == "close-up"][["position_x", "position_y", "position_z"]].to_numpy()
    assert np.allclose(zoomed, main_position), "zoomed shots come from the main camera"
    assert np.linalg.norm(close - main_position, axis=1).min() > 5.0, "close-ups come from another camera"
    athletes = pq.read_table(broadcast_clip / "gt" / "athletes.parquet", columns=["frame_index", "y1", "y2"]).to_pandas()
    tallest = (athletes.y2 - athletes.y1).groupby(athletes.frame_index).max().reindex(range(len(views)), fill_value=0.0) / 360
    close_up = tallest[views == "close-up"]
    assert (close_up > 0.4).mean() >= 0.9, f"close-ups frame one athlete large: {close_up.describe()}"
    assert tallest[views == "main"].max() < 0.4


def test_close_ups_show_few_lines_and_zooms_still_show_lines(broadcast_clip):
    views = _views(broadcast_clip)
    frames = pq.read_table(broadcast_clip / "gt" / "lines.parquet", columns=["frame_index"]).column(0).to_numpy()
    points = np.bincount(frames, minlength=len(views))
    assert (points[views == "zoomed"] > 0).mean() >= 0.7
    assert np.median(points[views == "close-up"]) < np.median(points[views == "main"]) / 3


def test_staff_are_off_the_pitch_with_role_other(broadcast_clip):
    athletes = pq.read_table(broadcast_clip / "gt" / "athletes.parquet").to_pandas()
    staff = athletes[athletes.role == "other"]
    assert len(staff) >= 25, "off-pitch people are seen"
    assert set(staff["class"]) == {"other"} and staff.team.isna().all() and staff.jersey.isna().all()
    assert not staff.jersey_legible.any()
    pitch = PitchModel()
    outside = np.maximum(staff.pitch_x.abs() - pitch.half_length, staff.pitch_y.abs() - pitch.half_width)
    assert outside.min() > 1.0
    on_pitch = athletes[athletes.role.isin(["player", "goalkeeper"])]
    assert np.maximum(on_pitch.pitch_x.abs() - pitch.half_length, on_pitch.pitch_y.abs() - pitch.half_width).max() < 1.0


def test_gamestate_labels_carry_views_and_other_role(broadcast_clip):
    labels = json.loads((broadcast_clip / "Labels-GameState.json").read_text())
    assert [image["view"] for image in labels["images"]] == list(_views(broadcast_clip))
    categories = {c["name"]: c["id"] for c in labels["categories"]}
    others = [a for a in labels["annotations"] if a.get("attributes", {}).get("role") == "other"]
    assert others and all(a["category_id"] == categories["other"] for a in others)
    assert all(a["attributes"]["team"] is None and a["attributes"]["jersey"] is None for a in others)
    rows = pq.read_table(broadcast_clip / "gt" / "athletes.parquet", columns=["role"]).column(0).to_pylist()
    assert len(others) == rows.count("other")


def test_cut_detector_finds_every_cut(broadcast_clip):
    shots = json.loads((broadcast_clip / "clip.json").read_text())["shots"]
    scan = scan_video(discover_sources(str(broadcast_clip / "video.mp4"))[0])
    assert list(scan.cuts) == [shot["start"] for shot in shots[1:]]


def test_staff_leave_match_and_camera_untouched(tmp_path, rendered_clip):
    """Staff draw from their own generator: the match, the ball and the camera stay the same."""
    render_clip(SynthConfig(seconds=1.0, seed=1, staff=6), tmp_path)
    for table in ("cameras", "ball", "events", "keypoints"):
        before = pq.read_table(rendered_clip / "gt" / f"{table}.parquet")
        after = pq.read_table(tmp_path / "gt" / f"{table}.parquet")
        if table == "ball":  # a person may hide the ball: compare where it is, not its box
            before, after = (t.select(["frame_index", "in_play", "pitch_x", "pitch_y", "pitch_z"]) for t in (before, after))
        if table == "keypoints":
            before, after = (t.drop_columns(["occluded"]) for t in (before, after))
        assert before.equals(after), table
