"""`soccerfactory deploy --pool`: the deployment registered to a Prefect work pool, whose workers run it.

Against a real Prefect server on loopback: the session's API server (a uvicorn subprocess, as
Prefect starts it), named in ``PREFECT_API_URL`` as a user's server would be, and read back with
the client. A pool that does not exist is refused in one line (exit 2) and registers nothing;
``deploy`` does not create pools (its error says how).
"""

from __future__ import annotations

import datetime
import os
import uuid
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from soccerfactory.flows.cli import app
from soccerfactory.flows.deploy import FLOW_NAME
from soccerfactory.flows.prefect_env import apply_env

_FAST = {"detect": {"imgsz": 320, "ball_slices": 0}, "run": {"max_parallel_clips": 1}}


@pytest.fixture
def prefect_api():
    """The URL of the session's Prefect API server, set as ``PREFECT_API_URL`` for the test."""
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the process's one instance (the flow tests' server)
    server.start()
    with apply_env({"PREFECT_API_URL": server.api_url}):
        yield server.api_url


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path, Path]:
    landing = tmp_path / "landing"
    landing.mkdir()
    config = tmp_path / "curate.yaml"
    config.write_text(yaml.safe_dump(_FAST))
    return landing, tmp_path / "out", config


def _deploy(*args: str):
    return CliRunner().invoke(app, ["deploy", *args])


def test_a_pool_that_does_not_exist_is_one_line_exit_2_and_registers_nothing(prefect_api, folders):
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    landing, output, config = folders
    pool, name = f"no-pool-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
    result = _deploy(str(landing), "--output", str(output), "--config", str(config), "--pool", pool, "--name", name)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and len(result.output.strip().splitlines()) == 1, result.output
    assert f"work pool '{pool}' does not exist" in result.output and f"prefect work-pool create {pool}" in result.output
    with get_client(sync_client=True) as client:
        with pytest.raises(ObjectNotFound):
            client.read_deployment_by_name(f"{FLOW_NAME}/{name}")
        with pytest.raises(ObjectNotFound):  # not created on the way either
            client.read_work_pool(pool)


def test_a_deployment_on_a_pool_records_the_pool_and_returns_without_serving(prefect_api, folders):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.workers.process import ProcessWorker

    landing, output, config = folders
    pool, name = f"gpu-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:  # what `prefect work-pool create POOL --type process` makes
        client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=ProcessWorker.get_default_base_job_template()))
    deployment = None
    try:
        result = _deploy(str(landing), "--output", str(output), "--config", str(config), "--every", "1h", "--pool", pool, "--name", name)
        assert result.exit_code == 0, result.output
        assert f"on work pool '{pool}' at {prefect_api}" in result.output
        assert f"prefect worker start --pool {pool}" in result.output
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(f"{FLOW_NAME}/{name}")
            runs_of_pool = client.read_work_queues(work_pool_name=pool)
        assert deployment.work_pool_name == pool
        assert deployment.work_queue_name in {queue.name for queue in runs_of_pool}  # the pool's queue its workers poll
        assert deployment.entrypoint == "soccerfactory.flows.deploy.curate_landing"
        assert [s.schedule.interval for s in deployment.schedules] == [datetime.timedelta(hours=1)]
        assert deployment.parameters["landing"] == str(landing.resolve()) and deployment.parameters["output"] == str(output.resolve())
        assert deployment.parameters["config"]["detect"]["imgsz"] == 320
        assert deployment.global_concurrency_limit.limit == 1  # still one run at a time, whoever runs it
        assert not deployment.paused
    finally:
        with get_client(sync_client=True) as client:
            if deployment is not None:
                client.delete_deployment(deployment.id)
            client.delete_work_pool(pool)
    assert os.environ["PREFECT_API_URL"] == prefect_api
