"""CPU inference runtimes for the project's models: the export cache and the sessions.

``detect.runtime`` and ``calibrate.runtime`` pick how a model runs: ``torch`` (the ``.pt`` file as
trained), ``onnx`` (ONNX Runtime), ``openvino`` (OpenVINO) or ``onnx-int8`` (ONNX Runtime on an
int8 model quantized from the ``onnx`` export by an explicit command,
:mod:`~soccerfactory.curation.training.quantize`). The
exported files are made here, locally, from the bundled (or configured) weights: nothing is
downloaded.

**The export cache.** :func:`cached_export` keys an export by the sha256 of the weights file, the
model kind, the runtime, the export settings (input size, opset, ...) and the versions of the
libraries that write and read the file. The entry is a folder holding the exported files and a
``manifest.json`` (written last). It lives next to the weights (``<weights dir>/.runtimes/``, with
a ``.gitignore`` of its own so a checkout stays clean) when that folder is writable, else under
``$XDG_CACHE_HOME/soccerfactory/runtimes`` (``~/.cache/...``); ``$SOCCERFACTORY_RUNTIME_CACHE``
overrides both. A changed weights file has another sha256, so it gets a new entry (the stale
entries of the same file are removed then). An export is written into a temporary folder beside
the cache and renamed into place in one step, so a reader never sees half an entry, and two
processes exporting at once both succeed: the second rename fails, and that process uses the
first one's entry.

**Safety.** ONNX and OpenVINO IR files are data (a graph and tensors), not pickles: loading one
runs no code from it. The ``.pt`` file an export starts from is still loaded through
:mod:`soccerfactory.curation.safe_load` by the exporters.

**Threads.** :func:`onnx_session` and :func:`openvino_model` set the intra-op thread count
explicitly (default :func:`default_threads`: half the cores this process may run on) and one
inter-op thread: the pipeline calls a model with one batch at a time, so all threads go to that
one request (OpenVINO ``PERFORMANCE_HINT=LATENCY``); ONNX Runtime's idle threads do not spin. OpenVINO's precision is pinned to f32: on a
CPU with AVX512-BF16 or AMX it would default to bf16, and the same config would then give other
labels on another machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np

from soccerfactory.curation.hashing import sha256_file

__all__ = [
    "RUNTIMES",
    "CACHE_ENV",
    "ONNX_RUNTIMES",
    "Export",
    "Runtime",
    "cache_root",
    "cached_export",
    "default_threads",
    "find_export",
    "library_versions",
    "load_session",
    "onnx_session",
    "onnx_to_openvino",
    "openvino_model",
]

Runtime = Literal["torch", "onnx", "openvino", "onnx-int8"]
#: The runtimes a model stage can use, in the order the config lists them.
RUNTIMES: tuple[str, ...] = ("torch", "onnx", "openvino", "onnx-int8")
#: The runtimes whose files ONNX Runtime reads.
ONNX_RUNTIMES: tuple[str, ...] = ("onnx", "onnx-int8")
#: Environment variable naming the cache folder (overrides next-to-weights and the user cache).
CACHE_ENV = "SOCCERFACTORY_RUNTIME_CACHE"
MANIFEST = "manifest.json"
_FORMAT = 1  # manifest layout version; part of the key
_STALE_TEMP_S = 3600.0  # a temporary export folder this old belongs to a process that died


@dataclass(frozen=True)
class Export:
    """One cache entry.

    Attributes:
        directory: The entry's folder.
        entry: What the runtime loads (an ``.onnx`` file, an ``.xml`` file or an ultralytics
            ``*_openvino_model`` folder), inside ``directory``.
        manifest: The parsed ``manifest.json``: weights, sha256, settings, versions, files, ``meta``.
        reused: True when the entry was already there (no export ran in this call).
    """

    directory: Path
    entry: Path
    manifest: dict
    reused: bool

    @property
    def meta(self) -> dict:
        """What the exporter recorded about the model (class names, keypoint count, ...)."""
        return dict(self.manifest.get("meta", {}))


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def library_versions(runtime: str, extra: tuple[str, ...] = ()) -> dict[str, str | None]:
    """Versions of the packages that write (torch, onnx, ``extra``) and read a ``runtime``'s files."""
    if runtime not in RUNTIMES or runtime == "torch":
        raise ValueError(f"runtime must be one of {RUNTIMES[1:]} for an export, got {runtime!r}")
    # onnx-int8: onnxruntime also writes the file (its quantization tool).
    packages = ["torch", "onnx", *extra, "onnxruntime" if runtime in ONNX_RUNTIMES else "openvino"]
    return {name: _version(name) for name in packages}


def default_threads() -> int:
    """Intra-op threads of a session: half the CPUs this process may run on (its affinity mask), at least one.

    The curation pass runs the detector and the keypoint model at the same time (two threads of
    the pipeline), so each gets half the cores. On 2 busy cores a 4 s 720p clip curated at 1.09x
    and 1.12x the torch runtimes with 1 thread per session (two runs) and at 0.98x with 2;
    the detector alone at 720p batch 8 ran 264 ms/frame on 1 thread against 273 on 2.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus // 2)


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def cache_root(weights: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder the exports of ``weights`` are cached in (created).

    ``cache_dir``, else ``$SOCCERFACTORY_RUNTIME_CACHE``, else ``<weights dir>/.runtimes`` when it can
    be written, else ``$XDG_CACHE_HOME/soccerfactory/runtimes`` (``~/.cache`` without it).

    Raises:
        OSError: none of them can be written; names the folders tried.
    """
    tried = []
    explicit = cache_dir or os.environ.get(CACHE_ENV)
    candidates = [Path(explicit).expanduser()] if explicit else [Path(weights).resolve().parent / ".runtimes"]
    if not explicit:
        user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        candidates.append(user_cache / "soccerfactory" / "runtimes")
    for candidate in candidates:
        tried.append(str(candidate))
        if _writable_dir(candidate):
            ignore = candidate / ".gitignore"
            if candidate.name == ".runtimes" and not ignore.exists():
                with contextlib.suppress(OSError):  # cosmetic: keeps `git status` of a checkout clean
                    ignore.write_text("# exported models (soccerfactory.curation.runtimes), rebuilt on demand\n*\n")
            return candidate
    raise OSError(f"no writable folder for exported models (tried {', '.join(tried)}); set {CACHE_ENV} to one")


def _key(weights_sha256: str, kind: str, runtime: str, settings: Mapping[str, Any], versions: Mapping[str, Any]) -> str:
    identity = {"format": _FORMAT, "weights_sha256": weights_sha256, "kind": kind, "runtime": runtime,
                "settings": dict(settings), "versions": dict(versions)}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _read_entry(directory: Path) -> dict | None:
    """The manifest of a complete entry, else None (missing, unreadable or a file is missing/short)."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        for name, size in manifest["files"].items():
            if (directory / name).stat().st_size != size:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return manifest


def _files(directory: Path) -> dict[str, int]:
    return {
        path.relative_to(directory).as_posix(): path.stat().st_size
        for path in sorted(directory.rglob("*")) if path.is_file() and path.name != MANIFEST
    }


def _sweep(root: Path, weights: Path, weights_sha256: str, kind: str, runtime: str) -> None:
    """Remove temporary folders of dead exports and entries of an older version of ``weights``."""
    now = time.time()
    for child in root.iterdir():
        with contextlib.suppress(OSError):
            if child.name.startswith(".tmp-"):
                if now - child.stat().st_mtime > _STALE_TEMP_S:
                    shutil.rmtree(child, ignore_errors=True)
                continue
            manifest = _read_entry(child) if child.is_dir() else None
            if (
                manifest is not None and manifest.get("weights") == str(weights) and manifest.get("kind") == kind
                and manifest.get("runtime") == runtime and manifest.get("weights_sha256") != weights_sha256
            ):
                shutil.rmtree(child, ignore_errors=True)


def _locate(
    weights: str | os.PathLike, kind: str, runtime: str, settings: Mapping[str, Any], versions: Mapping[str, Any] | None,
    cache_dir: str | os.PathLike | None,
) -> tuple[Path, str, dict, Path]:
    """(resolved weights, their sha256, versions, the entry's folder) of an export's cache key."""
    weights = Path(weights).resolve()
    if not weights.is_file():
        raise FileNotFoundError(f"{kind} weights not found: {weights}; point the config at a local file")
    versions = dict(versions if versions is not None else library_versions(runtime))
    digest = sha256_file(weights)
    name = f"{weights.stem}-{runtime}-{_key(digest, kind, runtime, settings, versions)}"
    return weights, digest, versions, cache_root(weights, cache_dir) / name


def find_export(
    weights: str | os.PathLike,
    kind: str,
    runtime: str,
    settings: Mapping[str, Any],
    versions: Mapping[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Export | None:
    """The complete cached entry :func:`cached_export` would return for these arguments, or None;
    never exports (for models built by an explicit command, such as the int8 detector).

    Raises:
        FileNotFoundError: ``weights`` is missing.
    """
    _, _, _, final = _locate(weights, kind, runtime, settings, versions, cache_dir)
    manifest = _read_entry(final)
    return Export(final, final / manifest["entry"], manifest, reused=True) if manifest is not None else None


def cached_export(
    weights: str | os.PathLike,
    kind: str,
    runtime: str,
    settings: Mapping[str, Any],
    export: Callable[[Path, Path], tuple[str, dict]],
    versions: Mapping[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Export:
    """The cached export of ``weights`` for ``runtime``, made by ``export`` when it is not cached yet.

    Args:
        weights: The trained file (``.pt``).
        kind: What the model is (``"detector"``, ``"pitch-keypoints"``): part of the key and the
            entry's name.
        runtime: ``"onnx"``, ``"openvino"`` or ``"onnx-int8"``.
        settings: Export settings (JSON-able): part of the key.
        export: ``export(weights_copy, out_dir) -> (entry_name, meta)``: writes the exported
            files into the empty folder ``out_dir`` from ``weights_copy`` (a private copy of the
            weights inside ``out_dir``, removed afterwards, whose sha256 is the key's) and returns
            the name of what to load and JSON-able facts about the model (class names, ...).
        versions: Library versions (default :func:`library_versions` of ``runtime``): part of the key.
        cache_dir: Cache folder (default :func:`cache_root`).

    Returns:
        The entry, ``reused=False`` when this call exported it.

    Raises:
        FileNotFoundError: ``weights`` is missing.
        OSError: no writable cache folder.
    """
    weights, digest, versions, final = _locate(weights, kind, runtime, settings, versions, cache_dir)
    root, name = final.parent, final.name
    manifest = _read_entry(final)
    if manifest is not None:
        return Export(final, final / manifest["entry"], manifest, reused=True)
    _sweep(root, weights, digest, kind, runtime)
    if final.exists():  # an incomplete entry (a file was deleted or truncated): rebuilt below
        shutil.rmtree(final, ignore_errors=True)
    temp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    try:
        # Export from a private copy: ultralytics writes its output next to the file it loaded,
        # and the copy's sha256 (checked below) is what the manifest vouches for, even if the
        # weights file is replaced while the export runs.
        copy = temp / f"{weights.stem}{weights.suffix}"
        shutil.copyfile(weights, copy)
        started = time.perf_counter()
        entry, meta = export(copy, temp)
        seconds = time.perf_counter() - started
        copied_digest = sha256_file(copy)
        copy.unlink()
        if copied_digest != digest:
            raise RuntimeError(f"{weights} changed while it was being exported to {runtime}; run again")
        if not (temp / entry).exists():
            raise RuntimeError(f"the {runtime} export of {weights} wrote no {entry}")
        manifest = {
            "format": _FORMAT, "kind": kind, "runtime": runtime, "weights": str(weights), "weights_sha256": digest,
            "settings": dict(settings), "versions": versions, "entry": entry, "files": _files(temp), "meta": meta,
            "export_s": round(seconds, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with open(temp / MANIFEST, "w") as handle:  # last: a folder with a manifest is complete
            json.dump(manifest, handle, indent=2)
        temp.chmod(0o755)  # mkdtemp makes it private; the entry is shared like any cache
        try:
            os.rename(temp, final)  # atomic; fails when another process renamed its export first
        except OSError:
            other = _read_entry(final)
            if other is None:
                raise
            return Export(final, final / other["entry"], other, reused=True)
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)
    return Export(final, final / entry, manifest, reused=False)


def onnx_to_openvino(onnx_path: str | os.PathLike, xml_path: str | os.PathLike) -> Path:
    """Convert an ONNX file to OpenVINO IR (``.xml`` + ``.bin``), weights kept in fp32.

    ``compress_to_fp16=False``: OpenVINO's default stores fp16 weights, a lossy change the
    quality checks would have to cover; fp32 keeps the graph's numbers those of the ONNX file.
    """
    from soccerfactory.curation.runtime import configure_offline_openvino

    configure_offline_openvino()
    import openvino as ov

    model = ov.convert_model(str(onnx_path))
    ov.save_model(model, str(xml_path), compress_to_fp16=False)
    return Path(xml_path)


def onnx_session(path: str | os.PathLike, threads: int | None = None, spinning: bool = False) -> Any:
    """An ONNX Runtime CPU session with ``threads`` intra-op threads (default :func:`default_threads`).

    Args:
        path: ``.onnx`` file.
        threads: Intra-op threads; inter-op is one (the graph runs node after node).
        spinning: Let idle intra-op threads spin between nodes (ORT's default). Off here: a
            spinning thread takes a core the decoder, tracker or the other model needs; the
            detector at 720p batch 8 ran 322-440 ms/frame without spinning against 449-460 with
            it (3 interleaved runs on 2 busy cores, same frames).
    """
    from soccerfactory.curation.runtime import configure_offline_onnxruntime

    configure_offline_onnxruntime()
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or default_threads())
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: its warnings about unused initializers are noise
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def openvino_model(path: str | os.PathLike, threads: int | None = None, hint: str = "LATENCY") -> Any:
    """An OpenVINO model compiled for the CPU: f32, ``threads`` threads, one request at a time.

    Args:
        path: ``.xml`` file (its ``.bin`` beside it).
        threads: ``INFERENCE_NUM_THREADS`` (default :func:`default_threads`).
        hint: ``PERFORMANCE_HINT``: ``LATENCY`` (one stream: every thread on one request; what a
            synchronous caller needs) or ``THROUGHPUT`` (several streams, for parallel requests).
    """
    from soccerfactory.curation.runtime import configure_offline_openvino

    configure_offline_openvino()
    import openvino as ov

    core = ov.Core()
    config = {
        "PERFORMANCE_HINT": hint,
        "INFERENCE_NUM_THREADS": int(threads or default_threads()),
        "INFERENCE_PRECISION_HINT": "f32",
    }
    return core.compile_model(core.read_model(str(path)), "CPU", config)


class _Session:
    """``session(x) -> list of outputs`` over either runtime (float32 NCHW numpy in and out)."""

    def __init__(self, runtime: str, path: Path, threads: int | None) -> None:
        self.runtime = runtime
        if runtime in ONNX_RUNTIMES:
            self._session = onnx_session(path, threads)
            self._input = self._session.get_inputs()[0].name
        elif runtime == "openvino":
            self._compiled = openvino_model(path, threads)
        else:
            raise ValueError(f"runtime must be one of {RUNTIMES[1:]} here, got {runtime!r}")

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.runtime in ONNX_RUNTIMES:
            return self._session.run(None, {self._input: x})
        result = self._compiled(x)
        return [result[output] for output in self._compiled.outputs]


def load_session(runtime: str, path: str | os.PathLike, threads: int | None = None) -> Callable[[np.ndarray], list[np.ndarray]]:
    """A callable running the exported model at ``path`` with ``runtime`` (see :func:`onnx_session`,
    :func:`openvino_model`): ``float32`` input array in, the model's outputs as arrays out."""
    return _Session(runtime, Path(path), threads)
