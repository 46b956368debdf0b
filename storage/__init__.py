"""SoccerFactory storage (layer 1): shards, run records and the DuckDB catalog over fsspec.

Imports nothing of curation, model or flows. Inside, imports go one way, lowest first:
``fields`` (ids, times), ``fs`` (URLs, atomic writes), ``schemas``, ``manifest``, ``shards``,
``run_records``, ``runs`` (liveness, claims); then the catalog: ``locations``, ``comments`` (what
every table, view and column means, from ``comment_text*``), ``catalog_sql``,
``quarantine``, ``views``, ``catalog``; on top ``repair`` (rebuild, verify), ``sync``,
``readonly`` and ``export``; ``examples`` writes example shards for tests. Import from the
submodules; this file re-exports nothing.
"""
