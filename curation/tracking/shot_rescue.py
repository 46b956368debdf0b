"""The shot linker's rules that join tracks by appearance *with* other evidence (the second cue).

:mod:`.shot_appearance` embeds the crops (it runs in the spatial pass) and holds the appearance
pass, which links loose ends by appearance alone; this module holds what the per-match linker
(:func:`~.shot_links.link_shot_tracks`) adds on top, both decided only where a second source of
evidence already narrows the choice:

* :func:`appearance_agrees` (``LinkConfig.appearance_rescue``): a pair the position pass chose but
  found ambiguous (two athletes side by side at a cut) is kept when appearance picks the same
  pair among the position candidates.
* :func:`insertions` (``LinkConfig.appearance_between``): a track without pitch positions (a
  zoomed shot or a close-up between two main shots) that the position pass skipped joins the
  identity around it that it clearly looks like (transitivity over three shots).

Kept out of :mod:`.shot_appearance` so that changing a linking rule leaves the spatial cache
valid (this module is listed in ``spatial_cache._NOT_SPATIAL``). Tracks and the config are typed
``Any`` (``ShotTrack`` and ``LinkConfig`` of :mod:`.shot_links`, which imports this module).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from soccerfactory.curation.tracking.shot_appearance import appearance_usable, mean_appearance, runner_up

__all__ = ["appearance_agrees", "insertions"]

TrackKey = tuple[str, int]


def appearance_agrees(a: TrackKey, b: TrackKey, candidates: Sequence[Any], by_key: Mapping[TrackKey, Any], tracks: Sequence[Any], config: Any) -> str | None:
    """Why appearance picks the position pair ``a -> b`` that the assignment chose but found
    ambiguous, or None when it does not (a second cue, as the appearance pass's agree rule).

    The pair's mean embeddings must be at least ``appearance_min_similarity`` alike and more
    alike than every rival position candidate of ``a``'s end or ``b``'s start (``candidates``:
    objects with ``earlier`` / ``later``) by ``appearance_agree_margin``; a rival without a
    usable embedding (:func:`~.shot_appearance.appearance_usable`: fewer than
    ``appearance_min_crops`` crops) says nothing, so nothing is decided. Without rival candidates
    the pair was ambiguous only against leaving both loose: it must then beat the most alike usable
    teammate on screen with either track by ``appearance_margin`` (none on screen: nothing decided;
    :func:`~.shot_appearance.runner_up`).
    """
    x, y = by_key[a], by_key[b]
    if not (appearance_usable(x, config) and appearance_usable(y, config)):
        return None
    similarity = float(x.appearance @ y.appearance)
    if similarity < config.appearance_min_similarity:
        return None
    rivals = [(link.earlier, link.later) for link in candidates if (link.earlier == a) != (link.later == b)]
    sims = []
    for e, s in rivals:
        u, v = by_key[e], by_key[s]
        if not (appearance_usable(u, config) and appearance_usable(v, config)) or u.appearance.size != v.appearance.size:
            return None
        sims.append(float(u.appearance @ v.appearance))
    closest = runner_up(sims, (x, y), tracks, config)
    if closest is None or similarity - closest < (config.appearance_agree_margin if rivals else config.appearance_margin):
        return None
    if rivals:
        return f"appearance picks it ({similarity:.2f} alike, the closest of {len(rivals)} rival pairs {closest:.2f})"
    return f"appearance picks it ({similarity:.2f} alike, no rival pair; the most alike teammate beside them {closest:.2f})"


def insertions(tracks: Sequence[Any], group: Callable[[TrackKey], list[Any]], fps: float, config: Any) -> list[tuple[TrackKey, TrackKey, float, float, str]]:
    """Links of tracks with no pitch position, alone in their identity, into the gap of an
    identity that goes on around them (three shots: a main shot, a zoomed shot or a close-up, a
    main shot). The position pass links across such a shot and leaves its track out: it
    constrains nothing, and nothing links to it after. A track lying inside gaps (up to
    ``appearance_max_gap_s``) of several identities the labels allow goes to the one whose
    tracks on both sides of the gap look clearly closest (at least ``appearance_min_similarity``
    and ``appearance_margin`` above the next; with no other, above the most alike teammate on
    screen with it; none on screen: not decided). Returns ``(earlier, later, similarity, gap_s,
    reason)``: earlier is the identity's track before the gap, later the inserted one; best
    margin first.
    """
    found = []
    groups = {id(group(t.key)): group(t.key) for t in tracks}.values()
    for b in tracks:
        if len(group(b.key)) > 1 or np.isfinite(b.pitch_xy).all(axis=1).any() or not appearance_usable(b, config):
            continue
        options = []
        for members in groups:
            before = [m for m in members if m.frames[-1] < b.frames[0]]
            after = [m for m in members if m.frames[0] > b.frames[-1]]
            if not before or not after or any(m.team != b.team or m.role != b.role for m in members):
                continue
            a, c = max(before, key=lambda m: int(m.frames[-1])), min(after, key=lambda m: int(m.frames[0]))
            if (int(c.frames[0]) - int(a.frames[-1])) / fps > config.appearance_max_gap_s or len({j for m in members + [b] for j in m.jerseys}) > 1:
                continue
            look, _ = mean_appearance(m.appearance for m in (a, c) if appearance_usable(m, config) and m.appearance.size == b.appearance.size)
            if look is not None:
                options.append((float(look @ b.appearance), a, c))
        if not options:
            continue
        options.sort(key=lambda o: -o[0])
        similarity, a, c = options[0]
        closest = runner_up([o[0] for o in options[1:]], (b,), tracks, config)
        if closest is None or similarity < config.appearance_min_similarity or similarity - closest < config.appearance_margin:
            continue
        if len(options) > 1:
            note = f"{len(options) - 1} other identities around it, the closest at {closest:.2f}"
        else:
            note = f"no other identity around it; the most alike teammate beside it at {closest:.2f}"
        gap = (int(b.frames[0]) - int(a.frames[-1])) / fps
        reason = (f"no pitch position, between tracks {a.key} and {c.key} of one identity; its look {similarity:.2f} alike to theirs, "
                  f"{similarity - closest:.2f} above the next ({note})")
        found.append((similarity - closest, (a.key, b.key, similarity, gap, reason)))
    return [link for _, link in sorted(found, key=lambda item: (-item[0], item[1][0], item[1][1]))]
