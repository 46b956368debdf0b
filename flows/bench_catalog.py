"""Catalog at size: registration time at 10, 100 and 1,000 shards, and query times at 10 M athlete rows.

Issue 17's goal: with 10 million synthetic athlete rows in 1,000 shards, the per-match quality
aggregate (``quality_match``) answers in under a second, and registering one more shard takes no
longer at 1,000 shards than at 10.

The shards are real: written by ``storage.shards.write_shard`` (sha256, manifest, atomic moves)
from tables that follow ``storage/schemas.py``. One random template clip (seed 400) is built with
numpy; each shard is the template with its own ids, frame offset and rolled columns, so writing
1,000 shards costs Parquet encoding and fsyncs, not Python row loops (about a minute on 2 cores).

Registration is timed the way the callers register: one ``register_shards`` call per new shard,
both as ``curate`` does clip after clip (``check_registered=False``: the shards registered before
are not size-checked again) and with the default (every registered shard's files are stat-ed: what
``catalog sync`` and a lone registration do). The catalog is filled to each size in one bulk call
first, then the last ``probes`` registrations of each kind are timed one by one; their mean is the
figure.

Usage: python -m soccerfactory.flows.bench_catalog [--out bench/catalog.json] [--work DIR]
       [--shards 10,100,1000] [--rows-per-shard 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["synthetic_tables", "write_synthetic_shards", "bench_catalog", "main"]

#: Athletes visible per frame; a 10,000-row shard is then 500 frames (20 s at 25 fps).
ATHLETES_PER_FRAME = 20
#: Matches the shards are spread over (so a match holds 1,000 / 50 = 20 clips).
N_MATCHES = 50
SEED = 400  # development seeds are 400-499


def _key(match_id: str, clip_id: str, rows_per_shard: int) -> str:
    return hashlib.sha256(f"{match_id}/{clip_id}/{rows_per_shard}".encode()).hexdigest()


def synthetic_tables(rows_per_shard: int = 10_000, seed: int = SEED) -> dict[str, pa.Table]:
    """A random, schema-valid template shard (ids ``m``/``c``) with ``rows_per_shard`` athlete rows.

    Tracks last 250 frames (10 s), so a clip of 500 frames has 40 tracks; one athlete per frame
    is a referee (no team, no jersey); a tenth of the frames have no camera.
    """
    from soccerfactory.storage.schemas import table_from_columns

    rng = np.random.default_rng(seed)
    n_frames = max(1, rows_per_shard // ATHLETES_PER_FRAME)
    n = n_frames * ATHLETES_PER_FRAME
    fps, width, height = 25.0, 1280, 720
    frame = np.repeat(np.arange(n_frames, dtype=np.int64), ATHLETES_PER_FRAME)
    slot = np.tile(np.arange(ATHLETES_PER_FRAME), n_frames)
    valid = rng.random(n_frames) > 0.1
    referee = slot == ATHLETES_PER_FRAME - 1
    x1 = rng.uniform(0, width - 40, n).astype(np.float32)
    y1 = rng.uniform(0, height - 90, n).astype(np.float32)
    positioned = valid[frame]
    team = np.where(referee, None, np.where(slot % 2 == 0, "A", "B"))
    jersey = np.where(referee | (slot % 5 == 0), None, slot + 1).astype(object)
    pitch_x = np.where(positioned, rng.uniform(-55, 55, n), np.nan).astype(np.float32)
    pitch_y = np.where(positioned, rng.uniform(-36, 36, n), np.nan).astype(np.float32)
    agreement = rng.uniform(0.5, 1.0, n).astype(np.float32)
    keys = lambda count, index: {  # noqa: E731 (one line per table below)
        "match_id": ["m"] * count, "clip_id": ["c"] * count, "frame_index": index, "timestamp_s": index / fps,
    }
    frames_index = np.arange(n_frames, dtype=np.int64)
    detected = rng.random(n_frames) > 0.3
    role = np.where(referee, "referee", np.where(slot % 10 == 1, "goalkeeper", "player"))
    athletes = {
        **keys(n, frame), "x1": x1, "y1": y1, "x2": x1 + 30, "y2": y1 + 80,
        "confidence": rng.uniform(0.3, 1.0, n).astype(np.float32), "class": role, "track_id": slot + 1 + ATHLETES_PER_FRAME * (frame // 250),
        "tracklet_id": slot + 1 + ATHLETES_PER_FRAME * (frame // 125), "team": team, "role": role, "jersey": jersey,
        "pitch_x": [None if np.isnan(v) else float(v) for v in pitch_x], "pitch_y": [None if np.isnan(v) else float(v) for v in pitch_y],
        "pitch_sigma_m": np.where(positioned, 0.5, np.nan).astype(np.float32), "mask_rle": [None] * n,
        "refined_x1": x1 + 1, "refined_y1": y1 + 1, "refined_x2": x1 + 29, "refined_y2": y1 + 79, "mask_score": agreement,
        "team_agreement": np.where(referee, np.nan, agreement).astype(np.float32), "role_agreement": agreement,
        "jersey_agreement": np.where(jersey == None, np.nan, agreement).astype(np.float32),  # noqa: E711 (object array)
        "jersey_votes": np.where(jersey == None, 0, 3).astype(np.int32), "track_length": np.full(n, 250, np.int32),  # noqa: E711
        "role_reason": ["detector class votes"] * n, "flags": [None] * n, "flag_reason": [None] * n,
        "shirt_colour": [None] * n, "shirt_crops": [0] * n, "appearance": [None] * n,
    }
    for name in ("pitch_sigma_m", "team_agreement", "jersey_agreement"):
        athletes[name] = [None if np.isnan(v) else float(v) for v in athletes[name]]
    homography = [[2.0, 0.0, 640.0, 0.0, 2.0, 360.0, 0.0, 0.0, 1.0] if v else None for v in valid]
    return {
        "clips": table_from_columns("clips", {
            "match_id": ["m"], "clip_id": ["c"], "source_url": ["file:///videos/m.mp4"], "start_frame": [0], "stop_frame": [n_frames],
            "start_s": [0.0], "end_s": [n_frames / fps], "fps": [fps], "width": [width], "height": [height], "n_frames": [n_frames],
            "content_hash": ["c" * 64], "config_hash": ["bench"], "code_version": ["bench"], "shard_key": ["0" * 64],
            "view": ["main"], "view_reason": ["main"], "team_a_colour": ["#202080"], "team_b_colour": ["#e0e0e0"], "team_a_side": ["left"],
        }),
        "frames": table_from_columns("frames", {
            **keys(n_frames, frames_index), "width": np.full(n_frames, width, np.int32), "height": np.full(n_frames, height, np.int32),
            "n_athletes": np.full(n_frames, ATHLETES_PER_FRAME, np.int32), "ball_detected": detected,
            "semantic_sample": frames_index % 5 == 0, "valid_camera": valid, "view": ["main"] * n_frames,
        }),
        "athletes": table_from_columns("athletes", athletes),
        "ball": table_from_columns("ball", {
            **keys(n_frames, frames_index), **{name: [float(v) if d else None for v in rng.uniform(0, 600, n_frames)]
                                               for name, d in (("x1", True), ("y1", True), ("x2", True), ("y2", True))},
            "confidence": rng.uniform(0.2, 0.9, n_frames), "pitch_x": [None] * n_frames, "pitch_y": [None] * n_frames,
            "detected": detected, "interpolated": np.zeros(n_frames, bool),
        }),
        "cameras": table_from_columns("cameras", {
            **keys(n_frames, frames_index), "valid_camera": valid, "homography": homography,
            **{name: [1000.0 if v else None for v in valid] for name in ("fx", "fy", "cx", "cy")},
            "rotation": [[1.0, 0, 0, 0, 1, 0, 0, 0, 1] if v else None for v in valid],
            "position": [[0.0, 40.0, -15.0] if v else None for v in valid], "dist": [[0.0] * 4 if v else None for v in valid],
            "reprojection_error_px": [float(e) if v else None for e, v in zip(rng.gamma(2.0, 1.0, n_frames), valid)],
            "n_keypoints": np.where(valid, 8, 1).astype(np.int32), "n_lines": np.where(valid, 3, 0).astype(np.int32),
            "invalid_reason": [None if v else "too few keypoints" for v in valid], "view": ["main"] * n_frames,
            "view_reason": ["wide"] * n_frames, "visible_pitch_m2": [2500.0 if v else None for v in valid],
        }),
        "events": table_from_columns("events", {
            **keys(1, np.zeros(1, np.int64)), "event": ["clip_start"], "detail": [None],
        }),
    }


def _instance(template: dict[str, pa.Table], match_id: str, clip_id: str, index: int, key: str) -> dict[str, pa.Table]:
    """The template with this clip's ids, frames offset by ``index`` clips and rolled numbers."""
    n_frames = template["frames"].num_rows
    offset = index * n_frames
    tables = {}
    for name, table in template.items():
        columns = {}
        for field, column in zip(table.schema, table.columns):
            if field.name == "match_id":
                column = pa.array([match_id] * table.num_rows, pa.string())
            elif field.name == "clip_id":
                column = pa.array([clip_id] * table.num_rows, pa.string())
            elif field.name in ("frame_index", "start_frame", "stop_frame"):
                column = pc.add(column, offset)
            elif field.name in ("timestamp_s", "start_s", "end_s"):
                column = pc.add(column, offset / 25.0)
            elif field.name == "shard_key":
                column = pa.array([key])
            elif field.name in ("confidence", "x1", "reprojection_error_px") and table.num_rows > 1:
                shift = (index * 7919) % table.num_rows  # other numbers per clip, same distribution
                column = pa.concat_arrays([column.combine_chunks()[shift:], column.combine_chunks()[:shift]])
            columns[field.name] = column
        tables[name] = pa.table(columns, schema=table.schema)
    return tables


def write_synthetic_shards(root: str | os.PathLike, n: int, rows_per_shard: int = 10_000) -> list:
    """Write shards ``0 .. n-1`` under ``root`` (clip ``i // N_MATCHES`` of match ``i % N_MATCHES``);
    returns their manifests. A shard already committed there with the same key is kept (a rerun
    with ``--work`` skips the generation)."""
    from soccerfactory.storage.shards import find_manifest, write_shard

    template = None
    manifests = []
    for i in range(n):
        match_id, clip_id = f"match-{i % N_MATCHES:03d}", f"clip-{i // N_MATCHES:04d}"
        key = _key(match_id, clip_id, rows_per_shard)
        found = find_manifest(root, match_id, clip_id)
        if found is not None and found.shard_key == key:
            manifests.append(found)
            continue
        template = template or synthetic_tables(rows_per_shard)
        manifests.append(write_shard(
            root, match_id, clip_id, key, _instance(template, match_id, clip_id, i // N_MATCHES, key),
            config_hash="bench", code_version="bench", metadata={"run_id": "bench"},
        ))
    return manifests


def _timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def bench_catalog(
    shards: Sequence[int] = (10, 100, 1000), rows_per_shard: int = 10_000, work: str | os.PathLike | None = None, probes: int = 3,
) -> dict[str, Any]:
    """Registration time per shard at each catalog size, and query times at the largest.

    Args:
        shards: catalog sizes to measure registration at (ascending); the last is the query size.
        rows_per_shard: athlete rows per shard (10,000 x 1,000 shards = the issue's 10 M).
        work: folder for the shards and catalog (default: a temporary one, deleted after); kept,
            so a rerun reuses the shards (the catalog is made anew).
        probes: registrations timed per kind and size (their mean is reported).

    Returns:
        JSON-able figures: seconds per registration per size and kind, query seconds (first run
        on a fresh read-only connection, and the best of three), rows and bytes written.
    """
    from soccerfactory.storage.catalog import connect, register_shards

    sizes = sorted(shards)
    folder = Path(work) if work else Path(tempfile.mkdtemp(prefix="sf-bench-catalog-"))
    root, catalog = folder / "out", folder / "out" / "catalog.duckdb"
    for stale in (catalog, catalog.with_name(catalog.name + ".wal")):  # a rerun starts from an empty catalog
        stale.unlink(missing_ok=True)
    try:
        generate_s, manifests = _timed(lambda: write_synthetic_shards(root, sizes[-1] + 2 * probes * len(sizes), rows_per_shard))
        size_bytes = sum(p.stat().st_size for p in root.rglob("*.parquet"))
        registration, next_index, registered = [], 0, 0
        for size in sizes:
            # Fill to `size - 2 * probes` in one call (not timed), then time single registrations.
            bulk = manifests[next_index: next_index + max(0, size - registered - 2 * probes)]
            if bulk:
                register_shards(catalog, bulk, check_registered=False)
                next_index += len(bulk)
                registered += len(bulk)
            timings: dict[str, list[float]] = {"curate_clip_by_clip": [], "default_with_size_check": []}
            for _ in range(probes):
                for kind, check in (("curate_clip_by_clip", False), ("default_with_size_check", True)):
                    manifest = manifests[next_index]
                    next_index += 1
                    elapsed, _ = _timed(lambda: register_shards(catalog, [manifest], check_registered=check))
                    timings[kind].append(elapsed)
                    registered += 1
            registration.append({"shards": registered, **{kind: round(statistics.mean(t), 4) for kind, t in timings.items()}})
        with connect(catalog, read_only=True) as connection:
            n_athletes = connection.execute("SELECT count(*) FROM athletes").fetchone()[0]
            view_sql_chars = connection.execute("SELECT sum(length(sql)) FROM duckdb_views() WHERE NOT internal").fetchone()[0]
        queries = {
            "quality_match": "SELECT * FROM quality_match",
            "quality_one_match": "SELECT * FROM quality WHERE match_id = 'match-007'",
            "athletes_of_one_match": "SELECT * FROM athletes WHERE match_id = 'match-007'",
            "tracks_of_one_clip": "SELECT * FROM tracks WHERE match_id = 'match-007' AND clip_id = 'clip-0003'",
            "count_athletes": "SELECT count(*) FROM athletes",
        }
        timed_queries = {}
        for name, sql in queries.items():
            connect_s, connection = _timed(lambda: connect(catalog, read_only=True))
            with connection:
                first, table = _timed(lambda: connection.sql(sql).to_arrow_table())
                best = min(_timed(lambda: connection.sql(sql).to_arrow_table())[0] for _ in range(2))
            timed_queries[name] = {"sql": sql, "rows": table.num_rows, "first_s": round(first, 4), "best_s": round(min(first, best), 4),
                                   "connect_s": round(connect_s, 4)}
        figures = {
            "benchmark": "catalog",
            "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(), "load_1min": os.getloadavg()[0]},
            "rows_per_shard": rows_per_shard,
            "shards": registered,
            "athlete_rows": n_athletes,
            "parquet_mb": round(size_bytes / 1e6, 1),
            "catalog_mb": round(catalog.stat().st_size / 1e6, 1),
            "generate_s": round(generate_s, 1),
            "registration_s": registration,
            "view_sql_chars": view_sql_chars,
            "queries": timed_queries,
            "goal_quality_match_s": 1.0,
            "meets_goal": timed_queries["quality_match"]["first_s"] < 1.0,
        }
        return figures
    finally:
        if not work:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soccerfactory.flows.bench_catalog", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/catalog.json"), help="Where the figures go (JSON).")
    parser.add_argument("--work", type=Path, default=None, help="Folder for the shards and catalog (default: a temporary one, deleted).")
    parser.add_argument("--shards", default="10,100,1000", help="Catalog sizes, comma-separated (default 10,100,1000).")
    parser.add_argument("--rows-per-shard", type=int, default=10_000, help="Athlete rows per shard (default 10000).")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.shards.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--shards must be comma-separated integers, got {args.shards!r}")
    figures = bench_catalog(sizes, args.rows_per_shard, args.work)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
