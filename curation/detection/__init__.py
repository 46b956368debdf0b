"""Detection: athletes and the ball in each frame.

- :mod:`.detector`: the YOLOv8 detector (ultralytics) behind the ``Detector`` protocol, and the
  ball slicer that re-detects the ball on tiles of frames where the full frame missed it.
- :mod:`.ball`: one ball per frame and a ball track that follows it through gaps.

Layer 3 (a curation stage): imports the curation base only.
"""
