"""Labelled jersey patches for :mod:`.jersey_digits`: renderer crops and numbers drawn with real fonts.

Two sources, both deterministic given their seeds, both cut to the network's input by
:func:`~soccerfactory.curation.attribute.jersey_digits.number_patch` exactly as the reader does:

* :func:`render_patches`: athletes of clips rendered by :func:`~soccerfactory.curation.synth.render_clip`
  (the broadcast preset: main, zoomed and close-up shots, staff off the pitch), cut from the decoded
  video around their true box (jittered like a detector's). The label is the renderer's own:
  the number where ``jersey_legible`` is true, "not legible" elsewhere (backs turned away, numbers
  under 8 px, smeared or hidden, referees and staff).
* :func:`font_patch`: one athlete drawn from scratch: kit colours (plain, stripes, hoops), shading
  and folds, a back number in one of the fonts found on the machine (TrueType through Pillow, and
  OpenCV's Hershey fonts, which the renderer uses), sometimes outlined or under a name, seen
  obliquely, shrunk to 32-360 px tall, blurred by motion, compressed as JPEG, partly hidden by
  another player; and "no number" athletes (front views, side views, numbers too small, smeared
  or hidden). Borderline cases (a number 6-8 px tall, a back seen nearly side-on) are not drawn:
  a wrong label teaches more harm than a missing one.

Fonts are only needed here, at training time; the weights ship, the fonts do not.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from soccerfactory.curation.attribute.jersey_digits import PATCH_SIZE, number_patch
from soccerfactory.curation.video.decode import frames_at

__all__ = ["REAL_TRAIN_LABELS", "REAL_VALID_LABELS", "PatchSet", "find_fonts", "font_patch", "font_patches", "montage", "real_patches", "render_patches"]

_HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX)
#: Bold, block-like faces first: shirt numbers are heavy sans faces.
_FONT_PATTERNS = (
    "DejaVuSans-Bold.ttf", "DejaVuSansCondensed-Bold.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif-Bold.ttf",
    "DejaVuSerifCondensed-Bold.ttf", "DejaVuSans.ttf", "DejaVuSansCondensed.ttf", "DejaVuSans-BoldOblique.ttf",
    "STIXGeneralBol.ttf", "cmss10.ttf", "cmb10.ttf", "cmr10.ttf", "DejaVuSansMono.ttf", "LiberationSans-Bold.ttf",
    "FreeSansBold.ttf", "Ubuntu-B.ttf", "Roboto-Bold.ttf",
)


#: Honest labels of real crops of the football-players ``train`` split (see the file's description).
REAL_TRAIN_LABELS = Path(__file__).with_name("jersey_real_train.json")
#: ... and of its ``valid`` split: a check set, never trained on.
REAL_VALID_LABELS = Path(__file__).with_name("jersey_real_valid.json")


@dataclass(frozen=True, eq=False)
class PatchSet:
    """Labelled network inputs.

    Attributes:
        patches: ``uint8`` ``(N, H, W, 3)`` BGR (:data:`PATCH_SIZE`).
        legible: ``bool`` ``(N,)`` a back number is legible on the patch.
        number: ``int32`` ``(N,)`` ``1..99`` where legible, else ``-1``.
        source: ``str`` name of the source (``"render"``, ``"font"``, ...).
    """

    patches: np.ndarray
    legible: np.ndarray
    number: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.patches.shape[0])

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, patches=self.patches, legible=self.legible, number=self.number, source=np.array(self.source))

    @classmethod
    def load(cls, path: str | Path) -> PatchSet:
        with np.load(path) as data:
            return cls(data["patches"], data["legible"].astype(bool), data["number"].astype(np.int32), str(data["source"]))

    @classmethod
    def concat(cls, parts: Sequence[PatchSet], source: str) -> PatchSet:
        return cls(
            np.concatenate([p.patches for p in parts]), np.concatenate([p.legible for p in parts]),
            np.concatenate([p.number for p in parts]), source,
        )


def find_fonts() -> list[str]:
    """TrueType faces on this machine (system fonts and matplotlib's), bold block faces first."""
    roots = ["/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.fonts")]
    try:
        import matplotlib

        roots.append(os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf"))
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass
    found: dict[str, str] = {}
    for root in roots:
        for path in sorted(glob.glob(os.path.join(root, "**", "*.ttf"), recursive=True)):
            found.setdefault(os.path.basename(path), path)
    return [found[name] for name in _FONT_PATTERNS if name in found]


# --------------------------------------------------------------------------- renderer crops


def render_patches(
    seeds: Sequence[int], seconds: float, work: str | Path, fps: float = 5.0, min_box_height: int = 32,
    negatives_per_positive: float = 1.5, jitter: float = 0.06, progress: Callable[[str], None] = print,
) -> PatchSet:
    """Patches of the athletes of rendered broadcast clips, labelled by the renderer's truth.

    Rendered at ``fps`` (5: consecutive crops at 25 fps are near copies) without the renderer's
    pan blur, whose smear grows with the frame interval; :func:`font_patch` adds motion blur.
    Every legible crop is kept; the others are subsampled to ``negatives_per_positive`` times as
    many (per clip), preferring large boxes (a small crop that shows no number is easy).

    Args:
        seeds: renderer seeds (training: 100-199 or 410-499; never the held-out 301-305).
        seconds: length of each clip.
        work: folder for the renders (``work/seed-N``); a finished render is reused.
        fps: render rate.
        min_box_height: skip athletes whose true box is shorter (pixels).
        negatives_per_positive: illegible crops kept per legible one.
        jitter: box jitter (fraction of width/height per side), as a detector's box differs.
    """
    import pandas as pd

    from soccerfactory.curation.quality.clips import BROADCAST_SYNTH
    from soccerfactory.curation.synth import SynthConfig, render_clip

    parts = []
    for seed in seeds:
        preset = {**BROADCAST_SYNTH, "motion_blur": False}
        config = SynthConfig(seconds=seconds, fps=fps, seed=int(seed), width=1280, height=720, **preset)
        clip_dir = Path(work) / f"seed-{seed}"
        if not (clip_dir / "clip.json").is_file():
            render_clip(config, clip_dir)
        athletes = pd.read_parquet(clip_dir / "gt" / "athletes.parquet")
        athletes = athletes[(athletes.y2 - athletes.y1) >= min_box_height]
        rng = np.random.default_rng([int(seed), 7])
        legible = athletes.jersey_legible.to_numpy(bool) & athletes.jersey.notna().to_numpy()
        # A box cut by the frame edge may show part of a legible number ("7" of 27): not a label.
        cut = ((athletes.x1 <= 1) | (athletes.y1 <= 1) | (athletes.x2 >= 1279) | (athletes.y2 >= 719)).to_numpy(bool)
        athletes, legible = athletes[~(cut & legible)], legible[~(cut & legible)]
        positives = np.flatnonzero(legible)
        negatives = np.flatnonzero(~legible)
        n_neg = min(len(negatives), int(round(negatives_per_positive * max(len(positives), 4))))
        weights = (athletes.y2 - athletes.y1).to_numpy(float)[negatives]
        if n_neg and len(negatives):
            negatives = np.sort(rng.choice(negatives, n_neg, replace=False, p=weights / weights.sum()))
        keep = np.sort(np.concatenate([positives, negatives]))
        rows = athletes.iloc[keep]
        wanted: dict[int, list[int]] = {}
        for position, frame in enumerate(rows.frame_index.to_numpy(int)):
            wanted.setdefault(frame, []).append(position)
        patches = np.zeros((len(rows), *PATCH_SIZE, 3), np.uint8)
        boxes = rows[["x1", "y1", "x2", "y2"]].to_numpy(float)
        for frame_index, frame in frames_at(clip_dir / "video.mp4", wanted):
            for position in wanted[frame_index]:
                x1, y1, x2, y2 = boxes[position]
                w, h = x2 - x1, y2 - y1
                d = rng.uniform(-jitter, jitter, 4) * np.array([w, h, w, h])
                patches[position] = number_patch(frame, (x1 + d[0], y1 + d[1], x2 + d[2], y2 + d[3]))
        number = np.where(legible[keep], rows.jersey.fillna(-1).to_numpy(float), -1).astype(np.int32)
        parts.append(PatchSet(patches, legible[keep], number, "render"))
        progress(f"render seed {seed}: {int(legible[keep].sum())} legible + {int((~legible[keep]).sum())} not")
    return PatchSet.concat(parts, "render")


def real_patches(labels: str | Path, images_dir: str | Path, copies: int = 1, jitter: float = 0.0, seed: int = 0) -> PatchSet:
    """Patches of hand-labelled real crops (a labels file such as :data:`REAL_TRAIN_LABELS`).

    The football-players frames were published stretched to 1280x1280; they are resized back to
    1920x1080, the frame the labelled boxes are in.

    Args:
        labels: JSON with ``crops``: ``image`` (file name in ``images_dir``), ``box`` (``xyxy``,
            1080p pixels) and ``number`` (``null`` = no legible number).
        images_dir: the split's ``images`` folder.
        copies: patches per crop, each with its own box jitter (oversampling for training).
        jitter: box jitter, as a fraction of width/height per side (0 = the labelled box).
        seed: of the jitter.
    """
    rows = json.loads(Path(labels).read_text())["crops"]
    rng = np.random.default_rng(seed)
    frames: dict[str, np.ndarray] = {}
    patches, legible, number = [], [], []
    for row in rows:
        if row["image"] not in frames:
            raw = cv2.imread(str(Path(images_dir) / row["image"]))
            if raw is None:
                raise FileNotFoundError(f"{Path(images_dir) / row['image']} is missing (labels {labels})")
            frames[row["image"]] = cv2.resize(raw, (1920, 1080), interpolation=cv2.INTER_AREA)
        box = np.asarray(row["box"], float)
        size = np.array([box[2] - box[0], box[3] - box[1]] * 2)
        for _ in range(copies):
            patches.append(number_patch(frames[row["image"]], box + rng.uniform(-jitter, jitter, 4) * size))
            legible.append(row["number"] is not None)
            number.append(-1 if row["number"] is None else int(row["number"]))
    return PatchSet(np.stack(patches), np.array(legible, bool), np.array(number, np.int32), "real")


# --------------------------------------------------------------------------- drawn athletes

_CANVAS = (240, 150)  # design canvas (height, width); the athlete is 200 px tall in it
_BODY = 200.0


class _Fonts:
    """Digit masks in each font, rendered once at a large size and resized per use."""

    def __init__(self, paths: Sequence[str]) -> None:
        from PIL import ImageFont

        self.faces = [ImageFont.truetype(p, 96) for p in paths]
        self.paths = list(paths)

    def count(self) -> int:
        return len(self.faces) + len(_HERSHEY)

    def mask(self, text: str, face: int, stroke: int) -> np.ndarray:
        """``uint8`` mask (0/255) of ``text`` cut to its ink."""
        if face < len(self.faces):
            from PIL import Image, ImageDraw

            image = Image.new("L", (100 * len(text) + 80, 180), 0)
            ImageDraw.Draw(image).text((30, 20), text, font=self.faces[face], fill=255, stroke_width=stroke, stroke_fill=255)
            mask = np.asarray(image)
        else:
            font = _HERSHEY[face - len(self.faces)]
            mask = np.zeros((160, 110 * len(text) + 60), np.uint8)
            cv2.putText(mask, text, (20, 125), font, 3.2, 255, 8 + 3 * stroke, cv2.LINE_AA)
        ys, xs = np.nonzero(mask > 40)
        return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A kit colour (BGR): often white, black or a saturated club colour."""
    kind = rng.random()
    if kind < 0.2:
        return np.full(3, rng.uniform(215, 255))
    if kind < 0.35:
        return np.full(3, rng.uniform(10, 50))
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(80, 256), rng.integers(60, 256)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(float)


def _lightness(bgr: np.ndarray) -> float:
    return float(cv2.cvtColor(np.uint8([[np.clip(bgr, 0, 255)]]), cv2.COLOR_BGR2Lab)[0, 0, 0]) * 100 / 255


def _ink(rng: np.random.Generator, shirt: np.ndarray) -> np.ndarray:
    """A number colour that stands out from ``shirt`` (lightness apart, or a strong hue apart)."""
    for _ in range(20):
        pick = rng.random()
        ink = np.full(3, 245.0) if pick < 0.35 else np.full(3, 20.0) if pick < 0.6 else _colour(rng)
        if abs(_lightness(ink) - _lightness(shirt)) >= 28 or np.linalg.norm(ink - shirt) >= 170:
            return ink
    return np.full(3, 245.0) if _lightness(shirt) < 50 else np.full(3, 20.0)


def _background(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    hsv = np.zeros((h, w, 3), np.uint8)
    hsv[..., 0] = rng.integers(32, 60)
    hsv[..., 1] = rng.integers(70, 200)
    hsv[..., 2] = rng.integers(60, 190)
    image = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).astype(np.float32)
    period = rng.uniform(30, 120)
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = ((xx * np.cos(angle) + yy * np.sin(angle)) // period) % 2
    image *= (1 + rng.uniform(0.04, 0.15) * (stripes[..., None] - 0.5)).astype(np.float32)
    if rng.random() < 0.3:  # a painted line
        y = rng.integers(0, h)
        cv2.line(image, (0, int(y)), (w, int(y + rng.integers(-40, 40))), (235, 235, 235), int(rng.integers(2, 6)))
    if rng.random() < 0.2:  # advertising boards or the stand behind
        top = int(rng.integers(10, 80))
        image[:top] = rng.uniform(20, 255, 3)
    return image


def _shading(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Multiplicative light over the athlete: a smooth gradient plus fabric folds."""
    h, w = shape
    low = rng.uniform(1 - rng.uniform(0.05, 0.35), 1.05, (4, 3)).astype(np.float32)
    light = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    folds = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(0, 6))):
        x0, y0 = rng.uniform(0, w), rng.uniform(0.15 * h, 0.6 * h)
        angle = rng.uniform(-1.2, 1.2)
        length = rng.uniform(15, 60)
        x1, y1 = x0 + length * np.sin(angle), y0 + length * np.cos(angle)
        cv2.line(folds, (int(x0), int(y0)), (int(x1), int(y1)), float(rng.uniform(0.1, 0.35)), int(rng.integers(2, 7)))
    folds = cv2.GaussianBlur(folds, (0, 0), 2.5)
    return np.clip(light - folds, 0.3, 1.2)


def _quad(image: np.ndarray, points: list[tuple[float, float]], colour: np.ndarray) -> None:
    cv2.fillPoly(image, [np.round(np.asarray(points) * 4).astype(np.int32)], colour.tolist(), cv2.LINE_AA, shift=2)


def font_patch(rng: np.random.Generator, fonts: _Fonts, legible_share: float = 0.55) -> tuple[np.ndarray, bool, int] | None:
    """One drawn athlete's patch and its label, or ``None`` for a borderline case (not used).

    Returns:
        ``(patch, legible, number)``: ``uint8`` BGR patch, whether the back number is legible,
        the number (``-1`` when not legible).
    """
    H, W = _CANVAS
    image = _background(rng, (H, W))
    cx = W / 2 + rng.uniform(-8, 8)
    top = 20 + rng.uniform(-6, 6)
    shirt, shorts, socks = _colour(rng), _colour(rng), _colour(rng)
    skin = np.array([rng.uniform(40, 200)] * 3) * np.array([0.75, 0.85, 1.0])
    # What the camera sees of the back: 1 = straight on, 0 = side on; a front view shows no number.
    want_legible = rng.random() < legible_share
    view = rng.choice(["back", "front", "side"], p=[0.7, 0.2, 0.1]) if not want_legible else "back"
    facing = rng.uniform(0.62, 1.0) if view == "back" else rng.uniform(0.15, 0.4) if view == "side" else rng.uniform(0.5, 1.0)
    half = _BODY * rng.uniform(0.12, 0.155) * max(facing, 0.55)
    shoulder_y, waist_y, hip_y = top + 0.17 * _BODY, top + 0.5 * _BODY, top + 0.63 * _BODY
    # Legs, shorts, arms, torso, head (back to front).
    stride = rng.uniform(0, 25)
    for sign in (-1, 1):
        knee = (cx + sign * rng.uniform(4, 10 + stride), top + 0.8 * _BODY)
        foot = (cx + sign * rng.uniform(2, 8 + stride), top + _BODY)
        _quad(image, [(cx + sign * 2, hip_y), (cx + sign * half * 0.9, hip_y), (knee[0] + 6, knee[1]), (knee[0] - 6, knee[1])], skin)
        _quad(image, [(knee[0] - 6, knee[1]), (knee[0] + 6, knee[1]), (foot[0] + 5, foot[1]), (foot[0] - 5, foot[1])], socks)
    _quad(image, [(cx - half, waist_y - 4), (cx + half, waist_y - 4), (cx + half * 1.05, hip_y), (cx - half * 1.05, hip_y)], shorts)
    arm_colour = shirt if rng.random() < 0.4 else skin
    for sign in (-1, 1):
        out = rng.uniform(-0.2, 0.9)
        sx, sy = cx + sign * half, shoulder_y + 4
        ex, ey = sx + sign * 60 * np.sin(out), sy + 60 * np.cos(out)
        _quad(image, [(sx - 7, sy), (sx + 7, sy), (ex + 5, ey), (ex - 5, ey)], arm_colour)
        _quad(image, [(sx - 8, sy - 2), (sx + 8, sy - 2), (sx + sign * 14 * np.sin(out) + 7, sy + 20), (sx + sign * 14 * np.sin(out) - 7, sy + 20)], shirt)
    torso = [(cx - half, shoulder_y), (cx + half, shoulder_y), (cx + half * 0.88, waist_y), (cx - half * 0.88, waist_y)]
    _quad(image, torso, shirt)
    # Kit patterns: vertical stripes or hoops in a second colour.
    pattern = rng.random()
    if pattern < 0.25:
        second = _colour(rng)
        mask = np.zeros((H, W), np.uint8)
        _quad(mask, torso, np.array([255.0]))
        period = rng.uniform(8, 20)
        xx = np.arange(W)[None, :] if pattern < 0.15 else np.arange(H)[:, None]
        band = (((xx - cx) // period) % 2 == 1) & (mask > 0)
        image[band] = second
    neck_y = shoulder_y - 6
    cv2.circle(image, (int(cx * 4), int((top + 0.07 * _BODY) * 4)), int(0.065 * _BODY * 4), skin.tolist(), -1, cv2.LINE_AA, shift=2)
    if view == "back" or rng.random() < 0.5:  # hair
        cv2.ellipse(image, (int(cx * 4), int((top + 0.06 * _BODY) * 4)), (int(0.066 * _BODY * 4), int(0.05 * _BODY * 4)), 0, 180, 360,
                    np.full(3, rng.uniform(10, 120)).tolist(), -1, cv2.LINE_AA, shift=2)
    _quad(image, [(cx - 6, neck_y - 8), (cx + 6, neck_y - 8), (cx + 7, neck_y + 4), (cx - 7, neck_y + 4)], skin)
    number = int(rng.integers(1, 100)) if rng.random() < 0.75 else int(rng.integers(1, 10))
    number_h = _BODY * rng.uniform(0.12, 0.19)
    occluded = 0.0
    ink = _ink(rng, shirt)
    if view == "back" or (view == "side" and rng.random() < 0.7):
        face = int(rng.integers(0, fonts.count()))
        mask = fonts.mask(str(number), face, int(rng.integers(0, 3)))
        aspect = mask.shape[1] / mask.shape[0] * rng.uniform(0.75, 1.2)
        nw = min(number_h * aspect, 2 * half * 0.95)
        glyph = cv2.resize(mask, (max(int(nw), 2), max(int(number_h), 2)), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        ncy = top + _BODY * rng.uniform(0.29, 0.35)
        # Oblique view, lean and shirt curvature: a squeeze, a rotation and a shear of the number.
        squeeze = facing * rng.uniform(0.9, 1.05)
        angle = rng.uniform(-10, 10) * np.pi / 180
        shear = rng.uniform(-0.15, 0.15)
        gh, gw = glyph.shape
        a = np.array([[squeeze * np.cos(angle), -np.sin(angle) + shear, 0], [squeeze * np.sin(angle), np.cos(angle), 0]])
        a[:, 2] = np.array([cx, ncy]) - a[:, :2] @ np.array([gw / 2, gh / 2])
        layer = cv2.warpAffine(glyph, a, (W, H), flags=cv2.INTER_LINEAR)
        if rng.random() < 0.25:  # outlined numbers
            edge = cv2.dilate(layer, np.ones((5, 5), np.uint8)) - layer
            image = image * (1 - edge[..., None]) + _ink(rng, ink)[None, None] * edge[..., None]
        image = image * (1 - layer[..., None]) + ink[None, None] * layer[..., None]
        if rng.random() < 0.3:  # a name above the number
            name = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(3, 9))))
            text = np.zeros((H, W), np.uint8)
            scale = number_h * rng.uniform(0.2, 0.3) / 22
            size = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0]
            cv2.putText(text, name, (int(cx - size[0] / 2), int(ncy - number_h / 2 - 4)), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 1, cv2.LINE_AA)
            t = text[..., None].astype(np.float32) / 255
            image = image * (1 - t) + ink * t
        ink_area = float(layer.sum())
        if rng.random() < 0.2:  # another player or the arm in front of part of the number
            ox = cx + rng.uniform(-1.5, 1.5) * nw
            ow = rng.uniform(0.2, 0.8) * nw
            block = np.zeros((H, W), np.float32)
            cv2.ellipse(block, (int(ox), int(ncy + rng.uniform(-20, 20))), (int(ow), int(rng.uniform(30, 80))), 0, 0, 360, 1.0, -1)
            occluded = float((layer * block).sum()) / max(ink_area, 1e-6)
            image = image * (1 - block[..., None]) + (_colour(rng) if rng.random() < 0.6 else skin)[None, None] * block[..., None]
    elif view == "front" and rng.random() < 0.7:  # crest and sponsor on the chest
        cv2.circle(image, (int(cx + half * 0.45), int(shoulder_y + 18)), int(rng.uniform(3, 7)), _ink(rng, shirt).tolist(), -1, cv2.LINE_AA)
        sponsor = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(3, 8))))
        cv2.putText(image, sponsor, (int(cx - half * 0.8), int(shoulder_y + 45)), int(rng.choice(_HERSHEY)), half * 1.6 / (25 * len(sponsor)),
                    _ink(rng, shirt).tolist(), int(rng.integers(1, 3)), cv2.LINE_AA)
    image = image * _shading(rng, (H, W))[..., None]
    # Scale to the final size, then the camera: motion blur, optics, noise, compression.
    box_h = float(np.exp(rng.uniform(np.log(32), np.log(360))))
    scale = box_h / _BODY
    out = cv2.resize(np.clip(image, 0, 255).astype(np.uint8), (max(int(W * scale), 4), max(int(H * scale), 4)),
                     interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    digit_px = number_h * scale
    smear = int(rng.integers(0, 3)) if rng.random() < 0.6 else int(rng.integers(2, max(3, int(0.1 * box_h) + 3)))
    if smear >= 2:
        kernel = np.zeros((smear, smear), np.float32)
        kernel[smear // 2] = 1.0 / smear
        rot = cv2.getRotationMatrix2D((smear / 2 - 0.5, smear / 2 - 0.5), float(rng.uniform(-20, 20)), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (smear, smear))
        out = cv2.filter2D(out, -1, kernel / max(kernel.sum(), 1e-6))
    sigma = rng.uniform(0, 1.2)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if rng.random() < 0.3:  # a softer source upscaled (SD feeds, digital zoom)
        f = rng.uniform(0.5, 0.8)
        small = cv2.resize(out, (max(int(out.shape[1] * f), 2), max(int(out.shape[0] * f), 2)), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_LINEAR)
    out = np.clip(out.astype(np.float32) + rng.normal(0, rng.uniform(0, 6), out.shape), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 96))])
    out = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    # Label: legible when seen from behind, big enough, sharp enough and not hidden.
    blur_px = max(smear, 2.5 * sigma)
    if view != "back":
        legible = False
    else:
        sure = digit_px >= 9 and blur_px <= 0.4 * digit_px and occluded <= 0.1 and facing >= 0.7
        unsure = digit_px < 6.5 or blur_px > 0.6 * digit_px or occluded > 0.3 or facing < 0.62
        if not sure and not unsure:
            return None  # borderline: no label is better than a wrong one
        legible = sure
    # The detector's box: the drawn athlete's extent, jittered.
    box = np.array([cx - half - 12, top - 1, cx + half + 12, top + _BODY + 1]) * scale
    d = rng.uniform(-0.06, 0.06, 4) * np.array([box[2] - box[0], box[3] - box[1]] * 2)
    return number_patch(out, box + d), bool(legible), number if legible else -1


def font_patches(count: int, seed: int, fonts: Sequence[str] | None = None, legible_share: float = 0.55) -> PatchSet:
    """``count`` drawn athletes (:func:`font_patch`), deterministic given ``seed``."""
    table = _Fonts(find_fonts() if fonts is None else fonts)
    rng = np.random.default_rng(seed)
    patches, legible, number = [], [], []
    while len(patches) < count:
        sample = font_patch(rng, table, legible_share)
        if sample is None:
            continue
        patches.append(sample[0])
        legible.append(sample[1])
        number.append(sample[2])
    return PatchSet(np.stack(patches), np.array(legible, bool), np.array(number, np.int32), "font")


def montage(patches: np.ndarray, labels: Sequence[str] | None = None, columns: int = 16, scale: int = 3) -> np.ndarray:
    """One image of many patches (for looking at data), each with an optional caption."""
    n = len(patches)
    h, w = patches.shape[1] * scale, patches.shape[2] * scale
    rows = (n + columns - 1) // columns
    sheet = np.full((rows * (h + 14), columns * w, 3), 255, np.uint8)
    for k in range(n):
        r, c = divmod(k, columns)
        sheet[r * (h + 14) : r * (h + 14) + h, c * w : (c + 1) * w] = cv2.resize(patches[k], (w, h), interpolation=cv2.INTER_NEAREST)
        if labels is not None:
            cv2.putText(sheet, str(labels[k]), (c * w + 2, r * (h + 14) + h + 11), cv2.FONT_HERSHEY_PLAIN, 0.8, (0, 0, 200), 1)
    return sheet
