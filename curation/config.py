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
from soccerfactory.curation.config_calibrate import CalibrateConfig
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
    semantic_fps: float = Field(1.0, gt=0, le=60, description="Rate of team-colour sampling (the paper uses 1 fps).")
    # A back is turned to the camera, unoccluded and sharp for short spells: on dev seed 400 (720p
    # broadcast) the legible spells of the 7 athletes with a legible number lasted 0.04-2 s, and
    # sampling at 1 fps caught two legible frames (what the two-read rule needs) of 1 of them, at
    # 5 fps of 5. At 5 fps (seeds 400-402, team at 1 fps) coverage rose from 0.6/0/0 to
    # 0.8/0.8/0.33, but precision fell to 0.89/1.0/0.67 and GS-HOTA from 68.2 to 64.6: both wrong
    # numbers were read right on an athlete whose tracklet the tracker then switched onto another
    # (seeds 400 and 402), so the default stays at 1 fps until identity switches are fixed. Only
    # crops that can hold a number are read and a settled tracklet is no longer read: the
    # recogniser ran on 10.7 crops per clip-second at 5 fps, 2.9 at 1 fps (5.1 before).
    # With the digit reader (attribute.jersey=digits+rapidocr) and tracks linked across shots, 3 fps
    # won on dev seeds 400-403 (30 s, harness replay of one spatial cache): per-track jersey
    # precision 1.0 -> 0.99, coverage 0.40 -> 0.71, GS-HOTA 42.5 -> 48.8; role and team unchanged.
    jersey_fps: float = Field(
        3.0, gt=0, le=60, description="Rate at which crops are kept for jersey reading (team colours stay at semantic_fps)."
    )


class DetectConfig(Section):
    """Athlete and ball detection (ultralytics YOLOv8)."""

    backend: Literal["yolov8"] = "yolov8"
    weights: Path | None = Field(None, description="Local .pt file; None = the bundled default detector.")
    imgsz: int = Field(768, ge=64, le=4096, description="Inference size; the bundled detector was trained at 768.")
    conf: float = Field(0.25, ge=0, le=1)
    # ByteTrack's second association extends its tracks with boxes from its min_conf 0.1 up to its start
    # threshold 0.45; at conf 0.25 the detector never gave it a box under 0.25 (those of 0.25-0.45 were
    # already low-score for it). Dev seed 400 (30 s, the spatial pass replayed from the detector's
    # candidates; curation/quality/misses.py): main-view truth rows missed 1,513 -> 1,211 of 10,631,
    # wrong rows 28 -> 32, image HOTA 78.1 -> 79.0 (DetA 73.1 -> 74.9, IDF1 90.1 -> 91.5); seed 401 (5 of
    # 8 shots): 95 fewer missed, wrong rows 39 -> 44, HOTA 76.9 -> 77.6. 0.05 adds nothing (ByteTrack drops < 0.1).
    track_conf: float = Field(
        0.1, ge=0, le=1,
        description="Person boxes from this confidence up (below conf) go to the tracker only, to extend tracks it already "
        "has (ByteTrack's low-score association); views, cameras and the ball see conf and up. At or above conf: off. "
        "StrongSORT and OC-SORT drop boxes under their own min_conf (0.3), so it only feeds ByteTrack's low-score association.",
    )
    iou: float = Field(0.6, gt=0, le=1)
    device: str = "cpu"
    # onnx by measurement (`python -m soccerfactory.flows.bench_runtimes`, 2 busy cores): the same
    # labels as torch on the real valid split (person AP50 0.9672, ball recall with slices 0.7333,
    # identical for torch, onnx and openvino) at 273 ms/frame against torch's 491 (720p, batch 8,
    # interleaved, one run; 1.29-1.80x in three runs at load 3-6). OpenVINO ties it (270 ms, within 5 %) and
    # loads slower (1.3 s against 0.6 s). End to end (4 s 720p clip, with calibrate.runtime) 1.12x.
    # Not onnx-int8, by the same bar: 107 ms/frame against onnx's 276 and torch's 515 (one run, load 5),
    # person AP50 0.9669, but ball recall 0.711 (one ball of 45 fewer than torch's 0.733).
    runtime: Literal["torch", "onnx", "openvino", "onnx-int8"] = Field(
        "onnx",
        description="On the CPU: torch runs the .pt file; onnx / openvino an export of it made locally on first use and cached "
        "next to the weights; onnx-int8 that onnx export quantized to int8, built once beforehand with "
        "`python -m soccerfactory.curation.training.quantize` (minutes; calibrated on the real train split and synthetic "
        "frames). A GPU device always runs torch.",
    )
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
    # crops by measurement (curation/weights/role-classifier.json): on the real valid split (never
    # tuned on) referee AP50 0.504 -> 0.906, goalkeeper 0.702 -> 0.700, player 0.961 -> 0.958, persons
    # 0.967 unchanged; on an unseen-kit dev clip (seed 450) per-box role accuracy 0.926 -> 0.987,
    # referee recall 0.30 -> 1.00. Cost: +17 % on the detect stage (93 ms per 720p frame against the
    # detector's 560 on 2 cores at load 6); role_classifier=none saves it.
    role_classifier: Literal["crops", "none"] = Field(
        "crops",
        description="Second-stage role of every person box: crops = a small classifier over its crop and the frame's other "
        "boxes (curation/detection/roles.py); none = the detector's class.",
    )
    role_weights: Path | None = Field(None, description="Role classifier .pt; None = the bundled role-classifier.pt.")
    # Frame-level kit evidence (curation/detection/frame_evidence.py), chosen on the role classifier's
    # held-out train videos (27 goalkeepers; valid never tuned on) and dev seeds 400-402 (per box):
    # slope 0.75 / cap 4.5: goalkeeper AP50 0.661 -> 0.770, referee 0.858 -> 0.854, persons
    # unchanged; synthetic role errors 30 -> 19 (referee recall 0.948 -> 0.985, goalkeeper
    # precision 0.918 -> 0.905). Slope 1 / cap 6: 0.770 real but 26 synthetic errors (players in
    # frames with a thin kit turned goalkeeper); slope 0.5: 0.710 real, 18 synthetic; cap 3: 0.731.
    role_kit_slope: float = Field(
        0.75, ge=0, description="Player log-odds per kit spread a shirt sits inside (or beyond) the frame's team kits; 0 = off."
    )
    role_kit_cap: float = Field(4.5, ge=0, description="Largest change of the player log-odds from the kit evidence.")
    # The goalkeeper is the last man (same module): on the held-out train videos every true keeper had
    # at most 2 people beyond it, 9 of 13 false ones 4 or more. On top of the kits goalkeeper AP50
    # 0.770 -> 0.876 (slope 1: 0.855; free 2: 0.849); dev seeds 400-402 role errors 19 -> 17,
    # goalkeeper recall 1.0 kept (their keepers had up to 4 people beyond: staff, zooms).
    role_keeper_depth_slope: float = Field(
        2.0, ge=0, description="Goalkeeper log-odds lost per person beyond role_keeper_depth_free on the box's nearer side (2 at most); 0 = off."
    )
    role_keeper_depth_free: int = Field(3, ge=0, description="People beyond a goalkeeper (towards its goal) that cost nothing.")
    # One keeper per goal (same module), off: developed on the held-out train videos (goalkeeper
    # AP50 0.876 -> 0.908 at slope 3, the same for 2-8; whole train split 0.904 -> 0.919), it LOST on
    # valid, run once: 0.809 -> 0.781 (confidence x role probability 0.831 -> 0.801), referee and
    # persons unchanged: in 5 of its 49 frames a box on a labelled keeper lost to a surer keeper box,
    # in four at the same spot (a second box on him, or a player beside him). The span keeps the two
    # keepers of a wide shot (0.63-0.99 frame widths apart on the train stills).
    role_keeper_rival_slope: float = Field(
        0.0, ge=0, description="A box beside a surer goalkeeper keeps exp(-slope * its goalkeeper probability) of its own, "
        "the rest going to player; 0 = off."
    )
    role_keeper_rival_span: float = Field(
        0.5, gt=0, le=1, description="Frame widths within which a surer goalkeeper is the same goal's (role_keeper_rival_slope)."
    )

    def resolved_weights(self) -> Path:
        return self.weights or bundled_weights("detector.pt")

    def resolved_role_weights(self) -> Path:
        return self.role_weights or bundled_weights("role-classifier.pt")

    def device_runtime(self) -> str:
        """The runtime that runs: ``runtime`` on the CPU, torch on any other device (the exports run on the CPU)."""
        return self.runtime if self.device == "cpu" else "torch"


class TrackConfig(Section):
    """Multi-object tracking (boxmot)."""

    # ByteTrack by measurement: HOTA 80.9 against StrongSORT 78.3 and OC-SORT 76.7 on the five
    # held-out 30 s clips of `soccerfactory quality tracking`, with a seventh of StrongSORT's id
    # switches (kits of one team look alike, so appearance adds little within a team).
    # On the broadcast dev clips end to end (seed 400, 30 s, 8 shots, `quality gamestate`; 401-402
    # did not finish on the loaded CPU) StrongSORT with the ReID network as it was (n_init 3) lost:
    # GS-HOTA 61.0 against 61.5, image boxes 68.5 against 68.5; with n_init 1 (chosen on that seed)
    # 64.6 and 69.1, but the gain is jersey attributes (without them 76.3 against 76.5, AssA 73.8
    # against 76.1) and one clip, so ByteTrack stays until 400-402 confirm it (README).
    backend: Literal["strongsort", "bytetrack", "ocsort"] = "bytetrack"
    params: dict[str, Any] = Field(default_factory=dict, description="Passed to the boxmot tracker.")
    min_track_s: float = Field(0.4, ge=0, description="Tracks shorter than this (seconds) are dropped after tracking.")
    stitch_max_gap_s: float = Field(3.0, ge=0, description="Fragments up to this far apart in time may be stitched (0 = off).")
    stitch_max_appearance_distance: float = Field(
        0.15, ge=0, le=2, description="Largest kit colour distance (cosine) between stitched fragments."
    )
    # Two tracks on one person at once (synthetic: one athlete carried four tracks at IoU >= 0.8 for
    # 31 frames). Distinct ground-truth athletes of 16 rendered development clips (seeds 400-415)
    # never stayed at IoU >= 0.7 for more than 4 frames in a row, so 0.5 s (12 frames at 25 fps) of
    # such overlap on 80 % of the shared frames is one person with a wide margin.
    duplicate_min_iou: float = Field(0.7, gt=0, le=1, description="Box overlap (IoU) at which two simultaneous tracks show one person.")
    duplicate_min_share: float = Field(
        0.8, gt=0, le=1, description="Fraction of two tracks' shared frames that must overlap so for them to be merged."
    )
    duplicate_min_s: float = Field(
        0.5, ge=0, description="Fewest seconds of such overlap; the shorter track's rows merge into the longer (0 = off)."
    )
    appearance_embeddings: bool = Field(True, description="ReID embedding (weights/reid.pt, ~1.2 ms a crop, nothing decoded again) of every kept "
                                        "crop into athletes.appearance: the per-match shot linker tells teammates apart by it.")


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
    # Dev seeds 400-403 (30 s, harness replay), per track, pooled: rapidocr precision 1.0 / coverage
    # 0.36 (GS-HOTA 30.5), digits 1.0 / 0.31 (29.7), digits+rapidocr 1.0 / 0.40 (31.1); with jersey
    # crops at 3 fps 0.99 / 0.62 (37.1), 1.0 / 0.61 (32.9), 0.99 / 0.71 (37.8) (curation/weights/README.md).
    jersey: Literal["rapidocr", "digits", "digits+rapidocr", "none"] = "digits+rapidocr"
    jersey_min_confidence: float = Field(0.6, ge=0, le=1)
    # Consistency rule (curation.attribute.jersey.jersey_consensus): one stray read never becomes
    # a tracklet's number.
    jersey_min_reads: int = Field(
        2, ge=1, description="A tracklet's number counts only when at least this many reads, in different frames, agree on it."
    )
    jersey_min_share: float = Field(
        0.6, gt=0, le=1, description="... and those agreeing reads carry at least this share of the tracklet's read confidence."
    )
    # Dev seeds 400-402 (3 fps): every tracklet read once was read right (26 of 26), and 7 of the 9
    # tracks whose legible number was read only once had that read from both readers. On: coverage
    # per track 0.61 -> 0.76, precision 0.984 -> 0.986, GS-HOTA 51.1 -> 53.5.
    jersey_count_readers: bool = Field(
        True, description="With attribute.jersey=digits+rapidocr, a crop both readers read alike counts as two agreeing reads."
    )
    max_crops_per_track: int = Field(30, ge=1, description="Most team-colour crops per tracklet (spread over its life).")
    # Dev seeds 400-403: 6 of the 10 tracks of a known team refused one had 0-1 team crops (1 fps);
    # their crops of the jersey frames (3 fps) and the per-track crops give them a shirt colour.
    # At 2, a 2-3 s tracklet was read on its 2-3 semantic crops, and one or two of them occluded
    # set its median: dev seed 400 a lime player 3.0 spreads from its kit (2 of 3 crops shaded;
    # its 8 kept crops put it at the kit's centre), seed 401 a teal player "in neither kit" (1 of 2
    # crops mixed; 7 kept). At 4 (seeds 400-402 + 404): team with refusals 357 -> 359 of 360 tracks,
    # role 470 -> 471 of 472 (a 0.4 s tracklet went the other way), for 34 % more team crops.
    team_min_crops: int = Field(
        4, ge=0, description="A tracklet with fewer team-colour crops than this is read on all its kept crops (0: semantic frames only)."
    )
    jersey_settle_reads: int = Field(
        3, ge=1, description="A tracklet is no longer read once this many reads agree on its number and none names another."
    )
    jersey_max_crops_per_track: int = Field(
        60, ge=1, description="Most crops offered to the jersey reader per tracklet (coarse to fine over its life); bounds OCR time."
    )
    # A number is a label only where a person could read it: on the hand-labelled football-players
    # backs the smallest number a person read was about 8 px (a 64 px box at 1080p), 1 of 99 visible
    # backs with 60-70 px boxes; estimated as box height x 0.13 (curation.attribute.jersey_reading.legible_size).
    # Dev seed 400 (30 s): GS-HOTA 60.5 -> 64.4, jersey precision per track 27/27 -> 14/14, coverage
    # 13/16 -> 12/16; chosen from the human reading, not from these figures.
    jersey_min_number_px: float = Field(
        8.0, ge=0, description="A read on a crop whose back number would be shorter than this (box height x 0.13, pixels) is no "
        "label: it never makes a tracklet's number, it only speaks against another one.",
    )
    # Kit models (curation/attribute/relational.py): each team's kit is the median shirt colour of
    # its players' crops and their median distance from it (the spread; weighted Lab, L* counting
    # half). Solid synthetic kits have spreads of 1-3, so without a floor every shadow would be a
    # third kit. Measured on 8 rendered 10 s development clips (seeds 400-407, 720p, every crop
    # labelled player by the detector, the hard case): players' tracklets at most 2.1 spreads from
    # their kit, referees at least 4.8 from both, goalkeepers at least 9.9 (at 360p: players up to
    # 3.1, referees down to 3.0, hence the band between the two thresholds where the kit does not
    # decide and the detector's votes do).
    kit_min_spread: float = Field(4.0, gt=0, description="Floor of a kit's spread (weighted Lab units).")
    kit_member: float = Field(2.5, gt=0, description="A tracklet this close to a kit (in spreads, median over its crops) wears it.")
    kit_outlier: float = Field(
        3.5, gt=0, description="A tracklet further than this from both kits wears neither (a referee or goalkeeper); kit crops this far are not the kit's."
    )
    # A zoomed shot with one team in view (synthetic seed 402, 5 people) split into that team and
    # three stewards in black: their "team" got a letter. A kit worn by one person is as often a
    # referee's, a goalkeeper's or a steward's, so a clip whose two kits are not each worn by two
    # people gets no teams at all (a wrong team is worse than none).
    kit_min_people: int = Field(2, ge=1, description="Fewest people each of the clip's two kits needs; fewer and the clip gets no team labels.")
    # 16 development clips (seeds 400-415): the teams' mean x differed by 12-26 m, always on the
    # right side; 4 m (a third of the smallest gap) names a side only where the teams clearly
    # stand apart; mixed teams (a corner, one half in view) give none.
    side_min_gap_m: float = Field(
        4.0, ge=0, description="Team A's side (the goal it defends) is named only when the teams' mean pitch x differ by this much."
    )
    # Team letters per match (curation/attribute/match_teams.py): after a run, each clip's two kits
    # are priced against the match's (CIEDE2000, keep vs swap); a clip swaps or keeps only when one
    # assignment is clearly cheaper and both its kits agree, else it is left as it is and recorded
    # ambiguous. One kit across two clips of one shot differed by 3.2-5.6 (dev seed 404); a margin
    # of 5 is one such difference. Simulated over every pair of the synthetic palette (32,400
    # clips, exposure +-12 L*, 10 % with one "kit" a random colour, /tmp/sf16/H4/simulate.py) the
    # agreement rule chose wrong 0 times at every ratio from 0.6 to 1 and refused 12 clean clips at
    # 0.75 (without it, 0.75 chose wrong 14 times, all misfits, and 0.5 refused 49 clean clips). A
    # zoomed shot of dev seed 401 whose second "kit" was a shaded cluster (keep 50.6 / swap 84.4)
    # is refused.
    match_min_margin: float = Field(
        5.0, ge=0, description="The better letter assignment of a clip must be this many CIEDE2000 units cheaper than the other."
    )
    match_max_ratio: float = Field(
        0.75, gt=0, le=1, description="... and cost at most this share of the other's; else the clip's letters are ambiguous and left unchanged."
    )
    match_side_decides: bool = Field(
        True, description="An ambiguous clip keeps or swaps by the side A defends in the clips of its source around it (same half)."
    )

    @model_validator(mode="after")
    def _kit_thresholds_ordered(self) -> AttributeConfig:
        if self.kit_member > self.kit_outlier:
            raise ValueError(f"attribute.kit_member ({self.kit_member}) must not exceed attribute.kit_outlier ({self.kit_outlier})")
        return self


class VoteConfig(Section):
    """Majority voting of attributes over each tracklet."""

    min_votes: int = Field(1, ge=1, description="Tracklets with fewer votes keep a null consensus.")
    link_by_jersey: bool = Field(
        True, description="Tracklets with the same voted team and jersey number, never on screen together, become one track."
    )
    # The tracker's identity switches showed in the reads: on dev seeds 400 and 402 a tracklet was
    # read #30 three times and then #29 five times after two athletes crossed (curation/tracking/jersey_split.py).
    split_by_jersey: bool = Field(
        True, description="Cut a tracklet whose jersey reads name one number, then another (each with jersey_min_reads reads): "
        "one piece per number, the rows between with no number.",
    )
    # Dev seeds 400-403: with decode.jersey_fps=5 and crossing_iou=0.3, jersey precision per track
    # rose to 1.0 on all four (from 0.89/1/0.67/1) at coverage 0.8/0.8/0.33/1.0, but the extra
    # fragments cost association (ids per athlete 1.18 -> 1.36 on seed 400) and GS-HOTA went 63.3
    # -> 63.8, below the 1 fps default's 66.4 (65.8 with the cuts): off by default.
    crossing_iou: float | None = Field(
        None, gt=0, le=1,
        description="With split_by_jersey: also cut a numbered tracklet where its box overlaps another at this IoU after its "
        "last read (or before its first), so unproven rows get no number; None = off.",
    )
    # Roles are decided per tracklet from its kit, its position and the detector's votes
    # (curation/attribute/relational.py). The detector overrides the kit only when nearly all of
    # its confidence-weighted votes agree: on a synthetic clip it voted the centre referee
    # "player" with agreement 1.0, so a majority is not enough to trust it over the kit.
    role_detector_override: float = Field(
        0.8, gt=0.5, le=1, description="Share of the detector's weighted votes for goalkeeper or referee that overrides a team kit (flagged role-kit)."
    )
    kit_min_crops: int = Field(2, ge=1, description="Fewest crops with a shirt colour for the kit to decide a role (one crop may be occluded).")
    min_positioned_rows: int = Field(5, ge=1, description="Fewest rows with a pitch position for position evidence (off-pitch, penalty area).")
    # SoccerMaster's remove_outside. A player taking a throw-in or running wide stands up to about
    # 1 m over the touchline; staff and substitutes stand several metres out. The margin adds two
    # sigmas of the position's own uncertainty, so a far-away, poorly placed player is not removed.
    off_pitch_margin_m: float = Field(1.5, ge=0, description="Feet further than this outside the lines (plus the sigmas below) are off the pitch.")
    off_pitch_sigmas: float = Field(2.0, ge=0, description="Multiples of a row's pitch_sigma_m added to the margin.")
    off_pitch_share: float = Field(
        0.6, gt=0.5, le=1, description="Share of a tracklet's positioned rows off the pitch that makes it role 'other', with no team."
    )
    goalkeeper_area_share: float = Field(
        0.6, gt=0.5, le=1, description="Share of positioned rows in one penalty area that makes a tracklet in neither kit a goalkeeper."
    )
    goalkeeper_area_margin_m: float = Field(2.0, ge=0, description="The penalty area is grown by this much for that count.")
    short_track_s: float = Field(1.0, ge=0, description="Tracks shorter than this are flagged 'short' (0 = never).")


class RunConfig(Section):
    """How the run executes; not part of the config hash."""

    max_parallel_clips: int = Field(2, ge=1, le=256, description="Clips processed at the same time.")
    task_runner: Literal["threads", "dask"] = "threads"
    dask_address: str | None = Field(None, description="Existing Dask scheduler; None starts a local cluster.")
    # A server-side Prefect limit on the tag "gpu" (annotate-spatial, attribute), so it also bounds
    # other runs and deployments on the same server; 0 is refused (Prefect would block forever).
    gpu_slots: int | None = Field(
        None, ge=1, le=1024,
        description="Tasks tagged gpu running at once, server-wide (sets Prefect's 'gpu' tag limit); None = leave the limit as it is.",
    )
    # Re-curating after a change to attribute or vote settings (or code) reuses each clip's
    # detect-track-calibrate pass from OUTPUT/.cache/spatial: ~90 % of a clip's time (curation/spatial_cache.py).
    spatial_cache: bool = Field(True, description="Reuse each clip's cached spatial pass (detect, track, calibrate) while its settings, models and code are unchanged.")
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
        if self.detect.role_classifier == "crops":
            files.append(ModelFile(
                self.detect.resolved_role_weights(), "detect.role_weights (role classifier)", STATE_DICT,
                "python -m soccerfactory.curation.training.role_classifier (see curation/weights/README.md), "
                "or set detect.role_classifier=none",
            ))
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
        if self.attribute.jersey in ("digits", "digits+rapidocr"):
            files.append(ModelFile(
                bundled_weights("jersey-digits.pt"), "attribute.jersey (jersey digit weights)", STATE_DICT,
                "python -m soccerfactory.curation.training.jersey_digits --work DIR (see curation/weights/README.md), "
                "or set attribute.jersey=rapidocr",
            ))
        if self.track.appearance_embeddings:
            files.append(ModelFile(bundled_weights("reid.pt"), "track.appearance_embeddings (ReID weights)", STATE_DICT,
                                   "python -m soccerfactory.curation.training.reid --work DIR, or set track.appearance_embeddings=false"))
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
