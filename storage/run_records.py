"""Run records: one JSON file per curation run, ``ROOT/runs/<run_id>.json``, written atomically.

A record says when a run started and ended, its status and counts, and what failed in it; the
catalog's ``runs`` and ``failures`` tables are rebuilt from these files. Which runs are alive,
and what dead ones left, is ``storage/runs.py``.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
from typing import Any, Mapping

from soccerfactory.storage.fields import check_id, check_time
from soccerfactory.storage.fs import resolve_url, to_url, write_json_atomic

__all__ = ["validate_run_record", "write_run_record", "scan_run_records", "list_run_records"]

log = logging.getLogger(__name__)

_RUN_KIND = "soccerfactory.run_record"


def validate_run_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Check a run record and return a normalised copy.

    A record has run_id, started_at (ISO UTC) and status; optionally finished_at, source, output,
    config_hash, flow_run_id, n_clips, n_curated, n_skipped, n_failed and failures (each
    {source_url, clip_id or None, stage, reason[, recorded_at]}). Other keys are kept.

    Raises:
        ValueError: naming the field that is missing or wrong.
    """
    if not isinstance(record, Mapping):
        raise ValueError(f"a run record must be a dict, got {type(record).__name__}")
    out = dict(record)
    run_id = check_id("run_id", out.get("run_id"))
    where = f"run record {run_id!r}"
    for name in ("started_at", "status"):
        if name not in out:
            raise ValueError(f"{where} lacks {name!r}")
    if not isinstance(out["status"], str) or not out["status"]:
        raise ValueError(f"{where}: status must be a non-empty string")
    check_time(f"{where} started_at", out["started_at"])
    if out.get("finished_at") is not None:
        check_time(f"{where} finished_at", out["finished_at"])
    for name in ("source", "output", "config_hash", "flow_run_id"):
        if out.get(name) is not None and not isinstance(out[name], str):
            raise ValueError(f"{where}: {name} must be a string or null, got {out[name]!r}")
    for name in ("n_clips", "n_curated", "n_skipped", "n_failed"):
        value = out.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ValueError(f"{where}: {name} must be an int >= 0 or null, got {value!r}")
    failures = out.get("failures", [])
    if not isinstance(failures, list):
        raise ValueError(f"{where}: failures must be a list")
    normalised = []
    for i, failure in enumerate(failures):
        if not isinstance(failure, Mapping):
            raise ValueError(f"{where}: failures[{i}] must be a dict")
        for name in ("source_url", "stage", "reason"):
            if not isinstance(failure.get(name), str):
                raise ValueError(f"{where}: failures[{i}].{name} must be a string, got {failure.get(name)!r}")
        if failure.get("clip_id") is not None and not isinstance(failure["clip_id"], str):
            raise ValueError(f"{where}: failures[{i}].clip_id must be a string or null")
        if failure.get("recorded_at") is not None:
            check_time(f"{where} failures[{i}].recorded_at", failure["recorded_at"])
        normalised.append({"clip_id": None, **failure})
    out["failures"] = normalised
    out["kind"] = _RUN_KIND
    return out


def _runs_dir(root_path: str) -> str:
    return posixpath.join(root_path, "runs")


def write_run_record(
    root: str | os.PathLike, run_id: str, record: Mapping[str, Any], storage_options: Mapping[str, Any] | None = None
) -> str:
    """Write ``ROOT/runs/<run_id>.json`` atomically (replacing an earlier record of that run).

    Returns:
        the URL written.
    """
    check_id("run_id", run_id)
    if record.get("run_id", run_id) != run_id:
        raise ValueError(f"run record says run_id {record.get('run_id')!r} but is written as {run_id!r}")
    normalised = validate_run_record({**record, "run_id": run_id})
    fs, path = resolve_url(root, storage_options)
    return write_json_atomic(to_url(fs, posixpath.join(_runs_dir(path), f"{run_id}.json")), normalised, storage_options)


def scan_run_records(root: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Every valid run record under ``root`` (sorted by started_at, run_id) and a line per bad one."""
    fs, path = resolve_url(root, storage_options)
    records, problems = [], []
    for record_path in sorted(fs.glob(posixpath.join(_runs_dir(path), "*.json"))):
        url = to_url(fs, record_path)
        try:
            data = json.loads(fs.cat_file(record_path))
            if not isinstance(data, dict) or data.get("kind") != _RUN_KIND:
                raise ValueError(f"not a SoccerFactory run record (kind != {_RUN_KIND!r})")
            record = validate_run_record(data)
            if f"{record['run_id']}.json" != posixpath.basename(record_path):
                raise ValueError(f"holds run {record['run_id']!r}, not the one its name says")
        except (ValueError, OSError, UnicodeDecodeError) as error:
            problems.append(f"{url}: {error}")
            continue
        records.append(record)
    records.sort(key=lambda r: (r["started_at"], r["run_id"]))
    return records, problems


def list_run_records(root: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every valid run record under ``root``; bad ones are logged and skipped."""
    records, problems = scan_run_records(root, storage_options)
    for problem in problems:
        log.warning("skipping run record: %s", problem)
    return records
