"""The Prefect artifacts of a curate run (the report summary) and of a training run (the loss curve)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from prefect import flow

from soccerfactory.flows.artifacts import loss_markdown, publish_curate_report, publish_loss_curve


def _latest(key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return max(artifacts, key=lambda a: a.created).data


def test_curate_report_and_loss_curve_artifacts(catalog, tmp_path):
    from soccerfactory.curation.testing import groundtruth_shard
    from soccerfactory.storage.catalog import record_run, register_ground_truth, register_shards
    from soccerfactory.storage.shards import list_manifests

    clip_dir = Path(catalog[0]).parent / "clip"
    match_id = pq.read_table(clip_dir / "gt" / "athletes.parquet", columns=["match_id"]).column(0)[0].as_py()
    clip, _ = groundtruth_shard(clip_dir, tmp_path / "shards", match_id=match_id)
    path = tmp_path / "catalog.duckdb"
    register_shards(path, list_manifests(tmp_path / "shards"), run_id="run-art")
    register_ground_truth(path, clip_dir)
    record_run(path, {"run_id": "run-art", "started_at": "2026-01-01T00:00:00+00:00", "status": "completed", "n_curated": 1})
    history = [{"step": k, "loss": 3.0 / k, "tasks": {"detect": 1.0 / k}} for k in range(1, 41)]

    @flow(name="artifact-test")
    def publish() -> tuple:
        return (publish_curate_report(str(path), "run-art", tmp_path / "report.html", write_page=True),
                publish_curate_report(str(tmp_path / "missing.duckdb"), "run-art"),
                publish_loss_curve(history, "train-x"))

    report, missing, loss = publish()
    assert missing is None  # an unreadable catalog costs a warning, not the run
    published = _latest("curate-report")
    assert published == report and "# SoccerFactory report: run run-art" in published
    assert f"({(tmp_path / 'report.html').resolve().as_uri()})" in published and f"| {match_id} |" in published
    assert "<html" in (tmp_path / "report.html").read_text()[:500].lower()  # the linked page was written
    assert _latest("train-loss-curve") == loss
    assert "![training loss per step, 40 steps" in loss and "](data:image/png;base64," in loss
    assert "| 40 | 0.0750 | 0.0250 |" in loss  # the last step is always in the table


def test_loss_markdown_without_steps():
    assert "No step was trained" in loss_markdown([], "train-y")
