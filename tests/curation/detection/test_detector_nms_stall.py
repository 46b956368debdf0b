"""A stall inside ultralytics' NMS must not empty the rest of a detector batch.

Ultralytics stops its NMS loop once a batch has taken ``2.0 + 0.05 * batch`` s of wall time and
returns the images it did not reach with no boxes (silently with ``YOLO_VERBOSE=False``). Dev seed
400 lost 7 frames of athletes that way at load 14-40. Here the process is stalled for real (a
2.6 s sleep in the NMS loop's first box conversion, as a descheduled process at that load), the
bundled detector runs on real frames, and every frame must keep the boxes of an unstalled run.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from soccerfactory.curation.bundled import bundled_weights
from soccerfactory.curation.detection.detector import NMS_TIME_LIMIT_S, build_detector
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.curation.types import Frames

PLAYERS = DEFAULT_DATA_ROOT / "football-players"


@pytest.mark.slow
@pytest.mark.skipif(not PLAYERS.is_dir(), reason="needs ../shared/data/football-players")
def test_a_stalled_nms_keeps_every_frame_of_the_batch(monkeypatch):
    detector = build_detector("yolov8", weights=bundled_weights("detector.pt"))
    paths = sorted((PLAYERS / "valid" / "images").glob("*.jpg"))[:4]
    assert len(paths) == 4, f"no validation frames under {PLAYERS}"
    # The detector runs on 16:9 broadcast frames: undo the dataset's square stretch.
    images = np.stack([cv2.resize(cv2.imread(str(p)), (1280, 720), interpolation=cv2.INTER_AREA) for p in paths])
    index = np.arange(10, 14)
    frames = Frames(images=images, frame_index=index, timestamp_s=index / 25, fps=25.0, source="football-players/valid")
    clean = detector(frames)
    per_frame = [int((clean.frame_index == f).sum()) for f in index]
    assert min(per_frame) > 0, per_frame

    import ultralytics.utils.nms as nms

    convert, calls = nms.xywh2xyxy, []

    def stalled(boxes):
        calls.append(len(boxes))
        if len(calls) == 1:  # the first image of the batch: longer than the whole batch's time limit
            time.sleep(NMS_TIME_LIMIT_S + 0.05 * len(index) + 0.4)
        return convert(boxes)

    monkeypatch.setattr(nms, "xywh2xyxy", stalled)
    out = detector(frames)
    assert [int((out.frame_index == f).sum()) for f in index] == per_frame
    # Ultralytics did cut the batch (one image reached), and the rest were detected one at a time.
    assert len(calls) == 1 + (len(index) - 1), calls
    np.testing.assert_allclose(out.xyxy, clean.xyxy, atol=1e-3)
    np.testing.assert_array_equal(out.class_id, clean.class_id)
