"""The ``curate`` flow: broadcast footage in, SoccerFactory shards and a DuckDB catalog out.

Reading order: :func:`curate` is the pipeline; every task below it is a thin wrapper around a
plain function in ``curation/`` or ``storage/``.

Guarantees a data engineer can rely on:

* A clip whose shard already exists with the same key (clip content hash + config hash + code
  version) is skipped: the shard's manifest is the cache record, so re-running adds no rows, and
  deleting a shard re-creates exactly that shard (a Prefect result cache would not notice).
* A bad input fails alone: it is recorded in ``failures`` with a one-line reason naming the file,
  the other clips carry on, and the run reports that some inputs failed. Every source given
  yields clips or a failure (one that does not exist, is no video, is too small or too short).
* Ids come from the path below the source given (``curation/source_ids.py``); a source or clip
  whose id already names a shard of other footage is a failure (stage ``id-collision``) naming
  both sources, and that shard is never overwritten.
* Shards are committed by writing their manifest last, and only committed shards are registered;
  a run killed at any point leaves no partial shard visible, and the next run does the rest.
* Only the flow's own thread writes to the catalog (DuckDB allows one writer). A catalog held
  by another process (a notebook's read-only connection) never stops the run: the shards are
  written, their registration is retried after each clip and at the end, and what is left is
  registered by the next run or ``soccerfactory catalog sync`` (``storage/sync.py``).
* Runs may share a root: each holds a lock for its life, so a killed run is found dead and marked
  ``interrupted`` by the next one, and each clip is claimed while it is curated, so two runs never
  write the same shard at once (``storage/runs.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import time
import uuid
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from soccerfactory.curation.pipeline import annotate_spatial, attribute_clip, vote_clip
from soccerfactory.curation.input_checks import no_clip_reason
from soccerfactory.curation.source_ids import collision_reason
from soccerfactory.curation.video import BadInputError, ClipSpec, SourceItem, discover_each, scan_video, split_clips
from soccerfactory.flows.backends import check_config, code_version, load_stages
from soccerfactory.flows.config import CurateConfig
from soccerfactory.storage.catalog import CatalogLockedError
from soccerfactory.storage.failpoints import failpoint
from soccerfactory.storage.runs import RunLock, claim_clip, owner_info
from soccerfactory.storage.sync import DeferredRegistration, sync_catalog
from soccerfactory.storage.shards import (
    ShardCollisionError, ShardManifest, clip_content_hash, find_manifest, find_manifests_by_prefix, scan_run_records, verify_shard,
    write_run_record, write_shard,
)

__all__ = ["curate", "run_curate", "CurateSummary", "shard_key"]


def _io_error(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's retry_condition_fn signature
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


def shard_key(clip: ClipSpec, config_hash: str) -> str:
    """The cache key of a clip's shard: its content, the config and the code that made it."""
    text = f"{clip.content_hash}:{config_hash}:{code_version()}"
    return hashlib.sha256(text.encode()).hexdigest()


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

    @property
    def ok(self) -> bool:
        return not self.failures

    def count(self, status: str) -> int:
        return sum(1 for c in self.clips if c["status"] == status)


# --------------------------------------------------------------------------- tasks


@task(name="discover-sources", retries=2, retry_delay_seconds=1, retry_condition_fn=_io_error, cache_policy=NONE)
def discover(source: str | list[str], storage_options: dict | None) -> tuple[list[SourceItem], list[BadInputError]]:
    # Each source given is discovered on its own: one bad path must not hide the others.
    return discover_each([source] if isinstance(source, str) else source, storage_options=storage_options)


@task(name="scan-source", tags=["io"], retries=2, retry_delay_seconds=1, retry_condition_fn=_io_error, cache_policy=NONE)
def scan_and_split(item: SourceItem, config: CurateConfig, storage_options: dict | None) -> list[ClipSpec]:
    """One decode pass: validate the file and find camera cuts; return its clips."""
    params = {} if config.clips.cut_threshold is None else {"cut_threshold": config.clips.cut_threshold}
    scan = scan_video(
        item, storage_options=storage_options, min_width=config.clips.min_width, min_height=config.clips.min_height, **params
    )
    clips = split_clips(scan, max_clip_seconds=config.clips.max_clip_seconds, min_clip_frames=config.clips.min_clip_frames)
    if not clips:  # a source that yields nothing is a failure, never a silent drop
        raise BadInputError(item.url, no_clip_reason(scan, config.clips.min_clip_frames))
    return clips


@task(name="annotate-spatial", tags=["gpu"], cache_policy=NONE)
def annotate(clip: ClipSpec, config: CurateConfig, storage_options: dict | None):
    logger = get_run_logger()
    marks = set()

    def progress(done: int, total: int) -> None:
        quarter = 4 * done // max(total, 1)
        if quarter not in marks and quarter < 4:
            marks.add(quarter)
            logger.info("%s: %d/%d frames", clip.clip_id, done, total)

    return annotate_spatial(
        clip, load_stages(config), batch_size=config.decode.batch_size, stride=config.decode.spatial_stride,
        semantic_fps=config.decode.semantic_fps, storage_options=storage_options, progress=progress,
    )


@task(name="attribute", tags=["gpu"], cache_policy=NONE)
def attribute(spatial, config: CurateConfig):
    return attribute_clip(spatial, load_stages(config), max_crops_per_track=config.attribute.max_crops_per_track)


@task(name="vote", cache_policy=NONE)
def vote(spatial, attributes, config: CurateConfig, info: dict[str, str]):
    return vote_clip(
        spatial, attributes, jersey_min_confidence=config.attribute.jersey_min_confidence,
        min_votes=config.vote.min_votes, link_by_jersey=config.vote.link_by_jersey, shard_info=info,
    )


@task(name="write-shard", retries=3, retry_delay_seconds=2, retry_condition_fn=_io_error, cache_policy=NONE)
def write(
    output: str, clip: ClipSpec, key: str, tables, config: CurateConfig, run_id: str, storage_options: dict | None
) -> ShardManifest:
    stages = load_stages(config)
    return write_shard(
        output, clip.match_id, clip.clip_id, key, tables, config_hash=config.config_hash(), code_version=code_version(),
        metadata={"run_id": run_id, "config": config.model_dump(mode="json"), "models": stages.versions, "clip": dataclasses.asdict(clip)},
        storage_options=storage_options, expected_content_hash=clip.content_hash,
    )


@task(name="curate-clip", cache_policy=NONE)
def curate_clip(clip: ClipSpec, output: str, config: CurateConfig, run_id: str, storage_options: dict | None) -> dict[str, Any]:
    """The chain for one clip; each step is its own task run in the Prefect UI.

    The clip is claimed first (local roots): a run that reaches a clip another run is curating
    waits for it, then finds its committed shard and skips it instead of writing it again.
    """

    def waiting(holder: str) -> None:
        get_run_logger().info("%s: run %s is curating this clip; waiting for it", clip.clip_id, holder)

    with claim_clip(output, clip.match_id, clip.clip_id, run_id, storage_options, on_wait=waiting):
        return _curate_clip(clip, output, config, run_id, storage_options)


def _curate_clip(clip: ClipSpec, output: str, config: CurateConfig, run_id: str, storage_options: dict | None) -> dict[str, Any]:
    started = time.perf_counter()
    config_hash = config.config_hash()
    key = shard_key(clip, config_hash)
    try:
        existing = find_manifest(output, clip.match_id, clip.clip_id, storage_options=storage_options)
    except ValueError as error:  # a corrupt manifest: the shard is rewritten below
        get_run_logger().warning("%s: existing shard unreadable (%s); curating it again", clip.clip_id, _one_line(error))
        existing = None
    if existing is not None and existing.shard_key == key:
        # Skip only a shard whose files still match the manifest (size and sha256): a truncated
        # or damaged file is curated again (the write replaces exactly the bad files).
        damage = verify_shard(existing, storage_options=storage_options)
        if damage is None:
            return {"status": "skipped", "clip": clip, "manifest": existing, "seconds": 0.0}
        get_run_logger().warning("%s: existing shard is damaged (%s); curating it again", clip.clip_id, damage)
    if existing is not None and clip_content_hash(existing) not in (None, clip.content_hash):
        # Same id, other footage (two sources that derived one id): never overwrite, say whose.
        return _collision(clip, existing.metadata.get("clip", {}).get("url"), existing.url, started)
    stage = "annotate-spatial"
    try:
        spatial = annotate(clip, config, storage_options)
        stage = "attribute"
        attributes = attribute(spatial, config)
        stage = "vote"
        info = {"config_hash": config_hash, "code_version": code_version(), "shard_key": key}
        tables = vote(spatial, attributes, config, info)
        stage = "write-shard"
        manifest = write(output, clip, key, tables, config, run_id, storage_options)
    except ShardCollisionError as error:  # another run committed this id since the check above
        return _collision(clip, error.existing_source, error.manifest_url, started)
    except Exception as error:  # noqa: BLE001 - one bad clip must not stop the run; it is recorded
        return {"status": "failed", "clip": clip, "stage": stage, "reason": _one_line(error), "seconds": time.perf_counter() - started}
    athletes = tables["athletes"]
    cameras = tables["cameras"]
    return {
        "status": "curated", "clip": clip, "manifest": manifest, "seconds": time.perf_counter() - started,
        "frames": spatial.n_frames, "athlete_rows": athletes.num_rows,
        "tracks": len(set(athletes.column("track_id").to_pylist())),
        "calibrated": sum(cameras.column("valid_camera").to_pylist()) / max(cameras.num_rows, 1),
    }


@task(name="register-shards", retries=3, retry_delay_seconds=2, retry_condition_fn=_io_error, cache_policy=NONE)
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


def _abandon_run(flow, flow_run, state) -> None:  # noqa: ANN001 - Prefect's state hook signature
    """A flow that raised or crashed: its record says so (not `running`) and its lock is dropped."""
    for run_id, active in list(_ACTIVE.items()):
        if active.flow_run_id != str(flow_run.id):
            continue
        _ACTIVE.pop(run_id, None)
        try:
            records = [r for r in scan_run_records(active.output, active.storage_options)[0] if r["run_id"] == run_id]
            if records and records[0]["status"] == "running":
                status = "interrupted" if state.is_crashed() else "failed"
                write_run_record(active.output, run_id, {**records[0], "status": status, "error": _one_line(state.message or status)},
                                 storage_options=active.storage_options)
        finally:
            active.lock.release()


# --------------------------------------------------------------------------- the flow


@flow(name="curate", log_prints=True, on_failure=[_abandon_run], on_crashed=[_abandon_run])
def curate(
    source: str | list[str],
    output: str = "out",
    config: CurateConfig | None = None,
    catalog: str | None = None,
    storage_options: dict | None = None,
) -> CurateSummary:
    """Curate every clip of ``source`` into shards under ``output`` and catalogue them.

    Args:
        source: fsspec URL (or list) of a video, a folder of videos / image-sequence folders.
        output: Root URL of the shards (local path, ``memory://``, ``s3://...``).
        config: The stage config; defaults to the bundled models.
        catalog: DuckDB file; defaults to ``<output>/catalog.duckdb``.
    """
    config = config or CurateConfig()
    check_config(config)  # the chain and every weights file, before a frame is decoded
    run = _start_run(source, output, catalog, config, storage_options)
    items, failures = _discover(source, storage_options)
    clips = []
    for item, future in [(i, scan_and_split.submit(i, config, storage_options)) for i in items]:
        outcome = future.result(raise_on_failure=False)
        if isinstance(outcome, BaseException):
            failures.append(_failure(item.url, None, "scan-source", outcome))
        elif taken := _source_taken(output, item, outcome[0].source_hash, storage_options):
            failures.append(_failure(item.url, None, "id-collision", taken))
        else:
            clips.extend(outcome)
    print(f"{len(items)} sources, {len(clips)} clips to curate, {len(failures)} bad inputs")
    results = []
    futures = {curate_clip.submit(c, output, config, run["run_id"], storage_options): c for c in clips}
    for k, future in enumerate(as_completed(list(futures)), start=1):
        result = _clip_result(future, futures[future])
        if result["status"] == "failed":
            failures.append(_failure(result["clip"].url, result["clip"].clip_id, result["stage"], result["reason"]))
        else:
            register(_ACTIVE[run["run_id"]].registry, [result["manifest"]])
        results.append(result)
        print(_progress_line(k, len(futures), result))
        failpoint("run:between-clips")
    return _finish_run(run, results, failures, output, storage_options)


def run_curate(
    source: str | list[str], output: str = "out", config: CurateConfig | None = None, catalog: str | None = None,
    storage_options: dict | None = None,
) -> CurateSummary:
    """Run :func:`curate` with the task runner and parallelism the config asks for."""
    config = config or CurateConfig()
    if config.run.task_runner == "dask":
        import logging

        from prefect_dask import DaskTaskRunner

        # distributed logs every worker start and stop at INFO; progress lines would drown in it.
        logging.getLogger("distributed").setLevel(logging.WARNING)

        runner = (
            DaskTaskRunner(address=config.run.dask_address)
            if config.run.dask_address
            else DaskTaskRunner(cluster_kwargs={"n_workers": config.run.max_parallel_clips, "processes": False})
        )
    else:
        runner = ThreadPoolTaskRunner(max_workers=config.run.max_parallel_clips)
    return curate.with_options(task_runner=runner)(source, output, config, catalog, storage_options)


# --------------------------------------------------------------------------- helpers


def _clip_result(future, clip: ClipSpec) -> dict[str, Any]:
    outcome = future.result(raise_on_failure=False)
    if isinstance(outcome, BaseException):
        return {"status": "failed", "clip": clip, "stage": "curate-clip", "reason": _one_line(outcome), "seconds": 0.0}
    return outcome


def _collision(clip: ClipSpec, other_url: str | None, shard_url: str, started: float) -> dict[str, Any]:
    reason = str(BadInputError(clip.url, collision_reason(clip.clip_id, clip.url, other_url, shard_url)))
    return {"status": "failed", "clip": clip, "stage": "id-collision", "reason": reason, "seconds": time.perf_counter() - started}


def _source_taken(output: str, item: SourceItem, source_hash: str, storage_options: dict | None) -> str | None:
    """Why a source is refused when its id already names shards of other footage, else None.

    Checked once per source before any clip is annotated: two sources that derived one id but
    differ in length would otherwise not collide clip by clip and silently share one match.
    """
    clip_id = re.compile(re.escape(item.name) + r"-\d{6,}-\d{6,}")  # split_clips' "<source id>-<start>-<stop>"
    for manifest in find_manifests_by_prefix(output, item.match_id, f"{item.name}-", storage_options):
        clip = manifest.metadata.get("clip") or {}
        if clip_id.fullmatch(manifest.clip_id) and clip.get("source_hash") not in (None, source_hash):
            return str(BadInputError(item.url, collision_reason(item.name, item.url, clip.get("url"), manifest.url)))
    return None


def _one_line(error: BaseException | str) -> str:
    text = str(error).strip() or type(error).__name__
    line = text.splitlines()[0]
    return line if isinstance(error, (BadInputError, str)) else f"{type(error).__name__}: {line}"


def _failure(url: str, clip_id: str | None, stage: str, error: BaseException | str) -> dict[str, Any]:
    return {"source_url": url, "clip_id": clip_id, "stage": stage, "reason": _one_line(error)}


def _discover(source: str | list[str], storage_options: dict | None) -> tuple[list[SourceItem], list[dict[str, Any]]]:
    outcome = discover.submit(source, storage_options).result(raise_on_failure=False)
    if isinstance(outcome, BaseException):
        sources = source if isinstance(source, str) else ", ".join(source)
        return [], [_failure(getattr(outcome, "url", sources), None, "discover-sources", outcome)]
    items, errors = outcome
    return items, [_failure(error.url, None, "discover-sources", error) for error in errors]


def _default_catalog(output: str) -> str:
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(output)
    if "file" not in fs.protocol and "local" not in fs.protocol:
        raise ValueError(f"output {output} is not a local folder; pass catalog=PATH for the DuckDB file")
    return str(path.rstrip("/") + "/catalog.duckdb")


def _start_run(source, output: str, catalog: str | None, config: CurateConfig, storage_options: dict | None) -> dict[str, Any]:
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


def _progress_line(k: int, n: int, result: dict[str, Any]) -> str:
    clip = result["clip"].clip_id
    if result["status"] == "curated":
        return (
            f"[{k}/{n}] {clip}: curated {result['frames']} frames, {result['tracks']} tracks, "
            f"{result['calibrated']:.0%} calibrated ({result['seconds']:.1f} s)"
        )
    if result["status"] == "skipped":
        return f"[{k}/{n}] {clip}: already curated with this config and code, skipped"
    return f"[{k}/{n}] {clip}: FAILED in {result['stage']}: {result['reason']}"


def _finish_run(run, results, failures, output: str, storage_options) -> CurateSummary:
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
        n_failed=len(failures),
        failures=failures,
        n_deferred=len(active.registry.pending),  # shards left for the next run or `catalog sync` to register
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
        catalog_note=active.registry.message(output) if active.registry.deferred else None,
    )
