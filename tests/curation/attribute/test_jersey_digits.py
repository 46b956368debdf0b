"""Jersey digits: the patch cut, the decoding rule, and the shipped network on rendered and real crops."""

from __future__ import annotations

import json
import time
import cv2
import numpy as np
import pytest
import torch

from soccerfactory.curation.attribute.builders import build_jersey_reader
from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.attribute.jersey import JerseyReads, NoJerseyReader
from soccerfactory.curation.attribute.jersey_digits import (
    NO_TENS,
    PATCH_SIZE,
    AgreeingJerseyReader,
    DigitsJerseyReader,
    decode_digits,
    load_digit_net,
    number_patch,
)
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.curation.training.jersey_crops import REAL_VALID_LABELS as LABELS
from soccerfactory.curation.types import GOALKEEPER, PLAYER, REFEREE

PLAYERS = DEFAULT_DATA_ROOT / "football-players"


@pytest.fixture(scope="module")
def digits_reader():
    return DigitsJerseyReader()


def test_number_patch_cuts_the_upper_body():
    image = np.zeros((100, 60, 3), np.uint8)
    image[20:40, 10:50] = 255  # where a back number is: 0.17-0.39 of the box below
    patch = number_patch(image, (5, 5, 55, 95))
    assert patch.shape == (*PATCH_SIZE, 3) and patch.dtype == np.uint8
    # Rows 0.06..0.62 of the 90 px box are 10.4..60.8: the block is rows ~9..29 of the 48-row patch.
    assert patch[18, 18].min() > 200 and patch[40, 18].max() < 40
    # A box reaching past the frame still gives the same geometry (border replicated).
    assert number_patch(image, (-30, -20, 30, 80)).shape == (*PATCH_SIZE, 3)


def test_decode_keeps_only_shirt_numbers():
    legible = torch.tensor([5.0, 5.0, 5.0, -5.0, 5.0])
    tens, units = torch.full((5, 11), -10.0), torch.full((5, 10), -10.0)
    for row, (t, u) in enumerate([(2, 3), (NO_TENS, 7), (0, 7), (1, 1), (NO_TENS, 0)]):
        tens[row, t], units[row, u] = 10.0, 10.0
    number, confidence = decode_digits(legible, tens, units)
    # "07" and a lone 0 are no shirt numbers; a crop judged illegible keeps its digits at a low confidence.
    assert number.tolist() == [23, 7, -1, 11, -1]
    assert confidence[0] > 0.99 and confidence[1] > 0.99 and confidence[2] == 0 and confidence[4] == 0
    assert confidence[3] < 0.01


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"jersey-digits\.pt.*training\.jersey_digits"):
        load_digit_net(tmp_path / "jersey-digits.pt")


def test_builders_name_the_digit_backends():
    assert isinstance(build_jersey_reader("digits"), DigitsJerseyReader)
    assert isinstance(build_jersey_reader("digits+rapidocr"), AgreeingJerseyReader)


def test_digits_read_rendered_backs_precisely(clip_720, load_clip, digits_reader):
    rows, frames, tracks = load_clip(clip_720, every=1)
    legible = rows.jersey_legible.to_numpy()
    tall = (rows.y2 - rows.y1).to_numpy() >= digits_reader.min_box_height
    picked = np.flatnonzero(legible & tall)[::2]
    crops = AthleteCrops.from_frames(frames, tracks[picked])
    truth = rows.jersey.to_numpy()[picked][crops.source_row].astype(int)
    start = time.perf_counter()
    reads = digits_reader.read(crops)
    per_crop_ms = 1000 * (time.perf_counter() - start) / max(len(crops), 1)
    made = reads.number > 0
    precision = (made & (reads.number == truth)).sum() / max(made.sum(), 1)
    print(f"\ndigits on {len(crops)} legible 720p crops: read {made.mean():.2f}, precision {precision:.3f}, {per_crop_ms:.1f} ms/crop")
    assert len(crops) >= 20
    assert precision >= 0.95 and made.mean() >= 0.5


def test_digits_refuse_backs_nobody_can_read(clip_720, load_clip, digits_reader):
    rows, frames, tracks = load_clip(clip_720, every=1)
    tall = (rows.y2 - rows.y1).to_numpy() >= digits_reader.min_box_height
    hidden = np.flatnonzero(~rows.jersey_legible.to_numpy() & tall & (rows.role == "player").to_numpy())[::3]
    crops = AthleteCrops.from_frames(frames, tracks[hidden])
    reads = digits_reader.read(crops)
    print(f"\ndigits on {len(crops)} 720p crops with no legible number: {(reads.number > 0).sum()} reads")
    assert len(crops) >= 20
    assert (reads.number > 0).mean() <= 0.05


def _real_crops() -> tuple[AthleteCrops, np.ndarray]:
    labels = json.loads(LABELS.read_text())["crops"]
    images, boxes, frames = [], [], {}
    for k, row in enumerate(labels):
        if row["image"] not in frames:
            raw = cv2.imread(str(PLAYERS / "valid" / "images" / row["image"]))
            frames[row["image"]] = cv2.resize(raw, (1920, 1080), interpolation=cv2.INTER_AREA)
        frame = frames[row["image"]]
        x1, y1, x2, y2 = row["box"]
        mx, my = 0.1 * (x2 - x1), 0.1 * (y2 - y1)  # AthleteCrops.from_frames' margin
        c0, r0 = int(max(np.floor(x1 - mx), 0)), int(max(np.floor(y1 - my), 0))
        c1, r1 = int(min(np.ceil(x2 + mx), 1920)), int(min(np.ceil(y2 + my), 1080))
        images.append(np.ascontiguousarray(frame[r0:r1, c0:c1]))
        boxes.append((x1 - c0, y1 - r0, x2 - c0, y2 - r0))
    n = len(labels)
    crops = AthleteCrops(tuple(images), None, np.arange(n), np.zeros(n, np.int64), np.full(n, PLAYER), np.asarray(boxes, np.float32))
    return crops, np.array([-1 if row["number"] is None else row["number"] for row in labels])


@pytest.mark.skipif(not (PLAYERS / "valid").is_dir(), reason="needs ../shared/data/football-players")
def test_digits_on_honestly_labelled_real_crops(digits_reader):
    crops, truth = _real_crops()
    reads = digits_reader.read(crops)
    made = reads.number > 0
    right = made & (reads.number == truth)
    wrong_on_numbers = made & (truth > 0) & (reads.number != truth)
    on_blank = made & (truth < 0)
    print(f"\nreal valid crops: {int((truth > 0).sum())} legible, read right {int(right.sum())}, read wrong "
          f"{int(wrong_on_numbers.sum())}; {int((truth < 0).sum())} with no legible number, read {int(on_blank.sum())}")
    # A crop read wrongly still has the consensus rule behind it (several frames must agree), but
    # most crops of a real back with no number must stay unread.
    assert on_blank.sum() <= 0.1 * (truth < 0).sum()
    assert wrong_on_numbers.sum() <= max(2, right.sum())


class _Fixed:
    def __init__(self, number, confidence):
        self.reads = JerseyReads(np.asarray(number, np.int32), np.asarray(confidence, np.float32))

    def read(self, crops):
        return self.reads


def test_agreeing_reader_fills_in_and_refuses_clashes(some_crops):
    crops = some_crops()[:4]
    first = _Fixed([7, -1, 12, 9], [0.9, 0.0, 0.95, 0.8])
    second = _Fixed([7, 23, 21, -1], [0.99, 0.85, 0.97, 0.0])
    reads = AgreeingJerseyReader(first, second).read(crops)
    assert reads.number.tolist() == [7, 23, -1, 9]
    assert reads.confidence.tolist() == pytest.approx([0.99, 0.85, 0.0, 0.8])
    # Only the crop both read alike carries two readers; the clash carries none.
    assert reads.readers.tolist() == [2, 1, 0, 1]
    assert AgreeingJerseyReader(NoJerseyReader(), NoJerseyReader()).read(crops).readers.tolist() == [0] * 4
    assert AgreeingJerseyReader(NoJerseyReader(), NoJerseyReader()).read(crops).number.tolist() == [-1] * 4


def test_jersey_reads_check_their_readers():
    assert JerseyReads(np.int32([7, -1]), np.float32([0.9, 0.0])).readers.tolist() == [1, 0]
    with pytest.raises(ValueError, match="readers"):
        JerseyReads(np.int32([7, -1]), np.float32([0.9, 0.0]), np.int8([0, 0]))  # a read by nobody
    with pytest.raises(ValueError, match="readers"):
        JerseyReads(np.int32([7, -1]), np.float32([0.9, 0.0]), np.int8([1, 1]))  # nothing read by someone


def test_digits_skip_referees_and_small_boxes(digits_reader):
    image = np.full((200, 80, 3), 90, np.uint8)
    small = np.full((30, 12, 3), 90, np.uint8)
    crops = AthleteCrops(
        (image, image, small), None, np.arange(3), np.zeros(3, np.int64), np.array([REFEREE, GOALKEEPER, PLAYER]),
        np.array([[0, 0, 80, 200], [0, 0, 80, 200], [0, 0, 12, 30]], np.float32),
    )
    reads = digits_reader.read(crops)
    assert reads.number[0] == -1 and reads.number[2] == -1 and reads.confidence[0] == 0
