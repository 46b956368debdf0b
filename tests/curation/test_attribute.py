"""Attribution: crops, roles, team clustering and jersey numbers, on rendered and real frames."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from soccerfactory.curation.attribute import (
    JERSEY_BACKENDS,
    TEAM_BACKENDS,
    AthleteCrops,
    JerseyReads,
    KMeansColorTeams,
    RapidOcrJerseyReader,
    TeamLabels,
    build_jersey_reader,
    build_team_classifier,
    bundled_rapidocr_models,
    number_region,
    role_from_class,
)
from soccerfactory.curation.masks import rle_decode, rle_encode
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import make_frames, make_tracks
from soccerfactory.curation.types import BALL, CLASS_NAMES, GOALKEEPER, PLAYER, REFEREE, Detections, Frames, Tracks

PLAYERS = Path(__file__).resolve().parents[3] / "shared" / "data" / "football-players"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def clip_720(tmp_path_factory):
    """Two seconds of 720p broadcast, seed 1: numbers on backs have enough pixels to read."""
    out = tmp_path_factory.mktemp("attr-synth-720")
    render_clip(SynthConfig(seconds=2, seed=1, width=1280, height=720), out)
    return out


def load_clip(clip: Path, every: int) -> tuple[pd.DataFrame, Frames, Tracks]:
    """Every ``every``-th decoded frame of the clip's video and its ground-truth athletes."""
    athletes = pd.read_parquet(clip / "gt" / "athletes.parquet")
    capture = cv2.VideoCapture(str(clip / "video.mp4"))
    images, index = [], []
    i = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if i % every == 0:
            images.append(image)
            index.append(i)
        i += 1
    capture.release()
    assert images, "the rendered video decoded to no frames"
    frames = Frames(np.stack(images), np.array(index), np.array(index) / 25.0, 25.0, str(clip))
    rows = athletes[athletes.frame_index.isin(index)].reset_index(drop=True)
    tracks = Tracks(
        xyxy=rows[["x1", "y1", "x2", "y2"]].to_numpy(np.float32),
        confidence=np.ones(len(rows), np.float32),
        class_id=rows["class"].map({name: k for k, name in enumerate(CLASS_NAMES)}).to_numpy(),
        frame_index=rows.frame_index.to_numpy(),
        track_id=rows.track_id.to_numpy(),
    )
    return rows, frames, tracks


@pytest.fixture(scope="session")
def sampled(clip_720):
    """Every 5th frame (5 fps): ten frames, about 120 athlete crops."""
    rows, frames, tracks = load_clip(clip_720, every=5)
    return rows, frames, tracks, AthleteCrops.from_frames(frames, tracks)


@pytest.fixture(scope="session")
def rapidocr_reader():
    return build_jersey_reader("rapidocr")


def some_crops(n: int = 6, seed: int = 0) -> AthleteCrops:
    frames = make_frames(n=2, height=120, width=200, seed=seed)
    tracks = make_tracks(n_tracks=4, n_frames=2, image_size=(200, 120), seed=seed)
    keep = tracks.class_id != BALL
    return AthleteCrops.from_frames(frames, tracks[keep])[:n]


# --------------------------------------------------------------------------- crops


def test_from_frames_cuts_sampled_athlete_rows_with_margin():
    frames = make_frames(n=3, height=100, width=160, seed=1)[np.array([0, 2])]  # frames 0 and 2
    tracks = Tracks(
        xyxy=[[10, 20, 30, 60], [0, 0, 8, 10], [150, 80, 160, 100], [40, 40, 50, 60], [40, 40, 41, 41]],
        confidence=[0.9] * 5,
        class_id=[PLAYER, REFEREE, GOALKEEPER, PLAYER, BALL],
        frame_index=[0, 0, 2, 1, 2],
        track_id=[1, 2, 3, 4, 5],
    )
    crops = AthleteCrops.from_frames(frames, tracks, margin=0.1)
    # Frame 1 is not sampled and the ball is not an athlete.
    assert crops.source_row.tolist() == [0, 1, 2]
    assert crops.track_id.tolist() == [1, 2, 3]
    assert crops.frame_index.tolist() == [0, 0, 2]
    assert crops.class_id.tolist() == [PLAYER, REFEREE, GOALKEEPER]
    # Box 0 is 20x40: 2 px and 4 px of margin on each side.
    assert crops.images[0].shape == (48, 24, 3)
    np.testing.assert_array_equal(crops.images[0], frames.images[0, 16:64, 8:32])
    np.testing.assert_allclose(crops.boxes[0], [2, 4, 22, 44])
    # Margins are clipped to the frame: box 2 touches the bottom-right corner.
    assert crops.images[2].shape == (22, 11, 3)
    np.testing.assert_array_equal(crops.images[2], frames.images[1, 78:100, 149:160])
    np.testing.assert_allclose(crops.boxes[2], [1, 2, 11, 22])
    assert all(m is None for m in crops.masks)


def test_from_frames_decodes_masks_in_every_accepted_form():
    frames = make_frames(n=1, height=50, width=80, seed=2)
    tracks = Tracks(
        xyxy=[[10, 10, 20, 30], [40, 5, 60, 45], [0, 0, 5, 5]],
        confidence=[1.0] * 3,
        class_id=[PLAYER, PLAYER, REFEREE],
        frame_index=[0, 0, 0],
        track_id=[0, 1, 2],
    )
    full = np.zeros((3, 50, 80), bool)
    full[0, 12:28, 12:18] = True
    full[1, 10:40, 45:55] = True
    rle0 = rle_encode(full[0])
    rle1 = rle_encode(full[1])
    masks_rle = [json.dumps(rle0), json.dumps(rle1["counts"]), None]
    crops = AthleteCrops.from_frames(frames, tracks, masks_rle=masks_rle, margin=0.0)
    np.testing.assert_array_equal(crops.masks[0], full[0, 10:30, 10:20])
    np.testing.assert_array_equal(crops.masks[1], full[1, 5:45, 40:60])
    assert crops.masks[2] is None
    # A mapping works too, and the round trip through the crop keeps every pixel.
    again = AthleteCrops.from_frames(frames, tracks, masks_rle=[rle0, None, None], margin=0.0)
    assert again.masks[0].sum() == rle_decode(rle0).sum()


def test_from_frames_rejects_bad_masks_and_margin():
    frames = make_frames(n=1, height=50, width=80)
    tracks = Tracks(
        xyxy=[[1, 1, 9, 20], [20, 5, 30, 40]],
        confidence=[1, 1],
        class_id=[PLAYER, PLAYER],
        frame_index=[0, 0],
        track_id=[0, 1],
    )
    with pytest.raises(ValueError, match="one entry per row"):
        AthleteCrops.from_frames(frames, tracks, masks_rle=[None])
    other_size = json.dumps(rle_encode(np.zeros((10, 10), bool)))
    with pytest.raises(ValueError, match="frame size"):
        AthleteCrops.from_frames(frames, tracks, masks_rle=[None, other_size])
    with pytest.raises(ValueError, match="margin"):
        AthleteCrops.from_frames(frames, tracks, margin=-0.1)


def test_from_frames_needs_tracked_boxes():
    frames = make_frames(n=1, height=50, width=80)
    untracked = Detections(xyxy=[[1, 1, 9, 20]], confidence=[1.0], class_id=[PLAYER], frame_index=[0])
    with pytest.raises(ValueError, match="track_id"):
        AthleteCrops.from_frames(frames, untracked)


def test_from_frames_with_nothing_sampled_is_empty():
    frames = make_frames(n=1, height=50, width=80, start=100)
    crops = AthleteCrops.from_frames(frames, make_tracks(n_frames=2, image_size=(80, 50)))
    assert len(crops) == 0
    assert len(AthleteCrops.from_frames(frames, Tracks.empty())) == 0


def test_athlete_crops_validation():
    image = np.zeros((10, 6, 3), np.uint8)
    ok = dict(images=(image,), masks=(None,), track_id=[1], frame_index=[0], class_id=[PLAYER])
    crops = AthleteCrops(**ok)
    np.testing.assert_array_equal(crops.boxes, [[0, 0, 6, 10]])
    assert crops.source_row.tolist() == [0]
    with pytest.raises(ValueError, match="images\\[0\\]"):
        AthleteCrops(**{**ok, "images": (image.astype(np.float32),)})
    with pytest.raises(ValueError, match="masks\\[0\\]"):
        AthleteCrops(**{**ok, "masks": (np.zeros((9, 6), bool),)})
    with pytest.raises(ValueError, match="track_id"):
        AthleteCrops(**{**ok, "track_id": [1, 2]})
    with pytest.raises(ValueError, match="ball"):
        AthleteCrops(**{**ok, "class_id": [BALL]})
    with pytest.raises(ValueError, match="boxes"):
        AthleteCrops(**ok, boxes=np.zeros((2, 4)))
    with pytest.raises(ValueError):
        crops.images[0][0, 0, 0] = 1  # read-only


def test_crops_concat_and_no_masks():
    a, b = some_crops(seed=0), some_crops(seed=1)
    both = AthleteCrops.concat([a, AthleteCrops.empty(), b])
    assert len(both) == len(a) + len(b)
    np.testing.assert_array_equal(both.boxes, np.concatenate([a.boxes, b.boxes]))
    assert both.track_id.tolist() == a.track_id.tolist() + b.track_id.tolist()
    assert both.images[len(a)] is not None and both.images[len(a)].shape == b.images[0].shape
    assert len(AthleteCrops.concat([])) == 0
    unmasked = AthleteCrops((np.zeros((4, 4, 3), np.uint8),), None, [1], [0], [PLAYER])
    assert unmasked.masks == (None,)


def test_crops_row_selection_keeps_fields_aligned():
    crops = some_crops()
    picked = crops[np.array([2, 0])]
    assert picked.track_id.tolist() == [crops.track_id[2], crops.track_id[0]]
    assert picked.source_row.tolist() == [crops.source_row[2], crops.source_row[0]]
    assert picked.images[0] is not None and picked.images[0].shape == crops.images[2].shape
    assert len(crops[crops.class_id == -5]) == 0


# --------------------------------------------------------------------------- role


def test_role_from_class():
    roles = role_from_class(np.array([PLAYER, GOALKEEPER, REFEREE, BALL]))
    assert roles.dtype == object
    assert roles.tolist() == ["player", "goalkeeper", "referee", None]
    assert role_from_class(np.zeros(0, np.int64)).shape == (0,)
    with pytest.raises(ValueError, match="CLASS_NAMES"):
        role_from_class(np.array([7]))


# --------------------------------------------------------------------------- contracts


@pytest.mark.parametrize("name", sorted(TEAM_BACKENDS))
def test_team_contract(name):
    classifier = build_team_classifier(name)
    empty = classifier.fit_predict(AthleteCrops.empty())
    assert isinstance(empty, TeamLabels) and len(empty) == 0
    crops = some_crops()
    labels = classifier.fit_predict(crops)
    assert len(labels) == len(crops)
    assert labels.team.dtype == object and labels.confidence.dtype == np.float32
    assert set(labels.team.tolist()) <= {"A", "B", None}


@pytest.mark.parametrize("name", sorted(JERSEY_BACKENDS))
def test_jersey_contract(name, sampled):
    reader = build_jersey_reader(name)
    empty = reader.read(AthleteCrops.empty())
    assert isinstance(empty, JerseyReads) and len(empty) == 0
    crops = sampled[3][:12]
    reads = reader.read(crops)
    assert len(reads) == len(crops)
    assert reads.number.dtype == np.int32 and reads.confidence.dtype == np.float32
    assert ((reads.number == -1) | ((reads.number >= 1) & (reads.number <= 99))).all()
    assert (reads.confidence[reads.number == -1] == 0).all()


def test_builders_list_the_valid_choices():
    with pytest.raises(ValueError, match="kmeans-color"):
        build_team_classifier("svm")
    with pytest.raises(ValueError, match="none.*rapidocr|rapidocr.*none"):
        build_jersey_reader("tesseract")
    with pytest.raises(TypeError):
        build_team_classifier("kmeans-color", nonsense=1)


# --------------------------------------------------------------------------- team


def _team_agreement(labels: TeamLabels, truth: np.ndarray) -> tuple[float, dict]:
    """Agreement with the ground truth up to swapping A/B, and the mapping A/B -> left/right."""
    same = np.mean([(t == "A") == (g == "left") for t, g in zip(labels.team, truth)])
    if same >= 0.5:
        return float(same), {"A": "left", "B": "right", None: None}
    return float(1 - same), {"A": "right", "B": "left", None: None}


def test_kmeans_teams_match_ground_truth(sampled):
    rows, _, _, crops = sampled
    truth_team = rows.team.to_numpy()[crops.source_row]
    cls = crops.class_id
    start = time.perf_counter()
    labels = build_team_classifier("kmeans-color").fit_predict(crops, pitch_x=rows.pitch_x.to_numpy()[crops.source_row])
    elapsed = time.perf_counter() - start
    players = cls == PLAYER
    accuracy, mapping = _team_agreement(
        TeamLabels(labels.team[players], labels.confidence[players]), truth_team[players]
    )
    ms = 1000 * elapsed / len(crops)
    print(f"\nkmeans-color: {players.sum()} player crops, accuracy {accuracy:.3f}, {ms:.2f} ms/crop")
    # Measured 0.99 at 720p (0.99 at 360p, >= 0.978 on eight other seeds).
    assert accuracy >= 0.93
    assert all(t is None for t in labels.team[cls == REFEREE])
    # Goalkeepers join the team defending their half, which pitch_x gives.
    keepers = np.flatnonzero(cls == GOALKEEPER)
    assert len(keepers) > 0
    assert [mapping[labels.team[i]] for i in keepers] == truth_team[keepers].tolist()
    assert ((labels.confidence >= 0) & (labels.confidence <= 1)).all()
    assert labels.confidence[players].mean() > 0.3


def test_masks_from_the_refiner_are_used(sampled, rapidocr_reader):
    rows, frames, tracks, plain = sampled
    # The renderer's exact masks, in the refiner's format (JSON of the RLE counts).
    crops = AthleteCrops.from_frames(frames, tracks, masks_rle=list(rows.mask_rle))
    assert all(m is not None and m.any() for m in crops.masks)
    labels = build_team_classifier("kmeans-color").fit_predict(crops)
    players = crops.class_id == PLAYER
    truth = rows.team.to_numpy()[crops.source_row][players]
    accuracy, _ = _team_agreement(TeamLabels(labels.team[players], labels.confidence[players]), truth)
    assert accuracy >= 0.93
    # With masks only the athlete's own pixels count as shirt and ink; reads stay right.
    reads = rapidocr_reader.read(crops)
    jersey = rows.jersey.fillna(-1).to_numpy().astype(int)[crops.source_row]
    accepted = reads.number >= 0
    assert accepted.sum() >= 5 and (reads.number[accepted] == jersey[accepted]).mean() >= 0.9


def test_kmeans_teams_without_pitch_x_leave_goalkeepers_unassigned(sampled):
    crops = sampled[3]
    labels = KMeansColorTeams().fit_predict(crops)
    assert all(t is None for t in labels.team[crops.class_id == GOALKEEPER])
    assert all(t in ("A", "B") for t in labels.team[crops.class_id == PLAYER])


def test_kmeans_team_names_do_not_depend_on_row_order_or_seed(sampled):
    crops = sampled[3]
    first = KMeansColorTeams(seed=0).fit_predict(crops)
    order = np.random.default_rng(3).permutation(len(crops))
    shuffled = KMeansColorTeams(seed=11).fit_predict(crops[order])
    assert shuffled.team.tolist() == first.team[order].tolist()


def test_kmeans_one_team_in_view_gives_no_labels():
    # Two near-identical shirts: there is no second team to find.
    rng = np.random.default_rng(0)
    images = []
    for _ in range(8):
        image = np.full((40, 16, 3), (40, 140, 60), np.uint8)  # grass
        image[6:22, 3:13] = (40, 35, 200) + rng.integers(-4, 5, size=3)  # red shirt
        images.append(image)
    crops = AthleteCrops(tuple(images), (None,) * 8, np.arange(8), np.zeros(8, np.int64), np.full(8, PLAYER))
    labels = KMeansColorTeams().fit_predict(crops)
    assert all(t is None for t in labels.team)


def test_kmeans_separates_two_plain_kits_and_names_the_darker_a():
    images, truth = [], []
    for k in range(10):
        image = np.full((40, 16, 3), (40, 140, 60), np.uint8)
        dark = k % 2 == 0
        image[4:22, 2:14] = (80, 30, 15) if dark else (238, 238, 238)  # navy / white
        images.append(image)
        truth.append("A" if dark else "B")
    crops = AthleteCrops(tuple(images), (None,) * 10, np.arange(10), np.zeros(10, np.int64), np.full(10, PLAYER))
    labels = KMeansColorTeams().fit_predict(crops)
    assert labels.team.tolist() == truth
    assert (labels.confidence > 0.5).all()


def test_kmeans_rejects_misaligned_pitch_x(sampled):
    with pytest.raises(ValueError, match="pitch_x"):
        KMeansColorTeams().fit_predict(sampled[3], pitch_x=np.zeros(3))


# --------------------------------------------------------------------------- jersey


def test_rapidocr_reads_legible_numbers_precisely(clip_720, rapidocr_reader):
    rows, frames, tracks = load_clip(clip_720, every=1)
    legible = rows.jersey_legible.to_numpy()
    crops = AthleteCrops.from_frames(frames, tracks[np.flatnonzero(legible)][::2])  # ~65 crops
    truth = rows.jersey.to_numpy()[np.flatnonzero(legible)][::2][crops.source_row].astype(int)
    start = time.perf_counter()
    reads = rapidocr_reader.read(crops)
    elapsed = time.perf_counter() - start
    accepted = reads.number >= 0
    correct = accepted & (reads.number == truth)
    read_rate = accepted.mean()
    precision = correct.sum() / max(accepted.sum(), 1)
    print(
        f"\nrapidocr on {len(crops)} legible 720p crops: read rate {read_rate:.2f}, precision {precision:.3f}, "
        f"{1000 * elapsed / len(crops):.1f} ms/crop"
    )
    # Measured: read rate 0.96, precision 0.98 (0.96 / 0.99 over four seeds).
    assert precision >= 0.9
    assert read_rate >= 0.6


def test_rapidocr_skips_referees_and_tiny_boxes(sampled, rapidocr_reader):
    rows, _, _, crops = sampled
    reads = rapidocr_reader.read(crops)
    assert (reads.number[crops.class_id == REFEREE] == -1).all()
    tiny = crops.boxes[:, 3] - crops.boxes[:, 1] < rapidocr_reader.min_box_height
    assert (reads.number[tiny] == -1).all()
    # On every crop, legible or not, accepted reads are the athlete's number.
    truth = rows.jersey.fillna(-1).to_numpy().astype(int)[crops.source_row]
    accepted = reads.number >= 0
    assert accepted.sum() >= 5
    assert (reads.number[accepted] == truth[accepted]).mean() >= 0.9


def test_number_region_finds_the_band_of_the_number():
    # A white back with a black "23" and grass around it.
    image = np.full((120, 60, 3), (40, 140, 60), np.uint8)
    image[20:62, 8:52] = (238, 238, 238)
    cv2.putText(image, "23", (14, 50), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (20, 20, 20), 2, cv2.LINE_AA)
    band = number_region(image, None, np.array([5, 5, 55, 118], np.float32))
    assert band is not None
    # The digits' 18 rows plus margins (20 % each side, then a third as border): 42 rows,
    # where the torso band it is cut from has 40 and the box 113.
    assert 18 <= band.shape[0] <= 45
    # A plain shirt has no number.
    plain = np.full((120, 60, 3), (40, 140, 60), np.uint8)
    plain[20:62, 8:52] = (238, 238, 238)
    assert number_region(plain, None, np.array([5, 5, 55, 118], np.float32)) is None


def test_rapidocr_reads_a_rendered_number(rapidocr_reader):
    image = np.full((140, 60, 3), (40, 140, 60), np.uint8)
    image[28:70, 6:54] = (40, 35, 200)
    cv2.putText(image, "17", (12, 58), cv2.FONT_HERSHEY_SIMPLEX, 0.75, (240, 240, 240), 2, cv2.LINE_AA)
    crops = AthleteCrops((image,), (None,), [3], [0], [PLAYER], boxes=[[4, 6, 56, 138]])
    reads = rapidocr_reader.read(crops)
    assert reads.number.tolist() == [17]
    assert reads.confidence[0] >= rapidocr_reader.min_confidence
    as_referee = AthleteCrops((image,), (None,), [3], [0], [REFEREE], boxes=[[4, 6, 56, 138]])
    assert rapidocr_reader.read(as_referee).number.tolist() == [-1]


def test_rapidocr_uses_only_bundled_models_with_the_network_blocked(monkeypatch, sampled):
    import rapidocr

    package = Path(rapidocr.__file__).resolve().parent
    for path in bundled_rapidocr_models().values():
        assert path.is_file() and package in path.parents

    calls = []

    def refuse(*args, **kwargs):
        calls.append(args[1:] if args and isinstance(args[0], socket.socket) else args)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    crops = sampled[3][:20]
    for params in ({}, {"use_det": True}):
        reader = RapidOcrJerseyReader(**params)
        assert len(reader.read(crops)) == len(crops)
    assert calls == []


def test_rapidocr_parameters_are_checked():
    with pytest.raises(ValueError, match="min_confidence"):
        RapidOcrJerseyReader(min_confidence=1.5)
    with pytest.raises(ValueError, match="threads"):
        RapidOcrJerseyReader(threads=0)


def test_no_reader_reads_nothing(sampled):
    reads = build_jersey_reader("none").read(sampled[3])
    assert (reads.number == -1).all() and (reads.confidence == 0).all()


def test_jersey_reads_validation():
    with pytest.raises(ValueError, match="1..99"):
        JerseyReads(np.array([0]), np.array([0.5]))
    with pytest.raises(ValueError, match="aligned"):
        JerseyReads(np.array([5, 6]), np.array([0.5]))
    with pytest.raises(ValueError, match="'A', 'B' or None"):
        TeamLabels(np.array(["C"], dtype=object), np.array([0.5]))


@pytest.mark.skipif(not PLAYERS.is_dir(), reason="shared football-players data not present")
@pytest.mark.parametrize(
    ("split", "stem", "box", "number"),
    [
        # Boxes (YOLO, normalised) of athletes whose back number a person can read.
        ("valid", "798b45_1_2", (0.27421875, 0.491015625, 0.015234375, 0.076953125), 10),
        ("train", "573e61_9_7", (0.65, 0.7546875, 0.014453125, 0.07421875), 14),
        ("train", "54745b_1_9", (0.155078125, 0.625390625, 0.026953125, 0.091796875), 27),
    ],
)
def test_rapidocr_reads_real_broadcast_backs(split, stem, box, number, rapidocr_reader):
    path = next((PLAYERS / split / "images").glob(f"{stem}_png*.jpg"))
    # The dataset stretched 1920x1080 frames to 1280x1280; undo it as the pipeline sees video.
    image = cv2.resize(cv2.imread(str(path)), (1920, 1080), interpolation=cv2.INTER_AREA)
    cx, cy, w, h = box[0] * 1920, box[1] * 1080, box[2] * 1920, box[3] * 1080
    frames = Frames(image[None], [0], [0.0], 25.0, str(path))
    tracks = Tracks(
        xyxy=[[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]],
        confidence=[1.0],
        class_id=[PLAYER],
        frame_index=[0],
        track_id=[1],
    )
    reads = rapidocr_reader.read(AthleteCrops.from_frames(frames, tracks))
    assert reads.number.tolist() == [number]
