"""The spatial-result cache (curation/spatial_cache.py): a real clip's pass stored and read back field
for field, the same labels from it, a key that ignores attribute and vote settings and code but
nothing the source-rate stages read, and damaged entries that are ignored, never unpickled."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import io
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest

from soccerfactory.curation import spatial_cache as sc
from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.calibration.results import CalibrationResult
from soccerfactory.curation.calibration.view import FrameViews
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.config import CurateConfig, load_config
from soccerfactory.curation.pipeline import SpatialResult, annotate_spatial, attribute_clip, vote_clip
from soccerfactory.curation.types import Detections, Tracks
from soccerfactory.curation.video.clips import ClipSpec, clip_hash

PACKAGE = Path(sc.__file__).resolve().parent.parent


def _clip(source: bytes = b"source", start: int = 0, stop: int = 4, clip_id: str = "c") -> ClipSpec:
    digest = hashlib.sha256(source).hexdigest()
    return ClipSpec(match_id="m", clip_id=clip_id, url=f"file:///{clip_id}.mp4", kind="video", start_frame=start, stop_frame=stop,
                    fps=25.0, width=640, height=360, content_hash=clip_hash(digest, start, stop), source_hash=digest)


def _camera_result(valid: bool) -> CalibrationResult:
    if not valid:
        return CalibrationResult(None, None, float("nan"), 0, 0, False, "too few keypoints", 0.0)
    camera = Camera(K=np.array([[1000.0, 0, 320], [0, 1000.0, 180], [0, 0, 1]]), R=np.eye(3), position=np.array([0.0, 50.0, -15.0]),
                    image_size=(640, 360))
    return CalibrationResult(camera, np.arange(9, dtype=np.float64).reshape(3, 3) + 0.1, 2.75, 11, 3, True, "", 1 / 3)


def _handmade() -> SpatialResult:
    """Every kind of value a pass holds: crops of several sizes with and without masks, mask RLEs
    with None, NaN positions, cameras valid and not, views, float32 scalars."""
    rng = np.random.default_rng(0)
    frames = np.arange(4, dtype=np.int64)
    n = 6
    tracks = Tracks(
        xyxy=np.tile(rng.uniform(0, 100, (n, 2)), (1, 2)).astype(np.float32) + np.float32([0, 0, 5, 9]),
        confidence=np.linspace(0.3, 0.9, n, dtype=np.float32), class_id=[2, 2, 1, 3, 2, 2], frame_index=[0, 0, 1, 1, 2, 3],
        track_id=[0, 1, 0, 1, 0, 0],
        data={"mask_rle": np.array(['{"size":[360,640],"counts":[1,2]}', None, "x", None, "y", "z"], dtype=object),
              "pitch_xy": np.float32([[1, 2], [np.nan, np.nan], [3, 4], [5, 6], [7, 8], [9, 10]]),
              "appearance": rng.normal(size=(n, 52)).astype(np.float32), "det_index": np.arange(n, dtype=np.int64)},
    )
    images = tuple(rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for h, w in ((20, 10), (31, 12), (8, 8)))
    crops = AthleteCrops(images=images, masks=(images[0][..., 0] > 100, None, images[2][..., 0] > 7), track_id=[0, 1, 0],
                         frame_index=[0, 0, 2], class_id=[2, 2, 2], source_row=[0, 1, 4])
    ball = Detections(xyxy=np.float32([[5, 5, 8, 8]]), confidence=np.float32([0.5]), class_id=[0], frame_index=[1], track_id=[0],
                      data={"interpolated": np.array([True]), "pitch_xy": np.float32([[np.nan, np.nan]])})
    views = FrameViews(frame_index=frames, view=np.array(["main", "main", "close-up", "other"], dtype=object),
                       reason=np.array(["a", "b", "c", "d"], dtype=object), visible_pitch_m2=np.float32([1500, np.nan, 3, 4]))
    return SpatialResult(
        clip=_clip(), frame_index=frames, tracks=tracks, ball=ball,
        calibrations=(_camera_result(True), _camera_result(False), _camera_result(True), _camera_result(False)),
        crops=crops, crop_pitch_x=np.float32([1.0, np.nan, 7.0]), semantic_frame_index=frames[:1], seconds=12.5,
        stage_seconds={"detect": 10.0, "wall": 12.5}, views=views, jersey_frame_index=frames[:3],
    )


# --------------------------------------------------------------------------- codec


def test_the_codec_knows_the_type_of_every_field_it_stores():
    # Fails when a field is added to SpatialResult (or what it holds) whose type the codec does not
    # write: extend _Encoder/_Decoder and _ANNOTATION_NAMES, then this test and the round trips pass.
    assert sc.unsupported_fields() == []
    assert set(sc.codec_schema()["SpatialResult"]) == {f.name for f in dataclasses.fields(SpatialResult)}


def test_a_handmade_pass_round_trips_field_for_field_without_pickle():
    result = _handmade()
    data = sc.encode_spatial(result, "k")
    back = sc.decode_spatial(data, "k")
    assert sc.differences(result, back) == []
    assert back.tracks.data["mask_rle"][1] is None and back.crops.masks[1] is None
    # Nothing in the archive needs pickle: every member loads with allow_pickle=False, none is object.
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
    # The differences are found: one changed value, one NaN more.
    other = dataclasses.replace(result, crop_pitch_x=np.float32([1.0, np.nan, 7.5]))
    assert sc.differences(result, other) == ["SpatialResult.crop_pitch_x: values differ"]


def test_a_value_the_codec_does_not_know_fails_loudly_naming_where():
    result = dataclasses.replace(_handmade(), stage_seconds={"detect": Path("x")})
    with pytest.raises(TypeError, match=r"SpatialResult.stage_seconds\['detect'\] is a .*Path"):
        sc.encode_spatial(result, "k")


def test_an_entry_under_another_key_or_schema_is_refused():
    data = sc.encode_spatial(_handmade(), "k")
    with pytest.raises(ValueError, match="another key"):
        sc.decode_spatial(data, "other")


# --------------------------------------------------------------------------- key


def test_the_code_hash_covers_the_spatial_modules_only():
    names = {name for name, _ in sc.spatial_sources()}
    # team.py and kits.py: the detector's frame evidence runs their kit clustering to decide roles.
    assert {"curation/spatial.py", "curation/attribute/crops.py", "curation/detection/detector.py", "curation/tracking/trackers.py",
            "curation/calibration/calibrator.py", "curation/refine.py", "curation/video/decode.py", "curation/stages.py",
            "curation/attribute/team.py", "curation/attribute/kits.py", "curation/detection/frame_evidence.py"} <= names
    assert not names & {"curation/vote.py", "curation/attribute/relational.py", "curation/layout.py",
                        "curation/config.py", "curation/pipeline.py", "storage/schemas.py", "curation/tracking/shot_links.py",
                        "curation/tracking/shot_geometry.py"}


def _imports(path: Path) -> set[Path]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("soccerfactory."):
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("soccerfactory.")]
        for name in names:
            base = PACKAGE.joinpath(*name.split(".")[1:])
            found |= {p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()}
    return found


def test_modules_the_spatial_pass_imports_are_hashed_or_reviewed():
    """A spatial module that starts importing an unhashed module (say attribute/relational.py)
    must be looked at: either its code runs in the pass (hash it) or it is listed as imported only."""
    entry = ["curation/spatial.py", "curation/detection/detector.py", "curation/detection/roles.py", "curation/tracking/trackers.py",
             "curation/tracking/tracklets.py", "curation/calibration/builders.py", "curation/refine.py"]
    seen, todo = set(), [PACKAGE / name for name in entry]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(_imports(path))
    hashed = {name for name, _ in sc.spatial_sources()}
    unhashed = {p.relative_to(PACKAGE).as_posix() for p in seen} - hashed
    assert unhashed <= set(sc.IMPORTED_NOT_RUN), sorted(unhashed - set(sc.IMPORTED_NOT_RUN))


def test_the_key_ignores_attribute_vote_and_run_but_not_what_the_pass_reads():
    clip, base = _clip(), CurateConfig()
    key = sc.spatial_key(clip, base)
    assert sc.spatial_key(clip, CurateConfig()) == key  # stable (no object address in it)
    for unchanged in ({"vote.min_votes": 3}, {"vote.link_by_jersey": False}, {"attribute.jersey_min_reads": 3},
                      {"attribute.jersey": "rapidocr"}, {"run.max_parallel_clips": 1}, {"run.spatial_cache": False}):
        assert sc.spatial_key(clip, base.with_values(unchanged)) == key, unchanged
    # The kit thresholds are attribute settings the detector's frame evidence reads too.
    for changed in ({"decode.jersey_fps": 2.0}, {"detect.conf": 0.3}, {"track.min_track_s": 0.8}, {"calibrate.view_window": 3},
                    {"calibrate.enabled": False}, {"refine.enabled": False}, {"attribute.kit_member": 3.0}):
        assert sc.spatial_key(clip, base.with_values(changed)) != key, changed
    # ... unless the frame evidence is off.
    off = base.with_values({"detect.role_kit_slope": 0})
    assert sc.spatial_key(clip, off.with_values({"attribute.kit_member": 3.0})) == sc.spatial_key(clip, off)
    assert sc.spatial_key(_clip(stop=5), base) != key
    assert sc.spatial_key(_clip(b"other footage"), base) != key
    assert sc.spatial_key(_clip(clip_id="renamed"), base) == key  # the same footage under another id


def test_the_key_covers_the_bundled_reid_weights_but_not_the_jersey_digits():
    weights = sc._model_contents(CurateConfig())
    from soccerfactory.curation.bundled import WEIGHTS_DIR

    if (WEIGHTS_DIR / "reid.pt").is_file():
        assert weights["bundled/reid.pt"] is not None
    assert not [name for name in weights if "jersey" in name]


def test_a_swapped_model_file_changes_the_key(tmp_path):
    weights = tmp_path / "keypoints.pt"
    weights.write_bytes(b"a" * 100)
    config = load_config(overrides=[f"calibrate.weights={weights}"])
    before = sc.spatial_key(_clip(), config)
    weights.write_bytes(b"b" * 100)  # same name and size, other bytes
    assert sc.spatial_key(_clip(), config) != before
    # A file a tracker parameter names (e.g. ReID weights) counts by its bytes too.
    reid = tmp_path / "reid.pt"
    reid.write_bytes(b"a")
    config = CurateConfig().with_values({"track.params": {"reid_weights": str(reid)}})
    before = sc.spatial_key(_clip(), config)
    reid.write_bytes(b"b")
    assert sc.spatial_key(_clip(), config) != before


# --------------------------------------------------------------------------- entries


def test_store_load_replace_and_damaged_entries(tmp_path, caplog):
    cache = str(tmp_path / "spatial")
    result = _handmade()
    url = sc.store_spatial(cache, result, "k1")
    renamed = _clip(clip_id="renamed")
    back = sc.load_spatial(cache, renamed, "k1")
    assert back is not None and sc.differences(dataclasses.replace(result, clip=renamed), back) == []
    assert sc.load_spatial(cache, result.clip, "k2") is None  # another key: a miss

    # Storing under a new key replaces the clip's older entry (one pass per clip on disk).
    sc.store_spatial(cache, result, "k2")
    assert [p.name for p in Path(cache).iterdir()] == [Path(sc.entry_url(cache, result.clip, "k2")).name]
    assert not Path(url).exists()

    entry = Path(sc.entry_url(cache, result.clip, "k2"))
    good = entry.read_bytes()
    damages = {
        "truncated": good[: len(good) // 2],
        "flipped": good[:200] + bytes([good[200] ^ 0xFF]) + good[201:],
        "empty": b"",
        "not a zip": b"hello",
    }
    for name, data in damages.items():
        entry.write_bytes(data)
        with caplog.at_level(logging.WARNING, logger=sc.__name__):
            caplog.clear()
            assert sc.load_spatial(cache, result.clip, "k2") is None, name
        assert "ignoring damaged entry" in caplog.text, name

    # A pickled object planted in the archive is never unpickled: the entry is refused.
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            if info.filename != "a0.npy":
                target.writestr(info, source.read(info))
        np.save(planted := io.BytesIO(), np.array([object()], dtype=object), allow_pickle=True)
        target.writestr("a0.npy", planted.getvalue())
    entry.write_bytes(buffer.getvalue())
    with caplog.at_level(logging.WARNING, logger=sc.__name__):
        caplog.clear()
        assert sc.load_spatial(cache, result.clip, "k2") is None
    assert "allow_pickle=False" in caplog.text


# --------------------------------------------------------------------------- a real pass


@pytest.fixture(scope="module")
def real_pass(tmp_path_factory):
    """A rendered 1.2 s 640x360 clip through the real bundled stages (detector + roles, ByteTrack,
    heatmap calibration, chroma refine), and the config that made it."""
    from soccerfactory.curation.quality.clips import clip_of
    from soccerfactory.curation.stages import load_stages
    from soccerfactory.curation.synth import SynthConfig, render_clip

    root = tmp_path_factory.mktemp("spatial-cache")
    render_clip(SynthConfig(seconds=1.2, seed=12, width=640, height=360), root)
    config = load_config(overrides=["detect.imgsz=640", "decode.semantic_fps=5", "decode.jersey_fps=5"])
    stages = load_stages(config)
    result = annotate_spatial(clip_of(root), stages, config.decode, calibrate=config.calibrate)
    return result, stages, config


def _untimed(value):
    """``value`` with its wall-time fields (``seconds``, ``jersey_seconds``, ...) zeroed."""
    return dataclasses.replace(value, **{f.name: 0.0 for f in dataclasses.fields(value) if f.name.endswith("seconds")})


@pytest.mark.slow
def test_a_real_pass_round_trips_and_gives_the_same_labels(real_pass, tmp_path):
    from soccerfactory.curation.stages import pitch_of

    fresh, stages, config = real_pass
    # The pass has the fields that matter filled in, so the round trip means something.
    assert len(fresh.tracks) > 50 and len(fresh.crops) > 10 and any(c.valid for c in fresh.calibrations)
    assert "mask_rle" in fresh.tracks.data and fresh.views is not None
    cache = str(tmp_path / "spatial")
    key = sc.spatial_key(fresh.clip, config)
    sc.store_spatial(cache, fresh, key)
    cached = sc.load_spatial(cache, fresh.clip, key)
    assert cached is not None
    assert sc.differences(fresh, cached) == []

    def labels(spatial):
        attributes = attribute_clip(spatial, stages, config.attribute)
        return attributes, vote_clip(spatial, attributes, config.attribute, config.vote, pitch=pitch_of(config))

    (attrs_fresh, votes_fresh), (attrs_cached, votes_cached) = labels(fresh), labels(cached)
    assert sc.differences(votes_fresh, votes_cached, "AthleteLabels") == []
    assert sc.differences(_untimed(attrs_fresh), _untimed(attrs_cached), "Attributes") == []
    minutes = fresh.n_frames / fresh.clip.fps / 60
    print(f"entry: {Path(sc.entry_url(cache, fresh.clip, key)).stat().st_size / 1e6 / minutes:.1f} MB per minute of 640x360 video")
