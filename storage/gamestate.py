"""Curated athletes as SoccerNet game-state predictions (the ``Labels-GameState.json`` conventions).

The SoccerNet GSR evaluator (``sn-trackeval``, ``trackeval.datasets.SoccerNetGS``) reads one JSON
document per sequence whose ``predictions`` list holds, per athlete and frame:

* ``image_id``: 10 characters, ``<split digit><3-digit sequence><6-digit 1-based frame>``, e.g.
  ``2021000001`` for frame 1 of sequence 21 of the ``valid`` split (SoccerNet numbers the splits
  train 1, valid 2, test 3, challenge 4, and the evaluator's own fallback for shorter ids builds
  them the same way). Predictions are matched to ground-truth frames by this string alone.
* ``bbox_image`` ``{x, y, x_center, y_center, w, h}`` in source pixels (``x``, ``y``: top left).
* ``bbox_pitch`` with six keys, metres in the SoccerNet pitch frame (origin centre mark, x to the
  right goal, y to the near touchline): ``x/y_bottom_left``, ``x/y_bottom_right`` (the bottom
  corners of the box on the pitch) and ``x/y_bottom_middle``, the position GS-HOTA scores. The
  middle is the curated ``pitch_x``/``pitch_y``; the corners are the box's bottom corners
  back-projected through the frame's stored camera (``cameras`` homography, intrinsics and
  distortion), or the middle where that camera is missing.
* ``attributes`` ``{role, team, jersey}``: role player / goalkeeper / referee / other; team
  ``"left"`` / ``"right"`` (the goal the team defends) for players and goalkeepers, else null;
  jersey a string of digits for players and goalkeepers, else null. The evaluator compares
  jersey strings with ``==``: an integer never equals the ground truth's ``"7"``.
* ``track_id`` (int), ``confidence``, ``category_id`` and ``supercategory`` ``"object"``.

Curated team letters A / B become sides through ``clips.team_a_side`` (the goal A defends). Where
it is null, the side is decided as the SoccerNet baseline does (sn-gamestate's ``mean_position``
team-side module): the team whose players' mean ``pitch_x`` over the clip is lower defends the
left goal. With no positioned player of either team the team is exported as null: a side we
cannot support is not guessed.

Rows without a pitch position (no valid camera, or a view whose positions are not kept) cannot
be scored in pitch space: the evaluator asserts that every prediction has a ``bbox_pitch`` and
crashes on a null one. By default they are dropped, as TrackLab does when it saves predictions
for the evaluator (such rows then count neither as matches nor as false positives, while the
athletes they show stay misses); ``unplaced="keep"`` writes them with ``bbox_pitch: null``, for
image-space evaluation and other tools. The number is in ``info.rows_without_pitch_position``.

Track ids: with ``frames="source"`` the clips (shots) of a source are one sequence, and each
shot's tracks start afresh. The tracks of one athlete share an id where identities say so: the
stored ones (the catalog's ``identities`` view, written by the curate flow's per-match step with
the curation's shot linker, ``storage/identities.py``), or, for a sequence the catalog has not
linked, a caller's ``identities``, a function of the rows that returns one id per
``(clip_id, track_id)`` (``soccerfactory export gsr`` and ``soccerfactory quality gamestate``
pass the same linker, :func:`soccerfactory.curation.tracking.shot_links.identities_from_rows`,
for catalogs from before identities were stored). With neither, each clip's track is its own
athlete (numbered 1..N over the sequence).

Everything here reads stored columns only (layer 1): no curation code is imported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = [
    "BBOX_PITCH_KEYS",
    "CATEGORIES",
    "SPLITS",
    "Identities",
    "catalog_gamestate",
    "gamestate_predictions",
    "image_id",
    "sequence_name",
    "team_sides",
    "write_gamestate",
]

#: SoccerNet's split digits, the first character of an image id.
SPLITS: dict[str, int] = {"train": 1, "valid": 2, "test": 3, "challenge": 4}

#: The six keys of a ``bbox_pitch``, in the order the evaluator reads them (left, middle, right).
BBOX_PITCH_KEYS: tuple[str, ...] = (
    "x_bottom_left", "y_bottom_left", "x_bottom_middle", "y_bottom_middle", "x_bottom_right", "y_bottom_right",
)

#: SoccerNet GSR's object categories (ids 1-4 as in its files); ``other`` (staff, substitutes,
#: people off the pitch) has no id there and gets 7, after SoccerNet's pitch (5) and camera (6).
CATEGORIES: list[dict[str, Any]] = [
    {"supercategory": "object", "id": 1, "name": "player"},
    {"supercategory": "object", "id": 2, "name": "goalkeeper"},
    {"supercategory": "object", "id": 3, "name": "referee"},
    {"supercategory": "object", "id": 4, "name": "ball"},
    {"supercategory": "object", "id": 7, "name": "other"},
]
_CATEGORY_ID = {c["name"]: c["id"] for c in CATEGORIES}
_TEAM_ROLES = ("player", "goalkeeper")
_SIDES = ("left", "right")
_FRAME_NUMBERING = ("clip", "source")
#: ``identities(athletes rows, clip rows) -> {(clip_id, track_id): id}``: one id per athlete over
#: the given clips (see the module docstring).
Identities = Callable[[list[dict[str, Any]], list[dict[str, Any]]], Mapping[tuple[str, int], int]]
_UNPLACED = ("drop", "keep")
# A bottom corner back-projected further than this from the athlete's position is a ray grazing
# the horizon, not the width of a pair of feet (at most about a metre); the corner falls back to
# the position then.
_MAX_CORNER_M = 10.0
_NEEDED = {
    "clips": ("match_id", "clip_id", "source_url", "start_frame", "stop_frame", "fps", "width", "height", "team_a_side"),
    "athletes": ("clip_id", "frame_index", "x1", "y1", "x2", "y2", "confidence", "track_id", "team", "role", "jersey", "pitch_x", "pitch_y"),
    "cameras": ("clip_id", "frame_index", "valid_camera", "homography", "fx", "fy", "cx", "cy", "dist"),
}


def image_id(sequence: int, frame_number: int, split: str = "valid") -> str:
    """SoccerNet's 10-character image id: split digit, 3-digit sequence, 6-digit 1-based frame.

    Raises:
        ValueError: a split SoccerNet does not have, a sequence outside 1-999 or a frame outside
            1-999999 (the id would not have 10 characters).
    """
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not a SoccerNet split; use one of {', '.join(SPLITS)}")
    if not 1 <= int(sequence) <= 999:
        raise ValueError(f"sequence number {sequence} does not fit the 3 digits of an image id; use 1-999")
    if not 1 <= int(frame_number) <= 999_999:
        raise ValueError(f"frame number {frame_number} does not fit the 6 digits of an image id; frames are 1-based, at most 999999")
    return f"{SPLITS[split]}{int(sequence):03d}{int(frame_number):06d}"


def sequence_name(clip_id: str, frames: str = "clip") -> str:
    """The name of a clip's sequence: the clip id, or with ``frames="source"`` the source id
    (the clip id without its ``-<start>-<stop>`` frame range)."""
    if frames == "clip":
        return clip_id
    parts = clip_id.rsplit("-", 2)
    return parts[0] if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit() else clip_id


def team_sides(clip: Mapping[str, Any], athletes: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str | None], str]:
    """The side each team letter defends in one clip, and what decided it.

    Args:
        clip: The clip's ``clips`` row (``team_a_side`` is used when set).
        athletes: The clip's ``athletes`` rows (``team``, ``role``, ``pitch_x``).

    Returns:
        ``({"A": side, "B": side}, reason)`` with sides ``"left"`` / ``"right"``, both None when
        nothing supports a side.
    """
    stored = clip.get("team_a_side")
    if stored in _SIDES:
        other = _SIDES[1 - _SIDES.index(stored)]
        return {"A": stored, "B": other}, "clips.team_a_side"
    xs: dict[str, list[float]] = {"A": [], "B": []}
    for row in athletes:
        if row.get("team") in xs and row.get("role") in _TEAM_ROLES and row.get("pitch_x") is not None:
            xs[row["team"]].append(float(row["pitch_x"]))
    if not xs["A"] or not xs["B"]:
        return {"A": None, "B": None}, "unknown: team_a_side is null and a team has no positioned player"
    mean_a, mean_b = float(np.mean(xs["A"])), float(np.mean(xs["B"]))
    if mean_a == mean_b:
        return {"A": None, "B": None}, "unknown: team_a_side is null and both teams' mean pitch_x are equal"
    a_side = "left" if mean_a < mean_b else "right"
    return (
        {"A": a_side, "B": _SIDES[1 - _SIDES.index(a_side)]},
        f"mean pitch_x of the team's players (A {mean_a:.1f} m, B {mean_b:.1f} m over {len(xs['A'])} and {len(xs['B'])} rows)",
    )


def _rows(tables: Mapping[str, pa.Table], name: str) -> list[dict[str, Any]]:
    if name not in tables:
        raise ValueError(f"game-state export needs the {name!r} table; got {', '.join(sorted(tables)) or 'none'}")
    table = tables[name]
    missing = [c for c in _NEEDED[name] if c not in table.column_names]
    if missing:
        raise ValueError(f"table {name!r} lacks column(s) {missing} needed for the game-state export")
    return table.select(list(_NEEDED[name])).to_pylist()


def _inverse_cameras(cameras: Iterable[Mapping[str, Any]]) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(clip_id, frame_index) -> (inverse homography, K, dist)`` of every valid stored camera."""
    out = {}
    for row in cameras:
        if not row["valid_camera"] or row["homography"] is None or len(row["homography"]) != 9:
            continue
        homography = np.asarray(row["homography"], np.float64).reshape(3, 3)
        try:
            inverse = np.linalg.inv(homography)
        except np.linalg.LinAlgError:
            continue
        intrinsics = (row["fx"], row["fy"], row["cx"], row["cy"])
        K = None if any(v is None for v in intrinsics) else np.array([[intrinsics[0], 0, intrinsics[2]], [0, intrinsics[1], intrinsics[3]], [0, 0, 1.0]])
        dist = np.asarray(row["dist"] or [], np.float64)
        out[(row["clip_id"], int(row["frame_index"]))] = (inverse, K, dist)
    return out


def _to_pitch(pixels: np.ndarray, camera: tuple[np.ndarray, np.ndarray | None, np.ndarray]) -> np.ndarray:
    """``(N, 2)`` source pixels -> ``(N, 2)`` pitch metres through a stored camera (NaN where it fails).

    The stored homography maps the pitch to undistorted pixels, so distorted source pixels are
    undistorted first (OpenCV's iterative inverse of the same k1, k2, p1, p2[, k3] model).
    """
    inverse, K, dist = camera
    points = np.asarray(pixels, np.float64).reshape(-1, 2)
    if dist.size and np.any(dist) and K is not None:
        import cv2

        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-9)
        points = cv2.undistortPointsIter(points.reshape(-1, 1, 2), K, dist, None, K, criteria).reshape(-1, 2)
    homogeneous = np.column_stack([points, np.ones(len(points))]) @ inverse.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return homogeneous[:, :2] / homogeneous[:, 2:3]


def _round(value: float, digits: int = 3) -> float:
    return round(float(value), digits)


def _bbox_pitch(row: Mapping[str, Any], camera) -> dict[str, float] | None:
    if row["pitch_x"] is None or row["pitch_y"] is None:
        return None
    middle = np.array([row["pitch_x"], row["pitch_y"]], np.float64)
    left = right = middle
    if camera is not None:
        corners = _to_pitch(np.array([[row["x1"], row["y2"]], [row["x2"], row["y2"]]]), camera)
        plausible = np.isfinite(corners).all(axis=1) & (np.linalg.norm(corners - middle, axis=1) <= _MAX_CORNER_M)
        left = corners[0] if plausible[0] else middle
        right = corners[1] if plausible[1] else middle
    values = (left[0], left[1], middle[0], middle[1], right[0], right[1])
    return {key: _round(v) for key, v in zip(BBOX_PITCH_KEYS, values)}


def _bbox_image(row: Mapping[str, Any]) -> dict[str, float]:
    x1, y1, x2, y2 = (float(row[k]) for k in ("x1", "y1", "x2", "y2"))
    return {
        "x": _round(x1, 2), "y": _round(y1, 2), "x_center": _round((x1 + x2) / 2, 2), "y_center": _round((y1 + y2) / 2, 2),
        "w": _round(x2 - x1, 2), "h": _round(y2 - y1, 2),
    }


def _attributes(row: Mapping[str, Any], sides: Mapping[str, str | None]) -> dict[str, Any]:
    role = row["role"]
    if role not in _CATEGORY_ID or role == "ball":
        raise ValueError(f"athlete role {role!r} (clip {row['clip_id']}, frame {row['frame_index']}) is not a SoccerNet role")
    team = sides.get(row["team"]) if role in _TEAM_ROLES and row["team"] is not None else None
    jersey = str(int(row["jersey"])) if role in _TEAM_ROLES and row["jersey"] is not None else None
    return {"role": role, "team": team, "jersey": jersey}


def _identity_numbers(athletes: Iterable[Mapping[str, Any]], track_ids: Mapping[tuple[str, int], int]) -> dict[int, int]:
    """Track id -> the one jersey number its player and goalkeeper rows carry (ids whose rows
    carry none or several are absent)."""
    seen: dict[int, set[int]] = {}
    for row in athletes:
        if row["role"] in _TEAM_ROLES and row["jersey"] is not None:
            seen.setdefault(track_ids[(row["clip_id"], int(row["track_id"]))], set()).add(int(row["jersey"]))
    return {track: next(iter(found)) for track, found in seen.items() if len(found) == 1}


def _stored_identities(tables: Mapping[str, pa.Table], by_clip: Mapping[str, Any]) -> dict[tuple[str, int], int]:
    """``(clip_id, track_id) -> identity`` of the given clips from an ``identities`` table (the
    catalog's view, ``storage/identities.py``); empty when there is none."""
    table = tables.get("identities")
    if table is None or table.num_rows == 0:
        return {}
    missing = [c for c in ("clip_id", "track_id", "identity") if c not in table.column_names]
    if missing:
        raise ValueError(f"table 'identities' lacks column(s) {missing} needed for the game-state export")
    rows = table.select(["clip_id", "track_id", "identity"]).to_pylist()
    return {(r["clip_id"], int(r["track_id"])): int(r["identity"]) for r in rows if r["clip_id"] in by_clip and r["identity"] is not None}


def _track_ids(
    athletes: list[dict[str, Any]], by_clip: Mapping[str, Mapping[str, Any]], joined: Mapping[tuple[str, int], int], single_clip: bool,
) -> dict[tuple[str, int], int]:
    """One exported track id per ``(clip_id, track_id)``: the tracks of one identity of ``joined``
    share one, every other track has its own.

    One clip: a track keeps its stored id and an identity takes its smallest track id (an
    identity's tracks never share a frame, and a track outside ``joined`` keeps an id no member
    of an identity has). Several clips: ids 1..N in order of first appearance (clip start, first
    frame), so a sequence's ids do not depend on how the match's other sources were numbered.
    """
    first: dict[tuple[str, int], int] = {}
    for r in athletes:
        slot = (r["clip_id"], int(r["track_id"]))
        first[slot] = min(first.get(slot, int(r["frame_index"])), int(r["frame_index"]))
    if single_clip:
        smallest: dict[int, int] = {}
        for slot, identity in joined.items():
            if slot in first:
                smallest[identity] = min(smallest.get(identity, slot[1]), slot[1])
        return {slot: smallest[joined[slot]] if slot in joined else slot[1] for slot in first}
    order = sorted(first, key=lambda slot: (by_clip[slot[0]]["start_frame"], first[slot], slot))
    ids: dict[tuple[str, int], int] = {}
    numbers: dict[int, int] = {}  # identity -> its exported id
    next_id = 1
    for slot in order:
        identity = joined.get(slot)
        if identity is not None and identity in numbers:
            ids[slot] = numbers[identity]
            continue
        ids[slot], next_id = next_id, next_id + 1
        if identity is not None:
            numbers[identity] = ids[slot]
    return ids


def gamestate_predictions(
    tables: Mapping[str, pa.Table],
    *,
    sequence: int = 1,
    split: str = "valid",
    frames: str = "clip",
    unplaced: str = "drop",
    identities: Identities | None = None,
    identity_jersey: bool = True,
) -> dict[str, Any]:
    """One sequence's game-state prediction document from curated shard tables.

    Args:
        tables: ``clips``, ``athletes`` and ``cameras`` tables (shard or catalog rows; other
            tables and columns are ignored) of one clip, or with ``frames="source"`` of several
            clips of one source video. ``frames`` (the shard table) is used when present for the
            ``images`` list; otherwise every frame of the clips' ``[start_frame, stop_frame)``.
            ``identities`` (``clip_id``, ``track_id``, ``identity``: the catalog's view) when
            present joins the tracks of one athlete.
        sequence: The sequence number in the image ids (1-999).
        split: The SoccerNet split whose digit starts the image ids.
        frames: ``"clip"``: frames numbered 1.. from the clip's first frame (SoccerNet's own
            sequences are clips); ``"source"``: numbered from the source video's first frame,
            the clips of one source merged into one sequence with track ids renumbered 1..N
            (tracks are per clip, so a track never crosses a cut).
        unplaced: ``"drop"`` rows without a pitch position (the evaluator cannot score them) or
            ``"keep"`` them with ``bbox_pitch: null``.
        identities: Called with the athletes rows and the clip rows where ``tables`` has no
            ``identities`` rows for every track; returns the track id of every
            ``(clip_id, track_id)`` (one per athlete, joined across shots and gaps). None: the
            stored identities where there are some, else each clip's track is its own athlete.
        identity_jersey: With identities (stored or the caller's): a player or goalkeeper row
            without a number takes its identity's number when the identity's rows carry exactly
            one (the athlete's number was read in another shot); the count is in
            ``info.rows_numbered_by_identity``.

    Returns:
        ``{"info", "images", "categories", "predictions"}``, JSON-ready.

    Raises:
        ValueError: a missing table or column, clips of several sources, several clips with
            ``frames="clip"``, a role SoccerNet does not have, or ids that do not fit.
    """
    if frames not in _FRAME_NUMBERING:
        raise ValueError(f"frames must be one of {', '.join(_FRAME_NUMBERING)}, got {frames!r}")
    if unplaced not in _UNPLACED:
        raise ValueError(f"unplaced must be one of {', '.join(_UNPLACED)}, got {unplaced!r}")
    clips = sorted(_rows(tables, "clips"), key=lambda c: (c["start_frame"], c["clip_id"]))
    if not clips:
        raise ValueError("no clip rows: the selection is empty")
    if len({c["source_url"] for c in clips}) > 1:
        raise ValueError(f"clips of several sources ({', '.join(sorted({c['source_url'] for c in clips}))}) cannot be one sequence; export them one by one")
    if frames == "clip" and len(clips) > 1:
        raise ValueError(f"{len(clips)} clips given with frames='clip'; give one clip, or frames='source' to merge the clips of one source")
    by_clip = {c["clip_id"]: c for c in clips}
    athletes = [r for r in _rows(tables, "athletes") if r["clip_id"] in by_clip]
    cameras = _inverse_cameras(r for r in _rows(tables, "cameras") if r["clip_id"] in by_clip)
    origin = clips[0]["start_frame"] if frames == "clip" else 0

    def frame_number(frame_index: int) -> int:
        return int(frame_index) - origin + 1

    sides: dict[str, dict[str, str | None]] = {}
    side_reasons: dict[str, str] = {}
    for clip in clips:
        sides[clip["clip_id"]], side_reasons[clip["clip_id"]] = team_sides(clip, [r for r in athletes if r["clip_id"] == clip["clip_id"]])
    slots = {(r["clip_id"], int(r["track_id"])) for r in athletes}
    stored = _stored_identities(tables, by_clip)
    unstored = len(slots - set(stored))
    if stored and not unstored:
        track_ids, linked, how = _track_ids(athletes, by_clip, stored, len(clips) == 1), True, "joined by the stored identities"
    elif identities is not None:
        track_ids, linked, how = dict(identities(athletes, clips)), True, "joined by the caller's identities"
        missing = slots - set(track_ids)
        if missing:
            raise ValueError(f"identities gave no id to {len(missing)} track(s), e.g. {sorted(missing)[0]}")
    else:  # each clip's track is its own athlete (a cut starts the tracks afresh), but where stored identities join them
        track_ids, linked = _track_ids(athletes, by_clip, stored, len(clips) == 1), bool(stored)
        how = f"joined by the stored identities; {unstored} track(s) without one keep their own" if stored else "per clip (no identities)"

    frame_rows = tables.get("frames")
    if frame_rows is not None:
        listed = frame_rows.select(["clip_id", "frame_index", "valid_camera"]).to_pylist()
        curated = sorted(
            {(r["clip_id"], int(r["frame_index"]), bool(r["valid_camera"])) for r in listed if r["clip_id"] in by_clip}, key=lambda t: t[1]
        )
    else:
        curated = [(c["clip_id"], f, (c["clip_id"], f) in cameras) for c in clips for f in range(c["start_frame"], c["stop_frame"])]
    images = [
        {
            "is_labeled": True, "image_id": image_id(sequence, frame_number(f), split), "file_name": f"{frame_number(f):06d}.jpg",
            "frame_index": f, "clip_id": clip_id, "height": int(by_clip[clip_id]["height"]), "width": int(by_clip[clip_id]["width"]),
            "has_labeled_person": True, "has_labeled_pitch": valid, "has_labeled_camera": valid,
        }
        for clip_id, f, valid in curated
    ]

    # One row per track and frame, as the evaluator requires (it refuses a sequence where an id
    # repeats in a frame): a repeat keeps its most confident row and is counted.
    best: dict[tuple[str, int, int], dict[str, Any]] = {}
    for row in athletes:
        slot = (row["clip_id"], int(row["frame_index"]), int(row["track_id"]))
        if slot not in best or row["confidence"] > best[slot]["confidence"]:
            best[slot] = row
    repeated = len(athletes) - len(best)
    numbers = _identity_numbers(athletes, track_ids) if linked and identity_jersey else {}
    predictions, unplaced_rows, numbered_rows = [], 0, 0
    for row in sorted(best.values(), key=lambda r: (int(r["frame_index"]), by_clip[r["clip_id"]]["start_frame"], int(r["track_id"]))):
        key = (row["clip_id"], int(row["frame_index"]))
        pitch = _bbox_pitch(row, cameras.get(key))
        if pitch is None:
            unplaced_rows += 1
            if unplaced == "drop":
                continue
        track = track_ids[(row["clip_id"], int(row["track_id"]))]
        if row["jersey"] is None and track in numbers and row["role"] in _TEAM_ROLES:
            row = {**row, "jersey": numbers[track]}
            numbered_rows += 1
        attributes = _attributes(row, sides[row["clip_id"]])
        predictions.append({
            "id": str(len(predictions) + 1),
            "image_id": image_id(sequence, frame_number(row["frame_index"]), split),
            "video_id": str(sequence),
            "track_id": track,
            "supercategory": "object",
            "category_id": _CATEGORY_ID[attributes["role"]],
            "confidence": _round(row["confidence"], 4),
            "attributes": attributes,
            "bbox_image": _bbox_image(row),
            "bbox_pitch": pitch,
        })
    first = clips[0]
    name = sequence_name(first["clip_id"], frames)
    return {
        "info": {
            "version": "1.3",
            "name": name,
            "id": str(sequence),
            "game_id": first["match_id"],
            "split": split,
            "frame_numbering": frames,
            "source_url": first["source_url"],
            "clips": [c["clip_id"] for c in clips],
            "im_dir": "img1",
            "im_ext": ".jpg",
            "frame_rate": float(first["fps"]),
            "seq_length": len(images),
            "width": int(first["width"]),
            "height": int(first["height"]),
            "team_sides": {c: {**sides[c], "decided_by": side_reasons[c]} for c in sides},
            "rows_without_pitch_position": unplaced_rows,
            "track_ids": how,
            "n_track_ids": len(set(track_ids.values())),
            "rows_numbered_by_identity": numbered_rows,
            "repeated_track_rows_dropped": repeated,
            "rows_without_pitch_position_handling": "dropped (the evaluator cannot score them)" if unplaced == "drop" else "kept with bbox_pitch null",
            "coordinate_frame": "bbox_pitch in metres: origin centre mark, x to the right goal, y to the near touchline",
            "source": "soccerfactory curated labels",
        },
        "images": images,
        "categories": CATEGORIES,
        "predictions": predictions,
    }


def catalog_gamestate(
    catalog: str | os.PathLike,
    where: str | None = None,
    *,
    split: str = "valid",
    frames: str = "clip",
    unplaced: str = "drop",
    first_sequence: int = 1,
    identities: Identities | None = None,
    identity_jersey: bool = True,
    stored_identities: bool = True,
) -> dict[str, dict[str, Any]]:
    """Game-state prediction documents of the clips a catalog SQL selection names.

    Args:
        catalog: The DuckDB catalog file.
        where: A SQL condition on the catalog's ``clips`` columns (e.g. ``match_id = 'm1'``);
            None selects every clip. Run on a locked-down read-only connection.
        split, frames, unplaced, identities, identity_jersey: As :func:`gamestate_predictions`.
        first_sequence: The sequence number of the first document (the next ones count up).
        stored_identities: Join tracks by the catalog's ``identities`` view (absent in a catalog
            from before it: then none are stored); False keeps each clip's tracks apart unless
            ``identities`` is given.

    Returns:
        sequence name (:func:`sequence_name`, prefixed ``<match_id>.`` when names repeat across
        matches) -> document; sequences are numbered 1.. in (match_id, source, first frame)
        order from ``first_sequence``, at most 999.

    Raises:
        FileNotFoundError: no catalog at ``catalog``.
        ValueError: the selection is empty, names more than 999 sequences, or the condition fails.
    """
    import duckdb

    from soccerfactory.storage.readonly import open_read_only

    connection, _ = open_read_only(catalog)
    try:
        condition = f"WHERE {where}" if where and where.strip() else ""
        try:
            clips = connection.sql(f"SELECT * FROM clips {condition} ORDER BY match_id, source_url, start_frame").to_arrow_table()
        except duckdb.Error as error:
            raise ValueError(f"cannot select clips with {where!r}: {str(error).splitlines()[0]}") from None
        if clips.num_rows == 0:
            raise ValueError(f"no clip in {catalog} matches {where!r}" if condition else f"no clip in {catalog}")
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for clip in clips.to_pylist():
            key = (clip["match_id"], clip["source_url"] if frames == "source" else clip["clip_id"])
            groups.setdefault(key, []).append(clip)
        if first_sequence < 1 or first_sequence + len(groups) - 1 > 999:
            raise ValueError(f"{len(groups)} sequences from number {first_sequence}: image ids hold 3 digits of sequence number (1-999); select fewer")
        linked = stored_identities and _has_identities(connection)
        names = [sequence_name(members[0]["clip_id"], frames) for members in groups.values()]
        if len(set(names)) < len(names):  # clip ids are unique within a match only
            names = [f"{match_id}.{name}" for (match_id, _), name in zip(groups, names)]
        documents = {}
        for number, (name, members) in enumerate(zip(names, groups.values()), start=first_sequence):
            keys = [(c["match_id"], c["clip_id"]) for c in members]
            selection = " OR ".join("(match_id = ? AND clip_id = ?)" for _ in keys)
            parameters = [v for pair in keys for v in pair]
            tables = {"clips": pa.Table.from_pylist(members, schema=clips.schema)}
            for table_name in ("athletes", "cameras", "frames") + (("identities",) if linked else ()):
                tables[table_name] = connection.sql(f"SELECT * FROM {table_name} WHERE {selection}", params=parameters).to_arrow_table()
            document = gamestate_predictions(
                tables, sequence=number, split=split, frames=frames, unplaced=unplaced, identities=identities, identity_jersey=identity_jersey,
            )
            document["info"]["name"] = name
            documents[name] = document
        return documents
    finally:
        connection.close()


def _has_identities(connection) -> bool:
    """Whether the catalog has the ``identities`` view (a catalog from before it has not)."""
    import duckdb

    try:
        connection.sql("SELECT identity FROM identities LIMIT 0").fetchall()
    except duckdb.Error:
        return False
    return True


def write_gamestate(document: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write a game-state document as JSON at ``path`` (under a temporary name, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w") as handle:
        json.dump(document, handle, separators=(",", ":"))
    os.replace(temporary, path)
    return path
