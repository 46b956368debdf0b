"""Camera calibration from pitch keypoints and line markings (points and lines, "PnL").

One camera per frame, in the SoccerNet world frame of :class:`~soccerfactory.curation.camera.Camera`
(metres, origin at the centre mark, ``z`` down). Its modules fall in three groups:

* **Features** (``features``, ``heatmap``, ``heatmap_net``, ``lines``): a ``PitchFeatureDetector``
  turns frames into ``PitchObservations`` (``observations``): named pitch keypoints (``heatmap``,
  the default backend, a heatmap model bundled with the package; ``yolo-pose``, a YOLOv8-pose
  model with the 32 keypoints of the ``football-field`` labels, none bundled) and/or pixels on
  named pitch lines (``lines-classic``, white-line pixels assigned to the lines of a prior
  camera, which needs no weights).
* **Geometry** (``geometry``, ``refinement``, ``solver``): a RANSAC homography and Zhang's
  decomposition give an initial camera from four or more keypoints; the refinement then
  minimises point reprojection error plus the distance of line pixels to the projected pitch
  lines; ``calibrate_frame`` judges one frame's camera (``results``: valid, or why not).
* **Sequences** (``calibrator``, ``line_search``, ``builders``): the ``Calibrator`` runs a
  detector over a clip in frame order and tracks the camera; the line search places a camera
  from the lines alone when nothing else does; ``build_calibrator`` builds one by backend name
  (default ``heatmap``, as in the curation config).

The principal point is fixed at the image centre, pixels are square and there is no skew;
lens distortion is never estimated, only carried over from a prior camera that has it.

A curation stage package (layer 3): imports the curation base modules (``camera``, ``pitch``,
``types``, ``arrays``, ...) and nothing above; import from the submodules.
"""
