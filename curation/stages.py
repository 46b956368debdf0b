"""Build the curation backends from a config, once per process.

Loading a detector costs seconds; a run with many clips must not pay it per clip. Stateless
backends are built once per (process, config hash) and shared by every clip; the tracker and the
calibrator keep state from frame to frame, so the run gets factories that make a fresh one per clip.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from importlib import metadata
from pathlib import Path

from soccerfactory.curation.attribute.builders import build_jersey_reader, build_team_classifier
from soccerfactory.curation.bundled import require_weights
from soccerfactory.curation.calibration.builders import build_calibrator
from soccerfactory.curation.config import CurateConfig
from soccerfactory.curation.detection.detector import BallSlicer, UltralyticsDetector, build_detector
from soccerfactory.curation.detection.roles import configured_roles
from soccerfactory.curation.devices import check_device
from soccerfactory.curation.chain import validate_chain
from soccerfactory.curation.pipeline import ClipStages
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.refine import build_refiner
from soccerfactory.curation.safe_load import check_checkpoint
from soccerfactory.curation.tracking.trackers import build_tracker
from soccerfactory.curation.tracking.tracklets import TrackletCleanup
from soccerfactory.curation.video.clips import ClipSpec

__all__ = ["UNHASHED", "check_config", "check_devices", "code_version", "load_stages", "pitch_of", "shard_key", "shard_sources", "stage_names"]

_loaded: dict[str, ClipStages] = {}
_lock = threading.Lock()


def pitch_of(config: CurateConfig) -> PitchModel:
    """The pitch of ``calibrate.pitch_length`` x ``pitch_width``: what the vote step measures
    off-pitch distances and penalty areas against (``vote_clip(..., pitch=pitch_of(config))``)."""
    return PitchModel(length=config.calibrate.pitch_length, width=config.calibrate.pitch_width)


def stage_names(config: CurateConfig) -> list[str]:
    """The stage chain this config runs, in order."""
    names = ["decode", "detect", "track"]
    if config.calibrate.enabled:
        names.append("calibrate")
    if config.refine.enabled:
        names.append("refine")
    return names + ["attribute", "vote", "write"]


def check_config(config: CurateConfig) -> None:
    """Everything that can be checked without loading a model: the stage chain and the weights files.

    Every model file must exist and pass :func:`~soccerfactory.curation.safe_load.check_checkpoint`
    (a readable ``torch.save`` archive naming only allowed classes), so a truncated or foreign file
    is refused here, naming it, before any video is decoded.

    Raises:
        FileNotFoundError: a model file is missing.
        ValueError: the stage chain is invalid, a stage's device cannot be used here (e.g.
            ``cuda`` without a CUDA build of torch), or a model file is unreadable or unsafe.
    """
    names = stage_names(config)
    validate_chain(names)
    check_devices(config)
    files = config.model_files()
    for file in files:  # every missing file is named before any present one is opened
        require_weights(file.path, file.what, file.how_to_get)
    for file in files:
        check_checkpoint(file.path, file.what, file.kind)


def check_devices(config: CurateConfig) -> None:
    """Refuse, naming the config key, a device of an enabled model stage that this process cannot
    use (:func:`~soccerfactory.curation.devices.check_device`); CPU-only configs import no torch."""
    check_device(config.detect.device, "detect.device", allow_index=True)  # ultralytics also takes "0"
    if config.calibrate.enabled and config.calibrate.uses_keypoint_model:
        check_device(config.calibrate.device, "calibrate.device", allow_index=config.calibrate.backend == "yolo-pose")
    if config.refine.enabled and config.refine.backend == "sam2":
        check_device(config.refine.device, "refine.device")


def load_stages(config: CurateConfig) -> ClipStages:
    """The run's backends, built on first use in this process and reused afterwards."""
    key = config.config_hash()
    with _lock:
        if key not in _loaded:
            _loaded[key] = _build(config)
        return _loaded[key]


def _build(config: CurateConfig) -> ClipStages:
    check_config(config)
    detect = config.detect
    detector = build_detector(
        detect.backend, weights=detect.resolved_weights(), imgsz=detect.imgsz, conf=min(detect.conf, detect.track_conf),
        iou=detect.iou, device=detect.device, runtime=detect.device_runtime(), roles=configured_roles(detect, config.attribute),
    )
    new_calibrator = None
    if config.calibrate.enabled:
        calibrate = config.calibrate
        # Built once (models load now, not on the first clip); each clip gets a fresh copy that
        # shares the loaded models but not the previous clip's camera.
        new_calibrator = build_calibrator(calibrate.backend, **calibrate.calibrator_params()).fresh
    refiner = None
    if config.refine.enabled:
        refine = config.refine
        params = {}
        if refine.backend == "sam2":
            params = {"config": refine.sam2_config, "checkpoint": refine.sam2_checkpoint, "device": refine.device}
        refiner = build_refiner(refine.backend, **params)
    versions = {"detector": getattr(detector, "version", detect.backend), "tracker": config.track.backend}
    ball_slicer = None
    if detect.ball_slices and isinstance(detector, UltralyticsDetector):
        ball_slicer = BallSlicer(
            detector, slices=detect.ball_slices, overlap=detect.ball_slice_overlap, conf=detect.ball_slice_conf,
            every=detect.ball_slice_every, retry_below=detect.ball_slice_retry_below,
        )
    track = config.track
    cleanup = TrackletCleanup(
        min_length_s=track.min_track_s,
        max_gap_s=track.stitch_max_gap_s,
        max_appearance_distance=track.stitch_max_appearance_distance,
        duplicate_min_iou=track.duplicate_min_iou,
        duplicate_min_share=track.duplicate_min_share,
        duplicate_min_s=track.duplicate_min_s,
    )
    return ClipStages(
        detector=detector,
        new_tracker=functools.partial(_new_tracker, config.track.backend, dict(config.track.params)),
        new_calibrator=new_calibrator,
        refiner=refiner,
        team_classifier=build_team_classifier(config.attribute.team),
        jersey_reader=build_jersey_reader(config.attribute.jersey),
        versions=versions,
        ball_slicer=ball_slicer,
        ball_tracking={"max_gap_s": detect.ball_max_gap_s, "max_speed": detect.ball_max_speed},
        postprocess_tracks=cleanup,
        reid=_reid_embedder() if track.appearance_embeddings else None,
        keep_conf=detect.conf,
    )


def _reid_embedder():
    from soccerfactory.curation.tracking.reid import ReidEmbedder  # imports torch

    return ReidEmbedder()


def _new_tracker(backend: str, params: dict, fps: float):
    return build_tracker(backend, **{"fps": fps, **params})


#: What under ``curation/`` a shard's content does not depend on (top-level names): the synthetic
#: renderer, the training-set builders, the quality measurements, the preview renderer (it reads
#: shards, never writes them) and the test helpers.
UNHASHED = ("synth", "training", "quality", "preview", "testing.py")


def shard_sources() -> list[tuple[str, Path]]:
    """``(name, file)`` of every source file a shard's content depends on, sorted by name.

    The rule: every ``.py`` file under ``curation/``, at any depth, except those under the
    top-level names in :data:`UNHASHED`, plus ``storage/schemas.py`` (the shard tables' schemas).
    A name is the file's posix path relative to the ``soccerfactory`` package
    (``curation/video/decode.py``, ``storage/schemas.py``), so moving a module re-curates too.
    """
    curation = Path(__file__).resolve().parent
    storage_schemas = curation.parent / "storage" / "schemas.py"
    if not storage_schemas.is_file():  # storage installed elsewhere than beside curation
        import soccerfactory.storage.schemas as schemas

        storage_schemas = Path(schemas.__file__)
    files = [
        (f"curation/{path.relative_to(curation).as_posix()}", path)
        for path in curation.rglob("*.py")
        if path.relative_to(curation).parts[0] not in UNHASHED
    ]
    return sorted([*files, ("storage/schemas.py", storage_schemas)])


def shard_key(clip: ClipSpec, config_hash: str) -> str:
    """The cache key of a clip's shard: its content, the config and the code that made it."""
    text = f"{clip.content_hash}:{config_hash}:{code_version()}"
    return hashlib.sha256(text.encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus a hash of the pipeline's source: any code change re-curates.

    Only the modules a shard's content depends on are hashed (:func:`shard_sources`: the
    curation stages and the shard schemas), so editing the CLI, the synthetic renderer, the
    training-set builders, the quality measurements or the preview leaves finished shards valid.
    """
    try:
        version = metadata.version("soccerfactory")
    except metadata.PackageNotFoundError:
        version = "0"
    digest = hashlib.sha256()
    for name, path in shard_sources():
        digest.update(name.encode())
        digest.update(path.read_bytes())
    return f"{version}+{digest.hexdigest()[:12]}"
