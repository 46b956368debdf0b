"""Measured quality of the curation stages, and the metrics it is measured with.

``metrics`` (AP@50, ball recall, HOTA and friends), ``clips`` (the held-out synthetic clips),
``detection``, ``ball``, ``tracking`` and ``calibration`` (one measurement each), used by the
CLI's ``quality`` commands and the bench. Layer: around the pipeline; it may import the curation
stages, config and builders and ``storage``, and nothing in the pipeline imports it (so it is not
part of the shards' ``code_version``). No Prefect here. Import from the submodules.
"""
