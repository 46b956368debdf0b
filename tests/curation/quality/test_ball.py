"""Ball slicing quality on rendered clips: every setting scored as the pipeline's slicer decides."""

from __future__ import annotations

from soccerfactory.curation.quality.ball import ball_quality


def test_ball_quality_scores_each_setting_as_the_slicer_decides(tmp_path):
    import numpy as np

    from soccerfactory.curation.detection.ball import best_ball_per_frame
    from soccerfactory.curation.config import CurateConfig
    from soccerfactory.curation.detection.detector import BallSlicer, build_detector
    from soccerfactory.curation.quality.clips import clip_of
    from soccerfactory.curation.quality.metrics import ball_recall
    from soccerfactory.curation.types import BALL, Detections
    from soccerfactory.curation.video.decode import read_frames
    from soccerfactory.storage.groundtruth import read_ground_truth

    figures = ball_quality(tmp_path, seeds=[11], seconds=2.0, every=10, slices=[2], slice_conf=(0.1, 0.5), retry_below=(0.0, 0.5))
    assert figures["frames"] == 5 and len(figures["grid"]) == 4
    by_key = {(row["slice_conf"], row["retry_below"]): row for row in figures["grid"]}
    # Retrying weak full-frame balls slices at least the frames with none.
    assert by_key[(0.1, 0.5)]["frames_sliced"] >= by_key[(0.1, 0.0)]["frames_sliced"]
    # The offline policy must be what the real slicer decides: rerun it on the same frames.
    config = CurateConfig().with_values({"detect.ball_slices": 2})
    detect = config.detect
    detector = build_detector(weights=detect.resolved_weights(), imgsz=detect.imgsz, conf=detect.conf)
    slicer = BallSlicer(detector, slices=2, conf=0.1, retry_below=0.5, imgsz=detect.imgsz)
    labels = read_ground_truth(tmp_path / "seed-11" / "gt", "ball").to_pandas().set_index("frame_index")
    kept, truth = [], []
    for batch in read_frames(clip_of(tmp_path / "seed-11"), batch_size=10):
        picked = batch[np.flatnonzero(batch.frame_index % 10 == 0)]
        found = detector(picked)
        kept.append(best_ball_per_frame(slicer(picked, found[found.class_id == BALL])))
        for frame in picked.frame_index.tolist():
            row = labels.loc[frame]
            if row.visible and not np.isnan(row.x1):
                truth.append(Detections(np.array([[row.x1, row.y1, row.x2, row.y2]], np.float32), np.ones(1, np.float32), np.array([BALL]), np.array([frame])))
    live = ball_recall(Detections.merge(truth), Detections.merge(kept))
    assert figures["labelled"] == live["labelled"]
    assert (by_key[(0.1, 0.5)]["found"], by_key[(0.1, 0.5)]["predicted"]) == (live["found"], live["predicted"])
