"""Where GS-HOTA is lost: attributes, fragmentation across shots, wrong links.

GS-HOTA (:func:`~soccerfactory.curation.quality.gamestate.gs_hota`) is one figure; an analyst
needs to know what to fix. :func:`gamestate_breakdown` scores one sequence's prediction document
against its ground truth the way sn-trackeval's ``SoccerNetGS`` does (Gaussian similarity of the
bottom-middle pitch points with a 5 m tolerance, zeroed where role, team or jersey differ, after
the evaluator's own preprocessing: team only for players and goalkeepers, jersey only for
players), with trackeval's own ``HOTA`` metric, and then again with one cause of loss removed at a
time:

* ``right_role`` / ``right_team`` / ``no_jersey``: that attribute never vetoes a match
  (``positions`` is all three; its DetA minus the official DetA is the attribute loss).
* ``linked_shots``: each true athlete's main track of every shot carries one id over the whole
  sequence (an oracle cross-shot linker), and players without a number take their identity's
  one number (as the exporter's ``identity_jersey``): what missed and wrong links cost.

It also counts, on rows matched by position alone (Hungarian on the similarity, one to one per
frame), which attribute vetoed the match (role first, then team, then jersey; a missing number is
split into *never read* on any row of that athlete and *read elsewhere*, in the same shot or
another: the athlete's number was read on another predicted identity not linked to this one), and every change of
predicted id along a true athlete (fragmentation: within a shot, or across a cut to the next
shot, past a shot between them, or over a gap longer than ``max_gap_s``) and of true athlete
along a predicted id (a tracker switch within a shot, a wrong link across shots). A caller may
pass what its linker said about each cut (``cut_reasons``); fragmentations at a cut are then
counted per reason.

:func:`link_precision` grades the links of
:func:`~soccerfactory.curation.tracking.shot_links.link_shot_tracks` against each track's true
athlete (the catalog's ``truth_tracks``).

Pure functions over JSON documents and mappings (numpy, scipy, trackeval's HOTA metric).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Breakdown", "LinkPrecision", "VARIANTS", "catalog_breakdown", "combine", "combine_links", "gamestate_breakdown", "link_precision", "summary_lines"]

_TOLERANCE_M = 5.0  # the evaluator's EVAL_DIST_TOL
_SIGMA = float(np.sqrt(_TOLERANCE_M**2 / (-2 * np.log(0.05))))  # its calculate_sigma(5): 0.05 at 5 m
_TEAM_ROLES = ("player", "goalkeeper")

#: Figures computed per sequence: ``(use role, use team, use jersey, oracle cross-shot ids)``.
VARIANTS: dict[str, tuple[bool, bool, bool, bool]] = {
    "gs_hota": (True, True, True, False),
    "no_jersey": (True, True, False, False),
    "positions": (False, False, False, False),
    "right_role": (False, True, True, False),
    "right_team": (True, False, True, False),
    "linked_shots": (True, True, True, True),
    "positions_linked_shots": (False, False, False, True),
}


@dataclass(frozen=True)
class Breakdown:
    """Where one sequence's GS-HOTA goes.

    Attributes:
        truth_rows, predicted_rows: Scored rows (labelled frames, a pitch position).
        position_matches: Rows matched one to one by position alone (within 5 m).
        attribute_errors: Position matches a given attribute vetoes: ``role``, ``team``,
            ``jersey_missing_never_read``, ``jersey_missing_read_in_shot`` (read on another
            predicted id of the same shot), ``jersey_missing_read_other_shot``, ``jersey_wrong``,
            ``jersey_where_truth_has_none``; ``all_right`` the rest.
        fragmentation: Changes of predicted id between consecutive matched rows of one true
            athlete: ``within_shot``, ``next_shot`` (a cut between adjacent shots),
            ``past_shot`` (a shot lies between), ``gap_over_max``; where ``cut_reasons`` was
            given, the cross-shot ones (not over ``max_gap_s``) again as ``cut: <reason>``, the
            linker's reason with its numbers replaced by N.
        merges: Changes of true athlete along a predicted id: ``within_shot`` (a tracker switch)
            and ``across_shots`` (a wrong link).
        figures: :data:`VARIANTS` name -> ``{"HOTA", "DetA", "AssA"}`` in percent (the mean
            over the evaluator's 19 thresholds).
        counts: trackeval's per-sequence HOTA result per variant (per-threshold arrays), kept
            so that :func:`combine` can sum sequences as the evaluator does.
    """

    truth_rows: int
    predicted_rows: int
    position_matches: int
    attribute_errors: Mapping[str, int]
    fragmentation: Mapping[str, int]
    merges: Mapping[str, int]
    figures: Mapping[str, Mapping[str, float]]
    counts: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the raw counts."""
        return {
            "truth_rows": self.truth_rows, "predicted_rows": self.predicted_rows, "position_matches": self.position_matches,
            "attribute_errors": dict(self.attribute_errors), "fragmentation": dict(self.fragmentation), "merges": dict(self.merges),
            "figures": {k: dict(v) for k, v in self.figures.items()},
        }


@dataclass(frozen=True)
class _Frame:
    gt_ids: np.ndarray  # (G,) int
    gt_xy: np.ndarray  # (G, 2)
    gt_attr: list[tuple[str | None, str | None, str | None]]
    pr_ids: np.ndarray  # (P,) int
    pr_xy: np.ndarray  # (P, 2)
    pr_attr: list[tuple[str | None, str | None, str | None]]
    frame: int
    clip: str | None


def _attributes(annotation: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """The evaluator's preprocessing: team only for players and goalkeepers, jersey only for
    players (``soccernet_gs._load_raw_file`` with every attribute used)."""
    a = annotation["attributes"]
    role = a["role"]
    team = a["team"] if role in _TEAM_ROLES else None
    jersey = a["jersey"] if role == "player" else None
    return role, team, (None if jersey is None else str(jersey))


def _frames(truth: Mapping[str, Any], predicted: Mapping[str, Any]) -> list[_Frame]:
    """The labelled frames of the truth with their scorable rows, in frame order."""
    images = [i for i in truth["images"] if i.get("has_labeled_pitch") and i.get("has_labeled_camera") and i.get("has_labeled_person")]
    images.sort(key=lambda i: int(i["image_id"]))
    clip_of = {i["image_id"]: i.get("clip_id") for i in predicted.get("images", [])}
    by_image: dict[str, tuple[list, list]] = {i["image_id"]: ([], []) for i in images}
    for annotation in truth["annotations"]:
        if annotation.get("supercategory") == "object" and annotation["attributes"].get("role") != "ball" and annotation["image_id"] in by_image:
            by_image[annotation["image_id"]][0].append(annotation)
    for row in predicted.get("predictions", []):
        if row.get("supercategory") == "object" and row["attributes"]["role"] != "ball" and row.get("bbox_pitch") and row["image_id"] in by_image:
            by_image[row["image_id"]][1].append(row)

    def xy(rows):
        return np.array([[r["bbox_pitch"]["x_bottom_middle"], r["bbox_pitch"]["y_bottom_middle"]] for r in rows], np.float64).reshape(-1, 2)

    out = []
    for number, image in enumerate(images):
        gts, prs = by_image[image["image_id"]]
        out.append(_Frame(
            np.array([int(r["track_id"]) for r in gts], np.int64), xy(gts), [_attributes(r) for r in gts],
            np.array([int(r["track_id"]) for r in prs], np.int64), xy(prs), [_attributes(r) for r in prs],
            int(image.get("frame_index", number)), clip_of.get(image["image_id"]),
        ))
    return out


def _similarity(frame: _Frame) -> np.ndarray:
    """``(G, P)`` Gaussian similarity of the bottom-middle points (the evaluator's)."""
    distance = np.linalg.norm(frame.gt_xy[:, None, :] - frame.pr_xy[None, :, :], axis=2)
    return np.exp(-0.5 * (distance / _SIGMA) ** 2)


def _mask(frame: _Frame, role: bool, team: bool, jersey: bool) -> np.ndarray:
    """``(G, P)`` True where the used attributes agree (with role off, the evaluator keeps team
    and jersey for every role; the variants here keep its per-role preprocessing)."""
    ok = np.ones((len(frame.gt_attr), len(frame.pr_attr)), bool)
    for k, used in enumerate((role, team, jersey)):
        if used:
            g = np.array([a[k] for a in frame.gt_attr], object)[:, None]
            p = np.array([a[k] for a in frame.pr_attr], object)[None, :]
            ok &= g == p
    return ok


def _position_matches(frames: list[_Frame]) -> list[list[tuple[int, int]]]:
    """Per frame, one-to-one ``(gt row, predicted row)`` matches by similarity within 5 m."""
    from scipy.optimize import linear_sum_assignment

    out = []
    for frame in frames:
        if not len(frame.gt_ids) or not len(frame.pr_ids):
            out.append([])
            continue
        similarity = _similarity(frame)
        rows, cols = linear_sum_assignment(-similarity)
        out.append([(int(r), int(c)) for r, c in zip(rows, cols) if similarity[r, c] >= 0.05])
    return out


def _oracle_ids(frames: list[_Frame], matches: list[list[tuple[int, int]]]) -> list[np.ndarray]:
    """Predicted ids with each true athlete's main segment (predicted id, shot) of every shot
    sharing one id: a linker that never misses nor makes a wrong cross-shot link."""
    rows_on: Counter = Counter()  # (gt id, clip, predicted id) -> matched rows
    for frame, pairs in zip(frames, matches):
        for g, p in pairs:
            rows_on[(int(frame.gt_ids[g]), frame.clip, int(frame.pr_ids[p]))] += 1
    main: dict[tuple[str | None, int], int] = {}  # (clip, predicted id) -> gt id it carries
    best: dict[tuple[int, str | None], tuple[int, int]] = {}
    for (gt, clip, pr), n in rows_on.items():
        if (gt, clip) not in best or n > best[(gt, clip)][0]:
            best[(gt, clip)] = (n, pr)
    for (gt, clip), (_, pr) in best.items():
        if (clip, pr) not in main:
            main[(clip, pr)] = gt
    # every other segment (clip, predicted id) gets an id of its own: ids stay unique per frame
    offset = 1 + max((int(f.gt_ids.max()) for f in frames if len(f.gt_ids)), default=0)
    own: dict[tuple[str | None, int], int] = {}
    out = []
    for frame in frames:
        ids = np.empty_like(frame.pr_ids)
        for k, pr in enumerate(frame.pr_ids.tolist()):
            gt = main.get((frame.clip, pr))
            ids[k] = gt if gt is not None else offset + own.setdefault((frame.clip, pr), len(own))
        out.append(ids)
    return out


def _identity_numbers(frames: list[_Frame], ids: list[np.ndarray]) -> list[_Frame]:
    """Frames whose players without a number take their (oracle) identity's number where the
    identity's rows carry exactly one, as the exporter does with ``identity_jersey``."""
    seen: dict[int, set[str]] = {}
    for frame, frame_ids in zip(frames, ids):
        for k, attr in enumerate(frame.pr_attr):
            if attr[2] is not None:
                seen.setdefault(int(frame_ids[k]), set()).add(attr[2])
    out = []
    for frame, frame_ids in zip(frames, ids):
        attrs = []
        for k, (role, team, number) in enumerate(frame.pr_attr):
            numbers = seen.get(int(frame_ids[k]), set())
            attrs.append((role, team, next(iter(numbers)) if number is None and role == "player" and len(numbers) == 1 else number))
        out.append(_Frame(frame.gt_ids, frame.gt_xy, frame.gt_attr, frame.pr_ids, frame.pr_xy, attrs, frame.frame, frame.clip))
    return out


def _hota(frames: list[_Frame], role: bool, team: bool, jersey: bool, tracker_ids: list[np.ndarray] | None = None) -> dict[str, Any]:
    """trackeval's HOTA on the frames with the evaluator's masked similarity."""
    from trackeval.metrics import HOTA

    tracker_ids = tracker_ids or [f.pr_ids for f in frames]
    gt_index = {g: k for k, g in enumerate(sorted({int(g) for f in frames for g in f.gt_ids}))}
    pr_index = {p: k for k, p in enumerate(sorted({int(p) for ids in tracker_ids for p in ids}))}
    data = {
        "gt_ids": [np.array([gt_index[int(g)] for g in f.gt_ids], int) for f in frames],
        "tracker_ids": [np.array([pr_index[int(p)] for p in ids], int) for ids in tracker_ids],
        "similarity_scores": [np.where(_mask(f, role, team, jersey), _similarity(f), 0.0) for f in frames],
        "num_gt_ids": len(gt_index), "num_tracker_ids": len(pr_index),
        "num_gt_dets": sum(len(f.gt_ids) for f in frames), "num_tracker_dets": sum(len(f.pr_ids) for f in frames),
        "num_timesteps": len(frames),
    }
    metric = HOTA({"PRINT_CONFIG": False})
    return metric.eval_sequence(data)


def _summary(result: Mapping[str, Any]) -> dict[str, float]:
    return {k: round(100 * float(np.mean(result[k])), 2) for k in ("HOTA", "DetA", "AssA")}


def gamestate_breakdown(
    truth: Mapping[str, Any],
    predicted: Mapping[str, Any],
    *,
    max_gap_s: float = 5.0,
    cut_reasons: Mapping[tuple[str, str], str] | None = None,
) -> Breakdown:
    """Where one sequence's GS-HOTA is lost.

    Args:
        truth: Ground truth with 10-character image ids
            (:func:`~soccerfactory.curation.quality.gamestate.ground_truth_document`).
        predicted: Its prediction document
            (:func:`~soccerfactory.storage.gamestate.gamestate_predictions`; its ``images``
            carry each frame's ``clip_id``, the shot).
        max_gap_s: Fragmentation over a longer gap is counted as ``gap_over_max`` (the linker's
            ``LinkConfig.max_gap_s``).
        cut_reasons: ``(earlier clip, later clip)`` -> what the linker found at that cut (e.g.
            :func:`~soccerfactory.curation.tracking.shot_links.cut_reasons`).

    Returns:
        :class:`Breakdown`; its ``gs_hota`` figures equal the evaluator's for the sequence.
    """
    frames = _frames(truth, predicted)
    fps = float(predicted.get("info", {}).get("frame_rate") or 25.0)
    matches = _position_matches(frames)
    clip_order = {c: k for k, c in enumerate(predicted.get("info", {}).get("clips", []))}

    # numbers read per true athlete, over all its position-matched rows, by predicted id
    read: dict[int, dict[str, set[int]]] = {}
    for frame, pairs in zip(frames, matches):
        for g, p in pairs:
            number = frame.pr_attr[p][2]
            if number is not None:
                read.setdefault(int(frame.gt_ids[g]), {}).setdefault(number, set()).add(int(frame.pr_ids[p]))
    segments = {(frame.clip, int(p)) for frame in frames for p in frame.pr_ids}
    errors: Counter = Counter()
    along_gt: dict[int, list[tuple[int, str | None, int]]] = {}
    along_pr: dict[int, list[tuple[int, str | None, int]]] = {}
    for frame, pairs in zip(frames, matches):
        for g, p in pairs:
            (g_role, g_team, g_number), (p_role, p_team, p_number) = frame.gt_attr[g], frame.pr_attr[p]
            gt, pr = int(frame.gt_ids[g]), int(frame.pr_ids[p])
            if g_role != p_role:
                errors["role"] += 1
            elif g_team != p_team:
                errors["team"] += 1
            elif g_number != p_number:
                if p_number is None:
                    elsewhere = read.get(gt, {}).get(g_number, set()) - {pr}
                    if not elsewhere:
                        errors["jersey_missing_never_read"] += 1
                    else:  # read on another predicted id: a link (in the shot or across shots) would carry it
                        in_shot = any((frame.clip, other) in segments for other in elsewhere)
                        errors["jersey_missing_read_in_shot" if in_shot else "jersey_missing_read_other_shot"] += 1
                else:
                    errors["jersey_where_truth_has_none" if g_number is None else "jersey_wrong"] += 1
            else:
                errors["all_right"] += 1
            along_gt.setdefault(gt, []).append((frame.frame, frame.clip, pr))
            along_pr.setdefault(pr, []).append((frame.frame, frame.clip, gt))

    fragmentation: Counter = Counter()
    for rows in along_gt.values():
        for (f0, c0, p0), (f1, c1, p1) in zip(rows, rows[1:]):
            if p0 == p1:
                continue
            if c0 == c1:
                fragmentation["within_shot"] += 1
            elif (f1 - f0) / fps > max_gap_s:
                fragmentation["gap_over_max"] += 1
            else:
                past = c0 in clip_order and c1 in clip_order and clip_order[c1] - clip_order[c0] > 1
                fragmentation["past_shot" if past else "next_shot"] += 1
                if cut_reasons is not None:  # numbers masked so that reasons add up over cuts
                    reason = re.sub(r"\([^)]*\) m", "(x, y) m", cut_reasons.get((c0, c1), "no candidate pair within the gates"))
                    fragmentation[f"cut: {re.sub(r'[+-]?[0-9]+([.][0-9]+)?', 'N', reason)}"] += 1
    merges: Counter = Counter()
    for rows in along_pr.values():
        for (_, c0, g0), (_, c1, g1) in zip(rows, rows[1:]):
            if g0 != g1:
                merges["within_shot" if c0 == c1 else "across_shots"] += 1

    oracle = _oracle_ids(frames, matches)
    numbered = _identity_numbers(frames, oracle)
    counts, figures = {}, {}
    for name, (role, team, jersey, linked) in VARIANTS.items():
        counts[name] = _hota(numbered if linked else frames, role, team, jersey, oracle if linked else None)
        figures[name] = _summary(counts[name])
    return Breakdown(
        truth_rows=sum(len(f.gt_ids) for f in frames), predicted_rows=sum(len(f.pr_ids) for f in frames),
        position_matches=sum(len(m) for m in matches), attribute_errors=dict(errors), fragmentation=dict(fragmentation),
        merges=dict(merges), figures=figures, counts=counts,
    )


def combine(breakdowns: Iterable[Breakdown]) -> dict[str, Any]:
    """The breakdowns of several sequences as one (counts summed, figures from the summed HOTA
    counts, as the evaluator's combined row)."""
    from trackeval.metrics import HOTA

    items = list(breakdowns)
    if not items:
        raise ValueError("no breakdown to combine")
    metric = HOTA({"PRINT_CONFIG": False})
    figures = {name: _summary(metric.combine_sequences({str(k): b.counts[name] for k, b in enumerate(items)})) for name in VARIANTS}

    def total(attribute):
        out: Counter = Counter()
        for b in items:
            out.update(getattr(b, attribute))
        return dict(out)

    return {
        "truth_rows": sum(b.truth_rows for b in items), "predicted_rows": sum(b.predicted_rows for b in items),
        "position_matches": sum(b.position_matches for b in items), "attribute_errors": total("attribute_errors"),
        "fragmentation": total("fragmentation"), "merges": total("merges"), "figures": figures,
    }


@dataclass(frozen=True)
class LinkPrecision:
    """How many links join one true athlete.

    Attributes:
        links: Links graded (both tracks matched a true athlete).
        right: Of those, links whose two tracks are the same true athlete.
        ungraded: Links with a track that matched nobody.
        by_kind: kind -> ``(graded, right)``.
        wrong: ``(earlier, later, kind, reason)`` of each wrong link.
    """

    links: int
    right: int
    ungraded: int
    by_kind: Mapping[str, tuple[int, int]]
    wrong: tuple[tuple[Any, Any, str, str], ...] = ()

    @property
    def precision(self) -> float | None:
        """``right / links``; None without a graded link."""
        return self.right / self.links if self.links else None

    def to_dict(self) -> dict[str, Any]:
        return {"links": self.links, "right": self.right, "ungraded": self.ungraded, "precision": self.precision,
                "by_kind": {k: list(v) for k, v in self.by_kind.items()}, "wrong": [list(map(str, w)) for w in self.wrong]}


def link_precision(links: Iterable[Any], truth_of: Mapping[tuple[str, int], Any]) -> LinkPrecision:
    """Grade links (objects with ``earlier``, ``later``, ``kind``, ``reason``:
    :class:`~soccerfactory.curation.tracking.shot_links.TrackLink`) by the true athlete of
    each track.

    Args:
        links: The links.
        truth_of: ``(clip_id, track_id)`` -> the true athlete (any hashable; None or absent:
            the track matched nobody).
    """
    graded = right = ungraded = 0
    by_kind: dict[str, list[int]] = {}
    wrong = []
    for link in links:
        a, b = truth_of.get(tuple(link.earlier)), truth_of.get(tuple(link.later))
        if a is None or b is None:
            ungraded += 1
            continue
        graded += 1
        tally = by_kind.setdefault(link.kind, [0, 0])
        tally[0] += 1
        if a == b:
            right += 1
            tally[1] += 1
        else:
            wrong.append((link.earlier, link.later, link.kind, link.reason))
    return LinkPrecision(graded, right, ungraded, {k: (v[0], v[1]) for k, v in by_kind.items()}, tuple(wrong))


def catalog_breakdown(catalog: Any, match_id: str, truth: Mapping[str, Any], predicted: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`gamestate_breakdown` of one exported source with its linker's view of each cut, and
    the :func:`link_precision` of its links, from a catalog with ground truth registered.

    The links are recomputed from the catalog's ``athletes`` rows with the linker's defaults, as
    the export (``identities=identities_from_rows``) made them.

    Args:
        catalog: Path of ``catalog.duckdb`` (its ``truth_tracks`` view grades the links).
        match_id: The source (one sequence).
        truth, predicted: As :func:`gamestate_breakdown`.

    Returns:
        ``{"breakdown": Breakdown, "links": LinkPrecision}``.
    """
    from soccerfactory.curation.tracking.shot_links import link_shot_tracks, shot_tracks_from_rows
    from soccerfactory.storage.catalog import connect

    columns = "clip_id, frame_index, track_id, team, role, jersey, pitch_x, pitch_y"
    with connect(catalog, read_only=True) as connection:
        if connection.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'athletes' AND column_name = 'appearance'").fetchall()[0][0]:
            columns += ", appearance"  # the linker's appearance pass reads it (shot_appearance.py)
        athletes = connection.sql(f"SELECT {columns} FROM athletes WHERE match_id = ?", params=[match_id]).to_arrow_table().to_pylist()
        fps = connection.execute("SELECT any_value(fps) FROM clips WHERE match_id = ?", [match_id]).fetchall()[0][0]
        has_truth = connection.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'truth_tracks'").fetchall()[0][0]
        graded = connection.sql(
            "SELECT clip_id, track_id, gt_clip_id, gt_track_id FROM truth_tracks WHERE match_id = ? AND gt_track_id IS NOT NULL", params=[match_id],
        ).to_arrow_table().to_pylist() if has_truth else []
    links = link_shot_tracks(shot_tracks_from_rows(athletes), float(fps)) if athletes and fps else None
    truth_of = {(r["clip_id"], int(r["track_id"])): (r["gt_clip_id"], int(r["gt_track_id"])) for r in graded}
    return {
        "breakdown": gamestate_breakdown(truth, predicted, cut_reasons=dict(links.cuts) if links else None),
        "links": link_precision(links.links if links else (), truth_of),
    }


def summary_lines(combined: Mapping[str, Any], links: LinkPrecision | None = None) -> list[str]:
    """A few lines of text saying where the figure goes (for a progress log)."""
    f = combined["figures"]
    matched = max(1, combined["position_matches"])
    errors = combined["attribute_errors"]
    jersey = {k.removeprefix("jersey_"): v for k, v in errors.items() if k.startswith("jersey_")}
    lines = [
        f"GS-HOTA {f['gs_hota']['HOTA']:.1f} (DetA {f['gs_hota']['DetA']:.1f}, AssA {f['gs_hota']['AssA']:.1f}); "
        f"without jersey {f['no_jersey']['HOTA']:.1f}, positions only {f['positions']['HOTA']:.1f}, "
        f"with perfect cross-shot links {f['linked_shots']['HOTA']:.1f} (AssA {f['linked_shots']['AssA']:.1f})",
        f"of {combined['position_matches']} rows matched by position: {errors.get('all_right', 0) / matched:.0%} all right, role wrong "
        f"{errors.get('role', 0) / matched:.1%}, team wrong {errors.get('team', 0) / matched:.1%}, jersey "
        + ", ".join(f"{k.replace('_', ' ')} {v / matched:.1%}" for k, v in sorted(jersey.items(), key=lambda kv: -kv[1])),
        "id changes along true athletes: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(combined["fragmentation"].items(), key=lambda kv: -kv[1]) if not k.startswith("cut: "))
        + "; true athlete changes along ids: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(combined["merges"].items())),
    ]
    if links is not None and links.links:
        lines.append(f"links: {links.right} of {links.links} join one true athlete (precision {links.precision:.3f}), {links.ungraded} ungraded")
    return lines


def combine_links(items: Iterable[LinkPrecision]) -> LinkPrecision:
    """Several sources' :class:`LinkPrecision` as one."""
    items = list(items)
    by_kind: Counter = Counter()
    for item in items:
        for kind, (graded, right) in item.by_kind.items():
            by_kind[(kind, 0)] += graded
            by_kind[(kind, 1)] += right
    kinds = sorted({kind for kind, _ in by_kind})
    return LinkPrecision(
        sum(i.links for i in items), sum(i.right for i in items), sum(i.ungraded for i in items),
        {k: (by_kind[(k, 0)], by_kind[(k, 1)]) for k in kinds}, tuple(w for i in items for w in i.wrong),
    )
