"""The one codec between the typed currency and shard rows: what is encoded decodes back unchanged."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pyarrow as pa
import pytest

from soccerfactory.curation.calibration.results import CalibrationResult
from soccerfactory.curation.layout import (
    CAMERA_FIELDS,
    ShardIdentity,
    camera_columns,
    camera_from_row,
    camera_row,
    clip_from_manifest,
    finite_or_none,
    homography_matrix,
    homography_row,
    nullable,
    row_homography,
    shard_tables,
    tracks_from_table,
)
from soccerfactory.curation.testing import make_camera
from soccerfactory.curation.types import BALL, CLASS_NAMES, Detections, Tracks
from soccerfactory.curation.video.clips import ClipSpec, clip_hash
from soccerfactory.curation.vote import AthleteLabels
from soccerfactory.storage.schemas import SHARD_SCHEMAS
from soccerfactory.storage.shards import find_manifest, read_shard, write_shard

IDENTITY = ShardIdentity(config_hash="c" * 64, code_version="v1", shard_key="ab" * 32)


def _clip(start: int = 10, stop: int = 16) -> ClipSpec:
    source = hashlib.sha256(b"footage").hexdigest()
    return ClipSpec(
        match_id="m1", clip_id="c1", url="file:///footage/match.mp4", kind="video", start_frame=start, stop_frame=stop,
        fps=25.0, width=1280, height=720, content_hash=clip_hash(source, start, stop), source_hash=source,
    )


def _cameras():
    return [make_camera(), make_camera(position=(5.0, 60.0, -20.0), focal_px=1800.0, dist=(-0.1, 0.02, 0.0, 0.0))]


def test_camera_row_decodes_to_the_same_camera():
    for camera in _cameras():
        row = {"valid_camera": True, **camera_row(camera)}
        decoded = camera_from_row(row, *camera.image_size)
        assert decoded is not None and decoded.image_size == camera.image_size
        for name in ("K", "R", "position", "dist"):
            assert np.array_equal(getattr(decoded, name), getattr(camera, name)), name
        assert np.array_equal(decoded.homography, camera.homography)


def test_camera_rows_without_a_full_camera_decode_to_none():
    camera = make_camera()
    assert camera_row(None) == dict.fromkeys(CAMERA_FIELDS)
    assert camera_from_row(None, 1280, 720) is None
    assert camera_from_row({"valid_camera": False, **camera_row(camera)}, 1280, 720) is None
    assert camera_from_row({"valid_camera": True, **camera_row(camera), "fx": None}, 1280, 720) is None
    assert camera_from_row({"valid_camera": True, **camera_row(camera), "rotation": [1.0] * 9}, 1280, 720) is None


def test_homography_row_decodes_to_the_same_matrix():
    h = make_camera().homography
    stored = homography_row(h)
    assert len(stored) == 9 and all(isinstance(v, float) for v in stored)
    assert np.array_equal(homography_matrix(stored), h)
    assert np.array_equal(homography_matrix(h), h)  # a 3x3 array in hand reads the same
    assert np.array_equal(row_homography({"valid_camera": True, "homography": stored}), h)
    assert row_homography({"valid_camera": False, "homography": stored}) is None
    assert row_homography(None) is None
    for bad in (None, [0.0] * 9, [None] * 9, [1.0, 2.0], [float("nan")] + [1.0] * 8):
        assert homography_matrix(bad) is None


def test_nullable_cells_read_back_as_numbers_or_none():
    values = np.array([1.5, np.nan, -2.0, np.inf], dtype=np.float32)
    cells = nullable(values)
    assert cells == [1.5, None, -2.0, None]
    assert [finite_or_none(c) for c in cells] == cells
    assert finite_or_none("x") is None and finite_or_none(np.float32(3.0)) == 3.0


def test_camera_columns_hold_each_frames_calibration():
    clip = _clip()
    frames = np.arange(10, 13, dtype=np.int64)
    good, distorted = _cameras()
    results = [CalibrationResult.from_camera(good, 1.25, 9, 3), CalibrationResult.invalid("too few keypoints", 2),
               CalibrationResult.from_camera(distorted, 2.5, 12, 4)]
    columns = camera_columns(clip, frames, results)
    rows = [{name: values[i] for name, values in columns.items()} for i in range(len(frames))]
    for row, result in zip(rows, results):
        camera = camera_from_row(row, clip.width, clip.height)
        if result.valid:
            assert np.array_equal(camera.R, result.camera.R) and np.array_equal(camera.dist, result.camera.dist)
            assert np.array_equal(row_homography(row), result.homography)
            assert row["reprojection_error_px"] == result.reprojection_error_px and row["invalid_reason"] is None
        else:
            assert camera is None and row_homography(row) is None and row["invalid_reason"] == "too few keypoints"
        assert (row["n_keypoints"], row["n_lines"]) == (result.n_keypoints, result.n_lines)
    off = camera_columns(clip, frames, ())
    assert off["valid_camera"] == [False] * 3 and off["invalid_reason"] == ["calibration off"] * 3


def _clip_parts(clip: ClipSpec):
    """Tracks (with optional data), their labels, a ball track and calibrations of frames 10..15."""
    frames = np.arange(clip.start_frame, clip.stop_frame, dtype=np.int64)
    rng = np.random.default_rng(0)
    n = 2 * len(frames)
    xy = rng.uniform(0, 1200, size=(n, 2))
    tracks = Tracks(
        xyxy=np.column_stack([xy, xy + 30]).astype(np.float32), confidence=rng.uniform(0.3, 1, n).astype(np.float32),
        class_id=np.tile([1, 3], len(frames)), frame_index=np.repeat(frames, 2), track_id=np.tile([4, 9], len(frames)),
    )
    pitch = rng.uniform(-50, 50, size=(n, 2)).astype(np.float32)
    pitch[0] = np.nan
    tracks = tracks.with_data(pitch_xy=pitch, pitch_sigma_m=np.full(n, 0.5, np.float32),
                              mask_rle=np.array([None, {"size": [720, 1280], "counts": [3, 4]}] * len(frames), dtype=object))
    labels = AthleteLabels(
        track_id=np.tile([4, 9], len(frames)).astype(np.int64), tracklet_id=np.tile([4, 9], len(frames)).astype(np.int64),
        team=np.array(["A", None] * len(frames), dtype=object), team_agreement=np.tile(np.float32([0.75, np.nan]), len(frames)),
        role=np.array(["player", None] * len(frames), dtype=object), role_agreement=np.ones(n, np.float32),
        jersey=np.array([7, None] * len(frames), dtype=object), jersey_agreement=np.tile(np.float32([1.0, np.nan]), len(frames)),
        jersey_votes=np.tile(np.int32([3, 0]), len(frames)), track_length=np.full(n, len(frames), np.int32),
    )
    ball_frames = frames[[0, 2, 3]]
    ball = Detections(
        xyxy=np.array([[10, 10, 18, 18], [20, 20, 28, 28], [30, 30, 38, 38]], np.float32), confidence=np.float32([0.9, 0.8, 0.7]),
        class_id=np.full(3, BALL), frame_index=ball_frames,
    ).with_data(interpolated=np.array([False, True, False]), pitch_xy=np.float32([[1, 2], [3, 4], [np.nan, np.nan]]))
    calibrations = tuple(
        CalibrationResult.from_camera(make_camera(), 1.0, 8, 2) if f % 2 == 0 else CalibrationResult.invalid("degenerate")
        for f in frames.tolist()
    )
    return frames, tracks, labels, ball, calibrations


def test_shard_tables_have_the_shard_schemas_and_decode_to_the_tracks():
    clip = _clip()
    frames, tracks, labels, ball, calibrations = _clip_parts(clip)
    tables = shard_tables(clip, frame_index=frames, tracks=tracks, labels=labels, ball=ball, calibrations=calibrations,
                          semantic_frame_index=frames[::3], identity=IDENTITY)
    assert list(tables) == ["clips", "frames", "athletes", "ball", "cameras", "events"]
    for name, table in tables.items():
        assert table.schema.equals(SHARD_SCHEMAS[name], check_metadata=True), name
    decoded = tracks_from_table(tables["athletes"])
    assert np.array_equal(decoded.xyxy, tracks.xyxy) and np.array_equal(decoded.confidence, tracks.confidence)
    assert np.array_equal(decoded.class_id, tracks.class_id) and np.array_equal(decoded.frame_index, tracks.frame_index)
    assert np.array_equal(decoded.track_id, labels.track_id)
    athletes = tables["athletes"].to_pydict()
    assert athletes["class"][:2] == [CLASS_NAMES[1], CLASS_NAMES[3]]
    assert athletes["role"][:2] == ["player", CLASS_NAMES[3]]  # no role vote: the detector's class
    assert athletes["team"][:2] == ["A", None] and athletes["jersey"][:2] == [7, None]
    assert athletes["pitch_x"][0] is None and athletes["pitch_x"][1] == float(tracks.data["pitch_xy"][1, 0])
    assert athletes["mask_rle"][:2] == [None, json.dumps({"size": [720, 1280], "counts": [3, 4]})]
    assert athletes["team_agreement"][:2] == [0.75, None]
    ball_rows = tables["ball"].to_pydict()
    assert ball_rows["detected"] == [True, False, False, True, False, False]
    assert ball_rows["interpolated"] == [False, False, True, False, False, False]
    assert ball_rows["x1"] == [10.0, None, 20.0, 30.0, None, None] and ball_rows["pitch_x"][3] is None
    frame_rows = tables["frames"].to_pydict()
    assert frame_rows["n_athletes"] == [2] * len(frames) and frame_rows["semantic_sample"] == [True, False, False, True, False, False]
    assert frame_rows["valid_camera"] == [True, False] * 3 == tables["cameras"].column("valid_camera").to_pylist()
    clips = tables["clips"].to_pylist()[0]
    assert (clips["config_hash"], clips["code_version"], clips["shard_key"]) == (IDENTITY.config_hash, IDENTITY.code_version, IDENTITY.shard_key)
    assert (clips["n_frames"], clips["content_hash"], clips["source_url"]) == (len(frames), clip.content_hash, clip.url)
    assert json.loads(tables["events"].column("detail")[0].as_py()) == {"source": clip.url}
    unstamped = shard_tables(clip, frame_index=frames, tracks=tracks, labels=labels, ball=ball, calibrations=(),
                             semantic_frame_index=frames[:0])
    assert unstamped["clips"].select(["config_hash", "code_version", "shard_key"]).to_pylist() == [
        {"config_hash": "", "code_version": "", "shard_key": ""}
    ]


def test_stamped_tables_commit_and_the_manifest_decodes_to_the_clip(tmp_path):
    clip = _clip()
    frames, tracks, labels, ball, calibrations = _clip_parts(clip)
    tables = shard_tables(clip, frame_index=frames, tracks=tracks, labels=labels, ball=ball, calibrations=calibrations,
                          semantic_frame_index=frames, identity=IDENTITY)
    # write_shard checks the clips row against the identity it is given: the stamp is the one it expects.
    write_shard(tmp_path, clip.match_id, clip.clip_id, IDENTITY.shard_key, tables, config_hash=IDENTITY.config_hash,
                code_version=IDENTITY.code_version, metadata={"clip": dataclasses.asdict(clip)})
    manifest = find_manifest(tmp_path, clip.match_id, clip.clip_id)
    stored = read_shard(manifest, ["clips", "cameras"])
    assert clip_from_manifest(manifest) == clip == clip_from_manifest(manifest, stored["clips"])
    camera_rows = stored["cameras"].to_pylist()
    assert np.array_equal(camera_from_row(camera_rows[0], clip.width, clip.height).R, calibrations[0].camera.R)
    # Without metadata.clip the clips row gives a stand-in: the same footage and frames, a hash by ClipSpec's rule.
    bare = dataclasses.replace(manifest, metadata={})
    stand_in = clip_from_manifest(bare, stored["clips"])
    assert (stand_in.url, stand_in.kind, stand_in.start_frame, stand_in.stop_frame, stand_in.fps, stand_in.width, stand_in.height) == (
        clip.url, "video", clip.start_frame, clip.stop_frame, clip.fps, clip.width, clip.height,
    )
    assert stand_in.content_hash == clip_hash(stand_in.source_hash, clip.start_frame, clip.stop_frame) != clip.content_hash


def test_a_manifest_that_disagrees_with_its_clip_is_refused(tmp_path):
    clip = _clip()
    frames, tracks, labels, ball, calibrations = _clip_parts(clip)
    tables = shard_tables(clip, frame_index=frames, tracks=tracks, labels=labels, ball=ball, calibrations=calibrations,
                          semantic_frame_index=frames, identity=IDENTITY)
    write_shard(tmp_path, clip.match_id, clip.clip_id, IDENTITY.shard_key, tables, config_hash=IDENTITY.config_hash,
                code_version=IDENTITY.code_version, metadata={"clip": dataclasses.asdict(clip)})
    manifest = find_manifest(tmp_path, clip.match_id, clip.clip_id)
    other = dataclasses.replace(manifest, metadata={"clip": {**dataclasses.asdict(clip), "clip_id": "c2"}})
    with pytest.raises(ValueError, match="metadata.clip names m1/c2"):
        clip_from_manifest(other)
    longer = dataclasses.asdict(_clip(10, 20))
    with pytest.raises(ValueError, match=r"covers frames \[10, 20\) but the clips row \[10, 16\)"):
        clip_from_manifest(dataclasses.replace(manifest, metadata={"clip": longer}), tables["clips"])
    with pytest.raises(ValueError, match="not a valid clip"):
        clip_from_manifest(dataclasses.replace(manifest, metadata={"clip": {**longer, "content_hash": "0" * 64}}))
    with pytest.raises(ValueError, match="neither metadata.clip nor a clips row"):
        clip_from_manifest(dataclasses.replace(manifest, metadata={}), pa.table({"x": pa.array([], pa.int64())}))
