"""The per-clip annotation pipeline, as plain functions over the typed containers.

A clip goes through four steps, each a function the Prefect flow calls:

1. :func:`annotate_spatial` (:mod:`~soccerfactory.curation.spatial`, re-exported here) decodes
   the clip once and streams it in batches through the stages that run at the source rate
   (detect, ball slices, track, calibrate, refine), decoding, detection and calibration
   overlapped on three threads, keeping crops of every tracked athlete on the frames sampled at
   the lower semantic rate; at the end of the clip it cleans the tracks up (short ones dropped,
   fragments stitched) and builds the ball track.
2. :func:`attribute_clip` reads team and jersey number from those crops (semantic rate).
3. :func:`vote_clip` turns per-observation labels into one consensus per tracklet, with the
   fraction of votes that agree, and joins the tracklets of one athlete by team and jersey.
4. :func:`layout_clip` lays everything out as the shard's Arrow tables, through the one codec
   (:mod:`soccerfactory.curation.layout`), with the shard's identity in the ``clips`` row.

Stages declare what they need and produce (:mod:`~soccerfactory.curation.chain`, re-exported
here); :func:`validate_chain` checks a chain before any model is loaded.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pyarrow as pa

from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.attribute.jersey import jersey_consensus
from soccerfactory.curation.attribute.jersey_reading import read_tracklets
from soccerfactory.curation.attribute.flags import flag_columns, short_tracks
from soccerfactory.curation.attribute.kits import TeamKits
from soccerfactory.curation.attribute.relational import RoleRules, clip_kits, decide_roles, role_columns, tracklet_flags
from soccerfactory.curation.attribute.team import team_crop_rows
from soccerfactory.curation.chain import STAGE_SPECS, ChainError, StageSpec, validate_chain
from soccerfactory.curation.config import AttributeConfig, VoteConfig
from soccerfactory.curation.layout import ShardIdentity, shard_tables
from soccerfactory.curation.pitch import PitchModel
# Step 1 lives in its own module (the pipelined frame loop); its names are this module's too.
from soccerfactory.curation.spatial import ClipStages, SpatialResult, annotate_spatial
from soccerfactory.curation.tracking.jersey_split import split_tracklets
from soccerfactory.curation.tracking.tracklets import link_by_jersey as join_tracklets
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
        jersey_readers: ``int8`` ``(M,)`` independent readers behind each jersey read, or None (one each).
        jersey_legible: ``bool`` ``(M,)`` the read's number was big enough for a person to read
            (``attribute.jersey_min_number_px``), or None (every read); the others only speak
            against a number (:func:`~soccerfactory.curation.attribute.jersey.jersey_consensus`).
        frame_index: ``int64`` ``(N,)`` frame of each team-colour crop, or None (unknown: a
            tracklet cannot be cut by its jersey reads).
        colours: ``float32`` ``(N, 3)`` CIE Lab shirt colour of each team-colour crop (NaN
            unknown), or None (a classifier that reads no colour); each tracklet's median goes to
            ``athletes.shirt_colour`` / ``shirt_crops`` for the per-match step.
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
    colours: np.ndarray | None = None
    jersey_readers: np.ndarray | None = None
    jersey_legible: np.ndarray | None = None

    @property
    def legible_jersey(self) -> np.ndarray:
        """``int32`` ``(M,)`` the jersey reads, ``-1`` where the number was too small to be a label."""
        return self.jersey if self.jersey_legible is None else np.where(self.jersey_legible, self.jersey, -1).astype(np.int32)

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
    team_rows = team_crop_rows(everything.frame_index, everything.track_id, spatial.semantic_frame_index, attribute.team_min_crops)
    rows = team_rows[_limit_per_track(everything[team_rows], attribute.max_crops_per_track)]
    crops = everything[rows]
    jersey_started = time.perf_counter()
    jersey_crops = everything[np.flatnonzero(np.isin(everything.frame_index, spatial.jersey_frames))]
    reads = read_tracklets(
        stages.jersey_reader, jersey_crops, settle_reads=attribute.jersey_settle_reads,
        max_crops_per_track=attribute.jersey_max_crops_per_track, min_number_px=attribute.jersey_min_number_px,
    )
    jersey_seconds = time.perf_counter() - jersey_started
    jerseys = {
        "jersey": reads.number, "jersey_confidence": reads.confidence, "jersey_track_id": reads.track_id,
        "jersey_frame_index": reads.frame_index, "jersey_seconds": jersey_seconds, "jersey_readers": reads.readers,
        "jersey_legible": reads.legible,
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
        colours=teams.colours,
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
        readers=attributes.jersey_readers if attribute.jersey_count_readers else None, legible=attributes.jersey_legible,
    )
    rules = RoleRules(
        kit_member=attribute.kit_member, kit_outlier=attribute.kit_outlier, kit_min_crops=vote.kit_min_crops,
        detector_override=vote.role_detector_override, min_positioned_rows=vote.min_positioned_rows,
        off_pitch_margin_m=vote.off_pitch_margin_m, off_pitch_sigmas=vote.off_pitch_sigmas,
        off_pitch_share=vote.off_pitch_share, goalkeeper_area_share=vote.goalkeeper_area_share,
        goalkeeper_area_margin_m=vote.goalkeeper_area_margin_m, min_votes=min_votes, side_min_gap_m=attribute.side_min_gap_m,
        kit_min_people=attribute.kit_min_people,
    )
    decisions = decide_roles(
        tracks, attributes.track_id, attributes.kit_distance, team_votes, attributes.kits, pitch, rules, crop_colours=attributes.colours,
        ball=spatial.ball,
    )
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
        shirt_colour=decided["shirt_colour"], shirt_crops=decided["shirt_crops"],
    )


def _split_by_jersey(tracks: Tracks, attributes: Attributes, vote: VoteConfig, min_confidence: float, min_reads: int) -> tuple[Tracks, Attributes]:
    """Cut tracklets where the reads show an identity switch (and, with ``vote.crossing_iou``,
    at crossings outside their reads): :func:`~soccerfactory.curation.tracking.jersey_split.split_tracklets`."""
    read_frames = attributes.jersey_frame_index if attributes.jersey_frame_index is not None else attributes.frame_index
    if attributes.frame_index is None or read_frames is None:
        return tracks, attributes
    rows, crops, reads = split_tracklets(
        tracks.track_id, tracks.frame_index, tracks.xyxy, attributes.track_id, attributes.frame_index, attributes.jersey_tracks,
        read_frames, attributes.legible_jersey, attributes.jersey_confidence, min_confidence, min_reads, vote.crossing_iou,
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
