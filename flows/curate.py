"""The ``curate`` flow: broadcast footage in, SoccerFactory shards and a DuckDB catalog out.

Reading order: :func:`curate` is the pipeline over the sources, ``_curate_clip`` the chain for
one clip (its backends built once, then annotate, attribute, vote, write); every task below them
is a thin wrapper around a plain function in ``curation/`` or ``storage/``. The run's record, lock
and catalog registration are in :mod:`soccerfactory.flows.curate_run`.

Guarantees a data engineer can rely on:

* A clip whose shard already exists with the same key (clip content hash + config hash + code
  version) is skipped: the shard's manifest is the cache record, so re-running adds no rows, and
  deleting a shard re-creates exactly that shard (a Prefect result cache would not notice).
* A clip curated again because only attribute or vote settings (or their code) changed reuses its
  detect-track-calibrate pass from ``OUTPUT/.cache/spatial`` (``curation/spatial_cache.py``: keyed by
  the clip, the decode/detect/track/calibrate/refine settings, those models' bytes and the spatial
  code; ``run.spatial_cache`` or ``curate --no-spatial-cache`` turns it off); the shard is the same
  as without it, and the log, the clip's result and the run record (``n_spatial_cached``) say so.
* A bad input fails alone: it is recorded in ``failures`` with a one-line reason naming the file,
  the other clips carry on, and the run reports that some inputs failed. Every source given
  yields clips or a failure (one that does not exist, is no video, is too small or too short).
* Ids come from the path below the source given (``curation/video/source_ids.py``); a source or clip
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
* Team letters name one kit per match: once the run's clips are done, one ``align-match-teams``
  task per match it touched swaps the letters of the clips that name the kits the other way round
  (to the letters already in the catalog, or the majority's for a new match), rewriting each shard
  atomically under its key; ambiguous clips are left as they are, with the reason, in the run
  record's ``team_alignment`` and each manifest's ``metadata.team_letters``
  (:mod:`soccerfactory.flows.curate_teams`).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.futures import as_completed

from soccerfactory.curation.allocator import limit_allocator_retention
from soccerfactory.curation.layout import ShardIdentity
from soccerfactory.curation.pipeline import Attributes, ClipStages, SpatialResult, annotate_spatial, attribute_clip, layout_clip, vote_clip
from soccerfactory.curation.video.checks import BadInputError
from soccerfactory.curation.video.clips import ClipSpec, SourceItem, is_clip_of, no_clip_reason, split_clips
from soccerfactory.curation.video.discover import discover_each
from soccerfactory.curation.video.scan_cache import scan_cached
from soccerfactory.curation.spatial_cache import load_spatial, spatial_key, store_spatial
from soccerfactory.curation.video.source_ids import collision_reason
from soccerfactory.curation.stages import code_version, load_stages, pitch_of, shard_key
from soccerfactory.curation.config import AttributeConfig, CalibrateConfig, CurateConfig, DecodeConfig
from soccerfactory.curation.vote import AthleteLabels
from soccerfactory.storage.failpoints import failpoint
from soccerfactory.storage.fs import local_path
from soccerfactory.storage.fs_secrets import check_url_credentials, run_secrets, secret_paths, split_secrets, worker_env
from soccerfactory.storage.runs import claim_clip
from soccerfactory.storage.manifest import ShardManifest, clip_content_hash
from soccerfactory.storage.shards import ShardCollisionError, find_manifest, find_manifests_by_prefix, verify_shard, write_shard
from soccerfactory.flows.artifacts import publish_curate_report
from soccerfactory.flows.cli_weights import check_curate_config
from soccerfactory.flows.curate_teams import align_match_teams
from soccerfactory.flows.progress import Progress, active_progress
from soccerfactory.flows.task_runners import curate_task_runner
from soccerfactory.flows.curate_run import (
    CurateSummary, abandon_run, failure, finish_run, io_error, one_line, register, run_registry, start_run,
)

__all__ = ["curate", "run_curate"]


# --------------------------------------------------------------------------- the flow


@flow(name="curate", log_prints=True, on_failure=[abandon_run], on_crashed=[abandon_run])
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
        storage_options: fsspec options of ``source`` and ``output``, without secrets: Prefect
            stores them (:func:`run_curate` splits the secrets off).
    """
    config = config or CurateConfig()
    if secret := secret_paths(storage_options):  # stored by Prefect already; say so, names only
        get_run_logger().warning("storage options %s are flow parameters, which Prefect stores: pass them to run_curate "
                                 "or through the environment instead", ", ".join(secret))
    # The chain and every weights file, before a frame is decoded (a file that passed in this
    # root before, byte for byte, is not scanned again: no torch import on a cached run).
    check_curate_config(config, local_path(output))
    if config.run.gpu_slots is not None:  # the server's "gpu" tag limit, before any gpu task starts
        from soccerfactory.flows.concurrency import set_gpu_slots

        set_gpu_slots(config.run.gpu_slots)
    run = start_run(source, output, catalog, config, storage_options)
    first = source if isinstance(source, str) else (source[0] if source else "")
    _label_flow_run(run["run_id"], [f"source:{first.rstrip('/').rsplit('/', 1)[-1][:40]}", f"config:{run['config_hash'][:12]}"])
    items, failures = _discover(source, storage_options)
    clips = _scan(items, config, output, storage_options, failures)
    print(f"{len(items)} sources, {len(clips)} clips to curate, {len(failures)} bad inputs")
    results = []
    # Clips overall (and each clip's frames, from its annotate task) with rate and ETA: a bar in a
    # terminal, a line every 15 s in a log.
    with Progress(say=print) as progress:
        overall = progress.task("curate", total=len(clips), unit="clips")
        futures = {curate_clip.submit(c, output, config, run["run_id"], storage_options): c for c in clips}
        for k, future in enumerate(as_completed(list(futures)), start=1):
            result = _clip_result(future, futures[future])
            if result["status"] == "failed":
                failures.append(failure(result["clip"].url, result["clip"].clip_id, result["stage"], result["reason"]))
            else:
                register(run_registry(run["run_id"]), [result["manifest"]])
            results.append(result)
            print(_progress_line(k, len(futures), result))
            overall.advance(note=f"{len(failures)} failed" if failures else "")
            failpoint("run:between-clips")
    if reused := sum(bool(r.get("spatial_cached")) for r in results):
        print(f"{reused} of {sum(r['status'] == 'curated' for r in results)} curated clips reused a cached spatial pass "
              f"(detect, track, calibrate skipped; {SPATIAL_CACHE} in the output root)")
    teams = _align_teams(results, output, config, run["run_id"], storage_options, failures)
    summary = finish_run(run, results, failures, output, storage_options, teams=teams)
    if failures:  # the run completes (the other clips are done), but its name says what failed
        _label_flow_run(f"{run['run_id']} ({len(failures)} failed)", ["failures"])
    # A local root gets the run's page (OUTPUT/reports/RUN_ID.html), linked from the artifact; a
    # run that only skipped clips already curated writes none (a cached re-run stays seconds).
    local = local_path(output)
    page = Path(local) / "reports" / f"{summary.run_id}.html" if local is not None else None
    publish_curate_report(summary.catalog, summary.run_id, page, write_page=page is not None and summary.count("curated") > 0)
    return summary


def _label_flow_run(name: str, tags: list[str]) -> None:
    """Name this flow run after the run id the catalog and run records use, and add ``tags``, so
    the Prefect UI lists runs by the same ids; a label is never worth failing the run for."""
    try:
        from prefect.client.orchestration import get_client
        from prefect.runtime import flow_run

        with get_client(sync_client=True) as client:
            current = client.read_flow_run(flow_run.id)
            client.update_flow_run(flow_run.id, name=name, tags=sorted(set(current.tags) | set(tags)))
    except Exception as error:  # noqa: BLE001 - e.g. a server that went away; the run goes on
        get_run_logger().warning("could not name the flow run %s: %s", name, one_line(error))


def run_curate(
    source: str | list[str], output: str = "out", config: CurateConfig | None = None, catalog: str | None = None,
    storage_options: dict | None = None,
) -> CurateSummary:
    """Run :func:`curate` with the task runner and parallelism the config asks for.

    ``run.task_runner``: ``threads`` (default) runs ``run.max_parallel_clips`` clips on threads of
    this process; ``dask`` on a local cluster of that many worker processes, or on the workers of
    the scheduler at ``run.dask_address`` (:mod:`soccerfactory.flows.task_runners`). Either way the
    shards are written where the clip runs and registered by this process alone.

    Secrets in ``storage_options`` (``key``, ``secret``, ``token``, ...) never become Prefect
    parameters: the flow gets the rest, and the secrets reach the run's filesystems as their
    storage options, from a context variable this process's flow and tasks see (never fsspec's
    process-wide config), and a local cluster's workers from their environment
    (:mod:`soccerfactory.storage.fs_secrets`). Workers of ``run.dask_address`` use their own.
    """
    config = config or CurateConfig()
    public, secrets = split_secrets(storage_options)
    urls = [*([source] if isinstance(source, str) else source), output]
    check_url_credentials(urls)  # a URL is a parameter too, and is written into records
    with run_secrets(secrets, urls), curate_task_runner(config.run, worker_env(secrets, urls)) as runner:
        return curate.with_options(task_runner=runner)(source, output, config, catalog, public)


# --------------------------------------------------------------------------- tasks


@task(name="discover-sources", retries=2, retry_delay_seconds=1, retry_condition_fn=io_error, cache_policy=NONE)
def discover(source: str | list[str], storage_options: dict | None) -> tuple[list[SourceItem], list[BadInputError]]:
    """The sources' video files and image-sequence folders, and one error per source that yields none."""
    # Each source given is discovered on its own: one bad path must not hide the others.
    return discover_each([source] if isinstance(source, str) else source, storage_options=storage_options)


#: Where a run keeps its sources' scans, below the output root (curation/video/scan_cache.py).
SCAN_CACHE = ".cache/scans"
#: Where a run keeps each clip's spatial pass, below the output root (curation/spatial_cache.py).
SPATIAL_CACHE = ".cache/spatial"


@task(name="scan-source", tags=["io"], retries=2, retry_delay_seconds=1, retry_condition_fn=io_error, cache_policy=NONE)
def scan_and_split(item: SourceItem, config: CurateConfig, storage_options: dict | None, output: str | None = None) -> list[ClipSpec]:
    """One decode pass: validate the file and find camera cuts; return its clips. The scan of a
    local video unchanged since a run into ``output`` scanned it is reused (no frame decoded)."""
    params = {} if config.clips.cut_threshold is None else {"cut_threshold": config.clips.cut_threshold}
    cache = f"{output.rstrip('/')}/{SCAN_CACHE}" if output else None
    scan, reused = scan_cached(
        item, cache, storage_options=storage_options, min_width=config.clips.min_width, min_height=config.clips.min_height, **params
    )
    if reused:
        get_run_logger().info("%s: unchanged since its last scan; scan reused", item.name)
    clips = split_clips(scan, max_clip_seconds=config.clips.max_clip_seconds, min_clip_frames=config.clips.min_clip_frames)
    if not clips:  # a source that yields nothing is a failure, never a silent drop
        raise BadInputError(item.url, no_clip_reason(scan, config.clips.min_clip_frames))
    return clips


@task(name="annotate-spatial", tags=["gpu"], cache_policy=NONE)
def annotate(
    clip: ClipSpec, stages: ClipStages, decode: DecodeConfig, calibrate: CalibrateConfig, storage_options: dict | None
) -> SpatialResult:
    """Decode the clip once and detect, track, calibrate (with each frame's view) and refine it;
    logs each quarter done."""
    logger = get_run_logger()
    board = active_progress()
    marks: set[int] = set()
    frames = None

    def progress(done: int, total: int) -> None:
        nonlocal frames
        if board is not None:  # the flow's board in this process: frames per second and ETA
            frames = frames or board.task(clip.clip_id, total=total, unit="frames")
            frames.update(done)
            return
        quarter = 4 * done // max(total, 1)  # a task on another worker: a log line per quarter
        if quarter not in marks and quarter < 4:
            marks.add(quarter)
            logger.info("%s: %d/%d frames", clip.clip_id, done, total)

    try:
        return annotate_spatial(clip, stages, decode, calibrate=calibrate, storage_options=storage_options, progress=progress)
    finally:
        if frames is not None:
            board.remove(frames)


@task(name="attribute", tags=["gpu"], cache_policy=NONE)
def attribute(spatial: SpatialResult, stages: ClipStages, settings: AttributeConfig) -> Attributes:
    """Team and jersey number of the athletes on the clip's semantic crops."""
    return attribute_clip(spatial, stages, settings)


@task(name="vote", cache_policy=NONE)
def vote(spatial: SpatialResult, attributes: Attributes, config: CurateConfig) -> AthleteLabels:
    """Vote the attributes over each tracklet: the labels of every athlete row of the clip."""
    return vote_clip(spatial, attributes, config.attribute, config.vote, pitch=pitch_of(config))


@task(name="write-shard", retries=3, retry_delay_seconds=2, retry_condition_fn=io_error, cache_policy=NONE)
def write(
    output: str, clip: ClipSpec, key: str, tables: dict[str, pa.Table], config_hash: str, metadata: dict[str, Any],
    storage_options: dict | None,
) -> ShardManifest:
    """Write the tables as the clip's shard, committed by its manifest written last."""
    return write_shard(
        output, clip.match_id, clip.clip_id, key, tables, config_hash=config_hash, code_version=code_version(),
        metadata=metadata, storage_options=storage_options, expected_content_hash=clip.content_hash,
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
    """Skip a clip whose shard is done and intact; else annotate, attribute, vote and write it."""
    started = time.perf_counter()
    config_hash = config.config_hash()
    key = shard_key(clip, config_hash)
    existing = _existing_shard(clip, output, storage_options)
    if existing is not None and existing.shard_key == key and _intact(existing, clip, storage_options):
        return {"status": "skipped", "clip": clip, "manifest": existing, "seconds": 0.0}
    if existing is not None and clip_content_hash(existing) not in (None, clip.content_hash):
        # Same id, other footage (two sources that derived one id): never overwrite, say whose.
        return _collision(clip, existing.metadata.get("clip", {}).get("url"), existing.url, started)
    stage = "annotate-spatial"
    try:
        # Freed frames returned to the system, in whichever process runs the clip (the flow's or a
        # Dask worker): without it peak RSS grew with the number of clips (curation/allocator.py).
        limit_allocator_retention()
        # The backends once per clip, from this worker's cache (built on its first clip); the tasks
        # share them, and the write takes only their versions. A failure to load them is the
        # first stage's, as when annotate loaded them.
        stages = load_stages(config)
        cache = _spatial_cache(output, clip, config)
        spatial = _cached_spatial(cache, clip, storage_options)
        reused = spatial is not None
        if spatial is None:
            spatial = annotate(clip, stages, config.decode, config.calibrate, storage_options)
            # Kept before attribute and vote run: a clip whose vote step fails keeps its pass too.
            _keep_spatial(cache, spatial, storage_options)
        stage = "attribute"
        attributes = attribute(spatial, stages, config.attribute)
        stage = "vote"
        labels = vote(spatial, attributes, config)
        tables = layout_clip(spatial, labels, ShardIdentity(config_hash=config_hash, code_version=code_version(), shard_key=key))
        stage = "write-shard"
        metadata = {"run_id": run_id, "config": config.model_dump(mode="json"), "models": stages.versions, "clip": dataclasses.asdict(clip),
                    "spatial": {"key": cache[1] if cache else None, "reused": reused}}
        manifest = write(output, clip, key, tables, config_hash, metadata, storage_options)
    except ShardCollisionError as error:  # another run committed this id since the check above
        return _collision(clip, error.existing_source, error.manifest_url, started)
    except Exception as error:  # noqa: BLE001 - one bad clip must not stop the run; it is recorded
        return {"status": "failed", "clip": clip, "stage": stage, "reason": one_line(error), "seconds": time.perf_counter() - started}
    return _curated(clip, manifest, spatial, tables, started, reused)


# --------------------------------------------------------------------------- helpers


def _clip_result(future, clip: ClipSpec) -> dict[str, Any]:
    try:
        outcome = future.result(raise_on_failure=False)
    except Exception as error:  # noqa: BLE001 - a Dask worker that died on this clip (KilledWorker: OOM,
        outcome = error  # a crash) raises here instead of failing the task; the clip fails alone
    if isinstance(outcome, BaseException):
        return {"status": "failed", "clip": clip, "stage": "curate-clip", "reason": one_line(outcome), "seconds": 0.0}
    return outcome


def _existing_shard(clip: ClipSpec, output: str, storage_options: dict | None) -> ShardManifest | None:
    """The committed shard of this clip id, if any; a corrupt manifest counts as none (rewritten)."""
    try:
        return find_manifest(output, clip.match_id, clip.clip_id, storage_options=storage_options)
    except ValueError as error:  # a corrupt manifest: the shard is rewritten below
        get_run_logger().warning("%s: existing shard unreadable (%s); curating it again", clip.clip_id, one_line(error))
        return None


def _intact(existing: ShardManifest, clip: ClipSpec, storage_options: dict | None) -> bool:
    """Whether a shard with this clip's key can be kept as it is."""
    # Skip only a shard whose files still match the manifest (size and sha256): a truncated
    # or damaged file is curated again (the write replaces exactly the bad files).
    damage = verify_shard(existing, storage_options=storage_options)
    if damage is not None:
        get_run_logger().warning("%s: existing shard is damaged (%s); curating it again", clip.clip_id, damage)
    return damage is None


def _spatial_cache(output: str, clip: ClipSpec, config: CurateConfig) -> tuple[str, str] | None:
    """``(folder, key)`` of the clip's spatial pass in ``output``'s cache; None when ``run.spatial_cache`` is off."""
    if not config.run.spatial_cache:
        return None
    try:
        return f"{output.rstrip('/')}/{SPATIAL_CACHE}", spatial_key(clip, config)
    except Exception as error:  # noqa: BLE001 - without a key the clip is annotated as without the cache
        get_run_logger().warning("%s: spatial cache off for this clip: %s", clip.clip_id, one_line(error))
        return None


def _cached_spatial(cache: tuple[str, str] | None, clip: ClipSpec, storage_options: dict | None) -> SpatialResult | None:
    """The clip's spatial pass from the cache, or None (off, missing, or damaged: then logged and redone)."""
    if cache is None:
        return None
    spatial = load_spatial(cache[0], clip, cache[1], storage_options, warn=get_run_logger().warning)
    if spatial is not None:
        get_run_logger().info(
            "%s: detection, tracking and calibration unchanged since a run into this root; spatial pass reused (%.0f s saved)",
            clip.clip_id, spatial.seconds,
        )
    return spatial


def _keep_spatial(cache: tuple[str, str] | None, spatial: SpatialResult, storage_options: dict | None) -> None:
    """Store the pass for the next run; a failure to is logged, never the clip's failure."""
    if cache is None:
        return
    try:
        store_spatial(cache[0], spatial, cache[1], storage_options, warn=get_run_logger().warning)
    except Exception as error:  # noqa: BLE001 - e.g. a field the codec does not store: the shard is still written
        get_run_logger().warning("%s: spatial pass not cached: %s", spatial.clip.clip_id, one_line(error))


def _curated(
    clip: ClipSpec, manifest: ShardManifest, spatial: SpatialResult, tables: dict[str, pa.Table], started: float, reused: bool = False,
) -> dict[str, Any]:
    athletes = tables["athletes"]
    cameras = tables["cameras"]
    return {
        "status": "curated", "clip": clip, "manifest": manifest, "seconds": time.perf_counter() - started, "spatial_cached": reused,
        "frames": spatial.n_frames, "athlete_rows": athletes.num_rows,
        "tracks": len(set(athletes.column("track_id").to_pylist())),
        "calibrated": sum(cameras.column("valid_camera").to_pylist()) / max(cameras.num_rows, 1),
    }


def _collision(clip: ClipSpec, other_url: str | None, shard_url: str, started: float) -> dict[str, Any]:
    reason = str(BadInputError(clip.url, collision_reason(clip.clip_id, clip.url, other_url, shard_url)))
    return {"status": "failed", "clip": clip, "stage": "id-collision", "reason": reason, "seconds": time.perf_counter() - started}


def _scan(items: list[SourceItem], config: CurateConfig, output: str, storage_options: dict | None, failures: list) -> list[ClipSpec]:
    """The clips of every source, scanned in parallel; a source that fails its scan or whose id is
    taken by other footage is appended to ``failures`` instead."""
    clips = []
    for item, future in [(i, scan_and_split.submit(i, config, storage_options, output)) for i in items]:
        outcome = future.result(raise_on_failure=False)
        if isinstance(outcome, BaseException):
            failures.append(failure(item.url, None, "scan-source", outcome))
        elif taken := _source_taken(output, item, outcome[0].source_hash, storage_options):
            failures.append(failure(item.url, None, "id-collision", taken))
        else:
            clips.extend(outcome)
    return clips


def _source_taken(output: str, item: SourceItem, source_hash: str, storage_options: dict | None) -> str | None:
    """Why a source is refused when its id already names shards of other footage, else None.

    Checked once per source before any clip is annotated: two sources that derived one id but
    differ in length would otherwise not collide clip by clip and silently share one match.
    """
    for manifest in find_manifests_by_prefix(output, item.match_id, f"{item.name}-", storage_options):
        clip = manifest.metadata.get("clip") or {}
        if is_clip_of(item.name, manifest.clip_id) and clip.get("source_hash") not in (None, source_hash):
            return str(BadInputError(item.url, collision_reason(item.name, item.url, clip.get("url"), manifest.url)))
    return None


def _discover(source: str | list[str], storage_options: dict | None) -> tuple[list[SourceItem], list[dict[str, Any]]]:
    outcome = discover.submit(source, storage_options).result(raise_on_failure=False)
    if isinstance(outcome, BaseException):
        sources = source if isinstance(source, str) else ", ".join(source)
        return [], [failure(getattr(outcome, "url", sources), None, "discover-sources", outcome)]
    items, errors = outcome
    return items, [failure(error.url, None, "discover-sources", error) for error in errors]


def _align_teams(
    results: list[dict[str, Any]], output: str, config: CurateConfig, run_id: str, storage_options: dict | None,
    failures: list[dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Team letters per match, once the run's clips are done: one ``align-match-teams`` task per
    match with a committed clip in this run; swapped shards are registered here (the flow's thread
    is the catalog's only writer). Returns match id -> what was decided (for the run record)."""
    matches: dict[str, ClipSpec] = {}
    for result in results:
        if result["status"] in ("curated", "skipped"):
            matches.setdefault(result["clip"].match_id, result["clip"])
    futures = {m: align_match_teams.submit(output, m, config, run_id, storage_options) for m in sorted(matches)}
    teams = {}
    for match_id, future in futures.items():
        outcome = future.result(raise_on_failure=False)
        if isinstance(outcome, BaseException):
            # Named by a clip of the match (a failure without a clip counts as a whole source).
            failures.append(failure(matches[match_id].url, matches[match_id].clip_id, "align-match-teams", outcome))
            continue
        record, rewritten = outcome
        if rewritten:
            register(run_registry(run_id), rewritten)
        if record:
            teams[match_id] = record
            print(_teams_line(match_id, record))
    return teams


def _teams_line(match_id: str, record: dict[str, Any]) -> str:
    if "kept" not in record:
        return f"{match_id}: team letters not aligned: {'; '.join(record.get('problems', []))}"
    line = (
        f"{match_id}: team letters aligned (A {record['kit_a']}, B {record['kit_b']}): {len(record['swapped'])} swapped, "
        f"{len(record['kept'])} kept, {len(record['reference'])} already aligned, {len(record['ambiguous'])} ambiguous, "
        f"{len(record['no_kits'])} without kits"
    )
    line += "".join(f"; {a['clip_id']} ambiguous: {a['reason']}" for a in record["ambiguous"])
    decided = sum((record.get("match_tracklets") or {}).get("decided", {}).values())
    return line + (f"; {decided} tracklets decided by the match's kits" if decided else "")


def _progress_line(k: int, n: int, result: dict[str, Any]) -> str:
    clip = result["clip"].clip_id
    if result["status"] == "curated":
        return (
            f"[{k}/{n}] {clip}: curated {result['frames']} frames, {result['tracks']} tracks, "
            f"{result['calibrated']:.0%} calibrated ({result['seconds']:.1f} s"
            f"{', spatial pass reused' if result.get('spatial_cached') else ''})"
        )
    if result["status"] == "skipped":
        return f"[{k}/{n}] {clip}: already curated with this config and code, skipped"
    return f"[{k}/{n}] {clip}: FAILED in {result['stage']}: {result['reason']}"
