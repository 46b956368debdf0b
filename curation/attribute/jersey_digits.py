"""Back numbers with a small digit CNN: a legibility gate and a 0-99 recogniser in one network.

:class:`DigitsJerseyReader` (backend ``attribute.jersey="digits"``) cuts the upper body of each
player or goalkeeper crop (:func:`number_patch`), and :class:`DigitNet` answers three questions
about it at once: is a back number legible here (one logit), its tens digit (0-9 or none) and its
units digit (0-9). The read is the number only when the crop is judged legible and both digits
are sure; its confidence is the product of the three probabilities. Weights
(``curation/weights/jersey-digits.pt``) are a plain ``state_dict`` trained by
:mod:`soccerfactory.curation.training.jersey_digits` on crops of the project's renderer and on
numbers drawn with real fonts (kit colours, folds, perspective, blur, compression, occlusion),
plus a few hand-labelled real crops. :class:`AgreeingJerseyReader` (``"digits+rapidocr"``, the
default) pairs it with the bundled OCR: the network's read, else the OCR's, none where they clash.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.attribute.jersey import JerseyReader, JerseyReads
from soccerfactory.curation.bundled import bundled_weights, require_weights
from soccerfactory.curation.safe_load import load_state
from soccerfactory.curation.types import GOALKEEPER, PLAYER

__all__ = [
    "DEFAULT_DIGIT_WEIGHTS",
    "HOW_TO_GET",
    "AgreeingJerseyReader",
    "PATCH_SIZE",
    "DigitNet",
    "DigitsJerseyReader",
    "decode_digits",
    "load_digit_net",
    "number_patch",
    "patch_tensor",
]

#: ``(height, width)`` of the network's input: the upper body of a standing athlete is about
#: 0.55 of the box tall and 0.4 of it wide, so 4:3 keeps a back number close to its shape.
PATCH_SIZE: tuple[int, int] = (48, 36)
#: Rows of the box the patch covers (fractions of its height from the top): the back number
#: sits at 0.2-0.45 of a standing athlete's height.
PATCH_ROWS: tuple[float, float] = (0.06, 0.62)
#: Extra columns on each side, as a fraction of the box width.
PATCH_SIDE: float = 0.05
#: Index of the "no tens digit" class (a one-digit number).
NO_TENS = 10
DEFAULT_DIGIT_WEIGHTS = bundled_weights("jersey-digits.pt")


def number_patch(image: np.ndarray, box: np.ndarray | tuple[float, float, float, float], size: tuple[int, int] = PATCH_SIZE) -> np.ndarray:
    """The upper body of the athlete in ``box``, resized to the network's input.

    Parts of the region outside ``image`` are filled by replicating its border, so a box cut by
    the frame edge still gives a patch of the same geometry.

    Args:
        image: ``uint8`` BGR ``(h, w, 3)``.
        box: ``xyxy`` of the athlete in ``image`` pixels.
        size: ``(height, width)`` of the result.

    Returns:
        ``uint8`` BGR ``(size[0], size[1], 3)``.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    r0, r1 = int(np.floor(y1 + PATCH_ROWS[0] * bh)), int(np.ceil(y1 + PATCH_ROWS[1] * bh))
    c0, c1 = int(np.floor(x1 - PATCH_SIDE * bw)), int(np.ceil(x2 + PATCH_SIDE * bw))
    r1, c1 = max(r1, r0 + 1), max(c1, c0 + 1)
    h, w = image.shape[:2]
    region = image[max(r0, 0) : min(r1, h), max(c0, 0) : min(c1, w)]
    if region.size == 0:
        return np.zeros((*size, 3), np.uint8)
    pads = (max(-r0, 0), max(r1 - h, 0), max(-c0, 0), max(c1 - w, 0))
    if any(pads):
        region = cv2.copyMakeBorder(region, *pads, cv2.BORDER_REPLICATE)
    shrink = region.shape[0] > size[0]
    return cv2.resize(region, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def patch_tensor(patches: np.ndarray) -> torch.Tensor:
    """Network input of a batch of patches: float, each patch standardised on its own.

    Standardising per patch (mean and spread over its pixels) takes away the kit's brightness
    and the exposure, which the digits do not depend on.

    Args:
        patches: ``uint8`` ``(B, H, W, 3)`` BGR.

    Returns:
        ``float32`` ``(B, 3, H, W)``.
    """
    x = torch.from_numpy(np.ascontiguousarray(patches)).float().permute(0, 3, 1, 2)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(8.0)
    return (x - mean) / std


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DigitNet(nn.Module):
    """Legibility gate and two digit heads over a ``3 x 48 x 36`` patch.

    Four conv stages (``width``, 2x, 4x, 4x channels; the first three halve the resolution, about
    10 M multiply-adds per patch) and a fully connected layer over a 3 x 2 grid of features, which
    keeps where things are (the tens digit is the left one).

    ``forward`` returns ``(legible, tens, units)`` logits: ``(B,)``, ``(B, 11)`` (index 10 = no
    tens digit), ``(B, 10)``.
    """

    def __init__(self, width: int = 16, hidden: int = 128) -> None:
        super().__init__()
        c = int(width)
        self.width, self.hidden = c, int(hidden)
        self.features = nn.Sequential(
            _block(3, c), nn.MaxPool2d(2),  # 24 x 18
            _block(c, 2 * c), nn.MaxPool2d(2),  # 12 x 9
            _block(2 * c, 4 * c), _block(4 * c, 4 * c), nn.MaxPool2d(2),  # 6 x 4
            _block(4 * c, 4 * c), nn.AdaptiveAvgPool2d((3, 2)),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(4 * c * 6, self.hidden), nn.ReLU(inplace=True), nn.Dropout(0.2))
        self.legible = nn.Linear(self.hidden, 1)
        self.tens = nn.Linear(self.hidden, 11)
        self.units = nn.Linear(self.hidden, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.fc(self.features(x))
        return self.legible(z).squeeze(1), self.tens(z), self.units(z)


def decode_digits(legible: torch.Tensor, tens: torch.Tensor, units: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Numbers and confidences from the network's logits.

    The confidence is ``P(legible) * P(tens) * P(units)`` of the most likely digits. A tens digit
    of 0 (``"07"``) or the lone digit 0 is no shirt number: such a read gets ``-1``.

    Returns:
        ``int32`` ``(B,)`` ``1..99`` or ``-1``, ``float32`` ``(B,)`` in ``[0, 1]`` (0 where -1).
    """
    p_legible = torch.sigmoid(legible)
    p_tens, k_tens = torch.softmax(tens, dim=1).max(dim=1)
    p_units, k_units = torch.softmax(units, dim=1).max(dim=1)
    k_tens, k_units = k_tens.numpy(), k_units.numpy()
    number = np.where(k_tens == NO_TENS, k_units, 10 * k_tens + k_units).astype(np.int32)
    valid = (k_tens != 0) & (number >= 1)
    confidence = (p_legible * p_tens * p_units).numpy().astype(np.float32)
    return np.where(valid, number, -1).astype(np.int32), np.where(valid, confidence, 0.0).astype(np.float32)


#: How to get the weights when they are missing (a partial checkout, a stripped wheel).
HOW_TO_GET = "python -m soccerfactory.curation.training.jersey_digits --work DIR (see curation/weights/README.md), or set attribute.jersey=rapidocr"


def load_digit_net(path: str | Path = DEFAULT_DIGIT_WEIGHTS) -> DigitNet:
    """The trained :class:`DigitNet` in eval mode, from a plain ``state_dict`` (``weights_only``).

    The network's width is read from the manifest beside the weights (``<name>.json``,
    ``architecture.width`` / ``hidden``); without one the defaults are used.

    Raises:
        FileNotFoundError: when the weights are missing, naming the file and how to get them.
        UnsafeCheckpointError: when the file holds anything but tensors.
    """
    path = require_weights(path, "attribute.jersey (jersey digit weights)", HOW_TO_GET)
    settings = {}
    manifest = path.with_suffix(".json")
    if manifest.is_file():
        settings = json.loads(manifest.read_text()).get("architecture", {})
    net = DigitNet(width=int(settings.get("width", 16)), hidden=int(settings.get("hidden", 128)))
    state = load_state(path, "attribute.jersey (jersey digit weights)")
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return net.eval()


class DigitsJerseyReader:
    """Back numbers read by :class:`DigitNet` (see the module docstring).

    Referees, the ball and boxes shorter than ``min_box_height`` get ``-1`` without running the
    network. A read is kept when its confidence (``P(legible) * P(tens) * P(units)``) reaches
    ``min_confidence``; the tracklet's number is then voted by
    :func:`~soccerfactory.curation.attribute.jersey.jersey_consensus`.

    Args:
        weights: the ``state_dict`` file (default: the shipped ``curation/weights/jersey-digits.pt``).
        min_confidence: acceptance threshold of a read, in ``[0, 1]``. 0.6, the default of
            ``attribute.jersey_min_confidence``, so that every read the reader reports also votes
            (a read below the vote threshold would still settle a tracklet in
            :func:`~.jersey_reading.read_tracklets`). On every jersey crop of the cached dev runs
            (seeds 400-402, detector boxes, 1 fps) all 40 reads at >= 0.6 were the athlete's number
            and 0.60 of the legible crops were read (0.53 at 0.8, 0.24 at 0.9); the digit heads are
            trained with label smoothing 0.05, so the product rarely exceeds 0.9.
        min_box_height: skip boxes shorter than this (pixels of the crop): a back number is about
            0.15 of the box, so below ~40 px it has fewer than 6 rows.
        threads: torch intra-op threads while reading (the machines share few cores).
        batch: crops per forward pass.
    """

    def __init__(
        self,
        weights: str | Path = DEFAULT_DIGIT_WEIGHTS,
        min_confidence: float = 0.6,
        min_box_height: int = 40,
        threads: int = 1,
        batch: int = 64,
    ) -> None:
        if not 0 <= min_confidence <= 1:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        if threads < 1 or batch < 1 or min_box_height < 1:
            raise ValueError(f"threads, batch and min_box_height must be >= 1, got {threads}, {batch}, {min_box_height}")
        self.min_confidence = float(min_confidence)
        self.min_box_height = int(min_box_height)
        self.threads, self.batch = int(threads), int(batch)
        self.net = load_digit_net(weights)

    def predict(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw reads of ``uint8`` ``(B, H, W, 3)`` patches: numbers (``-1`` = none) and confidences, no threshold."""
        numbers, confidences = [np.zeros(0, np.int32)], [np.zeros(0, np.float32)]
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                for start in range(0, len(patches), self.batch):
                    n, c = decode_digits(*self.net(patch_tensor(patches[start : start + self.batch])))
                    numbers.append(n)
                    confidences.append(c)
        finally:
            torch.set_num_threads(previous)
        return np.concatenate(numbers), np.concatenate(confidences)

    def read(self, crops: AthleteCrops) -> JerseyReads:
        """Read the number of every player and goalkeeper crop tall enough; ``-1`` elsewhere."""
        n = len(crops)
        number = np.full(n, -1, np.int32)
        confidence = np.zeros(n, np.float32)
        rows = [
            i for i in range(n)
            if crops.class_id[i] in (PLAYER, GOALKEEPER) and crops.boxes[i][3] - crops.boxes[i][1] >= self.min_box_height
        ]
        if not rows:
            return JerseyReads(number, confidence)
        patches = np.stack([number_patch(crops.images[i], crops.boxes[i]) for i in rows])
        read, score = self.predict(patches)
        keep = (read > 0) & (score >= self.min_confidence)
        number[np.asarray(rows)[keep]] = read[keep]
        confidence[np.asarray(rows)[keep]] = score[keep]
        return JerseyReads(number, confidence)


class AgreeingJerseyReader:
    """Two readers in one: the first one's reads, the second's where the first read nothing, none where they disagree.

    ``"digits+rapidocr"``: the digit network reads; where it reads nothing the bundled OCR may
    read instead; a crop both read differently is left unread (one of them is wrong, and a wrong
    number is worse than none). A crop both read alike carries both readers
    (:attr:`~soccerfactory.curation.attribute.jersey.JerseyReads.readers`), so that the
    consistency rule may count it as two agreeing reads (``attribute.jersey_count_readers``).

    Args:
        first: the reader whose reads are kept.
        second: the reader that fills in and checks.
    """

    def __init__(self, first: JerseyReader, second: JerseyReader) -> None:
        self.first, self.second = first, second

    def read(self, crops: AthleteCrops) -> JerseyReads:
        a, b = self.first.read(crops), self.second.read(crops)
        number = np.where(a.number > 0, a.number, b.number)
        confidence = np.where(a.number > 0, a.confidence, b.confidence)
        clash = (a.number > 0) & (b.number > 0) & (a.number != b.number)
        both = (a.number > 0) & (a.number == b.number)
        confidence = np.where(both, np.maximum(a.confidence, b.confidence), confidence)
        readers = np.where(both, a.readers.astype(np.int16) + b.readers, np.where(a.number > 0, a.readers, b.readers))
        return JerseyReads(
            np.where(clash, -1, number).astype(np.int32), np.where(clash, 0.0, confidence).astype(np.float32),
            np.where(clash, 0, readers).astype(np.int8),
        )
