"""GS-HOTA of curated clips, scored by SoccerNet's official game-state evaluator.

:func:`gs_hota` runs ``sn-trackeval`` (the code behind the SoccerNet GSR leaderboard; it installs
the module ``trackeval`` with ``datasets.SoccerNetGS``) on ground-truth / prediction document
pairs, as the official evaluation script does: metrics HOTA and Identity, the summary of the
detection-averaged class combination, pitch space, roles, teams and jersey numbers all used,
a match tolerance of 5 m. GS-HOTA is what that evaluator prints as HOTA.

TrackLab 1.3.24 fixed a GS-HOTA bug of the official pipeline: predictions were saved under the
tracking dataset's class name (``SoccerNetGameState-<split>/``) while the evaluator reads
``<TRACKERS_FOLDER>/SoccerNetGS-<split>/<tracker>/`` (its benchmark name), and the trackers folder
was a relative ``eval/pred`` shared by every run, so the score was of whatever file lay there
(another run's, or none). Here every evaluation writes its files into a fresh folder in exactly
the layout the evaluator reads, and :func:`gs_hota` checks that the evaluator counted as many
prediction rows per sequence as were written for frames it scores: a mismatch is an error,
never a figure.

:func:`gamestate_quality` renders held-out clips, has them curated by the caller's curate
function (the ``curate`` flow: it lives in ``flows/``, above this layer), exports the catalog's
clips with :func:`soccerfactory.storage.gamestate.catalog_gamestate` and scores them against the
renderer's ``Labels-GameState.json``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from soccerfactory.storage.gamestate import BBOX_PITCH_KEYS, SPLITS, image_id, write_gamestate

__all__ = ["EVALUATIONS", "TRACKER_NAME", "gamestate_quality", "ground_truth_document", "gs_hota"]

#: The evaluator's settings of each figure: the official GS-HOTA, and three diagnostics that say
#: what limits it (without jersey numbers; positions and identities alone; boxes alone, which is
#: plain HOTA).
EVALUATIONS: dict[str, dict[str, Any]] = {
    "gs_hota": {"EVAL_SPACE": "pitch", "USE_ROLES": True, "USE_TEAMS": True, "USE_JERSEY_NUMBERS": True},
    "no_jersey": {"EVAL_SPACE": "pitch", "USE_ROLES": True, "USE_TEAMS": True, "USE_JERSEY_NUMBERS": False},
    "pitch_no_attributes": {"EVAL_SPACE": "pitch", "USE_ROLES": False, "USE_TEAMS": False, "USE_JERSEY_NUMBERS": False},
    "image_boxes": {"EVAL_SPACE": "image", "USE_ROLES": False, "USE_TEAMS": False, "USE_JERSEY_NUMBERS": False},
}
TRACKER_NAME = "soccerfactory"
_BENCHMARK = "SoccerNetGS"  # the evaluator's own name for the dataset: its folders carry it


def ground_truth_document(labels: str | os.PathLike | Mapping[str, Any], sequence: int, split: str = "valid") -> tuple[dict, dict]:
    """A renderer's ``Labels-GameState.json`` with SoccerNet's 10-character image ids.

    The renderer numbers images ``000001`` ...; the evaluator matches predictions to frames by
    the image id string, so both sides are written with
    :func:`~soccerfactory.storage.gamestate.image_id` (frame number = ``frame_index + 1``, or the
    file name's number). Athlete annotations without a full ``bbox_pitch`` cannot be scored in
    pitch space (the evaluator crashes on a null); they are removed and counted.

    Returns:
        ``(document, notes)``: the rewritten document and ``{"athletes", "without_pitch"}`` counts.
    """
    document = json.loads(Path(labels).read_text()) if not isinstance(labels, Mapping) else json.loads(json.dumps(labels))
    renamed = {}
    for image in document["images"]:
        number = int(image["frame_index"]) + 1 if "frame_index" in image else int(Path(image["file_name"]).stem)
        renamed[image["image_id"]] = image["image_id"] = image_id(sequence, number, split)
    kept, without_pitch, athletes = [], 0, 0
    for annotation in document["annotations"]:
        annotation["image_id"] = renamed.get(annotation["image_id"], annotation["image_id"])
        if annotation.get("supercategory") == "object" and annotation.get("attributes", {}).get("role") != "ball":
            athletes += 1
            pitch = annotation.get("bbox_pitch")
            if pitch is None or any(pitch.get(k) is None for k in BBOX_PITCH_KEYS):
                without_pitch += 1
                continue
        kept.append(annotation)
    document["annotations"] = kept
    document.setdefault("info", {})["id"] = str(sequence)
    return document, {"athletes": athletes, "without_pitch": without_pitch}


def _scorable(predictions: Sequence[Mapping[str, Any]], space: str) -> list[Mapping[str, Any]]:
    """The rows the evaluator can read: every athlete row in image space, those with a pitch
    position in pitch space (it asserts on a null ``bbox_pitch``; TrackLab drops them too)."""
    rows = [p for p in predictions if p.get("supercategory") == "object" and p["attributes"]["role"] != "ball"]
    return rows if space == "image" else [p for p in rows if p.get("bbox_pitch") is not None]


def _figures(hota: Mapping[str, Any], identity: Mapping[str, Any], count: Mapping[str, Any]) -> dict[str, Any]:
    # The evaluator's summary row: the mean over the 19 localisation thresholds, in percent.
    out = {k: round(100 * float(np.mean(hota[k])), 3) for k in ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "LocA")}
    out["IDF1"] = round(100 * float(identity["IDF1"]), 3)
    out.update(predicted=int(count["Dets"]), ground_truth=int(count["GT_Dets"]), predicted_ids=int(count["IDs"]), ground_truth_ids=int(count["GT_IDs"]))
    return out


def gs_hota(
    sequences: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]],
    *,
    split: str = "valid",
    evaluation: str = "gs_hota",
) -> dict[str, Any]:
    """Score prediction documents against ground truth with sn-trackeval's ``SoccerNetGS``.

    Args:
        sequences: name -> ``(ground truth, predictions)``: a ``Labels-GameState.json`` document
            whose images carry 10-character ids (:func:`ground_truth_document`) and a document
            with a ``predictions`` list using the same ids
            (:func:`~soccerfactory.storage.gamestate.gamestate_predictions`).
        split: The split folder name the evaluator is told (any of SoccerNet's).
        evaluation: A key of :data:`EVALUATIONS`: ``gs_hota`` (the official figure),
            ``no_jersey``, ``pitch_no_attributes`` or ``image_boxes``.

    Returns:
        ``{"combined": figures, "sequences": {name: figures}, "settings": {...}}``; figures are
        HOTA (GS-HOTA under ``gs_hota``), DetA, AssA, DetRe, DetPr, LocA, IDF1 in percent and
        the evaluator's counts of predicted and true rows and ids.

    Raises:
        ValueError: an unknown evaluation or split, or no sequence.
        RuntimeError: the evaluator failed, or counted other prediction rows than were written.
    """
    if evaluation not in EVALUATIONS:
        raise ValueError(f"evaluation must be one of {', '.join(EVALUATIONS)}, got {evaluation!r}")
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not a SoccerNet split; use one of {', '.join(SPLITS)}")
    if not sequences:
        raise ValueError("no sequence to score")
    import trackeval

    if not hasattr(trackeval.datasets, _BENCHMARK):
        raise RuntimeError("the installed trackeval has no SoccerNetGS dataset: install sn-trackeval (pip install --no-deps sn-trackeval==0.4.0)")
    settings = EVALUATIONS[evaluation]
    space = settings["EVAL_SPACE"]
    expected = {}
    with tempfile.TemporaryDirectory(prefix="gs-hota-") as folder:
        root = Path(folder)
        for name, (truth, predicted) in sequences.items():
            write_gamestate(truth, root / "gt" / split / name / "Labels-GameState.json")
            rows = _scorable(predicted.get("predictions", []), space)
            write_gamestate({"predictions": rows}, root / "trackers" / f"{_BENCHMARK}-{split}" / TRACKER_NAME / f"{name}.json")
            labelled = {image["image_id"] for image in truth["images"] if image.get("has_labeled_person") and image.get("has_labeled_pitch") and image.get("has_labeled_camera")}
            expected[name] = sum(1 for p in rows if p["image_id"] in labelled)
        dataset_config = trackeval.datasets.SoccerNetGS.get_default_dataset_config()
        dataset_config.update(
            GT_FOLDER=str(root / "gt"), TRACKERS_FOLDER=str(root / "trackers"), OUTPUT_FOLDER=str(root / "results"),
            TRACKERS_TO_EVAL=[TRACKER_NAME], TRACKER_SUB_FOLDER="", SPLIT_TO_EVAL=split, PRINT_CONFIG=False,
            SEQ_INFO={name: len(truth["images"]) for name, (truth, _) in sequences.items()}, **settings,
        )
        eval_config = trackeval.Evaluator.get_default_eval_config()
        eval_config.update(
            USE_PARALLEL=False, PRINT_RESULTS=False, PRINT_CONFIG=False, TIME_PROGRESS=False, OUTPUT_SUMMARY=False,
            OUTPUT_DETAILED=False, PLOT_CURVES=False, BREAK_ON_ERROR=True, LOG_ON_ERROR=None,
        )
        metrics_config = {"METRICS": ["HOTA", "Identity"], "THRESHOLD": 0.5, "PRINT_CONFIG": False}
        output = io.StringIO()
        with contextlib.redirect_stdout(output):  # the evaluator prints a banner and every setting
            try:
                results, messages = trackeval.Evaluator(eval_config).evaluate(
                    [trackeval.datasets.SoccerNetGS(dataset_config)],
                    [trackeval.metrics.HOTA(metrics_config), trackeval.metrics.Identity(metrics_config)],
                )
            except Exception as error:  # noqa: BLE001 - the evaluator raises bare Exception and AssertionError
                raise RuntimeError(f"the SoccerNet game-state evaluator failed: {type(error).__name__}: {error}") from error
    result = results[_BENCHMARK][TRACKER_NAME]
    if result is None or messages[_BENCHMARK][TRACKER_NAME] != "Success":
        raise RuntimeError(f"the SoccerNet game-state evaluator failed: {messages[_BENCHMARK][TRACKER_NAME]}")
    per_sequence = {}
    for name in sequences:
        scores = result[name]["person"]
        if scores["Count"]["Dets"] != expected[name]:
            raise RuntimeError(
                f"the evaluator counted {scores['Count']['Dets']} prediction rows of sequence {name}, {expected[name]} were written: "
                "it did not score the files written for this run"
            )
        per_sequence[name] = _figures(scores["HOTA"], scores["Identity"], scores["Count"])
    combined = result["COMBINED_SEQ"]["cls_comb_det_av"]
    return {
        "combined": _figures(combined["HOTA"], combined["Identity"], combined["Count"]),
        "sequences": per_sequence,
        "settings": {"evaluation": evaluation, **settings, "EVAL_SIMILARITY_METRIC": dataset_config["EVAL_SIMILARITY_METRIC"],
                     "EVAL_DIST_TOL_m": dataset_config["EVAL_DIST_TOL"], "split": split},
    }


def _render(work_dir: Path, seed: int, seconds: float, say: Callable[[str], None]) -> Path:
    """The held-out broadcast clip of ``seed`` (cuts, zooms, close-ups, staff)."""
    from soccerfactory.curation.quality.clips import held_out_broadcast_clip

    return held_out_broadcast_clip(work_dir, seed, seconds, say)


def _default_seeds() -> tuple[int, ...]:
    from soccerfactory.curation.quality.clips import BROADCAST_SEEDS

    return BROADCAST_SEEDS


def _truth_rows(catalog: Path, match_id: str) -> list[dict] | None:
    """Rows of the catalog's ``truth_quality`` view for this match, or None without the view."""
    from soccerfactory.storage.catalog import connect

    with connect(catalog, read_only=True) as connection:
        if not connection.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'truth_quality'").fetchall()[0][0]:
            return None
        table = connection.sql("SELECT * FROM truth_quality WHERE match_id = ? ORDER BY ALL", params=[match_id]).to_arrow_table()
    return json.loads(json.dumps(table.to_pylist(), default=str))


def _curated_clips(catalog: Path, match_id: str) -> int:
    from soccerfactory.storage.catalog import connect

    with connect(catalog, read_only=True) as connection:
        return connection.execute("SELECT count(*) FROM clips WHERE match_id = ?", [match_id]).fetchall()[0][0]


def _curated_root(work_dir: Path, clip_dir: Path) -> tuple[str, Path, Path]:
    """``(match id, curated root, source link)`` of a rendered clip.

    Each rendering gets its own root, named by the match id and the video's hash: a clip rendered
    again (another length, another preset) has other footage under the same match id, which the
    ``curate`` flow rightly refuses as an id collision, and its ground truth must not sit beside
    the old one's. The link's stem is the source id, so the curated match id is the renderer's
    (``truth_*`` views join on it).
    """
    manifest = json.loads((clip_dir / "clip.json").read_text())
    match_id = manifest["match_id"]
    root = work_dir / "curated" / f"{match_id}-{manifest['files']['video']['sha256'][:10]}"
    link = root / "sources" / f"{match_id}.mp4"
    link.parent.mkdir(parents=True, exist_ok=True)
    target = (clip_dir / "video.mp4").resolve()
    if link.is_symlink() and Path(os.readlink(link)) != target:
        link.unlink()
    if not link.is_symlink():
        link.symlink_to(target)
    return match_id, root, link


def gamestate_quality(
    work_dir: str | os.PathLike,
    curate: Callable[[list[str], str], Any],
    seeds: Sequence[int] | None = None,
    seconds: float = 30.0,
    split: str = "valid",
    progress: Callable[[str], None] | None = None,
    render: Callable[[Path, int, float, Callable[[str], None]], Path] | None = None,
) -> dict[str, Any]:
    """GS-HOTA (official evaluator) of curated held-out clips against the renderer's labels.

    Each seed's clip is rendered once into ``work_dir`` (re-rendered when its settings change),
    curated into ``work_dir/curated/<match id>-<video hash>`` (shards and ``catalog.duckdb``,
    reused: curation skips clips already curated with the same config and code), its ground truth
    registered there as ``gt_*`` views, and its curated clips (one per shot) exported as one
    sequence numbered by source frame; all sequences are then scored together and one by one.

    Args:
        work_dir: Folder for the clips and their curated catalogs.
        curate: ``curate(sources, output)`` curates video files into the root ``output`` and
            returns its failures as dicts (source_url, clip_id, stage, reason): the ``curate``
            flow, passed in from ``flows/``.
        seeds: Renderer seeds (held-out seeds by default; never tune on them).
        seconds: Length of each clip.
        split: SoccerNet split digit of the image ids.
        progress: Called with a line of text after each step.
        render: ``render(work_dir, seed, seconds, say) -> clip folder``; default the held-out
            broadcast clips (cuts, zooms, close-ups, off-pitch people), e.g.
            :func:`~soccerfactory.curation.quality.clips.held_out_clip` for the main camera only.

    Returns:
        ``gs_hota`` (the official figure), ``no_jersey``, ``pitch_no_attributes`` and
        ``image_boxes`` (plain HOTA of the boxes), each combined over the clips and per clip, what was exported and
        left out per clip, curation failures, ``truth_quality`` rows per clip where the
        catalog has that view (else null), and ``breakdown``: where GS-HOTA is lost
        (:mod:`~soccerfactory.curation.quality.gamestate_breakdown`: attribute vetoes,
        fragmentation and wrong links, figures with one cause removed, link precision), combined
        and per clip.
    """
    from soccerfactory.curation.quality.gamestate_breakdown import catalog_breakdown, combine, combine_links, summary_lines
    from soccerfactory.curation.tracking.shot_links import identities_from_rows
    from soccerfactory.storage.catalog import register_ground_truth
    from soccerfactory.storage.gamestate import catalog_gamestate

    say = progress or (lambda line: None)
    work_dir = Path(work_dir).resolve()
    seeds = tuple(seeds or _default_seeds())
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds repeat: {list(seeds)}; give each once")
    if len(seeds) > 999:
        raise ValueError(f"{len(seeds)} seeds: image ids number at most 999 sequences")
    pairs, clips, failures, truth_rows, diagnoses = {}, [], [], {}, {}
    for number, seed in enumerate(seeds, start=1):
        clip_dir = (render or _render)(work_dir, seed, seconds, say)
        match_id, root, link = _curated_root(work_dir, clip_dir)
        failed = list(curate([str(link)], str(root)) or [])
        failures += [f"{f.get('clip_id') or f.get('source_url')}: {f.get('reason')} (stage {f.get('stage')})" for f in failed]
        catalog = root / "catalog.duckdb"
        register_ground_truth(catalog, clip_dir)
        if _curated_clips(catalog, match_id):
            (predicted,) = catalog_gamestate(
                catalog, f"match_id = '{match_id}'", split=split, frames="source", unplaced="keep", first_sequence=number,
                identities=identities_from_rows,
            ).values()
        else:  # nothing curated: every true athlete is a miss, not a skipped clip
            predicted = {"info": {"id": str(number), "clips": [], "rows_without_pitch_position": 0, "team_sides": {}}, "predictions": []}
        truth, notes = ground_truth_document(clip_dir / "Labels-GameState.json", number, split)
        pairs[match_id] = (truth, predicted)
        info, rows = predicted["info"], predicted["predictions"]
        clips.append({
            "seed": seed, "match_id": match_id, "catalog": str(catalog), "frames": len(truth["images"]),
            "curated_clips": info["clips"], "team_sides": info["team_sides"], "predicted_rows": len(rows),
            "rows_without_pitch_position": info["rows_without_pitch_position"],
            "ground_truth_rows": notes["athletes"], "ground_truth_rows_without_pitch": notes["without_pitch"],
        })
        truth_rows[match_id] = _truth_rows(catalog, match_id)
        diagnoses[match_id] = catalog_breakdown(catalog, match_id, truth, predicted) if info["clips"] else None
        say(f"curated and exported seed {seed} ({match_id}): {len(info['clips'])} clips, {len(rows)} rows, "
            f"{info['rows_without_pitch_position']} without a pitch position, {len(failed)} failures")
    figures: dict[str, Any] = {"seeds": list(seeds), "seconds_per_clip": seconds, "split": split, "clips": clips, "curate_failures": failures}
    for evaluation in EVALUATIONS:
        figures[evaluation] = gs_hota(pairs, split=split, evaluation=evaluation)
        for match_id, scores in figures[evaluation]["sequences"].items():
            say(f"{evaluation} {match_id}: HOTA {scores['HOTA']:.1f} (DetA {scores['DetA']:.1f}, AssA {scores['AssA']:.1f})")
    figures["truth_quality"] = truth_rows
    # Where the figure goes (gamestate_breakdown.py): attribute vetoes, fragmentation, oracle figures, link precision.
    done = {m: d for m, d in diagnoses.items() if d is not None}
    if done:
        combined = combine(d["breakdown"] for d in done.values())
        links = combine_links(d["links"] for d in done.values())
        figures["breakdown"] = {
            "combined": {**combined, "links": links.to_dict()},
            "sequences": {m: {**d["breakdown"].to_dict(), "links": d["links"].to_dict()} for m, d in done.items()},
        }
        for line in summary_lines(combined, links):
            say(line)
    return figures
