"""The truth views and track_flags over a real catalog: real DuckDB files, real shard and ground-truth Parquet.

One curated clip of four frames (source frames 100-103, 2.5 fps, so a 2-frame track spans 0.8 s)
graded against ground truth whose answers are known:

    gt athlete          curated track(s)                           what it tests
    1 player left  #10  1: exact copy, A, #10                      perfect track
                        10: 2 px off track 1 (IoU 0.95)            one-to-one matching, duplicate flag
    2 player right #20  2: copy, B, #21, position 5 m off          wrong jersey, position error
    3 player left  #11  3 (frames 100-101, B, #11), 7 (102-103, B)  wrong team, two ids, legibility
    4 referee           4: copy, referee, position 1 m off         referee recall
    5 player right #5   none                                       missed athlete
    6 goalkeeper left   6: copy, player, A                         goalkeeper voted player
    8 other (steward)   8: copy, player, A, 7.5 m off the pitch    off-pitch person as player
    none                9: 2 frames, A, #99                        false positive

(track_flags is tested in test_views.py.)
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from soccerfactory.storage.catalog import connect, register_ground_truth, register_shards
from soccerfactory.storage.catalog_sql import _COLUMN_COMMENTS
from soccerfactory.storage.examples import example_key
from soccerfactory.storage.groundtruth import GROUND_TRUTH_SCHEMAS, write_ground_truth
from soccerfactory.storage.schemas import SHARD_SCHEMAS, example_shard_tables, table_from_columns
from soccerfactory.storage.shards import write_shard
from soccerfactory.storage.truth_views import TRUTH_VIEWS

MATCH, CLIP, GT_CLIP = "synth-7", "video-000100-000104", "synth-7-clip0"
FRAMES = (100, 101, 102, 103)
FPS = 2.5
H_CURATED = [2.0, 0.0, 640.0, 0.0, 2.0, 360.0, 0.0, 0.0, 1.0]
H_TRUE = [2.0, 0.0, 643.0, 0.0, 2.0, 360.0, 0.0, 0.0, 1.0]  # every pitch point lands 3 px to the right
GT_VIEWS = ("main", "main", "zoomed", "close-up")

# gt athlete -> (role, team, jersey, legible on frames, pitch x)
TRUTH = {
    1: ("player", "left", 10, FRAMES, 0.0),
    2: ("player", "right", 20, FRAMES, 10.0),
    3: ("player", "left", 11, (102, 103), -10.0),
    4: ("referee", None, None, (), 5.0),
    5: ("player", "right", 5, FRAMES, 20.0),
    6: ("goalkeeper", "left", 1, (), -50.0),
    8: ("other", None, None, (), 60.0),  # a steward 7.5 m beyond the goal line
}


def _box(athlete: int, frame: int) -> tuple[float, float, float, float]:
    x = 100.0 * athlete + (frame - FRAMES[0])
    return x, 300.0, x + 40.0, 380.0


# curated track -> (gt athlete whose box it copies (None: its own box), frames, role, team, jersey, pitch offset)
CURATED = {
    1: (1, FRAMES, "player", "A", 10, 0.0),
    10: (1, FRAMES, "player", "A", None, 0.0),  # 2 px to the right of track 1
    2: (2, FRAMES, "player", "B", 21, 3.0),  # 3-4-5: 5 m off
    3: (3, (100, 101), "player", "B", 11, 0.0),
    7: (3, (102, 103), "player", "B", None, 0.0),
    4: (4, FRAMES, "referee", None, None, 0.6),  # 0.6-0.8-1.0: 1 m off
    6: (6, FRAMES, "player", "A", None, 0.0),
    8: (8, FRAMES, "player", "A", None, 0.0),
    9: (None, (100, 101), "player", "A", 99, 0.0),
}


def _curated_tables() -> dict[str, pa.Table]:
    tables = example_shard_tables(MATCH, CLIP, example_key(1), n_frames=len(FRAMES), n_tracks=1, start_frame=FRAMES[0], fps=FPS)
    rows: dict[str, list] = {f.name: [] for f in SHARD_SCHEMAS["athletes"]}
    for track, (athlete, frames, role, team, jersey, offset) in CURATED.items():
        for frame in frames:
            x1, y1, x2, y2 = _box(athlete, frame) if athlete else (2000.0 + frame, 100.0, 2040.0 + frame, 180.0)
            if track == 10:
                x1, x2 = x1 + 2, x2 + 2
            pitch_x = TRUTH[athlete][4] if athlete else 30.0
            row = {
                "match_id": MATCH, "clip_id": CLIP, "frame_index": frame, "timestamp_s": frame / FPS,
                "x1": x1, "y1": y1, "x2": x2, "y2": y2, "confidence": 0.9, "class": role if role != "other" else "player",
                "track_id": track, "tracklet_id": track, "team": team, "role": role, "jersey": jersey,
                "pitch_x": pitch_x + offset, "pitch_y": 4.0 / 3.0 * offset, "pitch_sigma_m": 0.5, "mask_rle": None,
                "refined_x1": None, "refined_y1": None, "refined_x2": None, "refined_y2": None, "mask_score": None,
                "team_agreement": None if team is None else 1.0, "role_agreement": 1.0, "jersey_agreement": None,
                "jersey_votes": 0, "track_length": len(frames), "role_reason": "test",
                "flags": None, "flag_reason": None, "shirt_colour": None, "shirt_crops": 0, "appearance": None,
            }
            for name, value in row.items():
                rows[name].append(value)
    tables["athletes"] = table_from_columns("athletes", rows)
    cameras = tables["cameras"].to_pylist()
    for camera in cameras:
        if camera["valid_camera"]:
            camera["homography"] = H_CURATED
    tables["cameras"] = pa.Table.from_pylist(cameras, schema=SHARD_SCHEMAS["cameras"])
    return tables


def _write_truth(folder) -> None:
    athletes: dict[str, list] = {f.name: [] for f in GROUND_TRUTH_SCHEMAS["athletes"]}
    for athlete, (role, team, jersey, legible, pitch_x) in TRUTH.items():
        for frame in FRAMES:
            x1, y1, x2, y2 = _box(athlete, frame)
            row = {
                "match_id": MATCH, "clip_id": GT_CLIP, "frame_index": frame, "timestamp_s": frame / FPS,
                "x1": x1, "y1": y1, "x2": x2, "y2": y2, "track_id": athlete, "class": "person", "team": team, "role": role,
                "jersey": jersey, "jersey_legible": frame in legible, "pitch_x": pitch_x, "pitch_y": 0.0,
                "visible_area_px": 3200, "amodal_x1": x1, "amodal_y1": y1, "amodal_x2": x2, "amodal_y2": y2,
                "facing_rad": 0.0, "speed_mps": 0.0, "mask_rle": "[0]",
            }
            for name in athletes:
                athletes[name].append(row[name])
    n = len(FRAMES)
    cameras = {
        "match_id": [MATCH] * n, "clip_id": [GT_CLIP] * n, "frame_index": list(FRAMES), "timestamp_s": [f / FPS for f in FRAMES],
        "valid_camera": [True] * n, "homography": [H_TRUE] * n, "reprojection_error_px": [0.0] * n,
        "fx": [1000.0] * n, "fy": [1000.0] * n, "cx": [640.0] * n, "cy": [360.0] * n, "rotation": [[1.0, 0, 0, 0, 1, 0, 0, 0, 1]] * n,
        "position_x": [0.0] * n, "position_y": [40.0] * n, "position_z": [-15.0] * n, "distortion": [[]] * n,
        "pan_deg": [0.0] * n, "tilt_deg": [10.0] * n, "hfov_deg": [40.0] * n, "view": list(GT_VIEWS),
    }
    written = write_ground_truth(folder, {"athletes": athletes, "cameras": cameras})
    if "view" not in GROUND_TRUTH_SCHEMAS["cameras"].names:
        # Ground truth from before the renderer wrote views: the column is added to the same file.
        table = pq.read_table(written["cameras"])
        pq.write_table(table.append_column("view", pa.array(GT_VIEWS)), written["cameras"])


def _views(connection) -> set[str]:
    return {name for (name,) in connection.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}


def _rows(connection, sql: str) -> list[dict]:
    return connection.sql(sql).to_arrow_table().to_pylist()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A catalog with the clip registered first (no truth views yet), then its ground truth."""
    base = tmp_path_factory.mktemp("truth")
    catalog = base / "catalog.duckdb"
    manifest = write_shard(base / "out", MATCH, CLIP, example_key(1), _curated_tables(), config_hash="config-0", code_version="test", metadata={"run_id": "run-1"})
    register_shards(catalog, [manifest])
    with connect(catalog, read_only=True) as connection:
        before = _views(connection)
    _write_truth(base / "synthetic" / "synth-7" / "gt")
    counts = register_ground_truth(catalog, base / "synthetic")
    assert counts == {"athletes": 4 * len(TRUTH), "cameras": 4}
    return catalog, before, manifest


def test_truth_views_exist_only_once_ground_truth_is_registered(graded):
    catalog, before, manifest = graded
    assert not before & set(TRUTH_VIEWS) and "track_flags" in before  # always there
    with connect(catalog, read_only=True) as connection:
        assert set(TRUTH_VIEWS) <= _views(connection)
        comments = dict(connection.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
        assert all(comments[view] for view in TRUTH_VIEWS)
        columns = {
            (table, column): text
            for table, column, text in connection.execute("SELECT table_name, column_name, comment FROM duckdb_columns() WHERE comment IS NOT NULL").fetchall()
        }
        # Every documented column exists in its view (a renamed column would leave a stale comment out).
        assert all(columns.get((view, column)) == text for view, documented in _COLUMN_COMMENTS.items() for column, text in documented.items())
    # Registering shards again (a view refresh) keeps them.
    register_shards(catalog, [manifest])
    with connect(catalog, read_only=True) as connection:
        assert set(TRUTH_VIEWS) <= _views(connection)


def test_truth_matches_pair_rows_one_to_one(graded):
    catalog, _, _ = graded
    with connect(catalog, read_only=True) as connection:
        status = dict(connection.execute("SELECT status, count(*) FROM truth_matches GROUP BY status").fetchall())
        pairs = connection.execute(
            "SELECT DISTINCT track_id, gt_track_id, gt_clip_id, clip_id FROM truth_matches WHERE status = 'matched' ORDER BY track_id"
        ).fetchall()
        missed = connection.execute("SELECT DISTINCT gt_track_id FROM truth_matches WHERE status = 'missed'").fetchall()
        false_positives = dict(connection.execute("SELECT track_id, count(*) FROM truth_matches WHERE status = 'false_positive' GROUP BY 1").fetchall())
        errors = dict(connection.execute("SELECT track_id, max(position_error_m) FROM truth_matches WHERE status = 'matched' GROUP BY 1").fetchall())
        ious = connection.execute("SELECT min(iou), max(iou) FROM truth_matches WHERE status = 'matched'").fetchone()
    assert status == {"matched": 24, "false_positive": 6, "missed": 4}
    assert pairs == [(t, a, GT_CLIP, CLIP) for t, a in ((1, 1), (2, 2), (3, 3), (4, 4), (6, 6), (7, 3), (8, 8))]
    assert missed == [(5,)]
    assert false_positives == {9: 2, 10: 4}  # track 10 lost athlete 1 to the exact copy
    assert errors[2] == pytest.approx(5.0) and errors[4] == pytest.approx(1.0) and errors[1] == 0.0
    assert ious == (1.0, 1.0)


def test_truth_team_map_and_tracks(graded):
    catalog, _, _ = graded
    with connect(catalog, read_only=True) as connection:
        (team_map,) = _rows(connection, "SELECT * FROM truth_team_map")
        tracks = {row["track_id"]: row for row in _rows(connection, "SELECT * FROM truth_tracks")}
    # Tracks 1, 6 (A = left) and 2 (B = right) agree on 12 rows; tracks 3 and 7 (B on left) on 4.
    assert (team_map["a_is"], team_map["b_is"], team_map["n_rows_agreeing"], team_map["n_rows"]) == ("left", "right", 12, 16)
    assert team_map["match_a_is"] == "left" and team_map["consistent_with_match"]
    perfect = tracks[1]
    assert (perfect["gt_track_id"], perfect["purity"], perfect["matched_share"], perfect["n_rows"]) == (1, 1.0, 1.0, 4)
    assert perfect["role_correct"] and perfect["team_correct"] and perfect["jersey_correct"] and perfect["team_as_gt"] == "left"
    assert tracks[2]["team_correct"] and tracks[2]["jersey_correct"] is False
    assert tracks[3]["team_correct"] is False and tracks[3]["jersey_correct"] and tracks[3]["gt_jersey_legible"] is False
    assert tracks[7]["gt_track_id"] == 3 and tracks[7]["gt_jersey_legible"] and tracks[7]["jersey_correct"] is None
    assert tracks[4]["role_correct"] and tracks[4]["team_correct"]  # a referee without a team is right
    assert tracks[6]["role_correct"] is False and tracks[6]["gt_role"] == "goalkeeper"
    assert tracks[8]["gt_role"] == "other" and tracks[8]["role_correct"] is False
    for unmatched in (9, 10):
        assert tracks[unmatched]["gt_track_id"] is None and tracks[unmatched]["role_correct"] is None
        assert tracks[unmatched]["matched_share"] == 0.0


def test_truth_quality_per_clip_and_match(graded):
    catalog, _, _ = graded
    with connect(catalog, read_only=True) as connection:
        (clip,) = _rows(connection, "SELECT * FROM truth_quality")
        (match,) = _rows(connection, "SELECT * FROM truth_quality_match")
    assert (clip["match_id"], clip["clip_id"]) == (MATCH, CLIP)
    assert (clip["n_rows"], clip["n_gt_rows"], clip["n_matched_rows"]) == (30, 28, 24)
    assert clip["detection_recall"] == pytest.approx(24 / 28) and clip["detection_precision"] == pytest.approx(24 / 30)
    assert (clip["n_tracks"], clip["n_gt_athletes"], clip["n_matched_tracks"]) == (9, 7, 7)
    assert clip["tracks_per_athlete"] == pytest.approx(9 / 7)
    assert clip["ids_per_athlete"] == pytest.approx(7 / 6)  # athlete 3 carries two ids; athlete 5 none
    assert clip["main_track_coverage"] == pytest.approx(22 / 28)
    assert clip["role_accuracy"] == pytest.approx(5 / 7)
    assert (clip["referee_recall"], clip["referee_precision"], clip["goalkeeper_recall"], clip["goalkeeper_precision"]) == (1.0, 1.0, 0.0, None)
    assert clip["other_as_player_tracks"] == 1
    assert clip["team_accuracy"] == pytest.approx(3 / 5)  # tracks 1, 2, 6 right; 3 and 7 wrong
    assert clip["team_accuracy_decided"] == pytest.approx(3 / 5) and clip["team_refused_share"] == 0.0  # every one has a team
    assert clip["jersey_precision"] == pytest.approx(2 / 3)  # 10 and 11 right, 21 wrong
    assert clip["jersey_coverage"] == pytest.approx(2 / 3)  # of tracks 1, 2, 7 (legible), 1 and 2 have a number
    # 24 matched errors: sixteen 0 m, four 1 m, four 5 m.
    assert clip["n_positioned_rows"] == 24
    assert clip["position_error_median_m"] == pytest.approx(0.0, abs=1e-6) and clip["position_error_p90_m"] == pytest.approx(5.0, abs=1e-5)
    # Cameras: valid on 100-102 (main, main, zoomed), refused on 103 (close-up); 3 px off everywhere.
    assert clip["n_camera_frames"] == 4 and clip["calibrated_fraction"] == 0.75
    assert clip["camera_error_mean_px"] == pytest.approx(3.0) and clip["camera_error_median_px"] == pytest.approx(3.0)
    assert (clip["valid_camera_share_main"], clip["valid_camera_share_zoomed"], clip["valid_camera_share_close_up"]) == (1.0, 1.0, 0.0)
    assert clip["valid_camera_share_other"] is None
    assert clip["n_refused_frames"] == 1
    assert dict(clip["refusal_reasons"]) == {"too few keypoints on the pitch plane (N, need N)": 1}
    # One clip: the match reads the same, and its mapping is consistent.
    assert match["n_clips"] == 1 and match["team_map_consistent"] is True
    for key in ("detection_recall", "ids_per_athlete", "role_accuracy", "team_accuracy", "jersey_precision", "camera_error_mean_px"):
        assert match[key] == pytest.approx(clip[key])


def test_truth_registered_before_the_shards_and_truth_lacking_columns(tmp_path):
    catalog = tmp_path / "catalog.duckdb"
    _write_truth(tmp_path / "synthetic" / "synth-7" / "gt")
    register_ground_truth(catalog, tmp_path / "synthetic")
    with connect(catalog, read_only=True) as connection:
        assert not _views(connection) & set(TRUTH_VIEWS)  # nothing to grade yet
    manifest = write_shard(tmp_path / "out", MATCH, CLIP, example_key(1), _curated_tables(), config_hash="config-0", code_version="test", metadata={"run_id": "run-1"})
    register_shards(catalog, [manifest])
    with connect(catalog, read_only=True) as connection:
        assert connection.execute("SELECT n_matched_rows FROM truth_quality").fetchall() == [(24,)]

    # Imported labels with boxes but no cameras, jerseys or teams: the views still bind.
    gt = tmp_path / "synthetic" / "synth-7" / "gt"
    (gt / "cameras.parquet").unlink()
    pq.write_table(pq.read_table(gt / "athletes.parquet", columns=["match_id", "frame_index", "track_id", "x1", "y1", "x2", "y2"]), gt / "athletes.parquet")
    other = tmp_path / "other-catalog.duckdb"
    register_shards(other, [manifest])
    register_ground_truth(other, tmp_path / "synthetic")
    with connect(other, read_only=True) as connection:
        (row,) = _rows(connection, "SELECT n_matched_rows, team_accuracy, n_camera_frames, camera_error_mean_px FROM truth_quality")
    assert row == {"n_matched_rows": 24, "team_accuracy": None, "n_camera_frames": 0, "camera_error_mean_px": None}

    # Without the box columns there is nothing to match: no truth views, and registration still works.
    pq.write_table(pa.table({"match_id": [MATCH], "frame_index": [100]}), gt / "athletes.parquet")
    assert register_ground_truth(other, tmp_path / "synthetic") == {"athletes": 1}
    with connect(other, read_only=True) as connection:
        assert not _views(connection) & set(TRUTH_VIEWS)


def test_matching_is_greedy_by_iou_not_only_mutual_best(tmp_path):
    # One frame: curated C1 [5, 100] and C2 [10, 100], true G1 [0, 100] and G2 [20, 110] (same rows
    # of pixels). IoU: C1-G1 0.95, C2-G1 0.90, C2-G2 0.80, C1-G2 0.76. C2's best is G1, which C1
    # takes, so one pass of mutual best leaves C2 and G2 apart; greedy by IoU pairs them.
    tables = _curated_tables()
    curated = [r for r in tables["athletes"].to_pylist() if r["frame_index"] == 100 and r["track_id"] in (1, 2)]
    for row, x1 in zip(curated, (5.0, 10.0)):
        row.update(x1=x1, x2=100.0)
    tables["athletes"] = pa.Table.from_pylist(curated, schema=SHARD_SCHEMAS["athletes"])
    gt = tmp_path / "synthetic" / "synth-7" / "gt"
    _write_truth(gt)
    truth = [r for r in pq.read_table(gt / "athletes.parquet").to_pylist() if r["frame_index"] == 100 and r["track_id"] in (1, 2)]
    for row, (x1, x2) in zip(truth, ((0.0, 100.0), (20.0, 110.0))):
        row.update(x1=x1, x2=x2, y1=300.0, y2=380.0)
    for row in curated:
        assert (row["y1"], row["y2"]) == (300.0, 380.0)
    write_ground_truth(gt, {"athletes": {name: [r[name] for r in truth] for name in truth[0]}})
    catalog = tmp_path / "catalog.duckdb"
    manifest = write_shard(tmp_path / "out", MATCH, CLIP, example_key(1), tables, config_hash="config-0", code_version="test", metadata={"run_id": "run-1"})
    register_shards(catalog, [manifest])
    register_ground_truth(catalog, tmp_path / "synthetic")
    with connect(catalog, read_only=True) as connection:
        pairs = connection.execute("SELECT track_id, gt_track_id, round(iou, 2) FROM truth_matches ORDER BY track_id").fetchall()
    assert pairs == [(1, 1, 0.95), (2, 2, 0.8)]


def test_a_refused_team_is_wrong_in_team_accuracy_and_left_out_of_team_accuracy_decided(tmp_path):
    # Track 3 (athlete 3, true team left, voted B) refuses its team instead: team_accuracy still
    # counts it wrong (3 of 5), team_accuracy_decided grades the four with a team (1, 2, 6 right,
    # 7 wrong) and team_refused_share says one of the five carries none.
    tables = _curated_tables()
    rows = tables["athletes"].to_pylist()
    for row in rows:
        if row["track_id"] == 3:
            row.update(team=None, team_agreement=None)
    tables["athletes"] = pa.Table.from_pylist(rows, schema=SHARD_SCHEMAS["athletes"])
    catalog = tmp_path / "catalog.duckdb"
    manifest = write_shard(tmp_path / "out", MATCH, CLIP, example_key(1), tables, config_hash="config-0", code_version="test", metadata={"run_id": "run-1"})
    register_shards(catalog, [manifest])
    _write_truth(tmp_path / "synthetic" / "synth-7" / "gt")
    register_ground_truth(catalog, tmp_path / "synthetic")
    with connect(catalog, read_only=True) as connection:
        for view in ("truth_quality", "truth_quality_match"):
            (row,) = _rows(connection, f"SELECT team_accuracy, team_accuracy_decided, team_refused_share FROM {view}")
            assert row["team_accuracy"] == pytest.approx(3 / 5), view
            assert row["team_accuracy_decided"] == pytest.approx(3 / 4), view
            assert row["team_refused_share"] == pytest.approx(1 / 5), view
