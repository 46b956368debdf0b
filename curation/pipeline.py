"""The per-clip annotation pipeline, as plain functions over the typed containers.

A clip goes through four steps, each a function the Prefect flow calls:

1. :func:`annotate_spatial` decodes the clip once and streams it in batches through the stages
   that run at the source rate (detect, ball slices, track, calibrate, refine), keeping crops of
   every tracked athlete on the frames sampled at the lower semantic rate; at the end of the clip
   it cleans the tracks up (short ones dropped, fragments stitched) and builds the ball track.
2. :func:`attribute_clip` reads team and jersey number from those crops (semantic rate).
3. :func:`vote_clip` turns per-observation labels into one consensus per tracklet, with the
   fraction of votes that agree, and joins the tracklets of one athlete by team and jersey.
4. :func:`layout_clip` lays everything out as the shard's Arrow tables, through the one codec
   (:mod:`soccerfactory.curation.layout`), with the shard's identity in the ``clips`` row.

Stages declare what they need and produce (:mod:`~soccerfactory.curation.chain`, re-exported
here); :func:`validate_chain` checks a chain before any model is loaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np
import pyarrow as pa

from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.attribute.jersey import JerseyReader, jersey_consensus
from soccerfactory.curation.attribute.jersey_reading import read_tracklets
from soccerfactory.curation.attribute.flags import flag_columns, short_tracks
from soccerfactory.curation.attribute.kits import TeamKits
from soccerfactory.curation.attribute.relational import RoleRules, clip_kits, decide_roles, role_columns, tracklet_flags
from soccerfactory.curation.attribute.team import TeamClassifier
from soccerfactory.curation.calibration.results import CalibrationResult, pitch_position, pitch_position_uncertainty
from soccerfactory.curation.calibration.view import FrameViews
from soccerfactory.curation.calibration.view_classify import ViewEvidence, classify_views, frame_evidence, with_cameras
from soccerfactory.curation.chain import STAGE_SPECS, ChainError, StageSpec, validate_chain
from soccerfactory.curation.config import AttributeConfig, CalibrateConfig, DecodeConfig, VoteConfig
from soccerfactory.curation.detection.ball import follow_ball
from soccerfactory.curation.detection.detector import Detector
from soccerfactory.curation.layout import ShardIdentity, shard_tables
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.refine import Refiner
from soccerfactory.curation.tracking.jersey_split import split_tracklets
from soccerfactory.curation.tracking.trackers import Tracker
from soccerfactory.curation.tracking.tracklets import link_by_jersey as join_tracklets
from soccerfactory.curation.tracking.tracklets import relabel_tracks
from soccerfactory.curation.types import BALL, Detections, Frames, Tracks
from soccerfactory.curation.video.clips import ClipSpec, semantic_frames
from soccerfactory.curation.video.decode import read_frames
from soccerfactory.curation.vote import AthleteLabels, broadcast, vote_tracklets

__all__ = [
    "STAGE_SPECS",
    "ChainError",
    "ClipStages",
    "SpatialResult",
    "Attributes",
    "StageSpec",
    "annotate_spatial",
    "attribute_clip",
    "layout_clip",
    "validate_chain",
    "vote_clip",
]


# --------------------------------------------------------------------------- backends of one run


class _TrackerFactory(Protocol):
    def __call__(self, fps: float) -> Tracker: ...


@dataclasses.dataclass(frozen=True)
class ClipStages:
    """The loaded backends of a run. Stateless ones are shared; stateful ones (tracker, calibrator,
    which carry a prior from frame to frame) are made fresh for every clip by their factories."""

    detector: Detector
    new_tracker: _TrackerFactory
    new_calibrator: Callable[[], Callable[[Frames], list[CalibrationResult]]] | None
    refiner: Refiner | None
    team_classifier: TeamClassifier
    jersey_reader: JerseyReader
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Second pass for the ball in slices of frames whose full-frame pass found none.
    ball_slicer: Callable[[Frames, Detections], Detections] | None = None
    #: Keyword arguments of :func:`~soccerfactory.curation.detection.ball.follow_ball` (gap, speed).
    ball_tracking: Mapping[str, float] = dataclasses.field(default_factory=dict)
    #: Track clean-up over the whole clip (short tracks dropped, fragments stitched).
    postprocess_tracks: Callable[[Tracks, float, int], dict[int, int]] | None = None


# --------------------------------------------------------------------------- step 1: spatial


@dataclasses.dataclass(frozen=True)
class SpatialResult:
    """Everything the source-rate pass found in one clip.

    Attributes:
        clip: The clip.
        frame_index: ``int64`` ``(F,)`` every processed frame (source indices).
        tracks: Tracked athletes, xyxy in source pixels; ``data`` holds ``det_index`` and, when the
            refiner ran, ``mask_rle`` (object, JSON str or None), ``refined_xyxy`` ``(N, 4)`` float32
            and ``mask_score`` ``(N,)`` float32; and ``pitch_xy`` ``(N, 2)`` float32 metres with
            ``pitch_sigma_m`` ``(N,)`` float32, its one-sigma radius (NaN without a valid camera).
        ball: The ball track (:func:`~soccerfactory.curation.detection.ball.follow_ball`): at most one ball
            per frame, ``data["interpolated"]`` (bool) for boxes filled in over short gaps, and
            ``pitch_xy``.
        calibrations: One result per processed frame (empty when calibration is off).
        crops: Crops of tracked athletes on the semantic frames and on the jersey frames.
        crop_pitch_x: ``float32`` ``(len(crops),)`` pitch x of each crop's athlete (NaN unknown).
        semantic_frame_index: ``int64`` frames sampled for team colours (``decode.semantic_fps``).
        seconds: Wall time of the pass.
        stage_seconds: Wall time per stage (decode, detect, track, refine, calibrate).
        views: The view class of every processed frame, None when not classified.
        jersey_frame_index: ``int64`` frames sampled for jersey numbers (``decode.jersey_fps``);
            None: the semantic frames (results made before the two rates were told apart).
    """

    clip: ClipSpec
    frame_index: np.ndarray
    tracks: Tracks
    ball: Detections
    calibrations: tuple[CalibrationResult, ...]
    crops: AthleteCrops
    crop_pitch_x: np.ndarray
    semantic_frame_index: np.ndarray
    seconds: float
    stage_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    views: FrameViews | None = None
    jersey_frame_index: np.ndarray | None = None

    @property
    def jersey_frames(self) -> np.ndarray:
        """``int64`` frames whose crops are read for jersey numbers."""
        return self.semantic_frame_index if self.jersey_frame_index is None else self.jersey_frame_index

    @property
    def n_frames(self) -> int:
        return int(self.frame_index.size)


class _StageTimer:
    """Accumulates wall time per stage name, for the run summary and the benchmarks."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started


def _pitch_xy(xyxy: np.ndarray, frame_index: np.ndarray, by_frame: dict[int, CalibrationResult]) -> np.ndarray:
    return _pitch_xy_sigma(xyxy, frame_index, by_frame)[0]


def _pitch_xy_sigma(xyxy: np.ndarray, frame_index: np.ndarray, by_frame: dict[int, CalibrationResult]) -> tuple[np.ndarray, np.ndarray]:
    """Pitch positions ``(N, 2)`` and their one-sigma radius ``(N,)``, metres (NaN without a camera)."""
    out = np.full((len(xyxy), 2), np.nan, dtype=np.float32)
    sigma = np.full(len(xyxy), np.nan, dtype=np.float32)
    for frame in np.unique(frame_index).tolist():
        result = by_frame.get(frame)
        if result is None or not result.valid:
            continue
        rows = np.flatnonzero(frame_index == frame)
        out[rows] = pitch_position(result, xyxy[rows])
        sigma[rows] = pitch_position_uncertainty(result, xyxy[rows])
    return out, sigma


def _drop_positions(tracks: Tracks, crops: AthleteCrops, crop_x: np.ndarray, frames: Sequence[int]) -> tuple[Tracks, np.ndarray]:
    """NaN pitch positions (and their sigma) of the track rows and crops on ``frames``."""
    if not len(frames):
        return tracks, crop_x
    if len(tracks) and "pitch_xy" in tracks.data:
        rows = np.isin(tracks.frame_index, frames)
        xy = np.array(tracks.data["pitch_xy"], dtype=np.float32, copy=True)
        sigma = np.array(tracks.data["pitch_sigma_m"], dtype=np.float32, copy=True)
        xy[rows], sigma[rows] = np.nan, np.nan
        tracks = tracks.with_data(pitch_xy=xy, pitch_sigma_m=sigma)
    crop_x = np.array(crop_x, dtype=np.float32, copy=True)
    crop_x[np.isin(crops.frame_index, frames)] = np.nan
    return tracks, crop_x


def _place_positions(
    tracks: Tracks, crops: AthleteCrops, crop_x: np.ndarray, by_frame: dict[int, CalibrationResult]
) -> tuple[Tracks, np.ndarray]:
    """Pitch positions (and sigma) of the track rows and crops on the frames of ``by_frame``, from
    those frames' (backfilled) cameras."""
    if not len(tracks) or "pitch_xy" not in tracks.data:
        return tracks, crop_x
    rows = np.flatnonzero(np.isin(tracks.frame_index, list(by_frame)))
    xy = np.array(tracks.data["pitch_xy"], dtype=np.float32, copy=True)
    sigma = np.array(tracks.data["pitch_sigma_m"], dtype=np.float32, copy=True)
    xy[rows], sigma[rows] = _pitch_xy_sigma(tracks.xyxy[rows], tracks.frame_index[rows], by_frame)
    row_of = dict(zip(zip(tracks.frame_index[rows].tolist(), tracks.track_id[rows].tolist()), rows.tolist()))
    crop_x = np.array(crop_x, dtype=np.float32, copy=True)
    for k, key in enumerate(zip(crops.frame_index.tolist(), crops.track_id.tolist())):
        if key in row_of:
            crop_x[k] = xy[row_of[key], 0]
    return tracks.with_data(pitch_xy=xy, pitch_sigma_m=sigma), crop_x


def _sampled_frames(clip: ClipSpec, fps: float) -> set[int]:
    """Frames sampled at ``fps``, half a period in: a clip's first frames have no confirmed tracks
    yet (trackers wait a few frames before reporting one), so sampling frame 0 would waste a sample."""
    shift = int(round(clip.fps / fps / 2))
    return {min(f + shift, clip.stop_frame - 1) for f in semantic_frames(clip, fps).tolist()}


def _merge(parts: list[Detections], empty: Detections) -> Detections:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty
    return type(parts[0]).merge(parts)


def annotate_spatial(
    clip: ClipSpec,
    stages: ClipStages,
    decode: DecodeConfig,
    *,
    storage_options: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
    calibrate: CalibrateConfig,
) -> SpatialResult:
    """Decode ``clip`` once and run the source-rate stages over it in batches.

    Every processed frame gets its view (:func:`~soccerfactory.curation.calibration.view_classify.classify_views`:
    main, zoomed, close-up or other, from its grass, athlete boxes and calibration evidence,
    smoothed over the shot). Cameras the evidence does not support are refused (invalid, with the
    reason), and so are, with ``calibrate.non_main_positions == "drop"``, the cameras of frames
    that are not main or zoomed: athletes, crops and ball on those frames keep their boxes and
    identities but get NaN pitch positions. With calibration off, views rest on grass and boxes.

    Args:
        clip: The clip to annotate.
        stages: Loaded backends; a fresh tracker (and calibrator) is made for this clip.
        decode: ``batch_size`` (frames decoded and detected together), ``spatial_stride`` (every
            n-th frame; 1 = the source rate), ``semantic_fps`` (rate at which crops are kept for
            team colours) and ``jersey_fps`` (rate at which they are kept for jersey numbers); the
            config's section, the one place their defaults are stated.
        storage_options: fsspec options for remote sources.
        progress: Called as ``progress(frames_done, frames_total)`` after every batch.
        calibrate: The ``calibrate`` section: the view rules (``view_*``), ``non_main_positions``
            and the pitch (required: a caller that forgot it would silently ignore the user's
            settings).

    Raises:
        BadInputError: when the clip cannot be decoded (names the file and frame).
    """
    batch_size, stride, semantic_fps = decode.batch_size, decode.spatial_stride, decode.semantic_fps
    started = time.perf_counter()
    # Trackers age tracks in steps, so they need the rate they are fed at, not the source rate.
    tracker = stages.new_tracker(fps=clip.fps / stride)
    calibrator = stages.new_calibrator() if stages.new_calibrator is not None else None
    sampled = _sampled_frames(clip, semantic_fps)
    jersey_sampled = _sampled_frames(clip, decode.jersey_fps)
    cropped = list(sampled | jersey_sampled)
    total = len(range(clip.start_frame, clip.stop_frame, stride))

    frame_parts, track_parts, ball_parts, crop_parts, crop_pitch_x, athlete_parts = [], [], [], [], [], []
    calibrations: list[CalibrationResult] = []
    pitch = PitchModel(length=calibrate.pitch_length, width=calibrate.pitch_width)
    evidence_parts: list[ViewEvidence] = []
    done = 0
    timer = _StageTimer()
    frames_iter = iter(read_frames(clip, batch_size=batch_size, stride=stride, storage_options=storage_options))
    while True:
        with timer("decode"):
            frames = next(frames_iter, None)
        if frames is None:
            break
        with timer("detect"):
            detections = stages.detector(frames)
        if stages.ball_slicer is not None:
            with timer("ball_slices"):
                detections = stages.ball_slicer(frames, detections)
        is_ball = detections.class_id == BALL
        with timer("track"):
            tracks = tracker.update(frames, detections[~is_ball])
        if stages.refiner is not None and len(tracks):
            with timer("refine"):
                tracks = stages.refiner(frames, tracks)
        by_frame: dict[int, CalibrationResult] = {}
        if calibrator is not None:
            with timer("calibrate"):
                results = calibrator(frames)
            calibrations.extend(results)
            by_frame = dict(zip(frames.frame_index.tolist(), results))
        with timer("views"):
            evidence_parts.append(frame_evidence(frames, results if calibrator is not None else None, detections[~is_ball], pitch))
        pitch_xy, pitch_sigma = _pitch_xy_sigma(tracks.xyxy, tracks.frame_index, by_frame)
        tracks = tracks.with_data(pitch_xy=pitch_xy, pitch_sigma_m=pitch_sigma)

        keep = np.isin(frames.frame_index, cropped)
        if keep.any() and len(tracks):
            chosen = frames[keep]
            rows = np.isin(tracks.frame_index, chosen.frame_index)
            masks = tracks.data.get("mask_rle")
            sampled_tracks = tracks[rows]
            crops = AthleteCrops.from_frames(chosen, sampled_tracks, None if masks is None else list(masks[rows]))
            crop_parts.append(crops)
            # Goalkeepers are told apart by the side they defend, so crops carry their pitch x.
            crop_pitch_x.append(np.asarray(sampled_tracks.data["pitch_xy"], dtype=np.float32)[crops.source_row, 0])
        frame_parts.append(frames.frame_index.copy())
        track_parts.append(tracks)
        ball_parts.append(detections[is_ball])
        athlete_parts.append(detections[~is_ball])
        done += len(frames)
        if progress is not None:
            progress(done, total)

    frame_index = np.concatenate(frame_parts) if frame_parts else np.zeros(0, dtype=np.int64)
    tracks = _merge(track_parts, Tracks.empty())
    crops = AthleteCrops.concat(crop_parts) if crop_parts else AthleteCrops.empty()
    crop_x = np.concatenate(crop_pitch_x) if crop_pitch_x else np.zeros(0, dtype=np.float32)
    evidence = ViewEvidence.concat(evidence_parts)
    if calibrator is not None and (filled := getattr(calibrator, "take_backfilled", dict)()):
        # Cameras carried back over frames that had none (calibrate.backfill_frames); gated below like all.
        calibrations = [filled.get(f, r) for f, r in zip(frame_index.tolist(), calibrations)]
        evidence = with_cameras(evidence, filled, _merge(athlete_parts, Detections.empty()), pitch)
        tracks, crop_x = _place_positions(tracks, crops, crop_x, filled)
    with timer("views"):
        views, gated = classify_views(evidence, calibrations if calibrator is not None else None, calibrate.view_rules())
        # Refusing only ever removes a camera, so positions on frames that keep theirs stand.
        refused = [f for f, before, after in zip(frame_index.tolist(), calibrations, gated) if before.valid and not after.valid]
        calibrations = list(gated)
        tracks, crop_x = _drop_positions(tracks, crops, crop_x, refused)
    # One calibration per processed frame, in order (none when calibration is off).
    calibrated = dict(zip(frame_index.tolist(), calibrations))
    if stages.postprocess_tracks is not None and len(tracks):
        with timer("postprocess"):
            mapping = stages.postprocess_tracks(tracks, clip.fps / stride, clip.width)
            tracks = relabel_tracks(tracks, mapping)  # type: ignore[arg-type]
            kept = np.flatnonzero(np.isin(crops.track_id, list(mapping)))
            crops = crops[kept]
            crops = dataclasses.replace(crops, track_id=np.array([mapping[t] for t in crops.track_id.tolist()], dtype=np.int64))
            crop_x = crop_x[kept]
    with timer("ball_track"):
        ball = follow_ball(_merge(ball_parts, Detections.empty()), fps=clip.fps, frame_width=clip.width, frame_step=stride, **stages.ball_tracking)
        ball = ball.with_data(pitch_xy=_pitch_xy(ball.xyxy, ball.frame_index, calibrated))
    return SpatialResult(
        clip=clip,
        frame_index=frame_index,
        tracks=tracks,  # type: ignore[arg-type]
        ball=ball,
        calibrations=tuple(calibrations),
        crops=crops,
        crop_pitch_x=crop_x,
        semantic_frame_index=np.array(sorted(sampled), dtype=np.int64),
        jersey_frame_index=np.array(sorted(jersey_sampled), dtype=np.int64),
        stage_seconds=dict(timer.seconds),
        seconds=time.perf_counter() - started,
        views=views,
    )


# --------------------------------------------------------------------------- step 2: attribute


@dataclasses.dataclass(frozen=True)
class Attributes:
    """Per-crop observations: team per team-colour crop, jersey per crop offered to the reader.

    Attributes:
        track_id: ``int64`` ``(N,)`` tracklet of each team-colour crop.
        team: object ``(N,)`` ``"A"`` / ``"B"`` / None; team_confidence ``float32`` ``(N,)``.
        jersey: ``int32`` ``(M,)``, ``-1`` = not legible; jersey_confidence ``float32`` ``(M,)``.
        seconds: Wall time.
        kits: The clip's two kits (colours, sides), None when no teams were found.
        kit_distance: ``float32`` ``(N, 2)`` distance of each crop's shirt to kit A and kit B, in
            units of each kit's spread (NaN without a shirt colour); None without kit models.
        jersey_track_id: ``int64`` ``(M,)`` tracklet of each jersey read; None: the reads are
            aligned with ``track_id`` (``M == N``).
        jersey_frame_index: ``int64`` ``(M,)`` frame of each jersey read, or None (one read per
            tracklet and frame).
        jersey_seconds: Wall time of the jersey reading (part of ``seconds``).
        frame_index: ``int64`` ``(N,)`` frame of each team-colour crop, or None (unknown: a
            tracklet cannot be cut by its jersey reads).
    """

    track_id: np.ndarray
    team: np.ndarray
    team_confidence: np.ndarray
    jersey: np.ndarray
    jersey_confidence: np.ndarray
    seconds: float
    kits: TeamKits | None = None
    kit_distance: np.ndarray | None = None
    jersey_track_id: np.ndarray | None = None
    jersey_frame_index: np.ndarray | None = None
    jersey_seconds: float = 0.0
    frame_index: np.ndarray | None = None

    @property
    def jersey_tracks(self) -> np.ndarray:
        """``int64`` ``(M,)`` tracklet of each jersey read."""
        return self.track_id if self.jersey_track_id is None else self.jersey_track_id


def _limit_per_track(crops: AthleteCrops, limit: int) -> np.ndarray:
    """Row indices keeping at most ``limit`` crops per track, spread over its life."""
    keep = []
    for track in np.unique(crops.track_id):
        rows = np.flatnonzero(crops.track_id == track)
        if rows.size > limit:
            rows = rows[np.linspace(0, rows.size - 1, limit).round().astype(int)]
        keep.append(rows)
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)


def attribute_clip(spatial: SpatialResult, stages: ClipStages, attribute: AttributeConfig) -> Attributes:
    """Read team colours and jersey numbers from the crops of one clip, and fit its two kits.

    Team colours come from the crops of the semantic frames, at most
    ``attribute.max_crops_per_track`` per tracklet. The kits
    (:func:`~soccerfactory.curation.attribute.relational.clip_kits`) come from the team
    classifier's clusters (``attribute.kit_min_spread``, ``kit_outlier``); their colours and the
    side team A defends (``attribute.side_min_gap_m``) go to ``Attributes.kits``, each crop's
    distance to both kits to ``Attributes.kit_distance``, which :func:`vote_clip` decides roles on.
    Jersey numbers are read on the crops of the jersey frames, tracklet by tracklet until each is
    settled (:func:`~soccerfactory.curation.attribute.jersey_reading.read_tracklets`:
    ``attribute.jersey_settle_reads``, ``jersey_max_crops_per_track``).
    """
    started = time.perf_counter()
    everything = spatial.crops
    team_rows = np.flatnonzero(np.isin(everything.frame_index, spatial.semantic_frame_index))
    rows = team_rows[_limit_per_track(everything[team_rows], attribute.max_crops_per_track)]
    crops = everything[rows]
    jersey_started = time.perf_counter()
    jersey_crops = everything[np.flatnonzero(np.isin(everything.frame_index, spatial.jersey_frames))]
    reads = read_tracklets(
        stages.jersey_reader, jersey_crops, settle_reads=attribute.jersey_settle_reads,
        max_crops_per_track=attribute.jersey_max_crops_per_track,
    )
    jersey_seconds = time.perf_counter() - jersey_started
    jerseys = {
        "jersey": reads.number, "jersey_confidence": reads.confidence, "jersey_track_id": reads.track_id,
        "jersey_frame_index": reads.frame_index, "jersey_seconds": jersey_seconds,
    }
    if len(crops) == 0:
        empty_f = np.zeros(0, dtype=np.float32)
        return Attributes(
            np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object), empty_f, seconds=time.perf_counter() - started, **jerseys
        )
    pitch_x = spatial.crop_pitch_x[rows]
    teams = stages.team_classifier.fit_predict(crops, pitch_x=pitch_x if np.isfinite(pitch_x).any() else None)
    kit_distance, kits = None, None
    if teams.colours is not None:  # a classifier that measures no colour gives no kit models
        kit_distance, kits = clip_kits(
            teams.colours, teams.team, crops.track_id, pitch_x, attribute.kit_min_spread, attribute.kit_member,
            attribute.kit_outlier, attribute.side_min_gap_m, attribute.kit_min_people,
        )
        if kits is None:  # no two kits worn by enough people: the clip's team letters mean nothing
            teams = dataclasses.replace(teams, team=np.full(len(crops), None, dtype=object), confidence=np.zeros(len(crops), np.float32))
    return Attributes(
        track_id=crops.track_id,
        team=np.asarray(teams.team, dtype=object),
        team_confidence=np.asarray(teams.confidence, dtype=np.float32),
        seconds=time.perf_counter() - started,
        kits=kits,
        kit_distance=kit_distance,
        frame_index=np.asarray(crops.frame_index, dtype=np.int64),
        **jerseys,
    )


# --------------------------------------------------------------------------- step 3: vote


def vote_clip(
    spatial: SpatialResult, attributes: Attributes, attribute: AttributeConfig, vote: VoteConfig, *, pitch: PitchModel | None = None
) -> AthleteLabels:
    """Vote attributes over each tracklet: the labels of every athlete row of the clip.

    Jersey votes come from the semantic crops, weighted by their confidence. Role and team are
    decided per tracklet relationally (:func:`~soccerfactory.curation.attribute.relational.decide_roles`):
    off the pitch -> ``other``; in neither team's kit -> goalkeeper near a goal, else referee; in a
    kit -> a player of that team unless the detector's confidence-weighted class votes strongly
    say otherwise; without kit evidence, the detector's votes; people in neither kit beside the
    lines who cannot be assistant referees -> ``other``. The side each team defends is named from
    the players decided (``attribute.side_min_gap_m``), which places the goalkeepers; the labels'
    ``kits`` carry it. Each row carries its tracklet's decision, ``role_reason`` and ``flags`` /
    ``flag_reason`` (duplicate, off-pitch, role-kit, short).

    Args:
        attribute: ``jersey_min_confidence``: jersey reads below it are not votes;
            ``jersey_min_reads`` / ``jersey_min_share``: the consistency rule of
            :func:`~soccerfactory.curation.attribute.jersey.jersey_consensus` (a tracklet's number
            needs that many agreeing reads in different frames, holding that share of the weight).
        vote: ``min_votes``: tracklets with fewer votes keep a null consensus; ``link_by_jersey``:
            give tracklets of one athlete (same voted team and number, never in the same frame)
            one ``track_id`` (:func:`~soccerfactory.curation.tracking.tracklets.link_by_jersey`);
            the tracker's own id stays in ``tracklet_id``; the role thresholds (see
            :class:`~soccerfactory.curation.attribute.relational.RoleRules`); ``short_track_s``.
        pitch: The pitch of ``calibrate.pitch_length`` / ``pitch_width``; None = no position
            evidence (nobody is called off the pitch, goalkeepers are not placed by area).

    Returns:
        The labels, row-aligned with ``spatial.tracks``; :func:`layout_clip` lays them out.
    """
    jersey_min_confidence, min_votes, link_by_jersey = attribute.jersey_min_confidence, vote.min_votes, vote.link_by_jersey
    tracks = spatial.tracks
    if vote.split_by_jersey:
        tracks, attributes = _split_by_jersey(tracks, attributes, vote, jersey_min_confidence, attribute.jersey_min_reads)
    track_rows = tracks.track_id if tracks.track_id is not None else np.zeros(0, dtype=np.int64)

    team_obs = np.asarray(attributes.team, dtype=object)
    team_votes = vote_tracklets(attributes.track_id, team_obs, attributes.team_confidence)
    # A number counts only when attribute.jersey_min_reads reads (one crop per tracklet and frame,
    # so different frames) agree and carry attribute.jersey_min_share of the read weight.
    jersey_votes = jersey_consensus(
        attributes.jersey_tracks, attributes.jersey, attributes.jersey_confidence, jersey_min_confidence,
        attribute.jersey_min_reads, attribute.jersey_min_share, frame_index=attributes.jersey_frame_index,
    )
    rules = RoleRules(
        kit_member=attribute.kit_member, kit_outlier=attribute.kit_outlier, kit_min_crops=vote.kit_min_crops,
        detector_override=vote.role_detector_override, min_positioned_rows=vote.min_positioned_rows,
        off_pitch_margin_m=vote.off_pitch_margin_m, off_pitch_sigmas=vote.off_pitch_sigmas,
        off_pitch_share=vote.off_pitch_share, goalkeeper_area_share=vote.goalkeeper_area_share,
        goalkeeper_area_margin_m=vote.goalkeeper_area_margin_m, min_votes=min_votes, side_min_gap_m=attribute.side_min_gap_m,
        kit_min_people=attribute.kit_min_people,
    )
    decisions = decide_roles(tracks, attributes.track_id, attributes.kit_distance, team_votes, attributes.kits, pitch, rules)
    decided = role_columns(decisions, track_rows)
    role, role_agreement, team, team_agreement = (decided[k] for k in ("role", "role_agreement", "team", "team_agreement"))
    jersey, jersey_agreement, jersey_n = broadcast(jersey_votes, track_rows)
    jersey = np.array([j if n >= min_votes else None for j, n in zip(jersey, jersey_n)], dtype=object)
    tracklet_rows = track_rows
    if link_by_jersey:
        track_rows = join_tracklets(tracklet_rows, tracks.frame_index, team, jersey, role)
    track_length = np.zeros(len(tracks), dtype=np.int32)
    if len(tracks):
        _, inverse, counts = np.unique(track_rows, return_inverse=True, return_counts=True)
        track_length = counts[inverse].astype(np.int32)
    # Off-pitch, role-kit and duplicate belong to the tracklet; short to the (joined) track.
    flagged = {**tracklet_flags(decisions, tracks), "short": short_tracks(track_rows, tracks.frame_index, spatial.clip.fps, vote.short_track_s)}
    keys = {name: (track_rows if name == "short" else tracklet_rows) for name in flagged}
    flags, flag_reason = flag_columns(keys, flagged)

    return AthleteLabels(
        track_id=track_rows, tracklet_id=tracklet_rows, team=team, team_agreement=team_agreement, role=role,
        role_agreement=role_agreement, jersey=jersey, jersey_agreement=jersey_agreement,
        jersey_votes=np.asarray(jersey_n, dtype=np.int32), track_length=track_length, kits=decisions.kits,
        role_reason=decided["role_reason"], flags=flags, flag_reason=flag_reason,
    )


def _split_by_jersey(tracks: Tracks, attributes: Attributes, vote: VoteConfig, min_confidence: float, min_reads: int) -> tuple[Tracks, Attributes]:
    """Cut tracklets where the reads show an identity switch (and, with ``vote.crossing_iou``,
    at crossings outside their reads): :func:`~soccerfactory.curation.tracking.jersey_split.split_tracklets`."""
    read_frames = attributes.jersey_frame_index if attributes.jersey_frame_index is not None else attributes.frame_index
    if attributes.frame_index is None or read_frames is None:
        return tracks, attributes
    rows, crops, reads = split_tracklets(
        tracks.track_id, tracks.frame_index, tracks.xyxy, attributes.track_id, attributes.frame_index, attributes.jersey_tracks,
        read_frames, attributes.jersey, attributes.jersey_confidence, min_confidence, min_reads, vote.crossing_iou,
    )
    return dataclasses.replace(tracks, track_id=rows), dataclasses.replace(attributes, track_id=crops, jersey_track_id=reads)


# --------------------------------------------------------------------------- step 4: tables


def layout_clip(spatial: SpatialResult, labels: AthleteLabels, identity: ShardIdentity | None = None) -> dict[str, pa.Table]:
    """Lay the clip out as the shard's tables (:func:`~soccerfactory.curation.layout.shard_tables`).

    Args:
        spatial: The clip's source-rate result.
        labels: :func:`vote_clip`'s labels of its athlete rows.
        identity: The shard's identity for the ``clips`` row; None for tables that are measured,
            not written (empty strings there).

    Returns:
        ``clips``, ``frames``, ``athletes``, ``ball``, ``cameras`` and ``events`` tables, matching
        :data:`soccerfactory.storage.schemas.SHARD_SCHEMAS`.
    """
    return shard_tables(
        spatial.clip, frame_index=spatial.frame_index, tracks=spatial.tracks, labels=labels, ball=spatial.ball,
        calibrations=spatial.calibrations, semantic_frame_index=spatial.semantic_frame_index, identity=identity,
        views=spatial.views,
    )
