"""The ``curate`` flow: broadcast footage in, SoccerFactory shards and a DuckDB catalog out.

Reading order: :func:`curate` is the pipeline; every task below it is a thin wrapper around a
plain function in ``curation/`` or ``storage/``.

Guarantees a data engineer can rely on:

* A clip whose shard already exists with the same key (clip content hash + config hash + code
  version) is skipped: the shard's manifest is the cache record, so re-running adds no rows, and
  deleting a shard re-creates exactly that shard (a Prefect result cache would not notice).
* A bad input fails alone: it is recorded in ``failures`` with a one-line reason naming the file,
  the other clips carry on, and the run reports that some inputs failed.
* Shards are committed by writing their manifest last, and only committed shards are registered;
  a run killed at any point leaves no partial shard visible, and the next run does the rest.
* Only the flow's own thread writes to the catalog (DuckDB allows one writer).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import time
import uuid
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from soccerfactory.curation.pipeline import annotate_spatial, attribute_clip, vote_clip
from soccerfactory.curation.video import BadInputError, ClipSpec, SourceItem, discover_sources, scan_video, split_clips
from soccerfactory.flows.backends import check_config, code_version, load_stages
from soccerfactory.flows.config import CurateConfig
from soccerfactory.storage.catalog import ensure_catalog, record_run, register_shards
from soccerfactory.storage.shards import ShardManifest, find_manifest, write_run_record, write_shard

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

    @property
    def ok(self) -> bool:
        return not self.failures

    def count(self, status: str) -> int:
        return sum(1 for c in self.clips if c["status"] == status)


# --------------------------------------------------------------------------- tasks


@task(name="discover-sources", retries=2, retry_delay_seconds=1, retry_condition_fn=_io_error, cache_policy=NONE)
def discover(source: str | list[str], storage_options: dict | None) -> list[SourceItem]:
    return discover_sources(source, storage_options=storage_options)


@task(name="scan-source", tags=["io"], retries=2, retry_delay_seconds=1, retry_condition_fn=_io_error, cache_policy=NONE)
def scan_and_split(item: SourceItem, config: CurateConfig, storage_options: dict | None) -> list[ClipSpec]:
    """One decode pass: validate the file and find camera cuts; return its clips."""
    params = {} if config.clips.cut_threshold is None else {"cut_threshold": config.clips.cut_threshold}
    scan = scan_video(item, storage_options=storage_options, **params)
    return split_clips(scan, max_clip_seconds=config.clips.max_clip_seconds, min_clip_frames=config.clips.min_clip_frames)


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
        storage_options=storage_options,
    )


@task(name="curate-clip", cache_policy=NONE)
def curate_clip(clip: ClipSpec, output: str, config: CurateConfig, run_id: str, storage_options: dict | None) -> dict[str, Any]:
    """The chain for one clip; each step is its own task run in the Prefect UI."""
    started = time.perf_counter()
    config_hash = config.config_hash()
    key = shard_key(clip, config_hash)
    try:
        existing = find_manifest(output, clip.match_id, clip.clip_id, storage_options=storage_options)
    except ValueError as error:  # a corrupt manifest: the shard is rewritten below
        get_run_logger().warning("%s: existing shard unreadable (%s); curating it again", clip.clip_id, _one_line(error))
        existing = None
    if existing is not None and existing.shard_key == key:
        return {"status": "skipped", "clip": clip, "manifest": existing, "seconds": 0.0}
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
def register(catalog: str, manifests: list[ShardManifest], run_id: str, storage_options: dict | None) -> None:
    register_shards(catalog, manifests, run_id=run_id, storage_options=storage_options)


# --------------------------------------------------------------------------- the flow


@flow(name="curate", log_prints=True)
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
            register(run["catalog"], [result["manifest"]], run["run_id"], storage_options)
        results.append(result)
        print(_progress_line(k, len(futures), result))
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
    return outcome, []


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
    }
    write_run_record(output, run["run_id"], run, storage_options=storage_options)
    # Analysts' queries must find the views even when every clip of the first run fails.
    ensure_catalog(run["catalog"])
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
    )
    write_run_record(output, run["run_id"], run, storage_options=storage_options)
    record_run(run["catalog"], run)
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
        seconds=(finished - started).total_seconds(),
    )
