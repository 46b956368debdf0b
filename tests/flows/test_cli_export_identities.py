"""`soccerfactory export gsr` and athlete identities: the catalog's stored ones, the linker for a
catalog without them, per-clip ids with --no-link-tracks (real shards, real DuckDB)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from soccerfactory.flows.cli import app
from soccerfactory.storage.catalog import register_identities, register_shards
from soccerfactory.storage.identities import identities_table, write_identities
from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.shards import write_shard

runner = CliRunner()
MATCH = "match-1"


def _catalog(tmp_path):
    root, catalog, manifests = tmp_path / "out", tmp_path / "catalog.duckdb", []
    for n in range(2):
        key = f"{n:016x}" + "f" * 48
        tables = example_shard_tables(MATCH, f"clip-{n}", key, n_frames=3, n_tracks=2, start_frame=100 * n)
        manifests.append(write_shard(root, MATCH, f"clip-{n}", key, tables, config_hash="config-0", code_version="test", metadata={}))
    register_shards(catalog, manifests)
    return root, catalog, manifests


def _info(tmp_path, catalog, name: str, *flags: str) -> dict:
    out = tmp_path / name
    result = runner.invoke(app, ["export", "gsr", "--catalog", str(catalog), "--out", str(out), "--per-source", "--keep-unplaced", *flags])
    assert result.exit_code == 0, result.output
    (path,) = out.glob("*/Labels-GameState.json")
    return json.loads(path.read_text())["info"]


def test_export_gsr_reads_the_catalogs_identities_and_links_a_catalog_without_them(tmp_path):
    root, catalog, manifests = _catalog(tmp_path)
    # A catalog without identities: linked at export time by the shot linker (team A #7 in both clips).
    linked_now = _info(tmp_path, catalog, "now")
    assert linked_now["track_ids"] == "joined by the caller's identities" and linked_now["n_track_ids"] == 3
    # Stored identities (here: every track its own athlete, as a linker might have decided) win.
    rows = [{"clip_id": m.clip_id, "track_id": t, "shard_key": m.shard_key, "identity": 10 * n + t}
            for n, m in enumerate(manifests) for t in (1, 2)]
    write_identities(str(root), MATCH, identities_table(MATCH, rows, "linker-test"), fingerprint="f")
    assert register_identities(catalog) == 1
    stored = _info(tmp_path, catalog, "stored")
    assert stored["track_ids"] == "joined by the stored identities" and stored["n_track_ids"] == 4
    # --no-link-tracks: each clip's tracks are their own, whatever is stored.
    apart = _info(tmp_path, catalog, "apart", "--no-link-tracks")
    assert apart["track_ids"] == "per clip (no identities)" and apart["n_track_ids"] == 4
