"""The ``calibrate`` section of the curation config (:mod:`.config` imports it; read it there).

Its own module only for size: the calibration section carries the most settings and the
measurements that chose them, and the config module stays under the 600-line limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from soccerfactory.curation.bundled import bundled_weights
from soccerfactory.curation.settings import Section

__all__ = ["KEYPOINT_BACKENDS", "CalibrateConfig"]


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
    # onnx by measurement (`python -m soccerfactory.flows.bench_runtimes`, 2 busy cores): the
    # heatmap keypoint model gives the same cameras as torch on all 34 real valid frames (median
    # reprojection 2.44 px, 34 solved, keypoint PCK@5 0.813 for all three runtimes) at 68 ms/frame
    # against torch's 307 (8 frames a batch, interleaved, one run); OpenVINO 75 ms.
    runtime: Literal["torch", "onnx", "openvino"] = Field(
        "onnx",
        description="Backend heatmap on the CPU: torch runs the .pt file; onnx / openvino an export of it made locally on first "
        "use and cached next to the weights. A GPU device and the other backends run torch.",
    )
    # Dev broadcast seeds 400-402: 85 % of true zoomed frames had no camera before the gates, a
    # zoomed shot's first 40 frames (seed 401: 2-5 keypoints, wrongly named) among them, while a
    # camera found on lines at its 41st carried back over all 40 at 0.7-3.0 px from the truth. A
    # bound keeps drift and memory small (packed line masks, 115 kB a 720p frame).
    backfill_frames: int = Field(
        50, ge=0,
        description="Carry a camera found after a run of frames without one back over at most this many of them, on their own "
        "line pixels (within the shot; each passes the view gates); 0 = off.",
    )
    device: str = "cpu"
    # The view of every frame and the gates a camera must pass (curation/calibration/view_classify.py
    # states the rules). Measured on the real football-field and football-players *train* splits
    # (main camera, 81 + 71 solved frames at 960x540) and on synthetic seeds 400-411, never on the
    # valid split or the held-out seeds the figures are reported on.
    non_main_positions: Literal["drop", "keep"] = Field(
        "drop",
        description="drop: frames whose view is not main/zoomed lose their camera, so their athletes and ball get no pitch "
        "position (boxes and identities stay); keep: their cameras stay where the evidence gates pass.",
    )
    # Real main frames: grass 26-82 % of the frame (one washed-out sunlit frame 0 %: its camera,
    # with keypoints spread over 28 % of the frame, keeps it main); crowd and stands: 0 %.
    view_min_grass_share: float = Field(0.15, ge=0, le=1, description="Frames with less grass are 'other' (unless a well-supported camera says pitch).")
    # Real main frames: tallest athlete 5-13 % of the frame height; the synthetic 2x zoom 19 %.
    view_closeup_box_share: float = Field(0.35, gt=0, le=1, description="An athlete this share of the frame height or taller makes a close-up.")
    # Median athlete height: real main 3.6-7.8 %, synthetic main 7-8 %, 2x zoom 14 %, 3x zoom 22 %.
    view_zoomed_box_share: float = Field(
        0.1, gt=0, le=1, description="Without a camera, athletes of this median share of the frame height make the frame 'zoomed', not 'main'."
    )
    # Athletes per frame: real main (football-players train labels) 19-25; synthetic zoomed shots
    # 5-11 (dev seeds 400-402; one zoom onto empty grass 0-2); synthetic close-ups 1-5 true boxes,
    # of which the bundled detector finds none.
    view_min_athletes: int = Field(
        3, ge=0, description="Fewer detected athletes than this: the frame's camera is refused and, without one, the frame is a close-up."
    )
    # Convex hull of a camera's inlier keypoints and line pixels: real main frames 7.4-74 % of the
    # frame, synthetic main (keypoints only) 10 %; one line, however long, spans 0.
    view_min_spread: float = Field(0.03, ge=0, le=1, description="A camera's keypoints and lines must span this share of the frame.")
    # Pitch shown: real main 2,309-5,927 m2, synthetic main 2,043-3,726 m2, the same cameras zoomed
    # 2x 450-1,881 m2, 4x 105-383 m2 (athletes ~30 % of the frame, near a close-up).
    view_min_pitch_m2: float = Field(100.0, ge=0, description="A camera showing less pitch than this (m2) is refused: a close-up.")
    view_main_min_pitch_m2: float = Field(1500.0, ge=0, description="A camera showing at least this much pitch (m2) is the main view; less is 'zoomed'.")
    # Median athlete height over what the camera gives a 1.8 m person there: real 0.96-1.13
    # (71 frames), synthetic 0.99-1.04; a close-up read as a wide view is off by several times.
    view_height_ratio_tolerance: float = Field(
        1.5, gt=1, description="Athletes' median height against the camera's prediction must be within [1/x, x] (from three athletes up)."
    )
    # Pitch point under the image centre: the true synthetic main camera moves it 0.27 m per frame
    # at the 95th percentile, 0.44 m at most (seeds 402-411); solved cameras of dev broadcast
    # renders (seeds 400-403) 0.55 at the 95th, 0.93 at the 99th percentile, while line tracking
    # that slipped onto the wrong lines (100 px off, reprojection 4.6 px) jumped 3.3 m in a frame.
    view_max_jump_m: float = Field(
        2.0, gt=0,
        description="Largest move (m per frame) of the pitch point under the image centre between cameras; a camera tracked on "
        "lines that jumps further is refused with the run that follows it, a fresh keypoint solve only as a one-frame spike.",
    )
    view_window: int = Field(5, ge=1, description="Frames (odd) over which each frame's view is smoothed; 1 = off.")
    # Camera propagation (curation/calibration/propagate.py): a frame without a camera takes the
    # nearest kept camera of its shot moved by the background's image motion (same mount), then
    # passes the same view gates. Dev seeds 400-402 (harness replay of the cached pass with the
    # cameras redone, everything else equal):
    # zoomed frames with a camera 71 -> 116 of 440, main 1,403 -> 1,408 of 1,409, close-ups 0 -> 0;
    # GS-HOTA 53.5 -> 55.0, positions-only DetA 78.6 -> 79.7; 16 ms (main) to 48 ms (zoomed) CPU a frame.
    propagate: bool = Field(
        True, description="Carry kept cameras within a shot onto frames without one by the image motion of the background "
        "(athletes masked); each carried camera passes the view gates again and its frame's view reason says so.",
    )
    # Dev seeds 400-402, zoomed frames: carried up to 25 frames, feet 0.19 m from the truth at the
    # median (1.4 % over 2 m, solved zoomed cameras 7.2 %); up to 50, 0.49 m (12 % over 2 m).
    propagate_max_frames: int = Field(25, ge=1, description="Longest chain of frames a camera is carried over.")
    propagate_max_closure_px: float = Field(
        8.0, gt=0, description="A gap between two kept cameras is filled only if the camera carried across it lands this close to the far one (px).",
    )

    @model_validator(mode="after")
    def _view_settings_agree(self) -> CalibrateConfig:
        if self.view_window % 2 == 0:
            raise ValueError(f"calibrate.view_window must be odd (a window centred on the frame), got {self.view_window}")
        if self.view_min_pitch_m2 > self.view_main_min_pitch_m2:
            raise ValueError("calibrate.view_min_pitch_m2 must not exceed calibrate.view_main_min_pitch_m2")
        return self

    def view_rules(self):
        """The :class:`~soccerfactory.curation.calibration.view_classify.ViewRules` of this section."""
        from soccerfactory.curation.calibration.view_classify import ViewRules

        return ViewRules(
            min_grass_share=self.view_min_grass_share, closeup_box_share=self.view_closeup_box_share,
            zoomed_box_share=self.view_zoomed_box_share, min_athletes=self.view_min_athletes, min_spread=self.view_min_spread,
            min_pitch_m2=self.view_min_pitch_m2, main_min_pitch_m2=self.view_main_min_pitch_m2,
            height_ratio_tolerance=self.view_height_ratio_tolerance, max_jump_m=self.view_max_jump_m,
            window=self.view_window, refuse_non_main=self.non_main_positions == "drop",
        )

    def propagation_rules(self):
        """The :class:`~soccerfactory.curation.calibration.propagate.PropagationRules` of this section."""
        from soccerfactory.curation.calibration.propagate import PropagationRules

        return PropagationRules(max_frames=self.propagate_max_frames, max_closure_px=self.propagate_max_closure_px)

    def image_motion(self):
        """The :class:`~soccerfactory.curation.calibration.propagate.ImageMotion` of a clip (``propagate`` on)."""
        from soccerfactory.curation.calibration.propagate import ImageMotion

        return ImageMotion(min_athletes=self.view_min_athletes)

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
        if self.backend == "heatmap":
            params["runtime"] = self.runtime if self.device == "cpu" else "torch"  # the exports run on the CPU
        params["backfill_frames"] = self.backfill_frames
        return params
