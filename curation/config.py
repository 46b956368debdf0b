"""The curation config: one pydantic model, a section per stage, validated before any model loads.

Load it from YAML or JSON (``soccerfactory curate SOURCE --config curate.yaml``), override single
values with ``--set detect.conf=0.3``, and print the resolved defaults with
``soccerfactory config show``. Unknown keys are errors (a typo must not silently fall back to a
default), and every weights file is checked to exist before the first clip is decoded.

The resolved config and its hash are stored in every shard's manifest. The hash covers only what
changes the annotations (the stage sections); run settings such as concurrency or the output
folder do not invalidate finished shards.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from soccerfactory.curation.bundled import bundled_weights
from soccerfactory.curation.safe_load import STATE_DICT, YOLO_MODEL
from soccerfactory.curation.settings import ConfigError, Section, load_settings, set_dotted
from soccerfactory.curation.video.checks import MIN_HEIGHT, MIN_WIDTH

__all__ = [
    "CurateConfig",
    "ConfigError",
    "ModelFile",
    "load_config",
    "STAGE_SECTIONS",
]

#: Sections whose values change what a shard contains; their hash keys the shard cache.
STAGE_SECTIONS = ("clips", "decode", "detect", "track", "calibrate", "refine", "attribute", "vote")


class ClipsConfig(Section):
    """How sources are cut into clips."""

    max_clip_seconds: float = Field(30.0, gt=0, description="Longest clip; longer shots are split evenly.")
    min_clip_frames: int = Field(8, ge=1, description="Shorter shots (transitions, flashes) are dropped.")
    cut_threshold: float | None = Field(None, gt=0, le=1, description="Shot-cut sensitivity; None = built-in default.")
    # 144p (256x144) is the smallest broadcast rendition; below it a player is a few pixels tall
    # and the models have nothing to work on (tiny frames even crash OpenCV inside them), so such
    # a source is refused with its size rather than "curated" into empty labels.
    min_width: int = Field(MIN_WIDTH, ge=1, description="Sources with narrower frames are refused (a failure naming the size).")
    min_height: int = Field(MIN_HEIGHT, ge=1, description="Sources with lower frames are refused (a failure naming the size).")


class DecodeConfig(Section):
    """Frame decoding and sampling rates."""

    batch_size: int = Field(8, ge=1, le=256, description="Frames decoded and detected together.")
    spatial_stride: int = Field(1, ge=1, description="1 = detect, track and calibrate every frame (25 fps).")
    semantic_fps: float = Field(1.0, gt=0, le=60, description="Rate of team / jersey sampling (the paper uses 1 fps).")


class DetectConfig(Section):
    """Athlete and ball detection (ultralytics YOLOv8)."""

    backend: Literal["yolov8"] = "yolov8"
    weights: Path | None = Field(None, description="Local .pt file; None = the bundled default detector.")
    imgsz: int = Field(768, ge=64, le=4096, description="Inference size; the bundled detector was trained at 768.")
    conf: float = Field(0.25, ge=0, le=1)
    iou: float = Field(0.6, gt=0, le=1)
    device: str = "cpu"
    # 3 x 3 slices at confidence 0.1, retried below 0.5, chosen with `soccerfactory quality ball`
    # on the ball ground truth of five held-out synthetic clips (150 frames), never on the real
    # valid split the figures are reported on. 3 x 3 at 1080p gives slices of the size 2 x 2
    # gives at the synthetic clips' 720p, the best grid there.
    ball_slices: int = Field(
        3, ge=0, le=6,
        description="Where the full frame shows no ball, look again in N x N overlapping slices at native resolution (0 = off).",
    )
    ball_slice_overlap: float = Field(0.1, ge=0, lt=1, description="Overlap of neighbouring slices (fraction of a slice).")
    ball_slice_conf: float = Field(0.1, ge=0, le=1, description="Minimum ball confidence in a slice.")
    ball_slice_retry_below: float = Field(
        0.5, ge=0, le=1, description="Also slice frames whose best full-frame ball is less confident than this (0 = only frames with none)."
    )
    ball_slice_every: int = Field(
        5, ge=1, description="Slice only every N-th frame (slices cost slices^2 detector passes); the ball track interpolates between."
    )
    ball_max_gap_s: float = Field(0.4, ge=0, le=5, description="Ball gaps up to this long are interpolated (flagged).")
    ball_max_speed: float = Field(1.5, gt=0, description="Fastest ball motion in the image, frame widths per second.")

    def resolved_weights(self) -> Path:
        return self.weights or bundled_weights("detector.pt")


class TrackConfig(Section):
    """Multi-object tracking (boxmot)."""

    # ByteTrack by measurement: HOTA 80.9 against StrongSORT 78.3 and OC-SORT 76.7 on the five
    # held-out 30 s clips of `soccerfactory quality tracking`, with a seventh of StrongSORT's id
    # switches (kits of one team look alike, so appearance adds little within a team).
    backend: Literal["strongsort", "bytetrack", "ocsort"] = "bytetrack"
    params: dict[str, Any] = Field(default_factory=dict, description="Passed to the boxmot tracker.")
    min_track_s: float = Field(0.4, ge=0, description="Tracks shorter than this (seconds) are dropped after tracking.")
    stitch_max_gap_s: float = Field(3.0, ge=0, description="Fragments up to this far apart in time may be stitched (0 = off).")
    stitch_max_appearance_distance: float = Field(
        0.15, ge=0, le=2, description="Largest kit colour distance (cosine) between stitched fragments."
    )


#: Calibration backends that place the camera from a pitch keypoint model (a weights file).
KEYPOINT_BACKENDS = ("heatmap", "yolo-pose")


class CalibrateConfig(Section):
    """Camera calibration from pitch keypoints and lines (PnL)."""

    enabled: bool = True
    # heatmap (default): pitch keypoints from the project's heatmap model (curation/calibration/heatmap.py,
    # bundled) place the camera (RANSAC homography, pinhole decomposition, refinement); line
    # pixels sharpen it where they agree with the keypoints and carry it between keyframes.
    # Measured on real frames (`soccerfactory quality calibration`): median keypoint reprojection
    # 2.5 px at 960x540 on all 34 valid frames, where the line search alone solves 2 of 34.
    # lines (no weights): a search over main-camera poses scored on the painted-line mask places
    # the camera. yolo-pose: keypoints from a YOLOv8-pose model (none bundled: too coarse).
    # Frames where no camera fits are marked invalid with the reason, never guessed.
    backend: Literal["lines", "heatmap", "yolo-pose"] = "heatmap"
    weights: Path | None = Field(
        None, description="Pitch keypoint model (.pt) for backends heatmap and yolo-pose; None = the bundled one of the backend."
    )
    pitch_length: float = Field(105.0, ge=90, le=120)
    pitch_width: float = Field(68.0, ge=45, le=90)
    max_error_px: float = Field(15.0, gt=0, description="Cameras with a larger reprojection error are invalid.")
    keyframe_every: int = Field(
        5, ge=1,
        description="Keypoint backends: detect keypoints every N frames and track the camera on lines between (re-solved at once when tracking slips).",
    )
    device: str = "cpu"

    def resolved_weights(self) -> Path:
        default = "pitch-keypoints-heatmap.pt" if self.backend == "heatmap" else "pitch-keypoints.pt"
        return self.weights or bundled_weights(default)

    @property
    def uses_keypoint_model(self) -> bool:
        return self.backend in KEYPOINT_BACKENDS

    def calibrator_params(self) -> dict[str, Any]:
        """Keyword arguments of ``build_calibrator(self.backend, ...)`` for this section."""
        from soccerfactory.curation.pitch import PitchModel

        params: dict[str, Any] = {"pitch": PitchModel(length=self.pitch_length, width=self.pitch_width), "max_error_px": self.max_error_px}
        if self.uses_keypoint_model:
            params.update(weights=self.resolved_weights(), device=self.device, keyframe_every=self.keyframe_every)
        return params


class RefineConfig(Section):
    """Mask refinement of athlete boxes."""

    enabled: bool = True
    backend: Literal["chroma", "sam2"] = "chroma"
    sam2_config: str = "configs/sam2.1/sam2.1_hiera_t.yaml"
    sam2_checkpoint: Path | None = Field(None, description="Required for backend sam2 (e.g. sam2.1_hiera_tiny.pt).")
    device: str = "cpu"

    @model_validator(mode="after")
    def _sam2_needs_checkpoint(self) -> RefineConfig:
        if self.enabled and self.backend == "sam2" and self.sam2_checkpoint is None:
            raise ValueError(
                "refine.backend 'sam2' needs refine.sam2_checkpoint (a local SAM 2.1 checkpoint such as "
                "sam2.1_hiera_tiny.pt); use backend 'chroma' for no weights"
            )
        return self


class AttributeConfig(Section):
    """Team, role and jersey attribution at the semantic rate."""

    team: Literal["kmeans-color"] = "kmeans-color"
    jersey: Literal["rapidocr", "none"] = "rapidocr"
    jersey_min_confidence: float = Field(0.6, ge=0, le=1)
    max_crops_per_track: int = Field(30, ge=1, description="Bounds OCR time on long tracklets.")


class VoteConfig(Section):
    """Majority voting of attributes over each tracklet."""

    min_votes: int = Field(1, ge=1, description="Tracklets with fewer votes keep a null consensus.")
    link_by_jersey: bool = Field(
        True, description="Tracklets with the same voted team and jersey number, never on screen together, become one track."
    )


class RunConfig(Section):
    """How the run executes; not part of the config hash."""

    max_parallel_clips: int = Field(2, ge=1, le=256, description="Clips processed at the same time.")
    task_runner: Literal["threads", "dask"] = "threads"
    dask_address: str | None = Field(None, description="Existing Dask scheduler; None starts a local cluster.")
    # A reader holding the DuckDB file open blocks every writer; the shards are written anyway and
    # their registration waits this long at the start and the end of a run, not at every clip.
    catalog_wait_s: float = Field(
        30.0, ge=0, le=3600,
        description="Seconds to wait for the catalog's write lock before deferring registration to the next run or `catalog sync`.",
    )


class ModelFile(NamedTuple):
    """One model file a config loads: where it is, what it is in config terms, how it is loaded."""

    path: Path | None
    what: str  #: the config key and its role, e.g. ``"detect.weights (detector)"``; starts every message
    kind: str  #: :mod:`~soccerfactory.curation.safe_load` kind: ``YOLO_MODEL`` or ``STATE_DICT``
    how_to_get: str | None = None  #: instructions when it is missing; None = the bundled file's retraining command


class CurateConfig(BaseModel):
    """Everything the ``curate`` flow needs to know, one section per stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clips: ClipsConfig = ClipsConfig()
    decode: DecodeConfig = DecodeConfig()
    detect: DetectConfig = DetectConfig()
    track: TrackConfig = TrackConfig()
    calibrate: CalibrateConfig = CalibrateConfig()
    refine: RefineConfig = RefineConfig()
    attribute: AttributeConfig = AttributeConfig()
    vote: VoteConfig = VoteConfig()
    run: RunConfig = RunConfig()

    def stage_payload(self) -> dict[str, Any]:
        """The part of the config that decides shard contents, as plain JSON types."""
        return json.loads(self.model_dump_json(include=set(STAGE_SECTIONS)))

    def with_values(self, values: Mapping[str, Any]) -> CurateConfig:
        """A validated copy with ``{"section.key": value}`` replaced (the ``--set`` mechanism)."""
        tree = self.model_dump()
        for dotted, value in values.items():
            set_dotted(tree, dotted, value)
        return CurateConfig.model_validate(tree)

    def config_hash(self) -> str:
        """sha256 over the canonical JSON of the stage sections (plus the weights' sizes and
        mtimes, so swapping a model file under the same name re-curates)."""
        payload = self.stage_payload()
        payload["weights_files"] = {str(p): _file_signature(p) for p in self.weight_files()}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def weight_files(self) -> list[Path]:
        """The paths of :meth:`model_files` that are set (what :meth:`config_hash` signs)."""
        return [file.path for file in self.model_files() if file.path is not None]

    def model_files(self) -> list[ModelFile]:
        """Every model file this config loads, in load order: the one list the checks walk."""
        files = [ModelFile(self.detect.resolved_weights(), "detect.weights (detector)", YOLO_MODEL)]
        calibrate = self.calibrate
        if calibrate.enabled and calibrate.uses_keypoint_model:
            kind = STATE_DICT if calibrate.backend == "heatmap" else YOLO_MODEL
            files.append(ModelFile(calibrate.resolved_weights(), "calibrate.weights (pitch keypoint model)", kind))
        if self.refine.enabled and self.refine.backend == "sam2":
            files.append(ModelFile(
                self.refine.sam2_checkpoint, "refine.sam2_checkpoint", STATE_DICT,
                "download a SAM 2.1 checkpoint (e.g. sam2.1_hiera_tiny.pt from the facebookresearch/sam2 "
                "release) on a machine with internet and copy it here, or set refine.backend=chroma",
            ))
        return files


def _file_signature(path: Path) -> list[int] | None:
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return [stat.st_size, int(stat.st_mtime)]


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> CurateConfig:
    """Read a YAML/JSON config file (optional) and apply ``section.key=value`` overrides.

    Raises:
        ConfigError: naming the file and the offending fields; never a raw traceback.
    """
    return load_settings(CurateConfig, path, overrides)
