"""SoccerFactory model (layer 6): the multi-task model trained and evaluated on curated shards.

``config`` (the run config and network sizes), ``network``, ``losses``, ``data`` (windows of
catalogued shards), ``train``, ``evaluate``, ``camera``, ``text``. Imports curation and storage,
never flows; no Prefect here.
"""
