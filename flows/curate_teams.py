"""Team letters per match, after a ``curate`` run: one ``align-match-teams`` task per match it touched.

The decision is curation's (:func:`~soccerfactory.curation.attribute.match_teams.align_match`;
then :func:`~soccerfactory.curation.attribute.match_tracks.decide_match_tracklets`: the tracklets a
clip's own kits could not decide, a clip without kits, and an ambiguous clip its players' shirts
settle, against the kits of the whole match), the swap of a shard's letters is the codec's
(:func:`~soccerfactory.curation.layout.swap_team_letters`) and the atomic rewrite is storage's (:func:`~soccerfactory.storage.shards.rewrite_shard`); this
module wires them.

Every clip the alignment looks at gets ``metadata.team_letters`` in its manifest (the action, the
reason, the run, the match's kits). A clip marked ``keep`` or ``swap`` is *aligned*: its letters
are the match's and later runs align new clips to it (a reference, never changed again). A clip
without the mark (new, re-curated, or left when a run died between two rewrites) is decided at
the next run that touches its match; ``ambiguous`` and ``no-kits`` clips are decided again then
too, with the evidence of the new clips. Each rewrite is one atomic shard commit (manifest
last), so a run killed among them leaves every shard whole: the rewritten ones aligned, the
others unmarked, and the next run finishes the match against the aligned ones.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from soccerfactory.curation.attribute.match_teams import ClipKits, MatchTeamRules, align_match
from soccerfactory.curation.attribute.match_tracks import (
    ATHLETE_COLUMNS, ClipTracklets, MatchTrackRules, decide_match_tracklets, fill_athletes, tracklets_of,
)
from soccerfactory.curation.config import CurateConfig
from soccerfactory.curation.layout import swap_team_letters
from soccerfactory.flows.curate_run import io_error
from soccerfactory.storage.manifest import ShardManifest
from soccerfactory.storage.runs import claim_clip
from soccerfactory.storage.shards import CorruptShardError, find_manifest, find_manifests_by_prefix, read_shard, rewrite_shard

__all__ = ["ALIGNED", "align_match_teams", "match_rules", "match_track_rules"]

#: Marked actions that make a clip a reference for the rest of its match.
ALIGNED = ("keep", "swap")


def match_rules(config: CurateConfig) -> MatchTeamRules:
    """The alignment's rules from the config's ``attribute.match_*``."""
    attribute = config.attribute
    return MatchTeamRules(
        min_margin=attribute.match_min_margin, max_ratio=attribute.match_max_ratio, side_decides=attribute.match_side_decides
    )


def match_track_rules(config: CurateConfig) -> MatchTrackRules:
    """The per-match tracklet rules from the config's kit thresholds (the clip rules' own)."""
    attribute = config.attribute
    return MatchTrackRules(
        kit_min_spread=attribute.kit_min_spread, kit_member=attribute.kit_member, kit_outlier=attribute.kit_outlier,
        kit_min_crops=config.vote.kit_min_crops, min_positioned_rows=config.vote.min_positioned_rows,
    )


def _mark(manifest: ShardManifest) -> dict[str, Any] | None:
    mark = manifest.metadata.get("team_letters")
    return mark if isinstance(mark, dict) else None


@task(name="align-match-teams", retries=2, retry_delay_seconds=1, retry_condition_fn=io_error, cache_policy=NONE)
def align_match_teams(
    output: str, match_id: str, config: CurateConfig, run_id: str, storage_options: dict | None
) -> tuple[dict[str, Any], list[ShardManifest]]:
    """Align the team letters of one match's committed clips; rewrite the clips that must swap.

    Returns:
        ``(record, rewritten)``: what was decided (``MatchTeams.record`` plus ``problems``, one
        line per clip that could not be read or rewritten) and the manifests of the shards whose
        tables changed (to register). Nothing to do (every clip marked already): an empty record.
    """
    manifests, rows, problems = {}, {}, []
    for manifest in find_manifests_by_prefix(output, match_id, "", storage_options):
        try:
            (row,) = read_shard(manifest, ["clips"], storage_options=storage_options)["clips"].to_pylist()
        except (CorruptShardError, ValueError) as error:  # a damaged shard is curated again by the next run
            problems.append(f"{manifest.clip_id}: not aligned, its shard does not read ({error})")
            continue
        manifests[manifest.clip_id], rows[manifest.clip_id] = manifest, row
    marks = {clip_id: _mark(m) for clip_id, m in manifests.items()}
    if all(mark is not None for mark in marks.values()):
        return ({"problems": problems} if problems else {}), []
    kits = [ClipKits.from_row(rows[c], fixed=(marks[c] or {}).get("action") in ALIGNED) for c in sorted(rows)]
    teams = align_match(kits, match_rules(config))
    tracklets = _match_tracklets(manifests, teams.decisions, match_track_rules(config), storage_options, problems)
    if tracklets.letters:  # ambiguous clips their players' shirts decided
        teams = dataclasses.replace(teams, decisions=tuple(_by_players(d, tracklets.letters) for d in teams.decisions))
    rewritten = []
    for decision in teams.decisions:
        if decision.action == "reference":
            continue
        fills = tracklets.fills.get(decision.clip_id, [])
        mark = {"action": decision.action, "reason": decision.reason, "run_id": run_id, "kit_a": teams.kit_a, "kit_b": teams.kit_b}
        if fills:
            mark["tracklets_decided_by_match"] = len(fills)
        previous = marks[decision.clip_id]
        if decision.action != "swap" and not fills and previous is not None and {**previous, "run_id": run_id} == mark:
            continue  # decided the same way before: nothing to write
        try:
            manifest = _rewrite(output, manifests[decision.clip_id], decision.swap, mark, run_id, storage_options, fills)
        except (CorruptShardError, ValueError, OSError) as error:
            problems.append(f"{decision.clip_id}: {decision.action} not written ({type(error).__name__}: {error})")
            continue
        if (decision.swap or fills) and manifest is not None:
            rewritten.append(manifest)
    record = teams.record()
    record["match_tracklets"] = {
        "note": tracklets.note, "decided": {clip: len(items) for clip, items in tracklets.fills.items()},
        "letters_by_players": {clip: action for clip, (action, _) in tracklets.letters.items()},
    }
    if problems:
        record["problems"] = problems
    return record, rewritten


def _by_players(decision, letters: dict[str, tuple[str, str]]):
    if decision.clip_id not in letters:
        return decision
    action, why = letters[decision.clip_id]
    side = decision.side_a if action == "keep" or decision.side_a is None else ("right" if decision.side_a == "left" else "left")
    return dataclasses.replace(decision, action=action, side_a=side, reason=f"{decision.reason}; {why}")


def _match_tracklets(manifests, decisions, rules: MatchTrackRules, storage_options, problems: list[str]):
    """The tracklets the match's kits decide (:func:`~soccerfactory.curation.attribute.match_tracks.decide_match_tracklets`)."""
    clips = []
    for decision in decisions:
        try:
            athletes = read_shard(manifests[decision.clip_id], ["athletes"], storage_options=storage_options)["athletes"]
        except (CorruptShardError, ValueError) as error:
            problems.append(f"{decision.clip_id}: its tracklets not read for the match's kits ({error})")
            continue
        clips.append(ClipTracklets(decision.clip_id, decision.action, tracklets_of(athletes.select([c for c in ATHLETE_COLUMNS if c in athletes.column_names]))))
    return decide_match_tracklets(clips, rules)


def _rewrite(
    output: str, manifest: ShardManifest, swap: bool, mark: dict[str, Any], run_id: str, storage_options: dict | None,
    fills: list | None = None,
) -> ShardManifest | None:
    """Commit the mark (and, for a swap, the swapped tables; with fills, the tracklets the match's
    kits decided, in match letters, after the swap) to one shard, under its clip's claim; None
    when another run re-curated the clip meanwhile (its letters are that run's to align)."""
    with claim_clip(output, manifest.match_id, manifest.clip_id, run_id, storage_options):
        current = find_manifest(output, manifest.match_id, manifest.clip_id, storage_options=storage_options)
        if current is None or (current.shard_key, current.files) != (manifest.shard_key, manifest.files):
            return None
        tables = None
        if swap or fills:
            tables = read_shard(current, ["athletes", "clips"], storage_options=storage_options)
            tables = swap_team_letters(tables) if swap else {"athletes": tables["athletes"]}
            if fills:
                tables["athletes"] = fill_athletes(tables["athletes"], fills)
        return rewrite_shard(current, tables, {**current.metadata, "team_letters": mark}, storage_options=storage_options)
