"""Per-observation attributes of tracked athletes: team, role and jersey number.

The pipeline samples frames at a low "semantic" rate (about 1 fps) and cuts one crop per
tracked athlete in each sampled frame (:meth:`.crops.AthleteCrops.from_frames`). The backends
here label every crop independently; :mod:`soccerfactory.curation.vote` then turns the noisy
per-crop labels into one consensus per tracklet.

Modules:

* :mod:`.crops`: :class:`~.crops.AthleteCrops` and the shirt / skin pixels of a crop.
* :mod:`.roles`: role of each athlete from its detector class.
* :mod:`.team`: :class:`~.team.TeamClassifier`; ``"kmeans-color"`` clusters the shirt
  colour of the outfield players of a clip into two teams.
* :mod:`.jersey`: :class:`~.jersey.JerseyReader`; ``"rapidocr"`` reads the back number with
  the text recogniser that ships inside the ``rapidocr`` wheel; ``"none"`` reads nothing.
* :mod:`.builders`: ``build_team_classifier`` and ``build_jersey_reader`` by name.

Conventions: boxes are ``xyxy``; full-frame boxes are in pixels of the full frame, the
``boxes`` of :class:`~.crops.AthleteCrops` are in pixels of their own crop. Crops are
``uint8`` BGR.

Layer: a curation stage package; it imports the curation base modules (types, arrays, masks,
registry, runtime, pitch_colour) and nothing above them. Import from the submodules; this
file re-exports nothing.
"""
