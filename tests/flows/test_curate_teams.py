"""Team letters per match through the real curate flow: a rendered match cut into two clips, real
Parquet shards, a real DuckDB catalog graded against the renderer's truth (``truth_team_map``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from soccerfactory.curation.attribute.match_teams import ciede2000, hex_to_lab
from soccerfactory.curation.config import load_config
from soccerfactory.curation.layout import swap_team_letters
from soccerfactory.curation.testing import render_match
from soccerfactory.flows.curate import run_curate
from soccerfactory.storage.catalog import register_ground_truth
from soccerfactory.storage.shards import delete_shard, find_manifest, read_shard, rewrite_shard

SEED = 404  # a development seed
MATCH = f"synth-{SEED}"
# One 2.4 s shot cut into two clips of one match (same kits, the truth's frame numbers).
FAST = ["detect.imgsz=640", "detect.ball_slices=0", "run.max_parallel_clips=1", "clips.max_clip_seconds=1.2"]


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    return render_match(tmp_path_factory.mktemp("match"), SEED)


def _clips(catalog: Path) -> list[dict]:
    with duckdb.connect(str(catalog), read_only=True) as db:
        rows = db.execute(
            "SELECT clip_id, team_a_colour, team_b_colour, team_a_side FROM clips WHERE match_id = ? ORDER BY clip_id", [MATCH]
        ).fetchall()
    return [dict(zip(("clip_id", "a", "b", "side"), row)) for row in rows]


def _same_letters(kits: list[dict]) -> bool:
    """Whether A is the same kit in both clips: the clips' medians differ a little (light, crops),
    so A must be nearer the other clip's A than its B."""
    (a1, b1), (a2, b2) = [(hex_to_lab(k["a"]), hex_to_lab(k["b"])) for k in kits]
    return ciede2000(a1, a2) + ciede2000(b1, b2) < ciede2000(a1, b2) + ciede2000(b1, a2)


def _team_map(catalog: Path) -> dict[str, tuple[str, bool]]:
    with duckdb.connect(str(catalog), read_only=True) as db:
        rows = db.execute("SELECT clip_id, a_is, consistent_with_match FROM truth_team_map WHERE match_id = ?", [MATCH]).fetchall()
    return {clip: (a_is, consistent) for clip, a_is, consistent in rows}


def _teams(root: Path, clip_id: str) -> list:
    manifest = find_manifest(str(root), MATCH, clip_id)
    return read_shard(manifest, ["athletes"])["athletes"].column("team").to_pylist()


@pytest.mark.slow
def test_a_clip_curated_later_takes_the_letters_in_the_catalog(footage, tmp_path):
    root = tmp_path / "curated"
    catalog = root / "catalog.duckdb"
    config = load_config(overrides=FAST)

    # Run 1: both clips of the match curated and aligned; each gets its mark, the record says so.
    first = run_curate(str(footage), str(root), config)
    assert first.ok and first.count("curated") == 2, first.clips
    c1, c2 = sorted(c["clip"].clip_id for c in first.clips)
    record = first.teams[MATCH]
    assert sorted(record["kept"] + record["swapped"]) == [c1, c2] and not record["ambiguous"], record
    kits = _clips(catalog)
    assert kits[0]["a"] is not None and _same_letters(kits), kits
    for clip in (c1, c2):
        assert find_manifest(str(root), MATCH, clip).metadata["team_letters"]["action"] in ("keep", "swap")
    natural_c2 = _teams(root, c2)

    # Force the case: the catalog's first clip names the kits the other way round (as an earlier
    # version might have), and the second clip is curated again by a later run.
    m1 = find_manifest(str(root), MATCH, c1)
    swapped = swap_team_letters(read_shard(m1, ["athletes", "clips"]))
    rewrite_shard(m1, swapped, {**m1.metadata, "team_letters": {"action": "swap", "reason": "forced by the test"}})
    assert delete_shard(str(root), MATCH, c2)

    second = run_curate(str(footage), str(root), config)
    assert second.ok and second.count("skipped") == 1 and second.count("curated") == 1, second.clips
    record = second.teams[MATCH]
    assert record["swapped"] == [c2] and record["reference"] == [c1], record
    # The new clip now carries the catalog's letters: every team flipped against its own curation.
    assert _teams(root, c2) == [{"A": "B", "B": "A"}.get(t) for t in natural_c2]
    kits = _clips(catalog)
    assert _same_letters(kits) and kits[0]["side"] == kits[1]["side"], kits
    runs = {json.loads(p.read_text())["run_id"]: json.loads(p.read_text()) for p in (root / "runs").glob("*.json")}
    assert runs[second.run_id]["team_alignment"][MATCH]["swapped"] == [c2]
    assert runs[second.run_id]["n_team_swapped"] == 1

    # Against the truth: A is the same true team in both clips, and the match's mapping agrees.
    register_ground_truth(catalog, footage)
    team_map = _team_map(catalog)
    assert set(team_map) == {c1, c2}
    assert team_map[c1][0] == team_map[c2][0] and all(consistent for _, consistent in team_map.values()), team_map

    # A third run changes nothing: every clip is aligned, nothing is rewritten.
    before = {c: find_manifest(str(root), MATCH, c) for c in (c1, c2)}
    third = run_curate(str(footage), str(root), config)
    assert third.count("skipped") == 2 and MATCH not in third.teams
    assert {c: find_manifest(str(root), MATCH, c) for c in (c1, c2)} == before


@pytest.mark.slow
def test_a_run_killed_between_rewrites_is_finished_by_the_next(footage, tmp_path):
    """A clip without its mark (its run died before reaching it) is aligned by the next run that
    touches the match, against the clips already aligned."""
    root = tmp_path / "curated"
    config = load_config(overrides=FAST)
    first = run_curate(str(footage), str(root), config)
    c1, c2 = sorted(c["clip"].clip_id for c in first.clips)
    # As a run killed after committing c1's swap and before c2's: c1 swapped and marked, c2 untouched.
    m1 = find_manifest(str(root), MATCH, c1)
    rewrite_shard(m1, swap_team_letters(read_shard(m1, ["athletes", "clips"])), {**m1.metadata, "team_letters": {"action": "swap"}})
    m2 = find_manifest(str(root), MATCH, c2)
    rewrite_shard(m2, None, {k: v for k, v in m2.metadata.items() if k != "team_letters"})

    second = run_curate(str(footage), str(root), config)
    assert second.count("skipped") == 2
    assert second.teams[MATCH]["swapped"] == [c2], second.teams
    kits = _clips(root / "catalog.duckdb")
    assert _same_letters(kits), kits
    shutil.rmtree(root)


def _example_match(root: Path) -> dict[str, object]:
    """Three example shards of one match (real Parquet through the real writer); the third names the kits the other way."""
    from soccerfactory.storage.schemas import example_shard_tables
    from soccerfactory.storage.shards import write_shard

    manifests = {}
    for k in range(3):
        clip_id, key = f"clip-{k}", f"{k}" * 16 + "d" * 48
        tables = example_shard_tables("m", clip_id, key, start_frame=100 * k, seed=k)
        if k == 2:
            tables = {**tables, **swap_team_letters(tables)}
        manifests[clip_id] = write_shard(str(root), "m", clip_id, key, tables, config_hash="config-0", code_version="test",
                                         metadata={"run_id": "r0", "clip": {"content_hash": f"{k}" * 64}})
    return manifests


def test_the_align_task_swaps_the_odd_clip_marks_every_clip_and_reports_a_damaged_one(tmp_path):
    from soccerfactory.flows.curate_teams import align_match_teams

    manifests = _example_match(tmp_path)
    teams_before = read_shard(manifests["clip-2"], ["athletes"])["athletes"].column("team").to_pylist()
    record, rewritten = align_match_teams.fn(str(tmp_path), "m", load_config(), "run-1", None)
    assert record["swapped"] == ["clip-2"] and record["kept"] == ["clip-0", "clip-1"], record
    assert [m.clip_id for m in rewritten] == ["clip-2"]
    after = find_manifest(str(tmp_path), "m", "clip-2")
    assert read_shard(after, ["athletes"])["athletes"].column("team").to_pylist() == [{"A": "B", "B": "A"}.get(t) for t in teams_before]
    assert read_shard(after, ["clips"])["clips"].to_pylist()[0]["team_a_side"] == "left"  # flipped back to the match's
    for clip_id in manifests:
        mark = find_manifest(str(tmp_path), "m", clip_id).metadata["team_letters"]
        assert mark["run_id"] == "run-1" and mark["action"] in ("keep", "swap")
    # Every clip aligned: nothing more to do. A new clip with a damaged file is reported, not fatal.
    assert align_match_teams.fn(str(tmp_path), "m", load_config(), "run-2", None) == ({}, [])
    from soccerfactory.storage.schemas import example_shard_tables
    from soccerfactory.storage.shards import write_shard

    key = "9" * 16 + "e" * 48
    damaged = write_shard(str(tmp_path), "m", "clip-9", key, example_shard_tables("m", "clip-9", key), config_hash="config-0",
                          code_version="test", metadata={})
    path = tmp_path / "shards" / "match_id=m" / "clip_id=clip-9" / damaged.files["clips"]["path"]
    path.write_bytes(path.read_bytes()[:-3])
    record, rewritten = align_match_teams.fn(str(tmp_path), "m", load_config(), "run-3", None)
    assert rewritten == [] and any(p.startswith("clip-9: not aligned") for p in record["problems"]), record


def _with_shirts(tables: dict, shirts: dict[int, tuple[str, str | None, str]], kits: bool = True) -> dict:
    """``tables`` with tracklets' role, team, reason and shirt colour over 3 crops (``{tracklet: (role, team, #rrggbb)}``)."""
    import pyarrow as pa

    athletes, clips = tables["athletes"], tables["clips"]
    ids = athletes.column("tracklet_id").to_pylist()
    columns = {name: athletes.column(name).to_pylist() for name in ("role", "team", "role_reason", "shirt_colour", "shirt_crops")}
    for i, t in enumerate(ids):
        if t in shirts:
            role, team, colour = shirts[t]
            reason = "no kit models; nothing else says player (no kit models, no position), so not counted as a player: other" if role == "other" else "kit: player"
            columns["role"][i], columns["team"][i], columns["role_reason"][i] = role, team, reason
            columns["shirt_colour"][i], columns["shirt_crops"][i] = colour, 3
    for name, values in columns.items():
        field = athletes.schema.field(name)
        athletes = athletes.set_column(athletes.schema.get_field_index(name), field, pa.array(values, field.type))
    if not kits:
        for name in ("team_a_colour", "team_b_colour", "team_a_side"):
            clips = clips.set_column(clips.schema.get_field_index(name), clips.schema.field(name), pa.array([None], pa.string()))
    return {**tables, "athletes": athletes, "clips": clips}


def test_the_align_task_decides_a_clip_without_kits_by_the_matchs_kits(tmp_path):
    """A clip whose own kits were refused (one team in view) gets teams in the match's letters
    from the kits of the other clips, through the real writer and the task's rewrite."""
    from soccerfactory.flows.curate_teams import align_match_teams
    from soccerfactory.storage.schemas import example_shard_tables
    from soccerfactory.storage.shards import write_shard

    navy, white = "#202080", "#e0e0e0"  # the example shards' kits A and B
    for k in range(3):
        clip_id, key = f"clip-{k}", f"{k}" * 16 + "d" * 48
        tables = _with_shirts(example_shard_tables("m", clip_id, key, start_frame=100 * k, seed=k),
                              {1: ("player", "A", navy), 2: ("player", "B", white)})
        if k == 2:  # this clip names the kits the other way round: its letters swap, and so do the shirts' teams
            tables = {**tables, **swap_team_letters(tables)}
        write_shard(str(tmp_path), "m", clip_id, key, tables, config_hash="config-0", code_version="test",
                    metadata={"run_id": "r0", "clip": {"content_hash": f"{k}" * 64}})
    key = "7" * 16 + "d" * 48
    tables = _with_shirts(example_shard_tables("m", "clip-7", key, start_frame=700, seed=7),
                          {1: ("other", None, "#dcdcdc"), 2: ("player", None, navy)}, kits=False)
    write_shard(str(tmp_path), "m", "clip-7", key, tables, config_hash="config-0", code_version="test", metadata={"run_id": "r0"})

    record, rewritten = align_match_teams.fn(str(tmp_path), "m", load_config(), "run-1", None)
    assert record["no_kits"] == ["clip-7"] and record["match_tracklets"]["decided"] == {"clip-7": 2}, record
    assert sorted(m.clip_id for m in rewritten) == ["clip-2", "clip-7"]
    after = find_manifest(str(tmp_path), "m", "clip-7")
    assert after.metadata["team_letters"]["tracklets_decided_by_match"] == 2
    rows = read_shard(after, ["athletes"])["athletes"].to_pylist()
    decided = {r["tracklet_id"]: (r["role"], r["team"]) for r in rows}
    assert decided == {1: ("player", "B"), 2: ("player", "A"), 3: ("referee", None)}
    assert all("by the match's kits" in r["role_reason"] for r in rows if r["tracklet_id"] in (1, 2))


def test_the_runs_team_line_counts_the_tracklets_the_match_decided():
    from soccerfactory.flows.curate import _teams_line

    record = {
        "kit_a": "#ffffff", "kit_b": "#ff0000", "swapped": [], "kept": ["c1"], "reference": ["c0"], "ambiguous": [], "no_kits": ["c2"],
        "match_tracklets": {"note": "", "decided": {"c2": 3, "c1": 1}, "letters_by_players": {}},
    }
    line = _teams_line("m", record)
    assert line.startswith("m: team letters aligned (A #ffffff, B #ff0000): 0 swapped, 1 kept, 1 already aligned")
    assert line.endswith("; 4 tracklets decided by the match's kits")
    record["match_tracklets"]["decided"] = {}
    assert "decided by the match" not in _teams_line("m", record)
