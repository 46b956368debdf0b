"""S3 credentials given to ``run_curate`` reach the bucket but no Prefect record, log or output file.

A real curate run from ``s3://`` to ``s3://`` against moto's S3 server on loopback (real HTTP,
real s3fs), with the machine's AWS credentials pointed away (tests/conftest.py), so the run can
only succeed with the keys it was given. Then the flow run, its task runs and its logs are read
back from the session's Prefect API, and the API's database file, the bucket and the local
catalog are searched byte for byte for the two key strings. A control flow that does take a
secret as a parameter shows that the same read-back finds one.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from pathlib import Path

import fsspec.config
import pytest
from prefect import flow

from soccerfactory.curation.config import load_config
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.storage.fs import resolve_url

FAST = ["detect.imgsz=320", "detect.ball_slices=0", "decode.jersey_fps=0.5", "decode.semantic_fps=0.5", "run.max_parallel_clips=1"]


@pytest.fixture
def moto_s3(s3_bucket):
    """A fresh bucket on the session's moto server (tests/conftest.py): ``(s3://bucket, endpoint)``."""
    return s3_bucket


def _api_records(flow_run_id: str) -> str:
    """The flow run, its task runs and its logs as the Prefect API returns them, as one JSON text."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId

    from soccerfactory.flows.prefect_env import _drain_prefect_workers

    _drain_prefect_workers()  # logs and events still queued in this process reach the server first
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
    return json.dumps(
        {"flow_run": run.model_dump(mode="json"), "task_runs": [t.model_dump(mode="json") for t in tasks],
         "logs": [entry.model_dump(mode="json") for entry in logs]}
    )


def _database_bytes() -> bytes:
    """Prefect's sqlite database of this session (and its write-ahead log), as stored on disk."""
    home = Path(os.environ["PREFECT_HOME"])
    return b"".join(path.read_bytes() for path in sorted(home.glob("prefect.db*")))


@flow(name="takes-a-secret")
def _leaky(storage_options: dict) -> int:
    return len(storage_options)


def test_the_read_back_finds_a_secret_that_is_a_flow_parameter():
    """The control: a flow given a secret as a parameter has it in its API record and the database."""
    marker = f"control-{uuid.uuid4().hex}"
    state = _leaky(storage_options={"secret": marker}, return_state=True)
    assert marker in _api_records(str(state.state_details.flow_run_id))
    assert marker.encode() in _database_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["threads", "dask"])
def test_keys_given_to_run_curate_reach_the_bucket_and_no_prefect_record(moto_s3, tmp_path, runner):
    import fsspec.config

    from soccerfactory.flows.curate import run_curate
    from soccerfactory.storage.run_records import scan_run_records

    bucket, endpoint = moto_s3
    key, secret = f"AKIA{uuid.uuid4().hex[:16].upper()}", f"sf-secret-{uuid.uuid4().hex}"
    options = {"key": key, "secret": secret, "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    assert not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_SECRET_ACCESS_KEY")
    render_clip(SynthConfig(seconds=0.8, seed=404, width=640, height=360), tmp_path / "render")
    fs, _ = resolve_url(bucket, options)
    fs.put_file(str(tmp_path / "render" / "video.mp4"), f"{bucket}/landing/kickoff.mp4")
    source, output, catalog = f"{bucket}/landing", f"{bucket}/curated", tmp_path / "catalog.duckdb"
    config = load_config(overrides=[*FAST, f"run.task_runner={runner}"])
    before = json.dumps(fsspec.config.conf, default=str)

    summary = run_curate(source, output, config, catalog=str(catalog), storage_options=options)

    # The keys were used: without them (no AWS variables or files here) nothing reaches the bucket.
    assert summary.count("curated") == 1 and not summary.failures, summary.failures
    assert json.dumps(fsspec.config.conf, default=str) == before  # the run's fsspec config is gone with it
    (record,) = scan_run_records(output, options)[0]
    records = _api_records(record["flow_run_id"])
    flow_run = json.loads(records)["flow_run"]
    # The flow's parameter keeps the public options (the endpoint), without the keys.
    assert flow_run["parameters"]["storage_options"] == {"client_kwargs": options["client_kwargs"]}
    assert len(json.loads(records)["task_runs"]) >= 5  # discover, scan, curate-clip, annotate, ... were read back
    for text in (key, secret):
        assert text not in records
        assert text.encode() not in _database_bytes()
        assert text not in json.dumps(record)  # the run record in the bucket
        for path in fs.find(output):  # shards, manifests, scan cache, run records, locks
            assert text.encode() not in fs.cat_file(path), path
        assert text.encode() not in catalog.read_bytes()


@pytest.mark.parametrize("command", ["curate", "deploy"])
def test_a_source_url_with_a_password_is_one_line_exit_2_before_anything_is_written(tmp_path, command):
    from typer.testing import CliRunner

    from soccerfactory.flows.cli import app

    output = tmp_path / "out"
    arguments = [command, "ftp://editor:hunter2@127.0.0.1/landing", "--output", str(output)]
    result = CliRunner().invoke(app, arguments + (["--dry-run"] if command == "deploy" else []))
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ftp://***@127.0.0.1/landing has a password in it"), result.output
    assert len(result.output.strip().splitlines()) == 1 and "hunter2" not in result.output
    assert not output.exists()


def test_a_presigned_source_url_is_one_line_exit_2_before_anything_is_written(tmp_path):
    from typer.testing import CliRunner

    from soccerfactory.flows.cli import app

    output = tmp_path / "out"
    url = "https://127.0.0.1:9/bucket/clip.mp4?X-Amz-Expires=600&X-Amz-Signature=feedSECRET"
    result = CliRunner().invoke(app, ["curate", url, "--output", str(output)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: https://127.0.0.1:9/bucket/clip.mp4?*** carries a credential in its query (X-Amz-Signature)"), result.output
    assert len(result.output.strip().splitlines()) == 1 and "feedSECRET" not in result.output
    assert not output.exists()


def test_run_curate_refuses_a_url_with_a_password_before_the_flow_starts(tmp_path):
    from soccerfactory.flows.curate import run_curate

    with pytest.raises(ValueError, match=r"^ftp://\*\*\*@host/in has a password in it") as error:
        run_curate("ftp://editor:hunter2@host/in", str(tmp_path / "out"))
    assert "hunter2" not in str(error.value) and not (tmp_path / "out").exists()


def test_a_local_clusters_workers_get_the_secrets_in_their_environment_and_a_remote_scheduler_is_warned(caplog):
    from soccerfactory.curation.config import RunConfig
    from soccerfactory.flows.task_runners import THREAD_VARIABLES, curate_task_runner, local_cluster_kwargs

    secrets = {"FSSPEC_S3": '{"secret": "s"}', "OMP_NUM_THREADS": "64"}
    env = local_cluster_kwargs(RunConfig(task_runner="dask", max_parallel_clips=2), None, cores=4, extra_env=secrets)["env"]
    assert env["FSSPEC_S3"] == secrets["FSSPEC_S3"]
    assert all(env[name] == "2" for name in THREAD_VARIABLES)  # the thread sizing is not overridable from here
    # Workers of a scheduler started elsewhere keep their own environment: the run says so.
    with socket.socket() as listener:  # something answers at the address (the probe only connects)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        with caplog.at_level(logging.WARNING, logger="soccerfactory.flows.task_runners"):
            with curate_task_runner(RunConfig(task_runner="dask", dask_address=address), worker_env=secrets):
                pass
            with curate_task_runner(RunConfig(task_runner="dask", dask_address=address)):
                pass
    warnings = [r.getMessage() for r in caplog.records if "storage secrets" in r.getMessage()]
    assert len(warnings) == 1 and address in warnings[0] and "own credentials" in warnings[0]
    assert '"s"' not in warnings[0]


class _Outsider(threading.Thread):
    """Other code in the process while a run goes on (another flow, a library): a thread started
    without the run's context that keeps reading fsspec's process-wide config and the environment,
    and keeps trying the bucket with options of its own and no keys."""

    def __init__(self, bucket: str, endpoint: str, secrets: tuple[str, ...]) -> None:
        super().__init__(daemon=True)
        self.bucket, self.endpoint, self.secrets = bucket, endpoint, secrets
        self.samples: list[float] = []  # times (epoch seconds) at which nothing was found
        self.leaks: list[str] = []
        self.listed: list[str] = []  # what a bucket listing without keys returned (nothing, ever)
        self.stop = threading.Event()

    def run(self) -> None:
        import time

        import fsspec
        import fsspec.config

        last_try = 0.0
        while not self.stop.is_set():
            snapshot = json.dumps(fsspec.config.conf, default=str) + json.dumps(dict(os.environ))
            self.leaks += [f"config/environ holds {text[:4]}..." for text in self.secrets if text in snapshot]
            fs, _ = fsspec.core.url_to_fs(self.bucket, client_kwargs={"endpoint_url": self.endpoint}, skip_instance_cache=True)
            if fs.key is not None or fs.secret is not None:
                self.leaks.append("a filesystem built outside the run got keys")
            if time.time() - last_try > 0.5:  # a real request: no keys from anywhere, so refused
                last_try = time.time()
                try:
                    self.listed.append(json.dumps(fs.ls(self.bucket)))
                except Exception:  # noqa: BLE001 - NoCredentialsError is what is expected
                    pass
            self.samples.append(time.time())
            self.stop.wait(0.02)


def _epoch(iso: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(iso).timestamp()


@pytest.mark.slow
def test_a_runs_keys_are_never_in_fsspecs_config_during_or_after_a_run_or_a_failed_one(moto_s3, tmp_path):
    """The keys travel as the run's own storage options: a thread outside the run never finds them
    in fsspec's config or the environment, nor reaches the bucket, while a real curate runs over
    moto (which only succeeds with them); a run failing midway (its catalog cannot be created, after
    its lock and record are in the bucket) leaves nothing behind and still marks its record failed."""
    from soccerfactory.flows.curate import run_curate
    from soccerfactory.storage.fs_secrets import with_run_secrets
    from soccerfactory.storage.run_records import scan_run_records

    bucket, endpoint = moto_s3
    key, secret = f"AKIA{uuid.uuid4().hex[:16].upper()}", f"sf-secret-{uuid.uuid4().hex}"
    options = {"key": key, "secret": secret, "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    render_clip(SynthConfig(seconds=0.8, seed=405, width=640, height=360), tmp_path / "render")
    fs, _ = resolve_url(bucket, options)
    fs.put_file(str(tmp_path / "render" / "video.mp4"), f"{bucket}/landing/kickoff.mp4")
    config = load_config(overrides=FAST)
    outsider = _Outsider(bucket, endpoint, (key, secret))
    outsider.start()
    try:
        summary = run_curate(f"{bucket}/landing", f"{bucket}/curated", config, catalog=str(tmp_path / "catalog.duckdb"),
                             storage_options=options)
        assert summary.count("curated") == 1 and not summary.failures, summary.failures  # the keys reached the bucket
        # A run that fails after its lock and first record are in the bucket: its catalog's folder is a file.
        (tmp_path / "not-a-folder").write_text("x")
        with pytest.raises(Exception) as failed:
            run_curate(f"{bucket}/landing", f"{bucket}/failing", config, catalog=str(tmp_path / "not-a-folder" / "c.duckdb"),
                       storage_options=options)
    finally:
        outsider.stop.set()
        outsider.join()
    assert not outsider.leaks and not outsider.listed, (outsider.leaks, outsider.listed)
    (done,) = scan_run_records(f"{bucket}/curated", options)[0]
    during = [t for t in outsider.samples if _epoch(done["started_at"]) <= t <= _epoch(done["finished_at"])]
    assert len(during) >= 10, len(during)  # the outsider looked while the run was going on
    (record,) = scan_run_records(f"{bucket}/failing", options)[0]
    assert record["status"] == "failed", record  # the failure hook still reached the bucket with the run's keys
    assert key not in str(failed.value) and secret not in str(failed.value)
    assert key not in json.dumps(record) and secret not in json.dumps(record)
    # After both runs: nothing in the config, the environment or this context.
    snapshot = json.dumps(fsspec.config.conf, default=str) + json.dumps(dict(os.environ))
    assert key not in snapshot and secret not in snapshot
    assert with_run_secrets(f"{bucket}/curated", None) == {}
