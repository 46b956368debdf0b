"""Step 1 of a clip, :func:`annotate_spatial`: decode it once and run the source-rate stages over it.

The stages run as a bounded pipeline over batches of frames (``decode.batch_size``), so that on two
CPU cores (or a GPU and the CPU beside it) no stage waits for another that it does not depend on:

* a **decode** thread reads batches ahead into a queue of :data:`DECODE_AHEAD` (OpenCV/FFmpeg
  release the GIL while decoding);
* the caller's thread **detects** (the detector uses torch's intra-op threads), looks again for
  the ball in slices, **tracks** and **refines**: the tracker and the ball search carry state
  from frame to frame, so they see the batches strictly in frame order, on one thread;
* a **calibrate** thread solves the cameras of batch k (the keypoint model, OpenCV and numpy,
  mostly outside the GIL) while the detector works on batch k+1; it too sees the batches in
  order, one at a time (the calibrator tracks the camera), and may fall :data:`CALIBRATE_LAG`
  batches behind before the detector waits for it;
* the caller's thread then **finishes** each batch in order: views, pitch positions, crops.

No stage reads another's output except through these hand-overs, so the labels are those of the
sequential loop (``pipelined=False``), frame for frame. At most ``DECODE_AHEAD + CALIBRATE_LAG + 2``
batches of frames are alive at a time, whatever the clip's length. An error in any thread stops
the others and surfaces in the caller with its own type (a decoding failure stays the
:class:`~soccerfactory.curation.video.checks.BadInputError` naming the file and frame), noted with
the clip and frames it happened on.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.attribute.jersey import JerseyReader
from soccerfactory.curation.attribute.team import TeamClassifier
from soccerfactory.curation.calibration.propagate import propagate_and_gate
from soccerfactory.curation.calibration.results import CalibrationResult, pitch_position, pitch_position_uncertainty
from soccerfactory.curation.calibration.view import FrameViews
from soccerfactory.curation.calibration.view_classify import ViewEvidence, classify_views, frame_evidence, with_cameras
from soccerfactory.curation.config import CalibrateConfig, DecodeConfig
from soccerfactory.curation.detection.ball import follow_ball
from soccerfactory.curation.detection.detector import Detector
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.refine import Refiner
from soccerfactory.curation.tracking.shot_appearance import with_crop_embeddings
from soccerfactory.curation.tracking.trackers import Tracker
from soccerfactory.curation.tracking.tracklets import relabel_tracks
from soccerfactory.curation.types import BALL, Detections, Frames, Tracks
from soccerfactory.curation.video.clips import ClipSpec, semantic_frames
from soccerfactory.curation.video.decode import read_frames

__all__ = ["CALIBRATE_LAG", "DECODE_AHEAD", "ClipStages", "SpatialResult", "annotate_spatial"]

#: Batches decoded ahead of the detector. Decoding 720p costs ~3 ms a frame against ~500 ms of
#: detection on two CPU cores, so one batch ahead hides it; two absorb a slow seek or a remote read.
DECODE_AHEAD = 2
#: Batches the calibrator may fall behind the detector. One lets it start batch k+1 while batch k
#: is finished (on a GPU the detector is the faster stage and the calibrator the one to keep busy).
CALIBRATE_LAG = 1


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
    #: ReID embedder of the kept crops (``track.appearance_embeddings``): ``athletes.appearance``.
    reid: Any = None
    #: Full-frame boxes below this confidence (the detector runs lower, ``detect.track_conf``) go to
    #: the tracker only, to extend its tracks; views, cameras, motion and the ball see the rest.
    keep_conf: float = 0.0


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
        stage_seconds: Wall time per stage (decode, detect, ball_slices, track, refine, calibrate,
            views, ...), each measured in the thread that ran it; with the pipeline on, also
            ``decode_wait`` / ``calibrate_wait`` (the detector's thread waiting for a decoded
            batch / a batch's cameras) and ``wall`` (the whole pass, as ``seconds``).
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
    """Accumulates wall time per stage name, for the run summary and the benchmarks.

    Thread-safe: with the pipeline on, decode and calibrate are timed in their own threads, so
    each stage's figure is the wall time that stage itself took (the stages overlap, and their
    sum exceeds the clip's wall time by what the overlap saved).
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def __call__(self, stage: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed


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


def _crop_rows(frame_index: np.ndarray, track_id: np.ndarray, sampled: set[int] | np.ndarray, last: dict[int, int], gap: int) -> np.ndarray:
    """``bool`` ``(N,)``: the rows of a batch (or of a whole clip, in frame order) to crop.

    Every row of a sampled frame, and the row of a track that has had no crop for more than
    ``gap`` frames (or none yet) on any other frame: a tracklet that lives between the sampled
    frames, or is hidden on them, still gets a shirt colour. On dev seeds 400-403 (crops at 1 fps)
    3 of the 350 tracks of a known team had no crop at all and 3 had one; all 6 were refused a
    team (of 10 refused). With these crops (and
    :func:`~soccerfactory.curation.attribute.team.team_crop_rows`) none was, for 30 % more crops
    (1,668 -> 2,163 over 31 clips).

    Args:
        frame_index: ``int64`` ``(N,)`` frame of each row.
        track_id: ``int64`` ``(N,)`` track of each row.
        sampled: The sampled frames (every row cropped).
        last: ``{track id: frame of its last crop}``, updated in place (carried across batches).
        gap: Most frames a track goes without a crop.
    """
    frame_index = np.asarray(frame_index, dtype=np.int64).reshape(-1)
    track_id = np.asarray(track_id, dtype=np.int64).reshape(-1)
    out = np.isin(frame_index, np.fromiter(sampled, dtype=np.int64) if isinstance(sampled, set) else sampled)
    for f in np.unique(frame_index).tolist():
        rows = np.flatnonzero(frame_index == f)
        for row in rows.tolist():
            t = int(track_id[row])
            if not out[row] and f - last.get(t, -(1 << 62)) > gap:
                out[row] = True
            if out[row]:
                last[t] = f
    return out


def _merge(parts: list[Detections], empty: Detections) -> Detections:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty
    return type(parts[0]).merge(parts)


class _End:
    """The decode thread's last item: the clip is read (``error`` None) or failed with ``error``."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class _DecodeAhead:
    """Batches of ``batches`` decoded on a thread into a queue of at most ``depth``, yielded in order.

    The decoder's own exception is re-raised in the iterating thread, unchanged. :meth:`close`
    stops the thread (it never blocks on a full queue once told to stop) and closes ``batches``
    in the thread that ran it, so the capture is released and a local copy removed.
    """

    def __init__(self, batches: Iterator[Frames], depth: int, timer: _StageTimer) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._timer = timer
        # In a copy of the caller's context: a remote clip is opened here, with the run's storage
        # secrets, which live in a context variable (storage/fs_secrets.py), not in fsspec's config.
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run, batches),
                                        name="soccerfactory-decode", daemon=True)
        self._thread.start()

    def _run(self, batches: Iterator[Frames]) -> None:
        try:
            while True:
                with self._timer("decode"):
                    frames = next(batches, None)
                if frames is None:
                    self._put(_End())
                    return
                if not self._put(frames):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            self._put(_End(error))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    def _put(self, item: Frames | _End) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Frames]:
        while True:
            with self._timer("decode_wait"):
                item = self._queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        while not self._queue.empty():
            self._queue.get_nowait()


def _timed(batches: Iterator[Frames], timer: _StageTimer) -> Iterator[Frames]:
    """The sequential loop's decode: each batch read when asked for, timed."""
    while True:
        with timer("decode"):
            frames = next(batches, None)
        if frames is None:
            return
        yield frames


def _frames_note(clip: ClipSpec, frames: Frames) -> str:
    index = frames.frame_index
    return f"in clip {clip.clip_id} ({clip.url}), frames {int(index[0])}..{int(index[-1])}" if len(index) else f"in clip {clip.clip_id}"


class _ClipPass:
    """One clip's source-rate pass: the per-batch steps and what they add up to.

    :meth:`calibrate` and :meth:`detect` are independent of each other (the two threads of the
    pipeline); :meth:`finish` joins their outputs. Each of the three must see the batches in frame
    order, once each.
    """

    def __init__(self, clip: ClipSpec, stages: ClipStages, decode: DecodeConfig, calibrate: CalibrateConfig,
                 progress: Callable[[int, int], None] | None, timer: _StageTimer) -> None:
        stride = decode.spatial_stride
        self.clip, self.stages, self.progress, self.timer = clip, stages, progress, timer
        # Trackers age tracks in steps, so they need the rate they are fed at, not the source rate.
        self.tracker = stages.new_tracker(fps=clip.fps / stride)
        self.calibrator = stages.new_calibrator() if stages.new_calibrator is not None else None
        # The background's image motion, frame to frame, to carry cameras within the shot (calibrate.propagate).
        self.motion = calibrate.image_motion() if calibrate.propagate and self.calibrator is not None else None
        # The ball search remembers where the ball was (per clip); a plain callable is used as it is.
        slicer = stages.ball_slicer
        self.ball_slicer = slicer.for_clip() if slicer is not None and hasattr(slicer, "for_clip") else slicer
        self.sampled = _sampled_frames(clip, decode.semantic_fps)
        self.jersey_sampled = _sampled_frames(clip, decode.jersey_fps)
        self.cropped = np.array(sorted(self.sampled | self.jersey_sampled), dtype=np.int64)
        # Beside the sampled frames, a track goes at most one team-colour period without a crop.
        self.crop_gap = max(int(round(clip.fps / min(decode.semantic_fps, decode.jersey_fps))), 1)
        self.last_crop: dict[int, int] = {}
        self.total = len(range(clip.start_frame, clip.stop_frame, stride))
        self.pitch = PitchModel(length=calibrate.pitch_length, width=calibrate.pitch_width)
        self.frame_parts: list[np.ndarray] = []
        self.track_parts: list[Tracks] = []
        self.ball_parts: list[Detections] = []
        self.athlete_parts: list[Detections] = []
        self.crop_parts: list[AthleteCrops] = []
        self.crop_pitch_x: list[np.ndarray] = []
        self.evidence_parts: list[ViewEvidence] = []
        self.calibrations: list[CalibrationResult] = []
        self.done = 0

    def calibrate(self, frames: Frames) -> list[CalibrationResult]:
        """The cameras of one batch (the calibrator tracks the camera: batches in order)."""
        try:
            with self.timer("calibrate"):
                return self.calibrator(frames)  # type: ignore[misc]
        except Exception as error:
            error.add_note(f"calibrating {_frames_note(self.clip, frames)}")
            raise

    def detect(self, frames: Frames) -> tuple[Detections, Tracks]:
        """Detections (athletes and ball) and the tracked athletes of one batch, in frame order."""
        stages = self.stages
        try:
            with self.timer("detect"):
                detections = stages.detector(frames)
            trackable = detections[detections.class_id != BALL]
            detections = detections[detections.confidence >= stages.keep_conf]
            if self.ball_slicer is not None:
                with self.timer("ball_slices"):
                    detections = self.ball_slicer(frames, detections)
            with self.timer("track"):
                tracks = self.tracker.update(frames, trackable)
            if stages.refiner is not None and len(tracks):
                with self.timer("refine"):
                    tracks = stages.refiner(frames, tracks)
        except Exception as error:
            error.add_note(f"detecting and tracking {_frames_note(self.clip, frames)}")
            raise
        return detections, tracks

    def finish(self, frames: Frames, detections: Detections, tracks: Tracks, results: list[CalibrationResult] | None) -> None:
        """Views, pitch positions and crops of one batch; the batch's frames may be freed after."""
        is_ball = detections.class_id == BALL
        by_frame: dict[int, CalibrationResult] = {}
        if results is not None:
            self.calibrations.extend(results)
            by_frame = dict(zip(frames.frame_index.tolist(), results))
        with self.timer("views"):
            self.evidence_parts.append(frame_evidence(frames, results, detections[~is_ball], self.pitch))
        if self.motion is not None:
            with self.timer("motion"):
                self.motion.add(frames, detections[~is_ball])
        pitch_xy, pitch_sigma = _pitch_xy_sigma(tracks.xyxy, tracks.frame_index, by_frame)
        tracks = tracks.with_data(pitch_xy=pitch_xy, pitch_sigma_m=pitch_sigma)
        rows = _crop_rows(tracks.frame_index, tracks.track_id, self.cropped, self.last_crop, self.crop_gap) if len(tracks) else np.zeros(0, bool)
        if rows.any():
            chosen = frames[np.isin(frames.frame_index, tracks.frame_index[rows])]
            masks = tracks.data.get("mask_rle")
            sampled_tracks = tracks[rows]
            # Crops are copies (np.ascontiguousarray of a slice): they do not pin the batch.
            crops = AthleteCrops.from_frames(chosen, sampled_tracks, None if masks is None else list(masks[rows]))
            self.crop_parts.append(crops)
            # Goalkeepers are told apart by the side they defend, so crops carry their pitch x.
            self.crop_pitch_x.append(np.asarray(sampled_tracks.data["pitch_xy"], dtype=np.float32)[crops.source_row, 0])
        self.frame_parts.append(frames.frame_index.copy())
        self.track_parts.append(tracks)
        self.ball_parts.append(detections[is_ball])
        self.athlete_parts.append(detections[~is_ball])
        self.done += len(frames)
        if self.progress is not None:
            self.progress(self.done, self.total)


def _run_sequential(work: _ClipPass, batches: Iterator[Frames]) -> None:
    for frames in _timed(batches, work.timer):
        results = work.calibrate(frames) if work.calibrator is not None else None
        detections, tracks = work.detect(frames)
        work.finish(frames, detections, tracks, results)


def _run_pipelined(work: _ClipPass, batches: Iterator[Frames]) -> None:
    ahead = _DecodeAhead(batches, DECODE_AHEAD, work.timer)
    # One worker: the calibrator's batches run one at a time, in the order they were submitted.
    pool = ThreadPoolExecutor(1, thread_name_prefix="soccerfactory-calibrate") if work.calibrator is not None else None
    pending: deque[tuple[Frames, Detections, Tracks, Future | None]] = deque()

    def finish_oldest() -> None:
        frames, detections, tracks, future = pending.popleft()
        results = None
        if future is not None:
            with work.timer("calibrate_wait"):
                results = future.result()
        work.finish(frames, detections, tracks, results)

    try:
        for frames in ahead:
            future = pool.submit(work.calibrate, frames) if pool is not None else None
            detections, tracks = work.detect(frames)
            pending.append((frames, detections, tracks, future))
            while len(pending) > CALIBRATE_LAG:
                finish_oldest()
        while pending:
            finish_oldest()
    finally:
        ahead.close()
        if pool is not None:
            # A failure above leaves queued batches: drop them, let the running one end.
            pool.shutdown(wait=True, cancel_futures=True)


def annotate_spatial(
    clip: ClipSpec,
    stages: ClipStages,
    decode: DecodeConfig,
    *,
    storage_options: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
    calibrate: CalibrateConfig,
    pipelined: bool = True,
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
        stages: Loaded backends; a fresh tracker (and calibrator, and ball search) is made for this clip.
        decode: ``batch_size`` (frames decoded and detected together), ``spatial_stride`` (every
            n-th frame; 1 = the source rate), ``semantic_fps`` (rate at which crops are kept for
            team colours) and ``jersey_fps`` (rate at which they are kept for jersey numbers); the
            config's section, the one place their defaults are stated.
        storage_options: fsspec options for remote sources.
        progress: Called as ``progress(frames_done, frames_total)`` after every batch.
        calibrate: The ``calibrate`` section: the view rules (``view_*``), ``non_main_positions``
            and the pitch (required: a caller that forgot it would silently ignore the user's
            settings).
        pipelined: Decode, detect-and-track and calibrate on three threads (the module's
            docstring); False runs them one after the other on the caller's thread. Same labels.

    Raises:
        BadInputError: when the clip cannot be decoded (names the file and frame).
    """
    started = time.perf_counter()
    stride = decode.spatial_stride
    timer = _StageTimer()
    work = _ClipPass(clip, stages, decode, calibrate, progress, timer)
    batches = iter(read_frames(clip, batch_size=decode.batch_size, stride=stride, storage_options=storage_options))
    (_run_pipelined if pipelined else _run_sequential)(work, batches)

    calibrator, pitch, calibrations = work.calibrator, work.pitch, work.calibrations
    frame_index = np.concatenate(work.frame_parts) if work.frame_parts else np.zeros(0, dtype=np.int64)
    tracks = _merge(work.track_parts, Tracks.empty())
    crops = AthleteCrops.concat(work.crop_parts) if work.crop_parts else AthleteCrops.empty()
    crop_x = np.concatenate(work.crop_pitch_x) if work.crop_pitch_x else np.zeros(0, dtype=np.float32)
    evidence = ViewEvidence.concat(work.evidence_parts)
    if calibrator is not None and (filled := getattr(calibrator, "take_backfilled", dict)()):
        # Cameras carried back over frames that had none (calibrate.backfill_frames); gated below like all.
        calibrations = [filled.get(f, r) for f, r in zip(frame_index.tolist(), calibrations)]
        evidence = with_cameras(evidence, filled, _merge(work.athlete_parts, Detections.empty()), pitch)
        tracks, crop_x = _place_positions(tracks, crops, crop_x, filled)
    with timer("views"):
        if work.motion is not None:
            # Cameras carried from the kept ones by image motion (calibrate.propagate), gated again like all.
            views, gated, carried = propagate_and_gate(evidence, calibrations, work.motion.motions, calibrate.propagation_rules(),
                                                       calibrate.view_rules(), _merge(work.athlete_parts, Detections.empty()), pitch)
            tracks, crop_x = _place_positions(tracks, crops, crop_x, {f: p.result for f, p in carried.items()})
        else:
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
    if stages.reid is not None and len(tracks):
        with timer("appearance"):  # the crops already kept: about 1.2 ms a crop, no frame decoded again
            tracks = with_crop_embeddings(tracks, crops, stages.reid)
    with timer("ball_track"):
        ball = follow_ball(_merge(work.ball_parts, Detections.empty()), fps=clip.fps, frame_width=clip.width, frame_step=stride, **stages.ball_tracking)
        ball = ball.with_data(pitch_xy=_pitch_xy(ball.xyxy, ball.frame_index, calibrated))
    seconds = time.perf_counter() - started
    return SpatialResult(
        clip=clip,
        frame_index=frame_index,
        tracks=tracks,  # type: ignore[arg-type]
        ball=ball,
        calibrations=tuple(calibrations),
        crops=crops,
        crop_pitch_x=crop_x,
        semantic_frame_index=np.array(sorted(work.sampled), dtype=np.int64),
        jersey_frame_index=np.array(sorted(work.jersey_sampled), dtype=np.int64),
        stage_seconds={**timer.seconds, "wall": seconds},
        seconds=seconds,
        views=views,
    )
