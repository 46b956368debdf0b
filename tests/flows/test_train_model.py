"""The train and evaluate flows on a real catalog, through the command line and Prefect."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

from soccerfactory.flows.cli import app


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """Ground-truth shards of three rendered clips, three matches, catalogued like a curate run."""
    from soccerfactory.curation.synth import SynthConfig, render_clip
    from soccerfactory.curation.testing import groundtruth_shard
    from soccerfactory.storage.catalog import register_shards
    from soccerfactory.storage.shards import list_manifests

    root = tmp_path_factory.mktemp("model-flows")
    for seed, match in ((5, "m-a"), (6, "m-b"), (7, "m-c")):
        render_clip(SynthConfig(seconds=0.64, seed=seed, width=640, height=360), root / f"clip-{seed}")
        groundtruth_shard(root / f"clip-{seed}", root / "shards", match_id=match)
    register_shards(root / "catalog.duckdb", list_manifests(root / "shards"))
    return root


def test_train_then_evaluate_records_runs_and_metrics(curated):
    settings = ["--set", "train.steps=6", "--set", "train.batch_size=2", "--set", "train.checkpoint_every=3",
                "--set", "model.window=2", "--set", "model.depth=1", "--set", "data.eval_fraction=0.34"]
    trained = CliRunner().invoke(app, ["train", "--output", str(curated), "--run-id", "r1", *settings])
    assert trained.exit_code == 0, trained.output
    checkpoint = curated / "models" / "r1" / "checkpoint.pt"
    assert checkpoint.is_file() and f"soccerfactory evaluate --catalog {(curated / 'catalog.duckdb').resolve()}" in trained.output
    with duckdb.connect(str(curated / "catalog.duckdb"), read_only=True) as connection:
        status, steps, n_windows, query, config = connection.execute(
            "SELECT status, steps, n_windows, data_query, config FROM training_runs WHERE run_id = 'r1'").fetchone()
    assert (status, steps, query) == ("completed", 6, "c.valid_camera") and n_windows > 0 and '"steps": 6' in config
    # Resuming a finished run trains nothing more.
    again = CliRunner().invoke(app, ["train", "--output", str(curated), "--run-id", "r1", *settings])
    assert again.exit_code == 0, again.output
    evaluated = CliRunner().invoke(app, ["evaluate", "--output", str(curated), "--checkpoint", str(checkpoint), "--split", "all"])
    assert evaluated.exit_code == 0, evaluated.output
    with duckdb.connect(str(curated / "catalog.duckdb"), read_only=True) as connection:
        rows = connection.execute(
            "SELECT task, metric, value FROM evaluations WHERE checkpoint_url = ? ORDER BY task, metric", [str(checkpoint)]).fetchall()
        baseline = connection.execute("SELECT count(*) FROM evaluations WHERE checkpoint_url LIKE 'untrained:%'").fetchone()[0]
        splits = connection.execute("SELECT DISTINCT split FROM evaluations WHERE checkpoint_url LIKE ?", [f"%{checkpoint}"]).fetchall()
    assert splits == [("all",)]  # --split all: the rows say training data was scored (checkpoint and baseline alike)
    assert {(t, m) for t, m, _ in rows} >= {("athletes", "ap50"), ("keypoints", "pck_cell"), ("camera", "reprojection_px"), ("align", "recall@1")}
    assert baseline == len(rows)
    assert dict(((t, m), v) for t, m, v in rows)[("event", "accuracy")] is None


def test_checkpoints_land_next_to_the_catalog_and_evaluate_finds_the_latest_run(curated, tmp_path, monkeypatch):
    """Typed from another folder with only --catalog: nothing is written under the working folder,
    and the printed hint (evaluate with no --checkpoint) scores the run just trained."""
    monkeypatch.chdir(tmp_path)
    catalog = curated / "catalog.duckdb"
    settings = ["--set", "train.steps=2", "--set", "train.batch_size=2", "--set", "model.window=2", "--set", "model.depth=1"]
    trained = CliRunner().invoke(app, ["train", "--catalog", str(catalog), "--run-id", "beside", *settings])
    assert trained.exit_code == 0, trained.output
    assert (curated / "models" / "beside" / "checkpoint.pt").is_file()
    assert not (tmp_path / "out").exists()
    hint = trained.output.strip().splitlines()[-1].split("evaluate it: ", 1)[1]
    args = hint.split()[1:] + ["--split", "all"]
    evaluated = CliRunner().invoke(app, args)
    assert evaluated.exit_code == 0, evaluated.output
    assert "latest finished training run beside" in evaluated.output
    assert "all matches (training data included)" in evaluated.output
    assert not (tmp_path / "out").exists()


def test_evaluate_without_a_training_run_says_what_to_do(tmp_path):
    from soccerfactory.storage.catalog import ensure_catalog

    ensure_catalog(tmp_path / "catalog.duckdb")
    result = CliRunner().invoke(app, ["evaluate", "--catalog", str(tmp_path / "catalog.duckdb")])
    assert result.exit_code == 2 and "no finished training run" in result.output and "soccerfactory train --catalog" in result.output


def test_a_single_task_checkpoint_evaluates_without_its_config(curated):
    settings = ["--set", "train.steps=2", "--set", "train.batch_size=2", "--set", "model.window=2", "--set", "model.depth=1",
                "--set", "model.heads=[camera]"]
    trained = CliRunner().invoke(app, ["train", "--output", str(curated), "--run-id", "camera-only", *settings])
    assert trained.exit_code == 0, trained.output
    checkpoint = curated / "models" / "camera-only" / "checkpoint.pt"
    evaluated = CliRunner().invoke(app, ["evaluate", "--output", str(curated), "--checkpoint", str(checkpoint), "--split", "all"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "camera/reprojection_px" in evaluated.output and "athletes/ap50" not in evaluated.output


def test_missing_catalog_and_bad_config_say_what_to_do(tmp_path, curated):
    result = CliRunner().invoke(app, ["train", "--output", str(tmp_path)])
    assert result.exit_code == 2 and "curate footage first" in result.output
    result = CliRunner().invoke(app, ["train", "--output", str(curated), "--set", "train.stepz=3"])
    assert result.exit_code == 2 and "stepz" in result.output
    result = CliRunner().invoke(app, ["train", "--output", str(curated), "--where", "k.match_id = 'nobody'"])
    assert result.exit_code == 2 and "no training windows" in result.output


def test_pipeline_curates_trains_and_evaluates_one_video(tmp_path):
    from soccerfactory.curation.synth import SynthConfig, render_clip

    render_clip(SynthConfig(seconds=1.0, seed=9, width=640, height=360), tmp_path / "clip")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "pipeline", str(tmp_path / "clip" / "video.mp4"), "--output", str(out),
        "--set", "train.steps=4", "--set", "train.batch_size=2", "--set", "model.window=2", "--set", "model.depth=1",
    ])
    assert result.exit_code == 0, result.output
    # One match: no held-out side, which the output says instead of scoring nothing.
    assert "(all)" in result.output and "athletes/ap50" in result.output
    with duckdb.connect(str(out / "catalog.duckdb"), read_only=True) as connection:
        shards = connection.execute("SELECT count(*) FROM shards").fetchone()[0]
        runs = connection.execute("SELECT status, steps FROM training_runs").fetchall()
        metrics = connection.execute("SELECT count(DISTINCT metric) FROM evaluations").fetchone()[0]
    assert shards == 1 and runs == [("completed", 4)] and metrics >= 5
    # The same footage again: nothing new is curated, so nothing is trained.
    again = CliRunner().invoke(app, ["pipeline", str(tmp_path / "clip" / "video.mp4"), "--output", str(out), "--set", "train.steps=4"])
    assert again.exit_code == 0 and "nothing trained" in again.output, again.output
    with duckdb.connect(str(out / "catalog.duckdb"), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM training_runs").fetchone()[0] == 1


def test_pipeline_with_a_missing_source_fails_it_alone_and_trains_nothing(tmp_path):
    result = CliRunner().invoke(app, ["pipeline", str(tmp_path / "nowhere.mp4"), "--output", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("failed: ")]
    assert str(tmp_path / "nowhere.mp4") in line and "does not exist" in line
    assert "nothing trained" in result.output and "Traceback" not in result.output
