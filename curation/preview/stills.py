"""A few annotated frames of a curated clip as JPEG stills (the thumbnails of ``soccerfactory report``).

The same drawing as the MP4 preview (:mod:`.render`: boxes and labels, masks, ball, pitch lines,
minimap, header), on only the frames asked for: the clip's footage is decoded from the first to
the last of them at the largest stride that hits them all, not the whole clip.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from soccerfactory.curation.layout import camera_from_row, clip_from_manifest, row_homography
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.preview.compose import annotate_frame
from soccerfactory.curation.preview.draw import MINIMAP_MARGIN_M
from soccerfactory.curation.preview.style import PreviewOptions, kits_from_clips
from soccerfactory.curation.preview.render import _ATHLETE_COLUMNS, _BALL_COLUMNS, _CAMERA_COLUMNS, _by_frame, _header
from soccerfactory.curation.video.clips import clip_hash
from soccerfactory.curation.video.decode import read_frames
from soccerfactory.storage.manifest import ShardManifest
from soccerfactory.storage.shards import read_manifest, read_shard

__all__ = ["render_stills", "still_jpegs"]

_TABLES = ("clips", "frames", "athletes", "ball", "cameras")
#: Width of a still: 960 px keeps the 0.45-scale labels of a 1280-px frame legible and a JPEG near 100 kB.
STILL_WIDTH = 960
JPEG_QUALITY = 85


def render_stills(
    manifest: ShardManifest,
    frame_indices: Sequence[int],
    *,
    minimap: bool = True,
    pitch: PitchModel | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> list[tuple[int, np.ndarray]]:
    """Decode ``frame_indices`` of a committed shard's clip and draw its rows on them.

    Args:
        manifest: The clip's shard.
        frame_indices: Source frame indices inside the clip's range (duplicates are drawn once).
        minimap: Paste the top-down minimap into the corner.
        pitch: Pitch model of the overlay (default 105 x 68 m).
        storage_options: fsspec options for the shard and the footage.

    Returns:
        ``(frame_index, image)`` in frame order; image ``uint8`` ``(height, width, 3)`` BGR at the clip's size.

    Raises:
        ValueError: a frame outside the clip, or the clip cannot be rebuilt from the shard.
        BadInputError: the footage is gone or does not decode (a ``ValueError``).
        CorruptShardError: a table file differs from its manifest.
    """
    wanted = sorted({int(f) for f in frame_indices})
    if not wanted:
        return []
    tables = read_shard(manifest, [t for t in _TABLES if t in manifest.files], storage_options=storage_options)
    clip = clip_from_manifest(manifest, tables.get("clips"))
    first, last = wanted[0], wanted[-1]
    if first < clip.start_frame or last >= clip.stop_frame:
        raise ValueError(f"clip {clip.match_id}/{clip.clip_id}: frames {first}..{last} are outside [{clip.start_frame}, {clip.stop_frame})")
    pitch = pitch or PitchModel()
    athletes = _by_frame(tables.get("athletes"), _ATHLETE_COLUMNS)
    balls = {f: rows[0] for f, rows in _by_frame(tables.get("ball"), _BALL_COLUMNS).items()}
    cameras = {f: rows[0] for f, rows in _by_frame(tables.get("cameras"), _CAMERA_COLUMNS).items()}
    kits = kits_from_clips(tables.get("clips"))
    map_width = min(clip.width // 4, 360)
    map_size = (map_width, int(round(map_width * (pitch.width + 2 * MINIMAP_MARGIN_M) / (pitch.length + 2 * MINIMAP_MARGIN_M))))
    part = dataclasses.replace(clip, start_frame=first, stop_frame=last + 1, content_hash=clip_hash(clip.source_hash, first, last + 1))
    stride = math.gcd(*(f - first for f in wanted)) or 1
    keep, out = set(wanted), []
    for batch in read_frames(part, batch_size=8, stride=stride, storage_options=dict(storage_options or {}) or None):
        for image, frame in zip(batch.images, batch.frame_index.tolist()):
            if frame not in keep:
                continue
            rows, ball, camera_row = athletes.get(frame, []), balls.get(frame), cameras.get(frame)
            labelled = frame if frame in athletes or frame in cameras else None
            # The preview's own frame: kit colours, legend, labels that never overlap, a radar
            # that moves off them (no trail: a still has no past frames drawn).
            drawn = annotate_frame(
                image, rows, ball, homography=row_homography(camera_row), pitch=pitch,
                camera=camera_from_row(camera_row, clip.width, clip.height), kits=kits,
                options=PreviewOptions(radar="bottom-right" if minimap and map_size[0] >= 64 else "off", trail_s=0.0),
                header=_header(clip, frame, labelled, camera_row), frame=frame,
            ).image
            out.append((frame, drawn))
    return out


def still_jpegs(
    manifest_url: str,
    frame_indices: Sequence[int],
    *,
    width: int = STILL_WIDTH,
    storage_options: Mapping[str, Any] | None = None,
) -> list[tuple[int, bytes]]:
    """:func:`render_stills` of the shard at ``manifest_url``, scaled down to ``width`` pixels and JPEG-encoded.

    Returns:
        ``(frame_index, JPEG bytes)`` in frame order.

    Raises:
        FileNotFoundError: no manifest at ``manifest_url``; otherwise as :func:`render_stills`.
    """
    manifest = read_manifest(manifest_url, storage_options)
    encoded = []
    for frame, image in render_stills(manifest, frame_indices, storage_options=storage_options):
        if image.shape[1] > width:
            height = int(round(image.shape[0] * width / image.shape[1]))
            # INTER_AREA: box filtering keeps the 1-px pitch lines and label strokes from aliasing away.
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise ValueError(f"could not encode frame {frame} of {manifest.match_id}/{manifest.clip_id} as JPEG")
        encoded.append((frame, data.tobytes()))
    return encoded
