"""The QA preview: what curation stored for a clip, drawn over its footage as an MP4 to watch.

* :mod:`.draw` draws one frame's rows (boxes, labels, masks, ball, pitch lines, minimap);
* :mod:`.render` decodes a clip and writes every frame with its annotations
  (:func:`~.render.render_preview`);
* :mod:`.read` finds a committed shard and renders it (:func:`~.read.preview_clip`,
  :func:`~.read.preview_manifest`).

Layer 5 (around the curation pipeline): it reads shards through ``storage`` and decodes their
rows through :mod:`soccerfactory.curation.layout`. Import from the submodules; this file
re-exports nothing.
"""
