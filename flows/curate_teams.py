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

Then the match's athlete identities across shots (:func:`link_match_identities`): the tracks of
its clips, with their aligned letters, linked by the curation's shot linker
(:mod:`~soccerfactory.curation.tracking.shot_links`) and stored as one file per match
(:mod:`~soccerfactory.storage.identities`, the catalog's ``identities`` and ``athlete_identities``
views), recomputed only when a clip's shard or the linker changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from soccerfactory.curation.attribute.match_teams import ClipKits, MatchTeamRules, align_match
from soccerfactory.curation.attribute.match_tracks import (
    ATHLETE_COLUMNS, ClipTracklets, MatchTrackRules, decide_match_tracklets, fill_athletes, tracklets_of,
)
from soccerfactory.curation.config import CurateConfig
from soccerfactory.curation.tracking import shot_links
from soccerfactory.curation.tracking.shot_appearance import rows_with_vectors
from soccerfactory.curation.tracking.shot_links import link_shot_tracks, shot_tracks_from_rows
from soccerfactory.curation.layout import swap_team_letters
from soccerfactory.flows.curate_run import io_error
from soccerfactory.storage.identities import IDENTITY_SCHEMA_VERSION, identities_table, identity_fingerprint, read_identities_info, write_identities
from soccerfactory.storage.manifest import ShardManifest
from soccerfactory.storage.runs import claim_clip
from soccerfactory.storage.shards import CorruptShardError, find_manifest, find_manifests_by_prefix, read_shard, rewrite_shard

__all__ = ["ALIGNED", "align_match_teams", "identity_rows", "link_match_identities", "linker_version", "match_rules", "match_track_rules"]

#: Marked actions that make a clip a reference for the rest of its match.
ALIGNED = ("keep", "swap")
#: The athletes columns the shot linker reads.
_LINK_COLUMNS = ("clip_id", "frame_index", "track_id", "team", "role", "jersey", "pitch_x", "pitch_y", "appearance")


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
        off_pitch_margin_m=config.vote.off_pitch_margin_m, side_min_gap_m=attribute.side_min_gap_m,
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
        _identities(output, match_id, storage_options, problems)  # a clip curated again since, or a new linker
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
    identities = _identities(output, match_id, storage_options, problems)
    if identities is not None:
        record["identities"] = identities
    if problems:
        record["problems"] = problems
    return record, rewritten


def _identities(output: str, match_id: str, storage_options: dict | None, problems: list[str]) -> dict[str, Any] | None:
    """:func:`link_match_identities`, its trouble one line of ``problems`` (the exporter then
    links at export time, and the next run tries again)."""
    try:
        return link_match_identities(output, match_id, storage_options)
    except (CorruptShardError, ValueError, OSError) as error:
        problems.append(f"identities of {match_id} not written ({type(error).__name__}: {error})")
        return None


def linker_version() -> str:
    """The shot linker's version: its ``LINKER_VERSION`` when it has one, else the sha256 of its
    module's source and of the ``curation.tracking`` modules it takes names from (its geometry is
    in ``shot_geometry``; the defaults of ``LinkConfig`` included), so a change of the linker
    recomputes every match's identities at the next run that touches it."""
    declared = getattr(shot_links, "LINKER_VERSION", None)
    if declared:
        return str(declared)
    package = shot_links.__name__.rsplit(".", 1)[0]
    used = {getattr(value, "__module__", None) for value in vars(shot_links).values()} | {shot_links.__name__}
    digest = hashlib.sha256()
    for name in sorted(n for n in used if isinstance(n, str) and n.startswith(package + ".")):
        digest.update(Path(sys.modules[name].__file__).read_bytes())
    return "shot_links-" + digest.hexdigest()[:12]


def identity_rows(clips: list[dict[str, Any]], athletes: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One identity row per ``(clip_id, track_id)`` of one match's clips (``storage.identities`` columns).

    The clips of each source are linked by :func:`~soccerfactory.curation.tracking.shot_links.link_shot_tracks`
    (a source's shots only: clips of two sources are never one shot sequence); identities are
    numbered by first frame within the source, the sources one after the other (by source URL).

    Args:
        clips: The match's ``clips`` rows (``clip_id``, ``source_url``, ``fps``, ``shard_key``).
        athletes: Their ``athletes`` rows (see :func:`~soccerfactory.curation.tracking.shot_links.shot_tracks_from_rows`).

    Returns:
        ``(rows, counts)``: the rows, and counts of links by kind plus ``refused`` (pairs the
        linker chose and refused as ambiguous or inconsistent).
    """
    by_source: dict[str, list[dict[str, Any]]] = {}
    for clip in sorted(clips, key=lambda c: (c["source_url"], c["start_frame"], c["clip_id"])):
        by_source.setdefault(clip["source_url"], []).append(clip)
    rows, counts, offset = [], {"refused": 0}, 0
    for members in by_source.values():
        keys = {c["clip_id"]: c["shard_key"] for c in members}
        tracks = shot_tracks_from_rows(r for r in athletes if r["clip_id"] in keys)
        if not tracks:
            continue
        links = link_shot_tracks(tracks, float(members[0]["fps"]))
        for link in links.links:
            counts[link.kind] = counts.get(link.kind, 0) + 1
        counts["refused"] += len(links.refused)
        parents = _link_parents(links, {t.key: int(t.frames[0]) for t in tracks})
        for key, number in sorted(links.identity.items()):
            parent, link = parents.get(key, (None, None))
            rows.append({
                "clip_id": key[0], "track_id": key[1], "shard_key": keys[key[0]], "identity": offset + number,
                "link_kind": link.kind if link else None, "linked_to_clip": parent[0] if link else None,
                "linked_to_track": parent[1] if link else None, "link_cost": float(link.cost) if link else None,
                "link_reason": link.reason if link else None,
            })
        offset += max(links.identity.values())
    return rows, counts


def _link_parents(links, first_frame: dict) -> dict:
    """``track -> (the track it joined its identity through, the link)``: each identity's links
    form a tree (every link joined two identities), rooted here at its first track, so every
    other track has exactly one. Usually the parent is the earlier track of the link; where two
    chains met at a later track (a number read in one shot joins an athlete that a position
    link followed: 1 of 112 tracks on dev seed 400), one of them hangs from that later track."""
    neighbours: dict = {}
    for link in links.links:
        neighbours.setdefault(link.earlier, []).append((link.later, link))
        neighbours.setdefault(link.later, []).append((link.earlier, link))
    members: dict[int, list] = {}
    for key, number in links.identity.items():
        members.setdefault(number, []).append(key)
    parents = {}
    for keys in members.values():
        root = min(keys, key=lambda k: (first_frame[k], k))
        seen, queue = {root}, [root]
        while queue:
            node = queue.pop(0)
            for other, link in sorted(neighbours.get(node, []), key=lambda item: item[0]):
                if other not in seen:
                    seen.add(other)
                    parents[other] = (node, link)
                    queue.append(other)
    return parents


def link_match_identities(output: str, match_id: str, storage_options: dict | None) -> dict[str, Any]:
    """Link the tracks of one match's committed clips into athlete identities and store them
    (``storage.identities``: one file per match, replaced atomically), unless the stored ones were
    computed from the same shards by the same linker.

    Returns:
        ``{"status": "written" | "unchanged", "linker_version", "tracks", "identities",
        "links": {kind: n}, "refused"}`` (counts only when written; ``left_out``: clips whose
        shard does not read, linked by the run that curates them again).
    """
    manifests = sorted(find_manifests_by_prefix(output, match_id, "", storage_options), key=lambda m: m.clip_id)
    version = linker_version()
    fingerprint = identity_fingerprint(
        [(m.clip_id, m.shard_key, m.files.get("athletes", {}).get("sha256", "")) for m in manifests] + [("", IDENTITY_SCHEMA_VERSION, version)]
    )
    stored = read_identities_info(output, match_id, storage_options)
    if stored is not None and stored.get("fingerprint") == fingerprint:
        return {"status": "unchanged", "linker_version": version}
    clips, athletes, left_out = [], [], []
    for manifest in manifests:
        try:
            tables = read_shard(manifest, ["clips", "athletes"], storage_options=storage_options)
        except (CorruptShardError, ValueError):  # curated again by the next run, which links it then
            left_out.append(manifest.clip_id)
            continue
        clips += [{**row, "shard_key": manifest.shard_key} for row in tables["clips"].to_pylist()]
        athletes += rows_with_vectors(tables["athletes"].select([c for c in _LINK_COLUMNS if c in tables["athletes"].column_names]))
    rows, counts = identity_rows(clips, athletes)
    table = identities_table(match_id, rows, version)
    write_identities(output, match_id, table, fingerprint=fingerprint, storage_options=storage_options)
    refused = counts.pop("refused")
    summary = {
        "status": "written", "linker_version": version, "tracks": len(rows), "identities": len({r["identity"] for r in rows}),
        "links": counts, "refused": refused,
    }
    return {**summary, "left_out": left_out} if left_out else summary


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
