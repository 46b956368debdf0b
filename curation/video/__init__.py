"""Footage ingestion, the first curation stage: find sources, scan them, cut clips, decode frames.

The modules, in the order a source meets them:

* :mod:`.discover` finds the footage in paths and URLs (:func:`~.discover.discover_sources`),
  with ids from :mod:`.source_ids`; :mod:`.sources` reaches a source's bytes through fsspec.
* :mod:`.scan` decodes a source once (:func:`~.scan.scan_video`), refusing bad input with the
  reasons of :mod:`.checks` and finding the camera cuts with :mod:`.cuts`.
* :mod:`.clips` holds the currency (``SourceItem``, ``VideoScan``, ``ClipSpec``) and cuts a scan
  into clips (:func:`~.clips.split_clips`).
* :mod:`.decode` streams a clip as :class:`~soccerfactory.curation.types.Frames` batches
  (:func:`~.decode.read_frames`).

Layer 3 (a curation stage): it imports the curation base (``types``, ``hashing``) and nothing
above it. Import from the submodules; this file re-exports nothing.
"""
