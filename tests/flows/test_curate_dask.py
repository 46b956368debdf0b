"""Curation over Prefect's DaskTaskRunner: real worker processes, real shards, a real DuckDB catalog.

The slow tests start real ``distributed`` clusters of worker *processes* (each imports torch and
loads the stages: about 10-20 s before its first frame on two busy cores). The fast ones check
what those rely on without a cluster: the cluster's arguments and that a clip's task, its inputs
and its outcome survive pickling (what Dask does to them on the way to a worker and back).
"""

from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from soccerfactory.curation.config import CurateConfig, load_config
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.video.clips import split_clips
from soccerfactory.curation.video.discover import discover_each
from soccerfactory.curation.video.scan import scan_video
from soccerfactory.flows.task_runners import THREAD_VARIABLES, curate_task_runner, local_cluster_kwargs, worker_threads
from soccerfactory.storage.failpoints import ENV_VAR as FAILPOINT
from soccerfactory.storage.shards import list_manifests

# The fastest curate config the flow tests use; every stage still runs.
FAST = ["detect.imgsz=320", "detect.ball_slices=0", "decode.jersey_fps=0.5", "decode.semantic_fps=0.5"]


@pytest.fixture(scope="module")
def two_clips(tmp_path_factory) -> Path:
    """A folder of two rendered 0.8 s 640x360 videos (20 frames each): two clips."""
    root = tmp_path_factory.mktemp("dask-renders")
    source = root / "source"
    source.mkdir()
    for seed in (401, 402):
        render_clip(SynthConfig(seconds=0.8, seed=seed, width=640, height=360), root / f"seed{seed}")
        shutil.copy(root / f"seed{seed}" / "video.mp4", source / f"s{seed}.mp4")
    return source


def _clip_rows(catalog: Path) -> list[tuple[str, int]]:
    with duckdb.connect(str(catalog), read_only=True) as db:
        return db.execute("SELECT clip_id, n_frames FROM clips ORDER BY clip_id").fetchall()


# --------------------------------------------------------------------------- fast


def test_a_local_cluster_is_worker_processes_sharing_the_cores():
    run = load_config(overrides=["run.task_runner=dask", "run.max_parallel_clips=3"]).run
    kwargs = local_cluster_kwargs(run, "http://127.0.0.1:8123/api", cores=8)
    assert kwargs["processes"] is True and kwargs["n_workers"] == 3 and kwargs["threads_per_worker"] == 1
    # 8 cores over 3 workers: 2 threads each for torch/OpenMP/BLAS, never 8 each.
    assert {kwargs["env"][name] for name in THREAD_VARIABLES} == {"2"}
    assert kwargs["env"]["PREFECT_API_URL"] == "http://127.0.0.1:8123/api"
    assert worker_threads(4, cores=2) == 1 and worker_threads(1, cores=2) == 2


def test_threads_stay_the_default_runner():
    from prefect.task_runners import ThreadPoolTaskRunner

    with curate_task_runner(CurateConfig().run) as runner:
        assert isinstance(runner, ThreadPoolTaskRunner) and runner._max_workers == 2


def test_what_a_clip_task_takes_and_returns_survives_pickling(two_clips, catalog):
    """Dask pickles the task's arguments to the worker and its outcome back to the flow."""
    import cloudpickle

    from soccerfactory.flows.curate import curate_clip
    from soccerfactory.storage.shards import list_manifests as manifests_of

    config = load_config(overrides=[*FAST, "run.task_runner=dask"])
    (item,), errors = discover_each([str(two_clips / "s401.mp4")])
    assert not errors
    (clip,) = split_clips(scan_video(item), max_clip_seconds=30)
    shard_root = Path(catalog[0]).parent / "shards"
    (manifest,) = manifests_of(shard_root)
    outcome = {"status": "curated", "clip": clip, "manifest": manifest, "seconds": 1.0}
    for value in (config, clip, outcome):
        assert pickle.loads(pickle.dumps(value)) == value
    assert pickle.loads(pickle.dumps(config)).config_hash() == config.config_hash()
    assert cloudpickle.loads(cloudpickle.dumps(curate_clip)).name == "curate-clip"


# --------------------------------------------------------------------------- real clusters


@pytest.mark.slow
def test_two_worker_processes_curate_two_clips_and_the_flow_registers_them(two_clips, tmp_path, monkeypatch, capfd):
    from soccerfactory.flows.curate import run_curate

    # Spawned workers inherit this: their progress lines are INFO log lines (the session is WARNING).
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "INFO")
    config = load_config(overrides=[*FAST, "run.task_runner=dask", "run.max_parallel_clips=2"])
    summary = run_curate(str(two_clips), str(tmp_path / "out"), config)
    assert summary.count("curated") == 2 and not summary.failures, summary.failures
    assert _clip_rows(tmp_path / "out" / "catalog.duckdb") == [("s401-000000-000020", 20), ("s402-000000-000020", 20)]
    assert len(list_manifests(tmp_path / "out")) == 2
    # The annotate task found no progress board: it ran in another process than the flow, and
    # said how far it got in log lines (a quarter at a time) instead.
    logged = capfd.readouterr()
    text = logged.out + logged.err
    for clip in ("s401-000000-000020", "s402-000000-000020"):
        assert re.search(rf"{clip}: \d+/20 frames", text), text[-3000:]


@pytest.mark.slow
def test_an_existing_scheduler_curates_and_a_rerun_skips(two_clips, tmp_path):
    from distributed import LocalCluster

    from soccerfactory.flows.curate import run_curate

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        config = load_config(overrides=[*FAST, "run.task_runner=dask", f"run.dask_address={cluster.scheduler_address}"])
        first = run_curate(str(two_clips / "s401.mp4"), str(tmp_path / "out"), config)
        again = run_curate(str(two_clips / "s401.mp4"), str(tmp_path / "out"), config)
        # The flow ran its tasks on the cluster's worker, not on a cluster of its own.
        assert cluster.scheduler_info["workers"] and len(cluster.workers) == 1
    assert first.count("curated") == 1 and not first.failures, first.failures
    assert again.count("skipped") == 1 and again.count("curated") == 0
    assert _clip_rows(tmp_path / "out" / "catalog.duckdb") == [("s401-000000-000020", 20)]


@pytest.mark.slow
def test_a_clip_whose_worker_dies_is_a_failure_and_the_run_finishes(two_clips, tmp_path):
    """A worker killed mid-clip (OOM, a crash; here a failpoint's SIGKILL before the manifest) is
    the clip's failure, recorded like a stage's error; no partial shard is committed."""
    import dask
    from distributed import LocalCluster

    from soccerfactory.flows.curate import run_curate

    # allowed-failures 0: the scheduler gives up on the first death instead of retrying 3 times.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
        env={FAILPOINT: "write-shard:before-manifest"},
    ) as cluster:
        config = load_config(overrides=[*FAST, "run.task_runner=dask", f"run.dask_address={cluster.scheduler_address}"])
        summary = run_curate(str(two_clips / "s402.mp4"), str(tmp_path / "out"), config)
    (failed,) = summary.failures
    assert failed["clip_id"] == "s402-000000-000020" and failed["stage"] == "curate-clip"
    assert "KilledWorker" in failed["reason"] and "\n" not in failed["reason"], failed
    assert list_manifests(tmp_path / "out") == []
    with duckdb.connect(str(tmp_path / "out" / "catalog.duckdb"), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM shards").fetchone()[0] == 0
        assert db.execute("SELECT clip_id, stage FROM failures").fetchall() == [("s402-000000-000020", "curate-clip")]


def test_a_dask_address_nobody_answers_is_refused_in_one_line():
    import socket

    from soccerfactory.flows.task_runners import check_dask_address

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ValueError, match=rf"run.dask_address tcp://127.0.0.1:{port}: no Dask scheduler answers") as error:
        check_dask_address(f"tcp://127.0.0.1:{port}")
    assert "\n" not in str(error.value)
    with socket.socket() as listening:  # something listens: accepted
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        check_dask_address(f"tcp://127.0.0.1:{listening.getsockname()[1]}")
