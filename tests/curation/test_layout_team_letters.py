"""The codec's team-letter swap: every column holding a letter changes, nothing else does."""

from __future__ import annotations

import pyarrow as pa

from soccerfactory.curation.layout import swap_team_letters
from soccerfactory.storage.schemas import SHARD_SCHEMAS, conform_table, example_shard_tables


def test_swap_exchanges_letters_colours_sides_and_the_letters_in_reasons():
    tables = example_shard_tables("m", "c", "0" * 64)
    athletes = tables["athletes"]
    reasons = ["kit d=1.2/5.3 spreads from team A/B over 4 crops, in team A's kit: player",
               "team unknown: its crops voted B, its median kit is A's", None]
    n = athletes.num_rows
    athletes = athletes.set_column(athletes.schema.get_field_index("role_reason"), athletes.schema.field("role_reason"),
                                   pa.array([reasons[i % 3] for i in range(n)], pa.string()))
    tables = {**tables, "athletes": athletes}
    out = swap_team_letters(tables)

    before, after = tables["athletes"].column("team").to_pylist(), out["athletes"].column("team").to_pylist()
    assert {"A", "B", None} >= set(before) and "A" in before and "B" in before
    assert after == [{"A": "B", "B": "A"}.get(t) for t in before]
    assert out["athletes"].column("role_reason").to_pylist()[:3] == [
        "kit d=1.2/5.3 spreads from team B/A over 4 crops, in team B's kit: player",
        "team unknown: its crops voted A, its median kit is B's", None,
    ]
    clip_before, clip_after = tables["clips"].to_pylist()[0], out["clips"].to_pylist()[0]
    assert (clip_after["team_a_colour"], clip_after["team_b_colour"]) == (clip_before["team_b_colour"], clip_before["team_a_colour"])
    assert clip_before["team_a_side"] == "left" and clip_after["team_a_side"] == "right"
    # Nothing else changed, and the tables still fit their schemas exactly.
    for name in ("athletes", "clips"):
        assert out[name].schema == SHARD_SCHEMAS[name] and conform_table(name, out[name]).equals(out[name])
        keep = [c for c in out[name].column_names if c not in ("team", "role_reason", "flag_reason", "team_a_colour", "team_b_colour", "team_a_side")]
        assert out[name].select(keep).equals(tables[name].select(keep))
    assert swap_team_letters(out)["athletes"].equals(tables["athletes"])  # swapping twice is the identity
