"""Athlete identities across shots, computed by the curate flow's per-match step and stored per
match: real shards, the real shot linker, a real curate run of a rendered match whose clips the
tracker starts afresh, graded against the renderer's truth in the catalog."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from soccerfactory.curation.config import load_config
from soccerfactory.curation.testing import render_match
from soccerfactory.flows.curate import run_curate
from soccerfactory.flows.curate_teams import align_match_teams, identity_rows, link_match_identities, linker_version
from soccerfactory.storage.catalog import register_ground_truth
from soccerfactory.storage.gamestate import catalog_gamestate
from soccerfactory.storage.identities import identities_url, read_identities, read_identities_info
from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.shards import find_manifest, read_shard, rewrite_shard, write_shard

SEED = 405  # a development seed
MATCH = f"synth-{SEED}"
# One 2.4 s shot cut into two clips of one match: the tracker starts afresh in the second.
FAST = ["detect.imgsz=640", "detect.ball_slices=0", "run.max_parallel_clips=1", "clips.max_clip_seconds=1.2"]


def _example_match(root: Path, n: int = 3) -> dict:
    manifests = {}
    for k in range(n):
        clip_id, key = f"clip-{k}", f"{k}" * 16 + "c" * 48
        tables = example_shard_tables("m", clip_id, key, start_frame=100 * k, seed=k)
        manifests[clip_id] = write_shard(str(root), "m", clip_id, key, tables, config_hash="config-0", code_version="test",
                                         metadata={"run_id": "r0", "clip": {"content_hash": f"{k}" * 64}})
    return manifests


def test_the_align_task_stores_the_matchs_identities_once_per_change(tmp_path):
    manifests = _example_match(tmp_path)
    record, _ = align_match_teams.fn(str(tmp_path), "m", load_config(), "run-1", None)
    summary = record["identities"]
    assert summary["status"] == "written" and summary["linker_version"] == linker_version()
    table = read_identities(str(tmp_path), "m")
    athletes = {(c, m.shard_key): read_shard(m, ["athletes"])["athletes"] for c, m in manifests.items()}
    tracks = {(c, t) for (c, _), a in athletes.items() for t in a.column("track_id").to_pylist()}
    rows = {(r["clip_id"], r["track_id"]): r for r in table.to_pylist()}
    assert set(rows) == tracks and summary["tracks"] == len(tracks)
    # Each clip's team A number 7 is one athlete: every later clip's track links to the earlier by jersey.
    sevens = sorted({
        (c, t) for (c, _), a in athletes.items()
        for t, team, jersey in zip(*(a.column(n).to_pylist() for n in ("track_id", "team", "jersey"))) if (team, jersey) == ("A", 7)
    })
    assert len({rows[s]["identity"] for s in sevens}) == 1 and len({s[0] for s in sevens}) == 3
    assert rows[sevens[0]]["link_kind"] is None
    assert all(rows[s]["link_kind"] == "jersey" and rows[s]["linked_to_clip"] < s[0] for s in sevens[1:])
    assert all(rows[s]["link_reason"] == "both team A number 7" for s in sevens[1:])
    assert {r["shard_key"] for r in rows.values()} == {m.shard_key for m in manifests.values()}

    # Nothing changed: the file is not written again (every clip aligned, same shards, same linker).
    written = read_identities_info(str(tmp_path), "m")
    mtime = Path(identities_url(str(tmp_path), "m")).stat().st_mtime_ns
    assert align_match_teams.fn(str(tmp_path), "m", load_config(), "run-2", None) == ({}, [])
    assert Path(identities_url(str(tmp_path), "m")).stat().st_mtime_ns == mtime
    assert link_match_identities(str(tmp_path), "m", None)["status"] == "unchanged"
    # A clip rewritten (its athletes differ): the match is linked again at the next run that touches it.
    current = find_manifest(str(tmp_path), "m", "clip-1")
    tables = read_shard(current, ["athletes"])
    no_numbers = tables["athletes"].set_column(
        tables["athletes"].schema.get_field_index("jersey"), "jersey", [[None] * tables["athletes"].num_rows]
    ).cast(tables["athletes"].schema)
    rewrite_shard(current, {"athletes": no_numbers}, current.metadata)
    align_match_teams.fn(str(tmp_path), "m", load_config(), "run-3", None)
    assert read_identities_info(str(tmp_path), "m")["fingerprint"] != written["fingerprint"]
    relinked = {(r["clip_id"], r["track_id"]): r for r in read_identities(str(tmp_path), "m").to_pylist()}
    assert all(relinked[s]["link_kind"] != "jersey" for s in sevens if s[0] == "clip-1")


def test_identities_are_per_source_and_unique_within_the_match():
    """Two sources of one match are never linked together; their identities do not collide."""
    def rows(clip, track, frames, x):
        return [{"clip_id": clip, "track_id": track, "frame_index": f, "team": "A", "role": "player", "jersey": 9, "pitch_x": x, "pitch_y": 0.0}
                for f in frames]

    clips = [
        {"clip_id": "a-0", "source_url": "file:///a.mp4", "fps": 25.0, "start_frame": 0, "shard_key": "k0"},
        {"clip_id": "a-1", "source_url": "file:///a.mp4", "fps": 25.0, "start_frame": 10, "shard_key": "k1"},
        {"clip_id": "b-0", "source_url": "file:///b.mp4", "fps": 25.0, "start_frame": 0, "shard_key": "k2"},
    ]
    out, counts = identity_rows(clips, rows("a-0", 1, range(0, 10), 1.0) + rows("a-1", 1, range(10, 20), 1.0) + rows("b-0", 1, range(0, 10), 1.0))
    by = {(r["clip_id"], r["track_id"]): r for r in out}
    assert by[("a-0", 1)]["identity"] == by[("a-1", 1)]["identity"] != by[("b-0", 1)]["identity"]
    assert by[("a-1", 1)]["link_kind"] == "jersey" and by[("b-0", 1)]["link_kind"] is None and counts == {"jersey": 1, "refused": 0}
    assert {r["shard_key"] for r in out} == {"k0", "k1", "k2"}


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    return render_match(tmp_path_factory.mktemp("match"), SEED)


@pytest.mark.slow
def test_a_curate_run_stores_identities_the_catalog_and_the_export_read(footage, tmp_path):
    root = tmp_path / "curated"
    catalog = root / "catalog.duckdb"
    summary = run_curate(str(footage), str(root), load_config(overrides=FAST))
    assert summary.ok and summary.count("curated") == 2, summary.clips
    c1, c2 = sorted(c["clip"].clip_id for c in summary.clips)
    assert summary.teams[MATCH]["identities"]["status"] == "written", summary.teams
    register_ground_truth(catalog, footage)
    with duckdb.connect(str(catalog), read_only=True) as db:
        # Every athlete row has an identity; the second clip's tracks (new ids after the cut) link to the first's.
        assert db.execute("SELECT count(*) FILTER (WHERE identity IS NULL), count(*) FROM athlete_identities").fetchone()[1] > 0
        assert db.execute("SELECT count(*) FROM athlete_identities WHERE identity IS NULL").fetchone() == (0,)
        links = db.execute(
            "SELECT i.clip_id, i.track_id, i.link_kind, e.gt_track_id, l.gt_track_id FROM identities i "
            "JOIN truth_tracks e ON e.match_id = i.match_id AND e.clip_id = i.linked_to_clip AND e.track_id = i.linked_to_track "
            "JOIN truth_tracks l ON l.match_id = i.match_id AND l.clip_id = i.clip_id AND l.track_id = i.track_id "
            "WHERE i.link_kind IS NOT NULL AND i.clip_id = ? AND e.purity >= 0.9 AND l.purity >= 0.9",
            [c2],
        ).fetchall()
        n_second = db.execute("SELECT count(DISTINCT track_id) FROM tracks WHERE clip_id = ?", [c2]).fetchone()[0]
    # Most of the second clip's athletes are followed across the cut, and each link is the true athlete.
    assert len(links) >= n_second // 2, (links, n_second)
    assert [link for link in links if link[3] != link[4]] == [], links
    # The export reads them (no linker at export time) and gives a linked pair one track id.
    (document,) = catalog_gamestate(catalog, f"match_id = '{MATCH}'", frames="source", unplaced="keep",
                                    identities=lambda a, c: pytest.fail("the catalog has the identities")).values()
    assert document["info"]["track_ids"] == "joined by the stored identities"
    clip, track = links[0][0], links[0][1]
    with duckdb.connect(str(catalog), read_only=True) as db:
        earlier = db.execute("SELECT linked_to_clip, linked_to_track FROM identities WHERE clip_id = ? AND track_id = ?", [clip, track]).fetchone()
    assert earlier[0] == c1
    # A second run skips both clips and leaves the identities as they are.
    before = read_identities_info(str(root), MATCH)
    again = run_curate(str(footage), str(root), load_config(overrides=FAST))
    assert again.count("skipped") == 2 and read_identities_info(str(root), MATCH) == before
    shutil.rmtree(root)


def test_every_track_but_an_identitys_first_names_the_link_that_joined_it():
    """Two chains meeting at a later track (x -> z by number, y -> z by position): y still names
    its link, hanging from z, so only the identity's first track has no link."""
    from soccerfactory.curation.tracking.shot_links import ShotLinks, TrackLink
    from soccerfactory.flows.curate_teams import _link_parents

    x, y, z = ("c0", 1), ("c1", 2), ("c2", 3)
    by_number = TrackLink(x, z, "jersey", 0.0, 2.0, None, "both team A number 9")
    by_position = TrackLink(y, z, "position", 0.4, 0.1, 1.2, "1.2 m apart")
    parents = _link_parents(ShotLinks({x: 1, y: 1, z: 1}, (by_number, by_position)), {x: 0, y: 50, z: 100})
    assert parents == {z: (x, by_number), y: (z, by_position)}
