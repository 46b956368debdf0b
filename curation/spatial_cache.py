"""A clip's source-rate pass, kept under the output root so that re-curating after a change to
attribution or voting alone does not detect, track and calibrate the clip again.

:func:`~soccerfactory.curation.spatial.annotate_spatial` is ~90 % of a clip's time (~2 frames a
second on two CPU cores: a 30 s clip takes ~10 min), while attribute + vote + write take seconds.
A shard's key covers the whole config and code, so a changed vote rule re-runs everything; this
cache keeps the :class:`~soccerfactory.curation.spatial.SpatialResult` itself, as one file per
clip, ``<cache_dir>/<clip content hash[:24]>-<key[:24]>.npz``, and reuses it only under the same
:func:`spatial_key`:

* the clip: its content hash (the source's bytes and the clip's frame range), fps and frame size;
* the config sections the source-rate stages read (:data:`SPATIAL_SECTIONS`: decode, detect,
  track, calibrate, refine; never attribute, vote or run), and the values the config derives for
  them (calibrator arguments, view rules, the attribute kit thresholds the detector's frame evidence
  reads);
* the sha256 of every model file those stages may load (detector, role classifier, keypoint model,
  a SAM 2 checkpoint: every :meth:`CurateConfig.model_files` entry not under ``attribute.``; every
  other bundled weights file, such as the trackers' ReID weights; files named in ``track.params``);
* the code: a hash of every module a shard depends on
  (:func:`~soccerfactory.curation.stages.shard_sources`) except those only the attribute, vote and
  layout steps run (:func:`spatial_sources`), plus the versions of the libraries that compute
  boxes and cameras (torch, ultralytics, boxmot, OpenCV, ...);
* the codec's own version and the fields of the dataclasses it stores (:func:`codec_schema`), so
  a field added to :class:`SpatialResult` is a miss, never a half-filled result.

The format is safe to read from a shared root: nothing is unpickled. Arrays go into a
compressed ``.npz`` (read with ``allow_pickle=False``); the structure (dataclasses, tuples, object
arrays of strings such as ``mask_rle``, small arrays such as camera matrices) is JSON, stored in
the same archive as the member ``__meta__``, with the key it was written under. The file is
written whole to a temporary name and moved into place. On load, the key is compared, every
member's CRC is checked by :mod:`zipfile`, and every dataclass is rebuilt through its own
validation; an entry that fails any of this is reported and ignored (the clip is annotated again
and the entry replaced), never a crash.

Size: one entry per clip; storing a clip's pass removes that clip's entries under other keys, so
the cache holds at most one pass per curated clip (~the figure in the README per minute of video,
mostly the athletes' crops and mask RLEs). ``rm -r OUTPUT/.cache/spatial`` is always safe.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import logging
import re
import zipfile
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.calibration.results import CalibrationResult
from soccerfactory.curation.calibration.view import FrameViews
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.config import CurateConfig
from soccerfactory.curation.spatial import SpatialResult
from soccerfactory.curation.types import Detections, Tracks
from soccerfactory.curation.video.clips import ClipSpec
from soccerfactory.storage.fs import resolve_url, write_bytes_atomic

__all__ = [
    "IMPORTED_NOT_RUN", "SPATIAL_CACHE_VERSION", "SPATIAL_SECTIONS", "codec_schema", "decode_spatial", "differences",
    "encode_spatial", "entry_url", "load_spatial", "spatial_code_version", "spatial_key", "spatial_key_payload",
    "spatial_sources", "store_spatial", "unsupported_fields",
]

logger = logging.getLogger(__name__)

SPATIAL_CACHE_VERSION = 1
#: The config sections that annotate_spatial and the backends it runs read (curation/stages.py
#: builds the detector, ball slicer, tracker, track clean-up, calibrator and refiner from these).
SPATIAL_SECTIONS = ("decode", "detect", "track", "calibrate", "refine")
#: Modules (under the shard's sources) that only the attribute, vote and layout steps run: a change
#: to them leaves the spatial pass valid. Every other module, a new one included, invalidates it.
_NOT_SPATIAL = (
    "curation/attribute/", "curation/vote.py", "curation/layout.py", "curation/pipeline.py", "curation/config.py",
    "curation/config_calibrate.py",
    "curation/chain.py", "curation/tracking/jersey_split.py", "curation/tracking/shot_links.py",
    "curation/tracking/shot_geometry.py", "curation/tracking/shot_rescue.py", "storage/schemas.py",
    # This module: its format is versioned by SPATIAL_CACHE_VERSION and codec_schema(), both in the key.
    "curation/spatial_cache.py",
)
#: ... except these, which the spatial pass runs: the crops it cuts, and the team classifier's kit
#: clustering and kit model that the detector's frame evidence runs to decide roles
#: (curation/detection/frame_evidence.py), so a change to them re-runs the pass.
_SPATIAL_ANYWAY = ("curation/attribute/crops.py", "curation/attribute/team.py", "curation/attribute/kits.py")
#: Unhashed modules that the spatial modules import without running code that decides a result: the protocols of
#: ClipStages (team classifier, jersey reader) and the config sections (their values are in the
#: key). tests/curation/test_spatial_cache.py fails when the import graph reaches another one.
IMPORTED_NOT_RUN = (
    "curation/attribute/__init__.py", "curation/attribute/jersey.py", "curation/config.py", "curation/config_calibrate.py", "curation/vote.py",
    # The shot linker's geometry, imported by tracking/shot_appearance.py (whose crop embedding runs
    # in the pass; its linking runs in the per-match step).
    "curation/tracking/shot_geometry.py",
    # Storage I/O: opening a remote clip runs them, but they only open files (with the run's
    # secrets), deciding no box, track or camera.
    "storage/fs.py", "storage/fs_secrets.py", "storage/failpoints.py",
)
#: Libraries whose version can change a box, a track or a camera.
_LIBRARIES = (
    "numpy", "opencv-python", "opencv-python-headless", "torch", "torchvision", "ultralytics", "boxmot", "onnxruntime",
    "openvino", "scipy", "scikit-learn", "lap",
)
#: The dataclasses an entry may hold, by name: decoding builds nothing else.
_TYPES: dict[str, type] = {
    cls.__name__: cls for cls in (SpatialResult, ClipSpec, Tracks, Detections, AthleteCrops, CalibrationResult, Camera, FrameViews)
}
#: Arrays up to this many elements are written into the JSON (camera matrices, 1 500 cameras a
#: minute: one .npz member each would make ~7 500 members a minute).
_INLINE_MAX = 64


# --------------------------------------------------------------------------- the key


def spatial_sources() -> list[tuple[str, Path]]:
    """``(name, file)`` of the modules whose code decides a spatial pass, sorted by name.

    The shard's sources (:func:`~soccerfactory.curation.stages.shard_sources`) less those only
    the attribute, vote and layout steps run, and less this module (bump
    :data:`SPATIAL_CACHE_VERSION` when its codec changes what it writes).
    """
    from soccerfactory.curation.stages import shard_sources  # stages imports the pipeline: not at import time

    def spatial(name: str) -> bool:
        return name in _SPATIAL_ANYWAY or not any(name == n or (n.endswith("/") and name.startswith(n)) for n in _NOT_SPATIAL)

    return [(name, path) for name, path in shard_sources() if spatial(name)]


@functools.lru_cache(maxsize=1)
def spatial_code_version() -> str:
    """sha256 (16 hex) over the names and bytes of :func:`spatial_sources`."""
    digest = hashlib.sha256()
    for name, path in spatial_sources():
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:  # size and mtime: a replaced file is hashed again
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _content(path: Path | str | None) -> str | None:
    """sha256 of a model file's bytes; None when unset or missing (the stage checks say so)."""
    if path is None:
        return None
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return _file_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def _library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _model_contents(config: CurateConfig) -> dict[str, str | None]:
    """sha256 of every model file the source-rate stages may load, by what it is.

    The config's model files not under ``attribute.``; every other bundled ``.pt`` / ``.onnx``
    (a tracker's ReID weights load from ``curation/weights/reid.pt`` through ``track.params``,
    not through ``model_files``: retraining it in place must be a miss); and any file a
    ``track.params`` value names.
    """
    from soccerfactory.curation.bundled import WEIGHTS_DIR

    files = {f.what: _content(f.path) for f in config.model_files() if not f.what.startswith("attribute.")}
    attribute_only = {Path(f.path).name for f in CurateConfig().model_files() if f.what.startswith("attribute.") and f.path}
    for path in sorted(Path(WEIGHTS_DIR).glob("*")):
        if path.suffix in (".pt", ".onnx") and path.name not in attribute_only:
            files[f"bundled/{path.name}"] = _content(path)
    for name, value in sorted(config.track.params.items()):
        if isinstance(value, str) and Path(value).is_file():
            files[f"track.params.{name}"] = _content(value)
    return files


def spatial_key_payload(clip: ClipSpec, config: CurateConfig) -> dict[str, Any]:
    """What :func:`spatial_key` hashes, as JSON types (see the module docstring)."""
    calibrate = config.calibrate
    params = calibrate.calibrator_params() if calibrate.enabled else {}
    # Model paths by content, so a moved checkout or a renamed copy still hits.
    derived = {k: (_content(v) if isinstance(v, Path) else repr(v)) for k, v in sorted(params.items())}
    return {
        "version": SPATIAL_CACHE_VERSION,
        "clip": {"content_hash": clip.content_hash, "kind": clip.kind, "fps": clip.fps, "width": clip.width, "height": clip.height},
        "settings": json.loads(config.model_dump_json(include=set(SPATIAL_SECTIONS))),
        "derived": {"calibrator": derived, "view_rules": repr(calibrate.view_rules()), "detect_runtime": config.detect.device_runtime(),
                    "role_kits": _role_kit_thresholds(config)},
        "weights": _model_contents(config),
        "code": spatial_code_version(),
        "libraries": _library_versions(),
        "schema": codec_schema(),
    }


def _role_kit_thresholds(config: CurateConfig) -> list[float] | None:
    """The attribute section's kit thresholds when the detector's frame evidence reads them
    (curation/detection/frame_evidence.py, through ``configured_roles``), else None."""
    detect, attribute = config.detect, config.attribute
    if detect.role_classifier == "none" or detect.role_kit_slope <= 0:
        return None
    return [attribute.kit_member, attribute.kit_min_spread, attribute.kit_outlier]


def spatial_key(clip: ClipSpec, config: CurateConfig) -> str:
    """sha256 hex of :func:`spatial_key_payload`: equal keys mean the same spatial pass."""
    text = json.dumps(spatial_key_payload(clip, config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- the codec


def codec_schema() -> dict[str, list[str]]:
    """The fields of every dataclass an entry holds, by class name (part of the key)."""
    return {name: [f.name for f in dataclasses.fields(cls)] for name, cls in sorted(_TYPES.items())}


#: Names a field's annotation may use: what :class:`_Encoder` writes, plus the stored dataclasses.
_ANNOTATION_NAMES = {"np.ndarray", "int", "float", "str", "bool", "None", "tuple", "dict", "Mapping", "Kind", *_TYPES}


def unsupported_fields() -> list[str]:
    """``Class.field: annotation`` of every stored field whose type the codec does not know."""
    bad = []
    for name, cls in sorted(_TYPES.items()):
        for field in dataclasses.fields(cls):
            text = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", repr(field.type))
            if set(re.findall(r"[A-Za-z_][\w.]*", text.replace("...", ""))) - _ANNOTATION_NAMES:
                bad.append(f"{name}.{field.name}: {text}")
    return bad


class _Encoder:
    """A value as a JSON tree; arrays over :data:`_INLINE_MAX` elements go to :attr:`arrays`."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _member(self, array: np.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = array
        return key

    def node(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, (bool, str, int, float)) and not isinstance(value, np.generic):
            return value
        if isinstance(value, np.generic):
            return {"~": "scalar", "dtype": value.dtype.str, "value": value.item()}
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            if _TYPES.get(type(value).__name__) is not type(value):
                raise TypeError(f"spatial cache: {where} is a {type(value).__qualname__}, which the codec does not store")
            fields = {f.name: self.node(getattr(value, f.name), f"{where}.{f.name}") for f in dataclasses.fields(value)}
            return {"~": "dataclass", "type": type(value).__name__, "fields": fields}
        if isinstance(value, Mapping):
            if not all(isinstance(k, str) for k in value):
                raise TypeError(f"spatial cache: {where} has keys that are not str")
            return {"~": "dict", "items": [[k, self.node(v, f"{where}[{k!r}]")] for k, v in value.items()]}
        if isinstance(value, (tuple, list)):
            kind = "tuple" if isinstance(value, tuple) else "list"
            packed = self._ragged(value, kind)
            return packed if packed is not None else {"~": kind, "items": [self.node(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        raise TypeError(f"spatial cache: {where} is a {type(value).__qualname__}, which the codec does not store")

    def _array(self, array: np.ndarray, where: str) -> dict[str, Any]:
        if array.dtype == object:  # mask RLEs, view names and reasons: str or None per element
            items = [self.node(v, f"{where}[{i}]") for i, v in enumerate(array.reshape(-1).tolist())]
            return {"~": "objects", "shape": list(array.shape), "items": items}
        if array.dtype.kind not in "biufcUS":
            raise TypeError(f"spatial cache: {where} has dtype {array.dtype}, which the codec does not store")
        if array.size <= _INLINE_MAX and array.dtype.kind in "biuf":  # tolist() is exact for these
            return {"~": "inline", "dtype": array.dtype.str, "shape": list(array.shape), "data": array.reshape(-1).tolist()}
        return {"~": "array", "key": self._member(np.ascontiguousarray(array))}

    def _ragged(self, items: tuple | list, kind: str) -> dict[str, Any] | None:
        """A sequence of arrays of one dtype and rank (crops, masks; None allowed) as one flat array
        and their shapes: thousands of crops a minute would otherwise be thousands of members."""
        arrays = [a for a in items if a is not None]
        if not arrays or not all(isinstance(a, np.ndarray) for a in arrays):
            return None
        dtype, ndim = arrays[0].dtype, arrays[0].ndim
        if dtype == object or any(a.dtype != dtype or a.ndim != ndim for a in arrays):
            return None
        present = np.array([a is not None for a in items], dtype=bool)
        shapes = np.array([a.shape for a in arrays], dtype=np.int64).reshape(len(arrays), ndim)
        flat = np.concatenate([a.reshape(-1) for a in arrays])
        return {"~": "ragged", "kind": kind, "dtype": dtype.str, "data": self._member(flat), "shapes": self._member(shapes),
                "present": self._member(present)}


class _Decoder:
    def __init__(self, archive: Mapping[str, np.ndarray]) -> None:
        self.archive = archive

    def node(self, tree: Any) -> Any:
        if not isinstance(tree, dict):
            if isinstance(tree, list):
                raise ValueError("spatial cache: untagged list")
            return tree
        tag = tree["~"]
        if tag == "scalar":
            return np.dtype(tree["dtype"]).type(tree["value"])
        if tag == "inline":
            return np.array(tree["data"], dtype=np.dtype(tree["dtype"])).reshape(tree["shape"])
        if tag == "array":
            return self.archive[tree["key"]]
        if tag == "objects":
            items = [self.node(v) for v in tree["items"]]
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out.reshape(tree["shape"])
        if tag in ("tuple", "list"):
            items = [self.node(v) for v in tree["items"]]
            return tuple(items) if tag == "tuple" else items
        if tag == "ragged":
            return self._ragged(tree)
        if tag == "dict":
            return {k: self.node(v) for k, v in tree["items"]}
        if tag == "dataclass":
            cls = _TYPES[tree["type"]]  # only the stored types: a KeyError is a bad entry
            return cls(**{k: self.node(v) for k, v in tree["fields"].items()})
        raise ValueError(f"spatial cache: unknown tag {tag!r}")

    def _ragged(self, tree: dict[str, Any]) -> tuple | list:
        flat, shapes, present = (self.archive[tree[k]] for k in ("data", "shapes", "present"))
        if flat.dtype != np.dtype(tree["dtype"]) or int(present.sum()) != len(shapes):
            raise ValueError("spatial cache: ragged arrays do not match their shapes")
        sizes = np.prod(shapes, axis=1, dtype=np.int64)
        if int(sizes.sum()) != flat.size:
            raise ValueError("spatial cache: ragged arrays do not match their shapes")
        ends = np.cumsum(sizes).tolist()
        parts = iter([flat[end - size:end].reshape(shape) for end, size, shape in zip(ends, sizes.tolist(), shapes.tolist())])
        items = [next(parts) if p else None for p in present.tolist()]
        return tuple(items) if tree["kind"] == "tuple" else items


def encode_spatial(result: SpatialResult, key: str) -> bytes:
    """``result`` as the bytes of an ``.npz`` archive (JSON structure in ``__meta__``).

    Raises:
        TypeError: a field holds a type the codec does not store (named by its path).
    """
    encoder = _Encoder()
    tree = encoder.node(result, "SpatialResult")
    meta = {"version": SPATIAL_CACHE_VERSION, "key": key, "schema": codec_schema(), "result": tree}
    text = json.dumps(meta, separators=(",", ":"))  # NaN stays NaN (Python's json reads it back)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, __meta__=np.frombuffer(text.encode(), dtype=np.uint8), **encoder.arrays)
    return buffer.getvalue()


def decode_spatial(data: bytes, key: str | None = None) -> SpatialResult:
    """The :class:`SpatialResult` in ``data`` (from :func:`encode_spatial`).

    Raises:
        ValueError: the entry is not one of this codec's, was written under another key, or its
            content fails a check (a zip CRC, a dataclass's validation); OSError, KeyError,
            TypeError, zipfile.BadZipFile or EOFError for a damaged archive.
    """
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        members = {name: archive[name] for name in archive.files}  # reads (and CRC-checks) every member now
    meta = json.loads(members.pop("__meta__").tobytes().decode())
    if meta.get("version") != SPATIAL_CACHE_VERSION or meta.get("schema") != codec_schema():
        raise ValueError("spatial cache: entry of another codec version or schema")
    if key is not None and meta.get("key") != key:
        raise ValueError("spatial cache: entry written under another key")
    result = _Decoder(members).node(meta["result"])
    if not isinstance(result, SpatialResult):
        raise ValueError("spatial cache: entry holds no SpatialResult")
    return result


def differences(a: Any, b: Any, where: str = "SpatialResult") -> list[str]:
    """Where ``a`` and ``b`` differ (type, dtype, shape or value; NaN equals NaN); empty when equal."""
    if type(a) is not type(b):
        return [f"{where}: {type(a).__name__} != {type(b).__name__}"]
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return [f"{where}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"]
        if a.dtype == object:
            return [d for i, (x, y) in enumerate(zip(a.reshape(-1).tolist(), b.reshape(-1).tolist())) for d in differences(x, y, f"{where}[{i}]")][:5]
        same = np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        return [] if same else [f"{where}: values differ"]
    if dataclasses.is_dataclass(a):
        return [d for f in dataclasses.fields(a) for d in differences(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")]
    if isinstance(a, Mapping):
        if list(a) != list(b):
            return [f"{where}: keys {list(a)} != {list(b)}"]
        return [d for k in a for d in differences(a[k], b[k], f"{where}[{k!r}]")]
    if isinstance(a, (tuple, list)):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    if isinstance(a, float) and a != a and b != b:
        return []
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


# --------------------------------------------------------------------------- the entries


def _prefix(clip: ClipSpec) -> str:
    return clip.content_hash[:24]


def entry_url(cache_dir: str, clip: ClipSpec, key: str) -> str:
    """The file of ``clip``'s pass under ``key``: ``<cache_dir>/<content hash[:24]>-<key[:24]>.npz``."""
    return f"{cache_dir.rstrip('/')}/{_prefix(clip)}-{key[:24]}.npz"


def load_spatial(
    cache_dir: str, clip: ClipSpec, key: str, storage_options: dict | None = None, warn: Callable[[str], None] | None = None,
) -> SpatialResult | None:
    """The cached pass of ``clip`` under ``key``, or None (missing; unreadable or damaged: said to ``warn``).

    The result carries this run's ``clip`` (the same footage may have another id or URL now);
    its ``seconds`` and ``stage_seconds`` are those of the pass that made it.

    Args:
        warn: Told one line per problem; defaults to this module's logger (the flow passes its
            run logger, so the line is in the Prefect run's log).
    """
    warn = warn or logger.warning
    url = entry_url(cache_dir, clip, key)
    try:
        fs, path = resolve_url(url, storage_options)
        if not fs.exists(path):
            return None
        data = fs.cat_file(path)
    except OSError as error:
        warn(f"spatial cache: cannot read {url} ({error}); annotating {clip.clip_id} again")
        return None
    try:
        result = decode_spatial(data, key)
        if result.clip.content_hash != clip.content_hash:
            raise ValueError("spatial cache: entry of another clip")
    except Exception as error:  # noqa: BLE001 - any damage is a miss: the pass runs again and replaces the entry
        detail = str(error).splitlines()[0][:200] if str(error) else ""
        warn(f"spatial cache: ignoring damaged entry {url} ({type(error).__name__}: {detail}); annotating {clip.clip_id} again")
        return None
    return dataclasses.replace(result, clip=clip)


def store_spatial(
    cache_dir: str, result: SpatialResult, key: str, storage_options: dict | None = None, warn: Callable[[str], None] | None = None,
) -> str | None:
    """Write ``result`` under ``key`` (atomically) and remove the clip's entries under other keys.

    Returns:
        The entry's URL, or None when it could not be written (said to ``warn``, by default this
        module's logger: a cache that cannot be written costs the next run a pass, nothing more).

    Raises:
        TypeError: ``result`` holds a type the codec does not store (a programming error, loud).
    """
    data = encode_spatial(result, key)
    url = entry_url(cache_dir, result.clip, key)
    try:
        fs, path = resolve_url(url, storage_options)
        write_bytes_atomic(fs, path, data)
        folder = path.rsplit("/", 1)[0]
        for other in fs.glob(f"{folder}/{_prefix(result.clip)}-*.npz"):
            if other.rsplit("/", 1)[-1] != path.rsplit("/", 1)[-1]:
                fs.rm(other)
    except OSError as error:
        (warn or logger.warning)(f"spatial cache: cannot write {url} ({error})")
        return None
    return url
