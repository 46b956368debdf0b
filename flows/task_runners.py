"""Where the curate flow's tasks run: threads of this process, or Dask worker processes.

``run.task_runner`` picks one (``threads``, the default, or ``dask``):

* ``threads``: Prefect's ``ThreadPoolTaskRunner`` with ``run.max_parallel_clips`` threads in the
  flow's process. The stages release the GIL in torch and OpenCV, but the Python between them
  (tracking, voting, layout) does not, so two clips on two threads share about one core.
* ``dask`` without ``run.dask_address``: a temporary ``distributed.LocalCluster`` of
  ``run.max_parallel_clips`` worker *processes* with one task thread each, started for the run and
  stopped after it. Each worker gets ``cores // workers`` threads for torch, OpenMP and BLAS (set
  in the worker's environment before it imports torch), so the workers together use every core
  without oversubscribing it.
* ``dask`` with ``run.dask_address`` (``tcp://host:8786``): an existing scheduler and the workers
  its owner started (``dask worker tcp://host:8786 --nworkers N --nthreads 1``, see the README's
  "Many machines"); their thread counts are set where they are started.

What stays in the flow's process either way: discovery results, every clip's outcome (a task's
return value travels back to the flow through Dask), and all catalog writes. Workers write shards
to the output root; the flow registers them, so DuckDB keeps its one writer.

The Prefect API the workers report to: a task run on a Dask worker is created and logged through
the Prefect API named in the settings the flow serializes with each task. With no
``PREFECT_API_URL`` Prefect starts a temporary server per *process* that needs one, so every worker
would start its own (about 10 s each, all on one sqlite file). :func:`curate_task_runner` therefore
starts that server once in the flow's process and hands its URL to the workers. It listens on
127.0.0.1, which workers on other machines cannot reach: a run across machines needs a Prefect
server they can reach (``prefect server start --host 0.0.0.0``) named in ``PREFECT_API_URL``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from soccerfactory.curation.config import RunConfig

__all__ = ["THREAD_VARIABLES", "check_dask_address", "curate_task_runner", "local_cluster_kwargs", "worker_threads"]

#: The variables that size the thread pools a worker's libraries start: torch's intra-op pool and
#: OpenMP read ``OMP_NUM_THREADS`` at import, MKL and OpenBLAS their own.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

logger = logging.getLogger(__name__)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's share), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # macOS and Windows have no affinity call
        return max(os.cpu_count() or 1, 1)


def worker_threads(n_workers: int, cores: int | None = None) -> int:
    """Threads per worker process so that ``n_workers`` workers share ``cores`` without
    oversubscribing them: ``cores // n_workers``, at least 1."""
    cores = available_cores() if cores is None else cores
    return max(cores // max(n_workers, 1), 1)


def local_cluster_kwargs(
    run: RunConfig, api_url: str | None, cores: int | None = None, extra_env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The ``distributed.LocalCluster`` arguments of a local run: ``run.max_parallel_clips`` worker
    processes, one task thread each, their libraries' threads sized by :func:`worker_threads`.

    Args:
        run: The run section of the config.
        api_url: The Prefect API the workers report to, set in their environment too (anything a
            worker logs outside a task run then reaches the same server).
        cores: Cores to share; default: this process's.
        extra_env: More variables for the workers' environment (the run's storage secrets as
            fsspec configuration, :func:`~soccerfactory.storage.fs_secrets.worker_env`): the
            cluster's arguments stay in this process, never in a Prefect record.
    """
    threads = str(worker_threads(run.max_parallel_clips, cores))
    env = {**(extra_env or {}), **{name: threads for name in THREAD_VARIABLES}}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return {
        "n_workers": run.max_parallel_clips,
        # Processes, not threads: with processes=False the workers were threads of the flow's
        # process and two clips ran at about 1.0x of one (the GIL between the stages' calls).
        "processes": True,
        # One clip per worker at a time; a clip's own parallelism is its libraries' threads above.
        "threads_per_worker": 1,
        "env": env,
        # bokeh (the dashboard's dependency) is not installed, so the dashboard would only warn.
        "dashboard_address": None,
        # Workers on loopback only: a local run opens no port to the network.
        "host": "127.0.0.1",
    }


@contextmanager
def curate_task_runner(run: RunConfig, worker_env: Mapping[str, str] | None = None) -> Iterator[TaskRunner]:
    """The task runner ``run`` asks for, with the Prefect API its workers report to held open.

    Use it around the flow call: ``with curate_task_runner(config.run) as runner:
    curate.with_options(task_runner=runner)(...)``. The runner itself starts and stops its
    cluster (if any) with the flow run.

    Args:
        run: The run section of the config.
        worker_env: Variables for the workers of a local cluster (storage secrets as fsspec
            configuration). Workers of ``run.dask_address`` were started elsewhere and keep their
            own environment: they need their own credentials (a warning says so).
    """
    if run.task_runner != "dask":
        yield ThreadPoolTaskRunner(max_workers=run.max_parallel_clips)
        return
    from prefect_dask import DaskTaskRunner

    # distributed logs every worker start and stop at INFO; progress lines would drown in it.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    with _api_for_workers() as api_url:
        if run.dask_address:
            check_dask_address(run.dask_address)
            _warn_unreachable_api(run.dask_address, api_url)
            if worker_env:
                logger.warning(
                    "storage secrets given to this run stay in this process: the workers of run.dask_address %s read the "
                    "store with their own credentials (environment, ~/.aws, fsspec config)", run.dask_address,
                )
            yield DaskTaskRunner(address=run.dask_address)
        else:
            yield DaskTaskRunner(cluster_kwargs=local_cluster_kwargs(run, api_url, extra_env=worker_env))


@contextmanager
def _api_for_workers() -> Iterator[str | None]:
    """The Prefect API URL for the workers, set in this process's settings while the flow runs.

    A configured ``PREFECT_API_URL`` is used as it is. Without one (Prefect's ephemeral mode) the
    temporary server is started here, in the flow's process, and named in the settings that the
    Dask task runner serializes with every task, so workers use it instead of starting their own.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        yield configured or None  # none at all: the flow's own client says what to set
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the process's one instance: the flow's client would start the same
    server.start()
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield server.api_url


def check_dask_address(address: str, timeout_s: float = 5.0) -> None:
    """Refuse a ``run.dask_address`` that no scheduler answers, in one line, before the run starts.

    Without this the first task waits Dask's 30 s connect timeout and the flow fails with a
    traceback after its run record is written. Only ``tcp://`` (Dask's default) is probed; other
    protocols (``tls://``, ``ucx://``) are left to Dask.

    Raises:
        ValueError: nothing listens at the address, naming it and what to do.
    """
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if parsed.scheme != "tcp":
        return
    try:
        port = parsed.port or 8786
        with socket.create_connection((parsed.hostname or "127.0.0.1", port), timeout=timeout_s):
            return
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    raise ValueError(
        f"run.dask_address {address}: no Dask scheduler answers there ({reason}); start one with "
        "`dask scheduler` (and workers with `dask worker ADDRESS`) or unset run.dask_address for a local cluster"
    )


def _warn_unreachable_api(address: str, api_url: str | None) -> None:
    """Say so when workers of a scheduler on another machine cannot reach a loopback Prefect API."""
    if api_url and _is_loopback(urlparse(api_url).hostname) and not _is_loopback(urlparse(address).hostname):
        logger.warning(
            "run.dask_address %s is another machine but the Prefect API is %s (this machine only): its workers "
            "cannot report; start `prefect server start --host 0.0.0.0` and set PREFECT_API_URL to it",
            address, api_url,
        )


def _is_loopback(host: str | None) -> bool:
    if not host or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: assume another machine
        return False
