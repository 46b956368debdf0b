"""The curate flow with the spatial-result cache: a re-curate after a vote setting changed reuses the
clip's detect-track-calibrate pass and writes the same shard as a run without the cache; a damaged
entry is redone; ``--no-spatial-cache`` turns it off."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from soccerfactory.curation.config import load_config
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.flows.curate import SPATIAL_CACHE, run_curate

FAST = ["detect.imgsz=640", "run.max_parallel_clips=1"]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("spatial-cache-flow")
    render_clip(SynthConfig(seconds=1.2, seed=12, width=640, height=360), root / "render")
    folder = root / "source"
    folder.mkdir()
    shutil.copy(root / "render" / "video.mp4", folder / "short.mp4")
    return folder


def _tables(output: Path) -> dict[str, object]:
    """Every shard table of ``output``, by its path below the shards folder."""
    return {str(p.relative_to(output / "shards")): pq.ParquetFile(p).read() for p in sorted((output / "shards").rglob("*.parquet"))}


def _entries(output: Path) -> list[Path]:
    return sorted((output / SPATIAL_CACHE).glob("*.npz"))


@pytest.mark.slow
def test_a_vote_change_reuses_the_spatial_pass_and_writes_the_same_shard(source, tmp_path):
    output = tmp_path / "out"
    first = run_curate(str(source), str(output), load_config(overrides=FAST))
    assert [c["status"] for c in first.clips] == ["curated"] and first.clips[0]["spatial_cached"] is False
    assert len(_entries(output)) == 1

    # A vote setting changed: the shard's key changed, so the clip is curated again, from the cache.
    voted = [*FAST, "vote.min_votes=2"]
    second = run_curate(str(source), str(output), load_config(overrides=voted))
    assert [c["status"] for c in second.clips] == ["curated"] and second.clips[0]["spatial_cached"] is True
    record = json.loads((output / "runs" / f"{second.run_id}.json").read_text())
    assert record["n_spatial_cached"] == 1 and record["n_curated"] == 1
    # The same shard as a run that detects, tracks and calibrates again.
    fresh = tmp_path / "fresh"
    third = run_curate(str(source), str(fresh), load_config(overrides=[*voted, "run.spatial_cache=false"]))
    assert third.clips[0]["spatial_cached"] is False and not (fresh / SPATIAL_CACHE).exists()
    cached_tables, fresh_tables = _tables(output), _tables(fresh)
    assert sorted(cached_tables) == sorted(fresh_tables) and "athletes" in " ".join(cached_tables)
    for name, table in cached_tables.items():
        assert table.equals(fresh_tables[name]), name

    # A damaged entry is ignored (the pass runs again) and replaced by a good one.
    (entry,) = _entries(output)
    entry.write_bytes(entry.read_bytes()[:1000])
    fourth = run_curate(str(source), str(output), load_config(overrides=[*FAST, "vote.min_votes=3"]))
    assert [c["status"] for c in fourth.clips] == ["curated"] and fourth.clips[0]["spatial_cached"] is False
    fifth = run_curate(str(source), str(output), load_config(overrides=[*FAST, "vote.min_votes=1", "vote.short_track_s=0.5"]))
    assert fifth.clips[0]["spatial_cached"] is True

    # A detection setting changed: the pass runs again, and replaces the clip's entry.
    sixth = run_curate(str(source), str(output), load_config(overrides=[*FAST, "detect.conf=0.3"]))
    assert sixth.clips[0]["spatial_cached"] is False
    (replaced,) = _entries(output)
    assert replaced.name != entry.name


def test_the_cli_can_turn_the_cache_off(own_help):
    import typer

    from soccerfactory.flows.cli import app

    assert "--spatial-cache" in own_help("curate")
    (option,) = [p for p in typer.main.get_command(app).commands["curate"].params if p.name == "spatial_cache"]
    assert option.secondary_opts == ["--no-spatial-cache"] and option.default is True
