"""Curation on a schedule: the ``curate-landing`` flow, served as a Prefect deployment.

``soccerfactory deploy LANDING --output OUT --every 10m`` registers a deployment of
:func:`curate_landing` with a Prefect server (``PREFECT_API_URL``) and serves it: this process
polls the server and runs each scheduled (or manually triggered) flow run in a subprocess of its
own. Each run curates the whole landing folder with the config given at deploy time; clips whose
shards exist with the same key are skipped (the shard manifest is the cache record, see
:mod:`soccerfactory.flows.curate`), so a run curates only the files that landed since the last
one, and a run that finds nothing new finishes after one scan of the folder.

Why a flow of its own rather than serving ``curate``: a served flow runs with the task runner it
was declared with (the served subprocess imports it again by its module path), while
:func:`~soccerfactory.flows.curate.run_curate` picks the runner and its width from
``run.task_runner`` / ``run.max_parallel_clips``; ``curate`` is its subflow. Its parameters are
plain JSON (the resolved config as a dict), so the Prefect UI shows and can edit them.

Runs of one deployment never overlap: a deployment concurrency limit of 1 with the CANCEL_NEW
strategy cancels a scheduled run that comes due while the previous one is still curating (a
long match can outlast the interval); the next one picks up what it left. GPU work across every
run on the server is bounded by the ``gpu`` tag limit (:mod:`soccerfactory.flows.concurrency`).

The work-pool alternative (workers on GPU machines pull runs; ``--pool``): the deployment is
registered to a Prefect work pool and this process exits; ``prefect worker start --pool NAME``
on each machine with SoccerFactory installed runs them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.types.entrypoint import EntrypointType

from soccerfactory.curation.config import CurateConfig
from soccerfactory.storage.fs import local_path

__all__ = ["FLOW_NAME", "DeploySpec", "curate_landing", "deployment_name", "parse_every", "register", "serve"]

FLOW_NAME = "curate-landing"

#: Shortest schedule interval: a run that finds nothing new still scans every file of the
#: landing folder once (one decode pass each), so a tighter loop only burns CPU.
MIN_INTERVAL_S = 10

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@flow(name=FLOW_NAME, log_prints=True)
def curate_landing(landing: str, output: str, config: dict[str, Any] | None = None, catalog: str | None = None) -> dict[str, Any]:
    """Curate what is new in the landing folder (one scheduled pass).

    Args:
        landing: Folder (local path or fsspec URL) that footage is dropped into.
        output: Root of the shards.
        config: The resolved curation config (``CurateConfig`` as JSON); None = the defaults.
        catalog: DuckDB catalog file; None = ``OUTPUT/catalog.duckdb``.

    Returns:
        The run id and the clips curated, skipped (already done) and failed, with each failure.
    """
    from soccerfactory.flows.curate import run_curate

    resolved = CurateConfig.model_validate(config or {})
    summary = run_curate(landing, output, resolved, catalog)
    result = {
        "run_id": summary.run_id, "curated": summary.count("curated"), "skipped": summary.count("skipped"),
        "failed": len(summary.failures), "failures": [f"{f['reason']} (stage {f['stage']})" for f in summary.failures],
        "catalog": summary.catalog, "catalog_note": summary.catalog_note,
    }
    # A bad file in the landing folder is reported on every pass until it is removed; failing the
    # whole run for it would hide the passes that did curate new footage.
    print(f"{landing}: {result['curated']} clips curated, {result['skipped']} already done, {result['failed']} failed")
    for line in result["failures"]:
        print(f"failed: {line}")
    return result


@dataclasses.dataclass(frozen=True)
class DeploySpec:
    """What ``soccerfactory deploy`` registers and serves.

    Attributes:
        name: Deployment name (the full name is ``curate-landing/NAME``).
        landing: Landing folder; local paths absolute (the served runs start elsewhere).
        output: Root of the shards; local paths absolute.
        config: The validated curation config every run uses.
        catalog: DuckDB catalog file, or None for ``OUTPUT/catalog.duckdb``.
        interval_s: Seconds between runs, or None when ``cron`` schedules them.
        cron: A cron string (server time zone UTC unless ``timezone``), or None.
        timezone: IANA time zone of the cron schedule, or None for UTC.
        pool: Work pool to register the deployment to (not served here), or None to serve.
    """

    name: str
    landing: str
    output: str
    config: CurateConfig
    catalog: str | None = None
    interval_s: int | None = 600
    cron: str | None = None
    timezone: str | None = None
    pool: str | None = None

    @property
    def gpu_slots(self) -> int | None:
        return self.config.run.gpu_slots

    @property
    def full_name(self) -> str:
        return f"{FLOW_NAME}/{self.name}"

    def parameters(self) -> dict[str, Any]:
        """The deployment's parameters: every run's arguments of :func:`curate_landing`."""
        return {"landing": self.landing, "output": self.output, "config": self.config.model_dump(mode="json"), "catalog": self.catalog}

    def schedule(self) -> str:
        if self.cron is not None:
            return f"cron {self.cron!r}" + (f" ({self.timezone})" if self.timezone else " (UTC)")
        return f"every {self.interval_s} s"

    def describe(self) -> list[str]:
        """What would be registered, one line each (``deploy --dry-run``)."""
        lines = [
            f"deployment: {self.full_name} (entrypoint {curate_landing.__module__}.{curate_landing.fn.__name__})",
            f"schedule:   {self.schedule()}; one run at a time (a run that comes due while one is curating is cancelled)",
            f"landing:    {self.landing}",
            f"output:     {self.output}",
            f"catalog:    {self.catalog or 'OUTPUT/catalog.duckdb'}",
            f"gpu slots:  {self.gpu_slots if self.gpu_slots is not None else 'unchanged'} (Prefect tag limit 'gpu', server-wide)",
            f"config:     hash {self.config.config_hash()[:12]}, {self.config.run.max_parallel_clips} clips at once, {self.config.run.task_runner}",
            f"runs on:    {'workers of work pool ' + repr(self.pool) if self.pool else 'this process (served until stopped)'}",
            f"parameters: {json.dumps(self.parameters(), sort_keys=True)}",
        ]
        return lines

    def _options(self) -> dict[str, Any]:
        """Keyword arguments both ``Flow.to_deployment`` and ``Flow.serve`` take."""
        schedule: dict[str, Any] = {"interval": self.interval_s} if self.cron is None else {"cron": self.cron}
        if self.timezone and self.cron is not None:
            from prefect.client.schemas.schedules import CronSchedule

            schedule = {"schedules": [CronSchedule(cron=self.cron, timezone=self.timezone)]}
        return {
            **schedule,
            "parameters": self.parameters(),
            "paused": False,  # a re-served deployment whose schedule a previous stop paused runs again
            "description": f"Curate new footage in {self.landing} into {self.output} ({self.schedule()}).",
            "tags": ["soccerfactory", "curate"],
            # The module path, not the file: the served subprocess and pool workers import the
            # installed package, wherever they start.
            "entrypoint_type": EntrypointType.MODULE_PATH,
        }

    def _one_at_a_time(self) -> ConcurrencyLimitConfig:
        return ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def parse_every(text: str) -> int:
    """Seconds of an interval such as ``90s``, ``10m``, ``2h``, ``1d`` or ``600`` (seconds).

    Raises:
        ValueError: naming the value and the accepted forms; also below :data:`MIN_INTERVAL_S`.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text or "")
    if match is None:
        raise ValueError(f"--every {text!r} is not an interval; write e.g. 90s, 10m, 2h, 1d or a number of seconds")
    seconds = int(round(float(match.group(1)) * _UNITS[match.group(2) or "s"]))
    if seconds < MIN_INTERVAL_S:
        raise ValueError(f"--every {text!r} is shorter than {MIN_INTERVAL_S} s; each run scans the whole landing folder")
    return seconds


def deployment_name(landing: str) -> str:
    """A default deployment name from the landing folder's last part (``/data/landing`` -> ``landing``)."""
    tail = landing.rstrip("/").rsplit("/", 1)[-1]
    # Prefect refuses / % & > < in deployment names; keep it readable otherwise.
    return re.sub(r"[^A-Za-z0-9._-]+", "-", tail).strip("-.") or "landing"


def absolute(location: str) -> str:
    """A local path made absolute (served runs start in another folder); a URL as it is."""
    path = local_path(location)
    return str(Path(path).resolve()) if path is not None else location


def register(spec: DeploySpec) -> str:
    """Register (create or update) the deployment without serving it; set the gpu limit.

    With ``spec.pool`` the deployment is the pool's: its workers run it. Without, nothing runs it
    until :func:`serve` (or another process serving it) polls for its runs.

    Returns:
        The deployment's id.
    """
    _apply_gpu_slots(spec)
    deployment = curate_landing.to_deployment(
        name=spec.name, concurrency_limit=spec._one_at_a_time(), work_pool_name=spec.pool, **spec._options()
    )
    return str(deployment.apply())


def serve(spec: DeploySpec) -> None:
    """Register the deployment and run its flow runs from this process until it is stopped.

    SIGTERM or Ctrl-C stop it: Prefect's runner cancels a run in progress (its subprocess is
    ended; the next run redoes that clip) and the deployment is paused, so no scheduled runs pile
    up while nothing serves them; serving it again resumes it.
    """
    import warnings

    _apply_gpu_slots(spec)
    # Prefect 3.8.8's SIGTERM handler calls the async-dispatched Runner.stop from the event loop's
    # thread, which only creates the coroutine: a "never awaited" warning on every stop, nothing else.
    warnings.filterwarnings("ignore", message="coroutine 'Runner.astop' was never awaited", category=RuntimeWarning)
    try:
        curate_landing.serve(name=spec.name, global_limit=spec._one_at_a_time(), print_starting_message=False, **spec._options())
    finally:
        _pause(spec.full_name)


def _pause(full_name: str) -> None:
    """Pause the deployment. The runner's own pause on shutdown (``pause_on_shutdown``) did not
    happen on SIGTERM with Prefect 3.8.8 (its handler exits while the pause is awaited; measured:
    the deployment stayed active), so it is done here, after the runner has stopped."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            client.pause_deployment(client.read_deployment_by_name(full_name).id)
    except Exception as error:  # noqa: BLE001 - a server gone first; the schedule then stays as it was
        print(f"could not pause {full_name}: {type(error).__name__}: {error}")


def _apply_gpu_slots(spec: DeploySpec) -> None:
    if spec.gpu_slots is not None:
        from soccerfactory.flows.concurrency import set_gpu_slots

        set_gpu_slots(spec.gpu_slots)
