"""SoccerFactory curation: broadcast footage in, typed and voted labels out, as plain functions.

Layers, lowest first (a module imports its own layer or lower, never higher; README "Architecture"):

- base: ``types`` (Frames, Detections, Tracks), ``camera``, ``arrays``, ``pitch``, ``pitch_colour``,
  ``masks``, ``safe_load``, ``bundled``, ``runtime``, ``registry``, ``hashing``;
- stages: ``video/``, ``detection/``, ``tracking/``, ``calibration/``, ``refine``, ``attribute/``,
  ``vote`` and ``layout`` (the one codec to shard rows);
- assembly: ``config`` (the curation config), ``stages`` (the stage builder), ``pipeline`` (one clip);
- around it: ``quality/``, ``preview/``, ``synth/``, ``training/``, ``testing``.

No Prefect here: ``soccerfactory.flows`` orchestrates these functions.
"""
