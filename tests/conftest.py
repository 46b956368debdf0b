"""Session-wide hermetic environment: Prefect and ultralytics keep their state in temp dirs, offline.

The variables are applied in ``pytest_configure``, which runs before any test module is collected,
so before a test module's ``import prefect`` or ``import ultralytics`` reads them (both read their
settings at import). Nothing here imports Prefect or starts its API server: the ephemeral server is
started by the first test that runs a flow, and only then.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from soccerfactory.curation.runtime import configure_offline_ultralytics
from soccerfactory.flows.prefect_env import apply_env, hermetic_prefect_env

_ULTRALYTICS_VARIABLES = ("YOLO_OFFLINE", "YOLO_CONFIG_DIR", "ULTRALYTICS_SAFE_LOAD")


@dataclass(frozen=True)
class HermeticRuntime:
    """Where this test session's Prefect and ultralytics state lives."""

    prefect_home: Path
    yolo_config_dir: Path


_runtime: HermeticRuntime | None = None
_stack: ExitStack | None = None


def _session_dir(config: pytest.Config, name: str) -> Path:
    # pytest's own factory (set up by its tmpdir plugin's pytest_configure, which runs before this
    # trylast hook) puts the dir under the session's basetemp; fall back to a plain temp dir.
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is not None:
        return factory.mktemp(name, numbered=True)
    return Path(tempfile.mkdtemp(prefix=f"soccerfactory-{name}-"))


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    global _runtime, _stack
    prefect_home = _session_dir(config, "prefect-home")
    yolo_config_dir = _session_dir(config, "yolo-config")
    stack = ExitStack()
    stack.enter_context(apply_env(hermetic_prefect_env(prefect_home)))
    # s3:// in tests reaches moto's server on loopback only: no AWS credentials or config of the
    # machine's user, and no instance-metadata lookup (a request to 169.254.169.254) for them.
    stack.enter_context(apply_env({
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull,
        "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None,
    }))
    # configure_offline_ultralytics writes os.environ itself; restore the two variables afterwards.
    stack.enter_context(apply_env({name: os.environ.get(name) for name in _ULTRALYTICS_VARIABLES}))
    configure_offline_ultralytics(yolo_config_dir)
    _stack, _runtime = stack, HermeticRuntime(prefect_home=prefect_home, yolo_config_dir=yolo_config_dir)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _runtime, _stack
    if _stack is not None:
        _stack.close()
    _stack = _runtime = None


@pytest.fixture(scope="session", autouse=True)
def hermetic_runtime() -> HermeticRuntime:
    """The session's Prefect home and ultralytics config dir, with the environment pointing at them."""
    assert _runtime is not None, "tests/conftest.py pytest_configure did not run"
    assert os.environ.get("PREFECT_HOME") == str(_runtime.prefect_home.resolve()), (
        "PREFECT_HOME was changed after the session started"
    )
    assert os.environ.get("YOLO_CONFIG_DIR") == str(_runtime.yolo_config_dir.resolve())
    return _runtime


@pytest.fixture(scope="session")
def catalog(tmp_path_factory):
    """A real catalog of one ground-truth shard of a rendered 1 s clip (match m-five); copy before writing."""
    from soccerfactory.curation.synth import SynthConfig, render_clip
    from soccerfactory.curation.testing import groundtruth_shard
    from soccerfactory.storage.catalog import register_shards
    from soccerfactory.storage.shards import list_manifests

    base = tmp_path_factory.mktemp("model-data")
    render_clip(SynthConfig(seconds=1.0, seed=5, width=640, height=360), base / "clip")
    clip, tables = groundtruth_shard(base / "clip", base / "shards", match_id="m-five")
    path = base / "catalog.duckdb"
    register_shards(path, list_manifests(base / "shards"))
    return path, clip, tables


# --------------------------------------------------------------------------- S3 on loopback

_AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")


@pytest.fixture(scope="module")
def runtime_cache(tmp_path_factory):
    """A private runtime export cache for one test module (``SOCCERFACTORY_RUNTIME_CACHE``, restored afterwards)."""
    from soccerfactory.curation.runtimes import CACHE_ENV

    folder = tmp_path_factory.mktemp("runtime-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(folder))
        yield folder


@pytest.fixture
def no_network(monkeypatch) -> None:
    """Every socket refused for the test: creating one, connecting and resolving raise OSError (a
    model or library that reaches for the network at run time fails the test)."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network access attempted during an offline test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's S3 server (real HTTP S3) on 127.0.0.1 and a free port, one per test session: its URL."""
    import logging
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint, monkeypatch, tmp_path) -> tuple[str, str]:
    """A fresh bucket on :func:`moto_endpoint`: ``(s3://bucket, endpoint URL)``.

    No credential comes from the environment or the machine's ``~/.aws``: a test's own keys are the
    only ones (a run that reaches the bucket used them).
    """
    import uuid

    import boto3

    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    bucket = f"sf-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3", endpoint_url=moto_endpoint, aws_access_key_id="setup", aws_secret_access_key="setup", region_name="us-east-1"
    ).create_bucket(Bucket=bucket)
    return f"s3://{bucket}", moto_endpoint

