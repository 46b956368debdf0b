"""Tracking: one identity per athlete across a clip's frames.

- :mod:`.trackers`: the multi-object trackers (boxmot's ByteTrack / StrongSORT ...) behind the
  ``Tracker`` protocol, with camera-pan compensation.
- :mod:`.tracklets`: the clean-up after tracking: short tracks dropped, broken tracks stitched,
  tracklets linked by jersey number.

Layer 3 (a curation stage): imports the curation base and other stages only.
"""
