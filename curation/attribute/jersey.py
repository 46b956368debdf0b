"""Jersey numbers of athlete crops: the :class:`JerseyReader` protocol and its backends.

``"rapidocr"`` (:class:`RapidOcrJerseyReader`) reads the back number with the text recogniser
that ships inside the ``rapidocr`` wheel; ``"none"`` (:class:`NoJerseyReader`) reads nothing.
Backends are built by name in :mod:`.builders`.

:func:`jersey_consensus` is the consistency rule that turns one tracklet's reads into its number.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from soccerfactory.curation.arrays import readonly
from soccerfactory.curation.attribute.crops import AthleteCrops, skin_mask
from soccerfactory.curation.pitch_colour import grass_near_hue, local_grass_hue
from soccerfactory.curation.types import GOALKEEPER, PLAYER
from soccerfactory.curation.vote import TrackVotes, vote_tracklets

__all__ = [
    "JerseyReader",
    "JerseyReads",
    "NoJerseyReader",
    "RapidOcrJerseyReader",
    "bundled_rapidocr_models",
    "jersey_consensus",
    "number_line",
    "number_region",
]


@dataclasses.dataclass(frozen=True, eq=False)
class JerseyReads:
    """Jersey number read on each crop.

    Attributes:
        number: ``int32`` ``(N,)``: ``1..99``, or ``-1`` when not legible / not read.
        confidence: ``float32`` ``(N,)`` in ``[0, 1]``; ``0`` where ``number`` is ``-1``.
        readers: ``int8`` ``(N,)`` how many independent readers read this number on the crop
            (``0`` where ``number`` is ``-1``); ``None`` (the default) means one reader for every
            read. :class:`~.jersey_digits.AgreeingJerseyReader` sets 2 where the digit network and
            the OCR read the same number, and :func:`jersey_consensus` may count such a read as
            that many agreeing reads.
    """

    number: np.ndarray
    confidence: np.ndarray
    readers: np.ndarray | None = None

    def __post_init__(self) -> None:
        number = np.asarray(self.number)
        if number.size == 0:
            number = number.reshape(0).astype(np.int32)
        if number.dtype.kind not in "iu" or number.ndim != 1:
            raise ValueError(f"JerseyReads.number must be a 1-D integer array, got {number.dtype} {number.shape}")
        number = number.astype(np.int32, copy=False)
        confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        if number.shape != confidence.shape:
            raise ValueError(
                f"JerseyReads.number and .confidence must be aligned, got {number.shape} and {confidence.shape}"
            )
        if ((number != -1) & ((number < 1) | (number > 99))).any():
            raise ValueError("JerseyReads.number must be -1 or in 1..99")
        if not np.isfinite(confidence).all() or ((confidence < 0) | (confidence > 1)).any():
            raise ValueError("JerseyReads.confidence must be finite and in [0, 1]")
        readers = (number > 0).astype(np.int8) if self.readers is None else np.asarray(self.readers).reshape(-1)
        if readers.shape != number.shape or readers.dtype.kind not in "iu":
            raise ValueError(f"JerseyReads.readers must be an integer array aligned with number, got {readers.dtype} {readers.shape}")
        if ((number > 0) & (readers < 1)).any() or ((number <= 0) & (readers != 0)).any():
            raise ValueError("JerseyReads.readers must be >= 1 where a number was read and 0 elsewhere")
        object.__setattr__(self, "number", readonly(number))
        object.__setattr__(self, "confidence", readonly(confidence))
        object.__setattr__(self, "readers", readonly(readers.astype(np.int8)))

    def __len__(self) -> int:
        return int(self.number.shape[0])

    @classmethod
    def unread(cls, n: int) -> JerseyReads:
        """``n`` rows of nothing read."""
        return cls(np.full(n, -1, np.int32), np.zeros(n, np.float32))


@runtime_checkable
class JerseyReader(Protocol):
    """Reads back numbers from athlete crops."""

    def read(self, crops: AthleteCrops) -> JerseyReads:
        """One read per crop, aligned with ``crops``."""
        ...


class NoJerseyReader:
    """Reads nothing: every crop gets ``-1`` (for users who want no OCR)."""

    def read(self, crops: AthleteCrops) -> JerseyReads:
        return JerseyReads.unread(len(crops))


def jersey_consensus(
    track_id: np.ndarray,
    number: np.ndarray,
    confidence: np.ndarray,
    min_confidence: float,
    min_reads: int,
    min_share: float,
    frame_index: np.ndarray | None = None,
    readers: np.ndarray | None = None,
    legible: np.ndarray | None = None,
) -> TrackVotes:
    """One number per tracklet, counted only when several reads in different frames agree.

    Reads (``number >= 1`` with ``confidence >= min_confidence``) vote with their confidence as
    weight (:func:`~soccerfactory.curation.vote.vote_tracklets`). The winner becomes the
    tracklet's number only when

    * at least ``min_reads`` reads agree with it, each from a different frame (with
      ``frame_index`` None, every row counts as its own frame: the attribute stage cuts one crop
      per tracklet and frame), where a read that ``readers`` independent readers made counts as
      that many agreeing reads (two different models naming one number on one crop is evidence
      of the same kind as one model naming it on two frames). Dev seeds 400-402 (3 fps crops,
      digits+rapidocr): 26 tracklets had exactly one read, all 26 right; of the 9 tracks
      whose legible number was not voted because it was read once, 7 had that read from both
      readers; counting them raised per-track coverage from 0.61 to 0.76 (37 of 49 tracks),
      precision 0.984 -> 0.986, GS-HOTA 51.1 -> 53.5 (rows of athletes never read: 1,328 -> 476),
      and on real crops (football-players) 3 of the 4 reads both readers agreed on were on
      hand-labelled backs, all right; the fourth, an unlabelled 80 px back, looks right too, and
    * its share of the read weight (``agreement``) is at least ``min_share``, and
    * no other number is itself confirmed (``min_reads`` agreeing reads, counted the same way):
      two confirmed numbers are two people on one tracklet (an identity switch) or a number
      misread again and again, and either way the tracklet's number is not known. Dev seed 400
      at 5 fps: a tracklet read #29 five times, then, after the tracker swapped it onto a team
      mate, #30 twice; the share rule alone gave it 29 while most of its rows were #30's.

    Otherwise the consensus is ``None`` (a single stray read, or reads that disagree, never
    become a number) while ``agreement`` and ``n_votes`` still describe the reads.

    Reads where ``legible`` is False (a number too small for a person to read:
    :func:`~.jersey_reading.legible_size`) never vote: the winner, its share and its
    ``min_reads`` come from the legible reads alone. They still count as rivals: a number they
    confirm (``min_reads`` of them, with the legible reads of that number) other than the winner
    refuses it, as a confirmed rival does (dev seed 400: a tracklet read #29 three times on 60 px
    boxes, then #30 on one 73 px crop after the tracker swapped it onto #30; without its small
    reads it became #30 over rows that were mostly #29's).

    Args:
        track_id: ``int64`` ``(N,)`` tracklet of each read; ``-1`` never votes.
        number: ``int`` ``(N,)`` read numbers, ``-1`` = not read.
        confidence: ``float32`` ``(N,)`` in ``[0, 1]``.
        min_confidence: reads below it do not vote.
        min_reads: agreeing reads (distinct frames) needed, ``>= 1``.
        min_share: share of the read weight the winner needs, in ``(0, 1]``.
        frame_index: optional ``int64`` ``(N,)`` frame of each read.
        readers: optional integer ``(N,)`` readers that made each read (:attr:`JerseyReads.readers`);
            None counts every read once.
        legible: optional ``bool`` ``(N,)``: the read's number was big enough to be read by a
            person; None: every read.

    Returns:
        :class:`~soccerfactory.curation.vote.TrackVotes` with ``None`` where the rule refuses.

    Raises:
        ValueError: on misaligned inputs or thresholds out of range.
    """
    if min_reads < 1 or not 0 < min_share <= 1 or not 0 <= min_confidence <= 1:
        raise ValueError(f"min_reads must be >= 1, min_share in (0, 1], min_confidence in [0, 1]; got "
                         f"{min_reads}, {min_share}, {min_confidence}")
    number = np.asarray(number)
    confidence = np.asarray(confidence, dtype=np.float32)
    if number.shape != confidence.shape or number.shape != np.shape(track_id):
        raise ValueError(f"track_id, number and confidence must be aligned, got {np.shape(track_id)}, {number.shape}, {confidence.shape}")
    read = (number >= 1) & (confidence >= min_confidence)
    seen = read.copy()  # every read, legible or not: what may speak against a number
    if legible is not None:
        legible = np.asarray(legible, dtype=bool).reshape(-1)
        if legible.shape != number.shape:
            raise ValueError(f"legible must be aligned with number, got shape {legible.shape}")
        read &= legible
    values = np.array([int(j) if ok else None for j, ok in zip(number, read)], dtype=object)
    votes = vote_tracklets(track_id, values, confidence, frame_index)
    tracks = np.asarray(track_id, dtype=np.int64)
    frames = np.arange(len(tracks)) if frame_index is None else np.asarray(frame_index, dtype=np.int64)
    if readers is None:
        count = np.ones(len(tracks), np.int64)
    else:
        count = np.asarray(readers).reshape(-1).astype(np.int64)
        if count.shape != number.shape or (count[seen] < 1).any():
            raise ValueError(f"readers must be aligned with number and >= 1 on every read, got shape {count.shape}")
    consensus = votes.consensus.copy()
    for k, (track, winner) in enumerate(zip(votes.track_ids, votes.consensus)):
        if winner is None:
            continue
        mine = read & (tracks == track)
        rivals = seen & (tracks == track) & (number != winner)
        confirmed = [j for j in np.unique(number[rivals]).tolist() if _agreeing_reads(frames, count, rivals & (number == j)) >= min_reads]
        if _agreeing_reads(frames, count, mine & (number == winner)) < min_reads or confirmed or votes.agreement[k] < min_share:
            consensus[k] = None
    return TrackVotes(votes.track_ids, consensus, votes.agreement, votes.n_votes)


def _agreeing_reads(frames: np.ndarray, count: np.ndarray, rows: np.ndarray) -> int:
    """Reads behind one number: per frame, the most readers that read it there, summed over frames."""
    per_frame: dict[int, int] = {}
    for frame, n in zip(frames[rows].tolist(), count[rows].tolist()):
        per_frame[frame] = max(per_frame.get(frame, 0), n)
    return sum(per_frame.values())


_NUMBER = re.compile(r"^[1-9][0-9]?$")


def bundled_rapidocr_models() -> dict[str, Path]:
    """Paths of the ONNX models inside the installed ``rapidocr`` wheel.

    Passing these explicitly is what keeps RapidOCR from ever downloading: it only fetches
    a model when no ``model_path`` is configured.

    Raises:
        FileNotFoundError: when the wheel lacks a model (a slimmed install); reinstall
            ``rapidocr`` from the pinned wheel (``make install``), which ships them.
    """
    import rapidocr

    root = Path(rapidocr.__file__).resolve().parent / "models"
    paths = {
        "det": root / "PP-OCRv6_det_small.onnx",
        "rec": root / "PP-OCRv6_rec_small.onnx",
        "cls": root / "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    }
    for path in paths.values():
        if not path.is_file():
            raise FileNotFoundError(
                f"RapidOCR model {path} is missing; reinstall the rapidocr wheel "
                "(pip install --force-reinstall 'rapidocr>=3.4,<4'), which ships its ONNX models"
            )
    return paths


class RapidOcrJerseyReader:
    """Back numbers with the PP-OCR recogniser bundled in ``rapidocr``.

    For each player or goalkeeper crop whose box is at least ``min_box_height`` pixels tall:

    1. :func:`number_region` cuts the band of the back that holds the number.
    2. The band is upscaled to the recogniser's 48-pixel line height and recognised (rec
       only), decoding the CTC output restricted to the ten digits, so that a number is
       never read as a look-alike letter or a Chinese character.
    3. The read is accepted when it is a 1- or 2-digit number 1..99 without a leading zero
       and its confidence (the lowest per-digit probability, taken from the full softmax so
       that mass on non-digit characters counts against it) is at least ``min_confidence``.

    ``use_det=True`` instead runs RapidOCR's own pipeline (text detector, then recogniser
    with its full character set) on the upscaled torso and keeps all-digit texts. It is
    kept for comparison only: on legible synthetic 720p crops of two clips it read 26-47 %
    of the numbers at about 55 ms per crop (precision 0.93-1.0), against 96-97 % at about
    15 ms for the default (precision 0.98-1.0).

    Referees, the ball and crops that are too small get ``-1`` without running the model.
    Models are always the ones inside the ``rapidocr`` wheel (:func:`bundled_rapidocr_models`):
    nothing is downloaded.

    Args:
        min_confidence: acceptance threshold on the confidence of a two-digit read.
        single_digit_confidence: the same for a one-digit read. Stricter, because a two-digit
            number that lost a digit reads as one digit, and shirt folds, stripes and blurred
            backs read as one digit on real footage. Measured on synthetic clips: one-digit
            reads in 0.8..0.95 were right about half the time, in 0.95..0.99 87 %, above 0.99
            97 %; on real football-players frames five of six one-digit reads in 0.95..0.99
            were wrong (two-digit reads above 0.8: five of six right).
        read_lone_one: accept the number 1 on its own. Off by default: on real frames
            (football-players) most confident one-digit reads were a lone "1" read from a
            fold, a stripe or an arm's edge of a white kit, and number 1 is the goalkeeper,
            whose back is rarely towards the main camera.
        min_box_height: skip boxes shorter than this (pixels): the number has too few pixels.
        min_number_height: skip crops whose line of digits is shorter than this fraction of the
            box (:func:`number_region`): they never reach the recogniser.
        min_number_px: ... or shorter than this many pixels (:func:`number_region`).
        ink_delta: Lab distance from the shirt colour above which a pixel counts as number ink.
        threads: onnxruntime intra-op threads (the machines share few cores).
        use_det: run RapidOCR's detector + recogniser on the torso instead.
    """

    _LINE_HEIGHT = 48  # the PP-OCR recogniser's input height
    _MIN_WIDTH = 160
    _BATCH = 8

    def __init__(
        self,
        min_confidence: float = 0.8,
        single_digit_confidence: float = 0.99,
        read_lone_one: bool = False,
        min_box_height: int = 40,
        min_number_height: float = 0.08,
        min_number_px: int = 8,
        ink_delta: float = 30.0,
        threads: int = 1,
        use_det: bool = False,
    ) -> None:
        for name, value in (("min_confidence", min_confidence), ("single_digit_confidence", single_digit_confidence)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.min_confidence = float(min_confidence)
        self.single_digit_confidence = float(single_digit_confidence)
        self.read_lone_one = bool(read_lone_one)
        self.min_box_height = int(min_box_height)
        if not 0 <= min_number_height < 1:
            raise ValueError(f"min_number_height must be in [0, 1), got {min_number_height}")
        self.min_number_height = float(min_number_height)
        self.min_number_px = int(min_number_px)
        self.ink_delta = float(ink_delta)
        self.threads = int(threads)
        self.use_det = bool(use_det)
        self.models = bundled_rapidocr_models()
        # Lazy: onnxruntime is only needed by this backend. Its telemetry switch must be set
        # before the library loads, or it resolves a Microsoft host name (see runtime.py).
        from soccerfactory.curation.runtime import configure_offline_onnxruntime

        configure_offline_onnxruntime()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(self.models["rec"]), options, providers=["CPUExecutionProvider"])
        meta = self._session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ValueError(f"{self.models['rec']} carries no character table; it is not a PP-OCR recogniser")
        # CTC classes: blank first, then the model's characters, then a space (PP-OCR's layout).
        characters = ["<blank>", *meta["character"].splitlines(), " "]
        self._digit_class = np.array([characters.index(str(d)) for d in range(10)])
        self._input = self._session.get_inputs()[0].name
        self._pipeline = None
        if self.use_det:
            from rapidocr import RapidOCR

            self._pipeline = RapidOCR(
                params={
                    "Det.model_path": str(self.models["det"]),
                    "Rec.model_path": str(self.models["rec"]),
                    "Cls.model_path": str(self.models["cls"]),
                    "Global.use_cls": False,
                    "Global.log_level": "error",
                    "Det.limit_type": "max",
                    "Det.limit_side_len": 320,
                    "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                }
            )

    # ----------------------------------------------------------------- public

    def read(self, crops: AthleteCrops) -> JerseyReads:
        """Read the number of every player and goalkeeper crop; see the class docstring."""
        n = len(crops)
        number = np.full(n, -1, np.int32)
        confidence = np.zeros(n, np.float32)
        eligible = [
            i
            for i in range(n)
            if crops.class_id[i] in (PLAYER, GOALKEEPER)
            and crops.boxes[i][3] - crops.boxes[i][1] >= self.min_box_height
        ]
        if self._pipeline is not None:
            rows = eligible
            reads = self._read_pipeline([_torso(crops.images[i], crops.boxes[i]) for i in rows])
        else:
            rows, regions = [], []
            for i in eligible:
                region = number_region(
                    crops.images[i], crops.masks[i], crops.boxes[i], self.ink_delta, self.min_number_height, self.min_number_px
                )
                if region is not None:
                    rows.append(i)
                    regions.append(region)
            reads = self._recognise(regions)
        for i, (text, score) in zip(rows, reads):
            threshold = self.single_digit_confidence if len(text) == 1 else self.min_confidence
            if text == "1" and not self.read_lone_one:
                continue
            if _NUMBER.match(text) and score >= threshold:
                number[i] = int(text)
                confidence[i] = score
        return JerseyReads(number, confidence)

    # ----------------------------------------------------------------- internals

    def _recognise(self, images: list[np.ndarray]) -> list[tuple[str, float]]:
        """Digits-only reads of text-line images, batched by similar width."""
        height = self._LINE_HEIGHT
        widths = [max(int(math.ceil(height * im.shape[1] / im.shape[0])), 8) for im in images]
        reads: list[tuple[str, float]] = [("", 0.0)] * len(images)
        order = np.argsort(widths, kind="stable")
        for start in range(0, len(order), self._BATCH):
            chunk = order[start : start + self._BATCH]
            # Padded to a minimum width as PP-OCR pads its lines: the CTC needs enough time
            # steps (width / 8) to put a blank between two equal digits ("11").
            batch = np.zeros((len(chunk), 3, height, max(self._MIN_WIDTH, max(widths[k] for k in chunk))), np.float32)
            for slot, k in enumerate(chunk):
                resized = cv2.resize(images[k], (widths[k], height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
                batch[slot, :, :, : widths[k]] = resized.transpose(2, 0, 1) / 127.5 - 1.0
            probs = self._session.run(None, {self._input: batch})[0]  # (B, T, classes), softmax
            for slot, k in enumerate(chunk):
                reads[k] = self._decode_digits(probs[slot])
        return reads

    def _decode_digits(self, probs: np.ndarray) -> tuple[str, float]:
        allowed = probs[:, np.concatenate(([0], self._digit_class))]
        best = allowed.argmax(axis=1)
        text, scores, previous = [], [], 0
        for k, p in zip(best, allowed.max(axis=1)):
            if k != 0 and k != previous:
                text.append(str(k - 1))
                scores.append(float(p))
            elif k != 0:
                scores[-1] = max(scores[-1], float(p))
            previous = k
        return "".join(text), (min(scores) if scores else 0.0)

    def _read_pipeline(self, images: list[np.ndarray]) -> list[tuple[str, float]]:
        """RapidOCR's own detector + recogniser; the most confident all-digit text wins."""
        reads = []
        for image in images:
            out = self._pipeline(image, use_det=True, use_cls=False, use_rec=True)
            found = [
                (t.strip(), float(s))
                for t, s in zip(getattr(out, "txts", None) or (), getattr(out, "scores", None) or ())
            ]
            found = [(t, s) for t, s in found if t.isdigit()]
            reads.append(max(found, key=lambda r: r[1], default=("", 0.0)))
        return reads


def _torso(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Upper body of the athlete (15 %..60 % of the box height), upscaled to >= 96 px tall."""
    x1, y1, x2, y2 = (float(v) for v in box)
    bh = y2 - y1
    r0, r1 = int(round(y1 + 0.15 * bh)), max(int(round(y1 + 0.6 * bh)), int(round(y1 + 0.15 * bh)) + 1)
    torso = image[r0:r1, int(round(x1)) : max(int(round(x2)), int(round(x1)) + 1)]
    scale = max(1.0, 96.0 / torso.shape[0])
    torso = cv2.resize(torso, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return cv2.copyMakeBorder(torso, 16, 16, 16, 16, cv2.BORDER_REPLICATE)


def number_region(
    image: np.ndarray,
    mask: np.ndarray | None,
    box: np.ndarray,
    ink_delta: float = 30.0,
    min_number_height: float = 0.08,
    min_number_px: int = 8,
) -> np.ndarray | None:
    """The band of the back where the number is, ready for a text recogniser.

    The rows are found from the number itself: pixels that differ from the shirt's colour
    (Lab distance above ``ink_delta``), are neither grass nor skin, and form digit-sized
    blobs near the middle of the back; the rows of the blobs on one line, with a margin.
    The columns are not localised: the band keeps the middle 80 % of the box width, since
    a thin, anti-aliased "1" beside another digit is easily lost as a blob and cutting the
    band at the found blobs then drops a digit (measured: precision 0.86 with blob columns
    against 0.98 with the fixed band on synthetic clips).

    Args:
        image: ``uint8`` BGR crop.
        mask: ``bool`` foreground mask of the crop, or ``None``.
        box: ``xyxy`` of the athlete in crop pixels.
        ink_delta: Lab distance from the shirt colour above which a pixel is number ink.
        min_number_height: fewest rows of the line of digits, as a fraction of the box height.
            A back number is 25-35 cm on a 1.7-1.9 m athlete (0.13-0.2 of the box); shorter
            lines are folds, stripes, logos and small crests, or a number too small to read.
            Measured on every tracked 720p crop of dev seeds 400-401 (25 fps): lines under 0.08 of
            the box were 12 % of the bands found and gave 2 % of the accepted reads. Not higher:
            a real 1080p back (football-players 798b45_1_2, #10) has a line of 0.096 of its box.
        min_number_px: fewest rows of the line of digits, in pixels. A person does not read a
            smaller number, so it is no label (the synthetic truth calls a number legible from 8
            px; real 1080p broadcast numbers are 12-18 px, 60 on close-ups). On the same crops
            the recogniser read lines of 5-8 px right 98 % of the time, but 97 % of them were on
            athletes whose number nobody could read on any frame: a number there is a wrong
            label for the game-state truth, and a third of the recogniser's work.

    Returns:
        ``uint8`` BGR image of the band with a small replicated border, or ``None`` when the
        box is too small or no digit-like blob (or none tall enough) is found.
    """
    line = number_line(image, mask, box, ink_delta)
    if line is None:
        return None
    ys0, ys1, torso = line
    bh = float(box[3]) - float(box[1])
    if ys1 - ys0 < max(min_number_height * bh, min_number_px):
        return None
    th = torso.shape[0]
    pad = max(1, round(0.2 * (ys1 - ys0)))
    band = torso[max(ys0 - pad, 0) : min(ys1 + pad, th)]
    # Recognisers expect a margin around a text line.
    border = max(2, band.shape[0] // 3)
    return cv2.copyMakeBorder(band, border, border, border, border, cv2.BORDER_REPLICATE)


def number_line(
    image: np.ndarray, mask: np.ndarray | None, box: np.ndarray, ink_delta: float = 30.0
) -> tuple[int, int, np.ndarray] | None:
    """Where the line of digits is on the back: the rows of the number's blobs (see :func:`number_region`).

    Args:
        image: ``uint8`` BGR crop.
        mask: ``bool`` foreground mask of the crop, or ``None``.
        box: ``xyxy`` of the athlete in crop pixels.
        ink_delta: Lab distance from the shirt colour above which a pixel is number ink.

    Returns:
        ``(top, bottom, torso)``: the first and one-past-last row of the line of digits in
        ``torso``, the ``uint8`` BGR band of the back it was found in (middle 80 % of the box
        width, 17 %..52 % of its height), or ``None`` when no digit-like blob is found.
        ``bottom - top`` is the number's height in pixels.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = x2 - x1, y2 - y1
    # The shirt spans about 18 %..50 % of a standing athlete's height from the top of the box.
    r0, r1 = int(round(y1 + 0.17 * bh)), int(round(y1 + 0.52 * bh))
    c0, c1 = int(round(x1 + 0.1 * bw)), int(round(x2 - 0.1 * bw))
    torso = image[r0:r1, c0:c1]
    if torso.shape[0] < 6 or torso.shape[1] < 4:
        return None
    th, tw = torso.shape[:2]
    body = ~grass_near_hue(cv2.cvtColor(torso, cv2.COLOR_BGR2HSV), local_grass_hue(image, box))
    if mask is not None:
        body &= mask[r0:r1, c0:c1]
    lab = cv2.cvtColor(torso.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    centre = body.copy()
    centre[:, : int(0.15 * tw)] = False
    centre[:, int(np.ceil(0.85 * tw)) :] = False
    if centre.sum() < 4:
        return None
    shirt = np.median(lab[centre], axis=0)
    # Arms and neck differ from the shirt as much as the number does and touch it; skin is
    # left out so that they do not merge with the digits into one blob.
    ink = body & (np.linalg.norm(lab - shirt, axis=2) > ink_delta) & ~skin_mask(torso)
    _, _, stats, centroids = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    keep = [
        k
        for k in range(1, len(stats))
        # A digit: a fair share of the torso height, not a speck, around the middle of the back.
        if 0.15 * th <= stats[k][3] <= 0.9 * th and stats[k][4] >= 3 and 0.1 * tw <= centroids[k][0] <= 0.9 * tw
    ]
    if not keep:
        return None
    # One line of digits: the blobs that overlap the tallest blob vertically.
    tallest = max(keep, key=lambda k: stats[k][3])
    top, tall = stats[tallest][1], stats[tallest][3]
    line = [
        k
        for k in keep
        if min(top + tall, stats[k][1] + stats[k][3]) - max(top, stats[k][1]) > 0.5 * min(tall, stats[k][3])
    ]
    ys0 = min(stats[k][1] for k in line)
    ys1 = max(stats[k][1] + stats[k][3] for k in line)
    return int(ys0), int(ys1), torso
