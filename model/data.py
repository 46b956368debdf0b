"""Training samples straight from the catalog: a SQL filter picks frames, the shards give labels,
the source video gives pixels.

* :func:`select_windows` runs one query over the catalog's views (``frames`` joined with
  ``cameras`` and ``clips``, filtered by the caller's ``WHERE`` clause: valid cameras only, a
  quality threshold, given matches) and cuts each clip's selected frames into windows of
  ``window`` consecutive frames, every ``step`` frames (dense sampling: small ``step``).
* :func:`split_of` puts a whole match in ``train`` or ``eval`` by a hash of its id, so no match
  leaks between the two, and the split never changes when matches are added.
* :class:`ShardWindowDataset` decodes each clip's frames once (through fsspec, with the clip spec
  stored in the shard manifest), resized to the model's input, and builds every target the
  labels support: athlete centre heatmaps and box sizes, pitch keypoint heatmaps projected with
  the frame's homography, the pitch positions of the camera head's image grid, and a caption.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soccerfactory.curation.layout import clip_from_manifest, row_homography
from soccerfactory.model.camera import CAMERA_GRID, camera_points
from soccerfactory.model.config import ModelConfig

__all__ = ["EVENT_CLASSES", "ShardWindowDataset", "Window", "caption_for", "event_class", "frame_homography", "load_event_labels", "select_windows",
           "split_of"]

#: Event classes of the event head; labels of any source map onto them by :func:`event_class`.
EVENT_CLASSES = ("none", "pass", "shot", "out")
_EVENT_SYNONYMS = {
    "pass": "pass", "cross": "pass", "throw-in": "out", "ball out of play": "out", "out": "out", "goal kick": "out",
    "corner": "out", "shot": "shot", "shots on target": "shot", "shots off target": "shot", "goal": "shot",
}


def event_class(label: str) -> int | None:
    """Index in :data:`EVENT_CLASSES` of a label from the renderer or SoccerNet (None: not one we learn)."""
    name = _EVENT_SYNONYMS.get(str(label).strip().lower())
    return EVENT_CLASSES.index(name) if name else None


def load_event_labels(catalog: str | Path) -> dict[str, list[tuple[float, int]]]:
    """``match_id -> [(seconds into the source video, class index)]`` from the catalog's
    ``event_labels`` table (imported SoccerNet labels) and, when registered, ``gt_events``
    (the synthetic renderer's ball events)."""
    from soccerfactory.storage.catalog import connect

    found: dict[str, list[tuple[float, int]]] = {}
    with connect(catalog, read_only=True) as connection:
        names = {row[0] for row in connection.execute("SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()").fetchall()}
        queries = []
        if "event_labels" in names:
            queries.append("SELECT match_id, timestamp_s, label FROM event_labels")
        if "gt_events" in names:
            queries.append("SELECT match_id, timestamp_s, event FROM gt_events")
        for sql in queries:
            for match_id, seconds, label in connection.execute(sql).fetchall():
                index = event_class(label)
                if index is not None:
                    found.setdefault(match_id, []).append((float(seconds), index))
    return found


def split_of(match_id: str, eval_fraction: float = 0.2) -> str:
    """``"train"`` or ``"eval"`` for a match, by a stable hash of its id."""
    if not 0 <= eval_fraction <= 1:
        raise ValueError(f"eval_fraction must be in [0, 1], got {eval_fraction}")
    bucket = int.from_bytes(hashlib.sha256(match_id.encode()).digest()[:8], "little") / 2**64
    return "eval" if bucket < eval_fraction else "train"


@dataclass(frozen=True)
class Window:
    """``len(frames)`` consecutive frames of one clip (source frame indices)."""

    match_id: str
    clip_id: str
    manifest_url: str
    frames: tuple[int, ...]


def select_windows(
    catalog: str | Path,
    where: str | None = None,
    window: int = 4,
    step: int | None = None,
    split: str | None = None,
    eval_fraction: float = 0.2,
    frame_stride: int = 1,
) -> list[Window]:
    """Windows of consecutive selected frames, from the catalog.

    Args:
        catalog: The DuckDB catalog file.
        where: SQL condition over ``frames f``, ``cameras c`` and ``clips k`` (e.g.
            ``"c.valid_camera AND k.match_id = 'm1'"``); ``None`` for every frame.
        window: Frames per window.
        step: Source frames between window starts (default: the window's span, so no frame is
            used twice; ``1`` is the densest sampling).
        frame_stride: Source frames between the frames of a window: ``1`` for dense spatial
            supervision, more for a longer temporal span for the semantic heads (events) at the
            same cost (sparse sampling). A window's span must lie inside the selection.
        split: ``"train"`` or ``"eval"`` to keep only that side of :func:`split_of`.
    """
    from soccerfactory.storage.catalog import connect
    from soccerfactory.storage.locations import read_locator

    if window < 1 or frame_stride < 1 or (step is not None and step < 1):
        raise ValueError(f"window, frame_stride and step must be >= 1, got {window}, {frame_stride}, {step}")
    span = (window - 1) * frame_stride + 1
    step = step or span
    condition = f"WHERE {where}" if where else ""
    sql = f"""
        SELECT f.match_id, f.clip_id, s.manifest_url, list(f.frame_index ORDER BY f.frame_index) AS frames
        FROM frames f
        JOIN cameras c USING (match_id, clip_id, frame_index)
        JOIN clips k USING (match_id, clip_id)
        JOIN shards s USING (match_id, clip_id)
        {condition}
        GROUP BY f.match_id, f.clip_id, s.manifest_url
        ORDER BY f.match_id, f.clip_id
    """
    with connect(catalog, read_only=True) as connection:
        try:
            rows = connection.execute(sql).fetchall()
        except Exception as error:  # a bad WHERE clause: say which, with DuckDB's reason
            raise ValueError(f"cannot select training frames with WHERE {where!r}: {str(error).splitlines()[0]}") from None
        # shards.manifest_url is relative to the catalog's root for local shards: resolve it here.
        locator = read_locator(connection, catalog)
    out = []
    for match_id, clip_id, stored_url, frames in rows:
        manifest_url = locator.resolve(stored_url)
        if split is not None and split_of(match_id, eval_fraction) != split:
            continue
        frames = list(frames)
        run_start = 0
        # Windows never straddle a gap in the selection (a filtered-out frame breaks continuity).
        for i in range(1, len(frames) + 1):
            if i == len(frames) or frames[i] != frames[i - 1] + 1:
                run = frames[run_start:i]
                for start in range(0, len(run) - span + 1, step):
                    out.append(Window(match_id, clip_id, manifest_url, tuple(run[start:start + span:frame_stride])))
                run_start = i
    return out


def frame_homography(cameras: Any, frame: int) -> np.ndarray | None:
    """The shard's pitch-metres -> pixels homography of ``frame`` (a ``cameras`` table as pandas),
    ``None`` when the frame has no valid camera (decoded by
    :func:`~soccerfactory.curation.layout.row_homography`)."""
    rows = cameras[cameras.frame_index == frame]
    return row_homography(rows.iloc[0]) if len(rows) else None


_EVENT_PHRASES = {"pass": "a pass", "shot": "a shot", "out": "the ball going out of play"}


def caption_for(athletes: Any, camera_valid: bool, event: int = -1) -> str:
    """A short caption of one frame's labels (what the alignment head is trained against).

    Captions say what a picture shows at the precision the labels hold and a model can see: where
    on the pitch the play is (third of the length, half of the width), how crowded the picture
    is, and the window's event. Exact counts ("11 players of team A") made nearly every caption
    unique, and team names are not visual (team "A" is whichever kit the clip's clustering found
    first), so neither is used: both were measured unlearnable.
    """
    parts = []
    xs = [x for x in athletes["pitch_x"] if x is not None and math.isfinite(x)]
    ys = [y for y in athletes["pitch_y"] if y is not None and math.isfinite(y)]
    if camera_valid and xs and ys:
        x, y = float(np.median(xs)), float(np.median(ys))
        parts.append("play in the left third" if x < -17.5 else "play in the right third" if x > 17.5 else "play in the middle third")
        parts.append("towards the far touchline" if y < 0 else "towards the near touchline")
    players = sum(1 for role in athletes["role"] if role in ("player", "goalkeeper"))
    parts.append("a crowded picture" if players >= 14 else "an open picture")
    if event > 0:
        parts.append(f"during {_EVENT_PHRASES[EVENT_CLASSES[event]]}")
    return ", ".join(parts)


class ShardWindowDataset:
    """A map-style dataset of :class:`Window` samples (``torch.utils.data.Dataset`` protocol).

    ``dataset[i]`` is ``(frames, targets)``: ``frames`` ``float32`` ``(T, 3, H, W)`` RGB in [0, 1]
    at ``config.image_size``; ``targets`` as :class:`~soccerfactory.model.losses.MultiTaskLoss`
    reads them, without the batch axis, plus ``caption`` (str).

    Decoded clips are kept in memory (at the model's size: 110 kB a frame for the tiny config),
    so a worker decodes each clip once.

    With ``mirror=True`` the dataset has every window twice: indices ``len(windows)`` and up are
    the mirror images, labelled as the mirrored world (the pitch reflected about the halfway
    line, seen by the reflected camera), so "the left third" becomes "the right third" and each
    keypoint takes its mirror's place. A few clips of one side of the pitch then teach both.
    """

    def __init__(self, windows: Sequence[Window], config: ModelConfig, sigma_cells: float = 1.0,
                 storage_options: dict | None = None, events: dict[str, list[tuple[float, int]]] | None = None,
                 event_margin_s: float = 0.5, mirror: bool = False) -> None:
        if not windows:
            raise ValueError("no training windows: the catalog query selected no frames")
        self.windows, self.config, self.sigma, self.storage_options = list(windows), config, float(sigma_cells), storage_options
        # Without any event source the event target stays unlabelled (-1) rather than "none".
        self.events, self.event_margin_s, self.mirror = events, float(event_margin_s), bool(mirror)
        self._frames: dict[str, dict[int, np.ndarray]] = {}
        self._labels: dict[str, dict[str, Any]] = {}
        self._manifests: dict[str, tuple[Any, Any]] = {}

    def __len__(self) -> int:
        return len(self.windows) * (2 if self.mirror else 1)

    def _clip(self, window: Window) -> tuple[dict[int, np.ndarray], dict[str, Any]]:
        import cv2

        from soccerfactory.curation.video.decode import read_frames
        from soccerfactory.storage.shards import read_shard

        key = window.manifest_url
        if key not in self._frames:
            manifest, clip = self._manifest(key)
            height, width = self.config.image_size
            frames = {}
            for batch in read_frames(clip, batch_size=32, storage_options=self.storage_options):
                for index, image in zip(batch.frame_index.tolist(), batch.images):
                    frames[index] = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)[:, :, ::-1].copy()
            tables = read_shard(manifest, tables=("athletes", "cameras"), storage_options=self.storage_options)
            self._frames[key] = frames
            self._labels[key] = {"athletes": tables["athletes"].to_pandas(), "cameras": tables["cameras"].to_pandas(),
                                 "size": (clip.width, clip.height), "fps": clip.fps}
        return self._frames[key], self._labels[key]

    def event_classes(self) -> list[int]:
        """Every sample's event class (``-1``: unlabelled), from the shard manifests alone
        (no frame is decoded): what the trainer balances the event loss with."""
        return [self._event(window, self._manifest(window.manifest_url)[1].fps)
                for window in (self.windows[index % len(self.windows)] for index in range(len(self)))]

    def _manifest(self, url: str) -> tuple[Any, Any]:
        """``(manifest, ClipSpec)`` of a shard, read once."""
        from soccerfactory.storage.shards import read_manifest

        if url not in self._manifests:
            manifest = read_manifest(url, self.storage_options)
            spec = manifest.metadata.get("clip") if isinstance(manifest.metadata, dict) else None
            if not spec:
                raise ValueError(f"shard {url} records no clip spec (metadata.clip); re-curate it to train on it")
            # Decoded without the clips row: training needs the spec the shard recorded, never a stand-in.
            self._manifests[url] = (manifest, clip_from_manifest(manifest))
        return self._manifests[url]

    def _event(self, window: Window, fps: float) -> int:
        """The window's event class: an event within ``event_margin_s`` of its span, else none;
        -1 (unlabelled) when no event source covers the match."""
        if not self.events or window.match_id not in self.events:
            return -1
        first, last = window.frames[0] / fps - self.event_margin_s, window.frames[-1] / fps + self.event_margin_s
        inside = [index for seconds, index in self.events[window.match_id] if first <= seconds <= last]
        return inside[0] if inside else 0

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        import torch

        from soccerfactory.curation.pitch import PitchModel

        mirrored, window = index >= len(self.windows), self.windows[index % len(self.windows)]
        frames, labels = self._clip(window)
        config = self.config
        rows, cols = config.grid
        t = len(window.frames)
        source_w, source_h = labels["size"]
        athletes = np.zeros((t, 5, rows, cols), np.float32)
        keypoints = np.zeros((t, config.n_keypoints, rows, cols), np.float32)
        visible = np.zeros((t, config.n_keypoints), bool)
        camera = np.zeros((t, len(CAMERA_GRID), 2), np.float32)
        camera_mask = np.zeros((t, len(CAMERA_GRID)), bool)
        vs, us = np.mgrid[0:rows, 0:cols]

        def gaussian(u: float, v: float) -> np.ndarray:
            """A bump of ``sigma`` cells at cell coordinates ``(u, v)`` over the patch grid."""
            return np.exp(-((us - u) ** 2 + (vs - v) ** 2) / (2 * self.sigma**2))

        pitch_points = PitchModel().keypoints[: config.n_keypoints]
        for f, frame in enumerate(window.frames):
            boxes = labels["athletes"][labels["athletes"].frame_index == frame]
            xyxy = boxes[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)
            if mirrored:
                xyxy = np.column_stack([source_w - xyxy[:, 2], xyxy[:, 1], source_w - xyxy[:, 0], xyxy[:, 3]])
            for x1, y1, x2, y2 in xyxy:
                u = (x1 + x2) / 2 / source_w * cols - 0.5
                v = (y1 + y2) / 2 / source_h * rows - 0.5
                athletes[f, 0] = np.maximum(athletes[f, 0], gaussian(u, v))
                r, c = int(np.clip(round(v), 0, rows - 1)), int(np.clip(round(u), 0, cols - 1))
                athletes[f, 0, r, c] = 1.0
                athletes[f, 1:, r, c] = ((x2 - x1) / source_w, (y2 - y1) / source_h, u - c + 0.5, v - r + 0.5)
            homography = frame_homography(labels["cameras"], frame)
            if homography is not None:
                if mirrored:  # image x -> width - x of the pitch reflected x -> -x
                    homography = np.array([[-1.0, 0, source_w], [0, 1, 0], [0, 0, 1]]) @ homography @ np.diag([-1.0, 1, 1])
                pixels = np.column_stack([pitch_points[:, :2], np.ones(len(pitch_points))]) @ homography.T
                with np.errstate(divide="ignore", invalid="ignore"):
                    xy = pixels[:, :2] / pixels[:, 2:3]
                inside = (pixels[:, 2] > 0) & (xy[:, 0] >= 0) & (xy[:, 0] < source_w) & (xy[:, 1] >= 0) & (xy[:, 1] < source_h)
                for k in np.flatnonzero(inside):
                    u, v = xy[k, 0] / source_w * cols - 0.5, xy[k, 1] / source_h * rows - 0.5
                    blob = gaussian(u, v)
                    keypoints[f, k] = blob / blob.sum()
                    visible[f, k] = True
                camera[f], camera_mask[f] = camera_points(homography, source_w, source_h)
            if f == t // 2:  # the window's caption describes its middle frame
                columns = {"role": boxes["role"].tolist(), "pitch_y": boxes["pitch_y"].tolist(),
                           "pitch_x": [-x if mirrored and x is not None else x for x in boxes["pitch_x"]]}
                caption_labels = (columns, homography is not None)
        event = self._event(window, labels["fps"])
        images = np.stack([frames[i] for i in window.frames]).astype(np.float32) / 255.0
        if mirrored:
            images = images[:, :, ::-1]
        targets = {
            "athletes": torch.from_numpy(athletes), "athletes_mask": torch.ones(t, dtype=torch.bool),
            "keypoints": torch.from_numpy(keypoints), "keypoints_visible": torch.from_numpy(visible),
            "camera": torch.from_numpy(camera), "camera_mask": torch.from_numpy(camera_mask),
            "event": torch.tensor(event), "caption": caption_for(*caption_labels, event=event),
        }
        return torch.from_numpy(images.transpose(0, 3, 1, 2).copy()), targets
