"""MOTChallenge export: SoccerNet-Tracking layout, 1-based frames, and TrackEval reading it back.

The round trip: the renderer's ground truth, curated as a perfect shard (the session catalog),
is exported; TrackEval reads the export as ground truth and scores the renderer's own athletes
(written here from ``gt/athletes.parquet``, not by the exporter) as a tracker: HOTA 100.
"""

from __future__ import annotations

import configparser
import contextlib
import io
from pathlib import Path

import pytest

from soccerfactory.storage.formats.mot import BENCHMARK, SPLIT, export_mot


def _trackeval(gt_folder: Path, trackers: Path, tracker: str) -> dict:
    import trackeval

    dataset = trackeval.datasets.MotChallenge2DBox.get_default_dataset_config()
    dataset.update(
        GT_FOLDER=str(gt_folder), TRACKERS_FOLDER=str(trackers), TRACKERS_TO_EVAL=[tracker], BENCHMARK=BENCHMARK,
        SPLIT_TO_EVAL=SPLIT, SKIP_SPLIT_FOL=True, DO_PREPROC=False, PRINT_CONFIG=False, OUTPUT_FOLDER=str(trackers / "results"),
    )
    evaluation = trackeval.Evaluator.get_default_eval_config()
    evaluation.update(
        USE_PARALLEL=False, PRINT_RESULTS=False, PRINT_CONFIG=False, TIME_PROGRESS=False, OUTPUT_SUMMARY=False,
        OUTPUT_DETAILED=False, PLOT_CURVES=False, BREAK_ON_ERROR=True, LOG_ON_ERROR=None,
    )
    with contextlib.redirect_stdout(io.StringIO()):
        results, messages = trackeval.Evaluator(evaluation).evaluate(
            [trackeval.datasets.MotChallenge2DBox(dataset)], [trackeval.metrics.HOTA({"PRINT_CONFIG": False}), trackeval.metrics.Identity({"PRINT_CONFIG": False})],
        )
    assert messages["MotChallenge2DBox"][tracker] == "Success"
    return results["MotChallenge2DBox"][tracker]


def test_the_renderers_truth_exported_scores_hota_100_in_trackeval(truth, tmp_path):
    catalog, clip, gt = truth
    out = tmp_path / "mot"
    summary = export_mot(catalog, None, out)
    (name,) = [line.strip() for line in (out / "seqmaps" / f"{BENCHMARK}-{SPLIT}.txt").read_text().splitlines()[1:]]
    assert name == clip.clip_id and summary.sequences == 1 and summary.images == clip.num_frames
    rows = [r for r in gt.to_pylist() if clip.start_frame <= r["frame_index"] < clip.stop_frame]
    assert summary.labels == len(rows) and summary.skipped == {}
    # The renderer's athletes as a tracker, written independently of the exporter.
    tracker = tmp_path / "trackers" / "renderer" / "data" / f"{name}.txt"
    tracker.parent.mkdir(parents=True)
    tracker.write_text("".join(
        f"{r['frame_index'] - clip.start_frame + 1},{r['track_id']},{r['x1']},{r['y1']},{r['x2'] - r['x1']},{r['y2'] - r['y1']},1,-1,-1,-1\n" for r in rows
    ))
    scores = _trackeval(out, tmp_path / "trackers", "renderer")[name]["pedestrian"]
    assert scores["Count"]["GT_Dets"] == len(rows) == scores["Count"]["Dets"]
    assert scores["HOTA"]["HOTA"].mean() == pytest.approx(1.0)
    assert scores["Identity"]["IDF1"] == pytest.approx(1.0)


def test_sequence_files_follow_the_soccernet_tracking_layout(examples, tmp_path):
    out = tmp_path / "mot"
    summary = export_mot(examples, "match_id = 'match-1'", out)
    assert summary.sequences == 2 and summary.images == 8 and summary.labels == 2 * 4 * 3
    info = configparser.ConfigParser()
    info.read(out / "clip-1" / "seqinfo.ini")
    assert dict(info["Sequence"]) == {
        "name": "clip-1", "imdir": "img1", "framerate": "25", "seqlength": "4", "imwidth": "1280", "imheight": "720", "imext": ".jpg",
    }
    lines = (out / "clip-1" / "gt" / "gt.txt").read_text().splitlines()
    frame, track, x, y, w, h, confidence, *rest = lines[0].split(",")
    # Source frame 200 is the clip's first: frame 1. Boxes are x, y, w, h; the tail is SoccerNet's.
    assert (frame, track, rest) == ("1", "1", ["-1", "-1", "-1"])
    assert float(w) == pytest.approx(20.0) and float(h) == pytest.approx(60.0) and 0 < float(confidence) <= 1
    assert {int(line.split(",")[0]) for line in lines} == {1, 2, 3, 4}
    game = configparser.ConfigParser()
    game.read(out / "clip-1" / "gameinfo.ini")
    tracklets = {k: v for k, v in game["Sequence"].items() if k.startswith("trackletid_")}
    # The example stores team A on the left; the referee has no team; an unread jersey is X.
    assert tracklets == {"trackletid_1": "player team left;7", "trackletid_2": "player team right;X", "trackletid_3": "referee;X"}
