"""``soccerfactory train --processes 2``: the Prefect flow in this process, two gloo processes
training, one checkpoint and one training run in the catalog."""

from __future__ import annotations

import json

import duckdb
import pytest
from typer.testing import CliRunner

from soccerfactory.flows.cli import app


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """Ground-truth shards of two rendered clips of two matches, catalogued like a curate run."""
    from soccerfactory.curation.synth import SynthConfig, render_clip
    from soccerfactory.curation.testing import groundtruth_shard
    from soccerfactory.storage.catalog import register_shards
    from soccerfactory.storage.shards import list_manifests

    root = tmp_path_factory.mktemp("ddp-flows")
    for seed, match in ((5, "m-a"), (6, "m-b")):
        render_clip(SynthConfig(seconds=0.64, seed=seed, width=640, height=360), root / f"clip-{seed}")
        groundtruth_shard(root / f"clip-{seed}", root / "shards", match_id=match)
    register_shards(root / "catalog.duckdb", list_manifests(root / "shards"))
    return root


SETTINGS = ["--set", "train.steps=3", "--set", "train.batch_size=2", "--set", "train.checkpoint_every=2", "--set", "model.window=2",
            "--set", "model.depth=1", "--set", "data.eval_fraction=0"]


@pytest.mark.slow
def test_train_on_two_processes_records_one_run_and_writes_one_checkpoint(curated):
    result = CliRunner().invoke(app, ["train", "--output", str(curated), "--run-id", "ddp", "--processes", "2", *SETTINGS])
    assert result.exit_code == 0, result.output
    assert "run ddp: 3 steps" in result.output
    assert sorted(p.name for p in (curated / "models" / "ddp").iterdir()) == ["checkpoint.pt"]
    with duckdb.connect(str(curated / "catalog.duckdb"), read_only=True) as connection:
        rows = connection.execute("SELECT status, steps, config FROM training_runs WHERE run_id = 'ddp'").fetchall()
    assert len(rows) == 1 and rows[0][:2] == ("completed", 3)
    assert json.loads(rows[0][2])["train"]["processes"] == 2


def test_a_bad_process_count_is_a_usage_error(curated):
    result = CliRunner().invoke(app, ["train", "--output", str(curated), "--processes", "0", *SETTINGS])
    assert result.exit_code == 2 and "--processes" in result.output
    # More processes than the windows can give a full share of the global batch: one line, exit 2.
    result = CliRunner().invoke(app, ["train", "--output", str(curated), "--run-id", "too-many", "--processes", "2",
                                      *SETTINGS, "--set", "train.batch_size=64"])
    assert result.exit_code == 2 and "fewer than one global batch of 128" in result.output
    assert not (curated / "models" / "too-many").exists()
