"""The QA preview: what curation stored for a clip, drawn over its footage as an MP4 to watch.

* :mod:`.style` holds the options (:class:`~.style.PreviewOptions`) and colours (team kits from
  the ``clips`` row); :mod:`.draw` draws one frame's rows (athlete rings or boxes, masks, ball,
  pitch lines), :mod:`.labels` places and draws the labels, :mod:`.legend` the legend,
  :mod:`.radar` the minimap and its corner, :mod:`.trail` the ball trail, and :mod:`.compose`
  stacks them into a finished frame;
* :mod:`.render` decodes a clip and writes every frame with its annotations
  (:func:`~.render.render_preview`);
* :mod:`.read` finds a committed shard and renders it (:func:`~.read.preview_clip`,
  :func:`~.read.preview_manifest`).

Layer 5 (around the curation pipeline): it reads shards through ``storage`` and decodes their
rows through :mod:`soccerfactory.curation.layout`. Import from the submodules; this file
re-exports nothing.
"""
