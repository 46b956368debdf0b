"""A ``curate`` run's life around its clips: the run record and lock, the catalog registration
of its shards (deferred while another process holds the catalog), its failures and its summary.

``start_run`` locks the root and writes the ``running`` record, ``register`` (a task) registers
each committed shard, ``finish_run`` writes the final record and releases the lock, and
``abandon_run`` (the flow's failure and crash hook) marks a run that died. The guarantees these
keep are listed in :mod:`soccerfactory.flows.curate`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE

from soccerfactory.curation.config import CurateConfig
from soccerfactory.curation.video.checks import BadInputError
from soccerfactory.storage.catalog import CatalogLockedError
from soccerfactory.storage.failpoints import failpoint
from soccerfactory.storage.fs_secrets import mask_secrets
from soccerfactory.storage.manifest import ShardManifest
from soccerfactory.storage.run_records import scan_run_records, write_run_record
from soccerfactory.storage.runs import RunLock, owner_info
from soccerfactory.storage.sync import DeferredRegistration, sync_catalog

__all__ = [
    "CurateSummary", "abandon_run", "failure", "finish_run", "io_error", "one_line", "register", "run_registry", "start_run",
]


def io_error(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's retry_condition_fn signature
    """Retry only I/O trouble (a flaky bucket, a busy catalog), never a bad file or a bug."""
    try:
        state.result()
    except BadInputError:
        return False
    except (OSError, TimeoutError):
        return True
    except Exception:  # noqa: BLE001 - anything else is deterministic; retrying wastes time
        return False
    return False


def one_line(error: BaseException | str) -> str:
    """The first line of an error, named by its type unless it is a bad input (which names the file)."""
    text = str(error).strip() or type(error).__name__
    line = mask_secrets(text.splitlines()[0])  # a store's error may quote a credential of the run
    return line if isinstance(error, (BadInputError, str)) else f"{type(error).__name__}: {line}"


def failure(url: str, clip_id: str | None, stage: str, error: BaseException | str) -> dict[str, Any]:
    """One row of the run's ``failures``: the input, the clip (None for a whole source), the stage, why."""
    return {"source_url": url, "clip_id": clip_id, "stage": stage, "reason": one_line(error)}


@dataclasses.dataclass
class CurateSummary:
    """What one run did; ``failures`` holds one dict per bad input (source_url, clip_id, stage, reason)."""

    run_id: str
    output: str
    catalog: str
    clips: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    seconds: float
    #: shards written but not registered (the catalog was locked); the next run or `catalog sync` does it
    unregistered: int = 0
    #: why the catalog is behind this run and what registers the rest; None when it is up to date
    catalog_note: str | None = None
    #: match id -> its team-letter alignment (clips swapped, kept, ambiguous with reasons, sides)
    teams: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def count(self, status: str) -> int:
        return sum(1 for c in self.clips if c["status"] == status)


@task(name="register-shards", retries=3, retry_delay_seconds=2, retry_condition_fn=io_error, cache_policy=NONE)
def register(registry: DeferredRegistration, manifests: list[ShardManifest]) -> bool:
    """Register the shards, with every shard still pending; a locked catalog keeps them pending
    (True when the catalog took them)."""
    registered = registry.add(manifests)
    if not registered:
        get_run_logger().warning("%s; %d shards wait for it", registry.locked, len(registry.pending))
    return registered


@dataclasses.dataclass
class _RunState:
    """What a run holds between its start and its end (not JSON, so not in the run record)."""

    lock: RunLock
    registry: DeferredRegistration
    output: str
    storage_options: dict | None
    flow_run_id: str | None


#: run_id -> state of the runs of this process that have started and not ended.
_ACTIVE: dict[str, _RunState] = {}


def run_registry(run_id: str) -> DeferredRegistration:
    """The catalog registration of a run that has started and not ended."""
    return _ACTIVE[run_id].registry


def abandon_run(flow, flow_run, state) -> None:  # noqa: ANN001 - Prefect's state hook signature
    """A flow that raised or crashed: its record says so (not `running`) and its lock is dropped."""
    for run_id, active in list(_ACTIVE.items()):
        if active.flow_run_id != str(flow_run.id):
            continue
        _ACTIVE.pop(run_id, None)
        try:
            records = [r for r in scan_run_records(active.output, active.storage_options)[0] if r["run_id"] == run_id]
            if records and records[0]["status"] == "running":
                status = "interrupted" if state.is_crashed() else "failed"
                write_run_record(active.output, run_id, {**records[0], "status": status, "error": one_line(state.message or status)},
                                 storage_options=active.storage_options)
        finally:
            active.lock.release()


def _default_catalog(output: str) -> str:
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(output)
    if "file" not in fs.protocol and "local" not in fs.protocol:
        raise ValueError(f"output {output} is not a local folder; pass catalog=PATH for the DuckDB file")
    return str(path.rstrip("/") + "/catalog.duckdb")


def start_run(source, output: str, catalog: str | None, config: CurateConfig, storage_options: dict | None) -> dict[str, Any]:
    """Lock the run, write its first record (``running``) and bring the catalog up to date; the record."""
    from prefect.runtime import flow_run

    run = {
        "run_id": dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6],
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "source": source if isinstance(source, str) else " ".join(source),
        "output": output,
        "catalog": catalog or _default_catalog(output),
        "config_hash": config.config_hash(),
        "status": "running",
        "flow_run_id": str(flow_run.id) if flow_run.id else None,
        "failures": [],
        **owner_info(),  # host and pid: how a run on a remote root is found dead (storage/runs.py)
    }
    # The lock before the first record: a `running` record whose lock is free is a dead run.
    lock = RunLock(output, run["run_id"], storage_options)
    failpoint("run:locked")
    try:
        write_run_record(output, run["run_id"], run, storage_options=storage_options)
    except BaseException:  # no record, no run: nothing else would release the lock (the failure hook finds no run)
        lock.release()
        raise
    registry = DeferredRegistration(run["catalog"], output, storage_options, wait_s=config.run.catalog_wait_s)
    _ACTIVE[run["run_id"]] = _RunState(lock, registry, output, storage_options, run["flow_run_id"])
    failpoint("run:started")
    # Mark dead runs, register what earlier runs left unregistered, and create the tables and views
    # (analysts' queries must find them even when every clip of the first run fails).
    try:
        report = sync_catalog(output, run["catalog"], storage_options, wait_s=config.run.catalog_wait_s)
    except CatalogLockedError as error:
        registry.defer(error)
        print(f"{registry.locked}; the run goes on and registers its shards when the catalog is free")
    else:
        if report.registered or report.unregistered or report.interrupted or report.tidied or report.problems:
            print(report.line())
    return run


def finish_run(run, results, failures, output: str, storage_options, teams: dict[str, dict[str, Any]] | None = None) -> CurateSummary:
    """Register what is left, write the final record, release the lock; the run's summary.

    ``teams``: match id -> its team-letter alignment, kept in the run record as ``team_alignment``."""
    active = _ACTIVE[run["run_id"]]
    active.registry.flush()  # shards the catalog refused earlier: one more try, with the full wait
    failpoint("run:before-end-record")
    started = dt.datetime.fromisoformat(run["started_at"])
    finished = dt.datetime.now(dt.timezone.utc)
    run.update(
        finished_at=finished.isoformat(),
        status="completed" if not failures else "completed_with_failures",
        n_clips=len(results) + sum(1 for f in failures if f["clip_id"] is None),
        n_curated=sum(r["status"] == "curated" for r in results),
        n_skipped=sum(r["status"] == "skipped" for r in results),
        # Curated clips whose detect-track-calibrate pass came from OUTPUT/.cache/spatial (curation/spatial_cache.py).
        n_spatial_cached=sum(bool(r.get("spatial_cached")) for r in results),
        n_failed=len(failures),
        failures=failures,
        n_deferred=len(active.registry.pending),  # shards left for the next run or `catalog sync` to register
        n_team_swapped=sum(len(t.get("swapped", [])) for t in (teams or {}).values()),
        team_alignment=teams or {},
        # Seconds each clip spent in its own chain (model loading, annotate, attribute, vote,
        # write; ~0 for a skipped clip): the run's wall time less their sum is what orchestration,
        # scanning and registration cost (flows/bench_overhead.py).
        clip_times=[
            {"match_id": r["clip"].match_id, "clip_id": r["clip"].clip_id, "status": r["status"], "seconds": round(float(r["seconds"]), 3)}
            for r in results
        ],
    )
    write_run_record(output, run["run_id"], run, storage_options=storage_options)
    failpoint("run:after-end-record")
    active.registry.record_run(run)
    # Released after the last record: from here on every observer sees a finished run.
    _ACTIVE.pop(run["run_id"], None)
    active.lock.release()
    rows = [
        {
            "clip": r["clip"].clip_id, "match": r["clip"].match_id, "status": r["status"],
            "frames": r.get("frames", ""), "athlete_rows": r.get("athlete_rows", ""), "tracks": r.get("tracks", ""),
            "calibrated": f"{r['calibrated']:.0%}" if "calibrated" in r else "", "seconds": round(r["seconds"], 1),
        }
        for r in results
    ] + [
        {"clip": f["clip_id"] or f["source_url"], "match": "", "status": f"failed ({f['stage']})", "frames": "",
         "athlete_rows": "", "tracks": "", "calibrated": "", "seconds": f["reason"]}
        for f in failures
    ]
    create_table_artifact(key="curate-run", table=rows, description=f"curate run {run['run_id']}: {run['status']}")
    return CurateSummary(
        run_id=run["run_id"], output=output, catalog=run["catalog"],
        clips=[{k: v for k, v in r.items() if k not in ("manifest",)} for r in results], failures=failures,
        seconds=(finished - started).total_seconds(), unregistered=len(active.registry.pending),
        catalog_note=active.registry.message(output) if active.registry.deferred else None, teams=teams or {},
    )
