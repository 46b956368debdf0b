"""The ``soccerfactory report`` page: a self-contained HTML summary of a catalog, a match or a run.

* :mod:`.queries` reads what the page shows from the catalog (read-only, SQL aggregates);
* :mod:`.plots` draws it (matplotlib, Agg, imported only when a plot is drawn) as SVG;
* :mod:`.page` assembles and writes the HTML (:func:`~.page.write_report`);
* :mod:`.summary` says the same in Markdown (the curate flow's Prefect artifact).

Storage only reads here: annotated thumbnails need decoded footage, which the caller (the CLI)
passes in as a callback. Import from the submodules; this file re-exports nothing.
"""
