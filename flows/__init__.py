"""SoccerFactory flows (layer 7): orchestration only.

Prefect flows and their thin tasks (``curate``, ``synthesize``, ``train_detector``,
``train_keypoints``, ``train_model``), the CLI (``cli`` and ``cli_*``), the Prefect settings
(``prefect_env``) and the benches (``bench``, ``bench_faults``). The only package that imports Prefect.
"""
