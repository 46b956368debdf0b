"""Filesystem helpers for every storage module: fsspec URLs and atomic writes.

A root is any fsspec URL (a local path, ``file://``, ``memory://``, ``s3://`` with s3fs installed).
An atomic write goes to a temporary file (``.<name>.tmp-<hex>``, see ``TEMP_MARK``) that is then
moved into place, so a reader sees the old file or the new one, never half. On local disks the
move is ``os.replace`` (atomic) and the data is fsynced; on object stores ``fs.mv`` is a copy and a
delete, which is still safe for shards because readers only follow the manifest.
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from typing import Any, Mapping

import fsspec
from fsspec.implementations.local import LocalFileSystem

from soccerfactory.storage.failpoints import failpoint
from soccerfactory.storage.fs_secrets import with_run_secrets

__all__ = ["local_path", "TEMP_MARK", "filesystem_of", "resolve_url", "is_local_url", "to_url", "write_bytes_atomic", "write_json_atomic"]

#: Marks the temporary file of an atomic write (``.<name>.tmp-<hex>``); what dead writers leave.
TEMP_MARK = ".tmp-"


def filesystem_of(url: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem and the path inside it for ``url``, exactly as ``fsspec.core.url_to_fs``
    gives them, with the current run's secrets for the URL's stores added under ``storage_options``
    (``storage.fs_secrets.with_run_secrets``): the one place a filesystem is built from a URL, so
    credentials reach the filesystems that need them and never fsspec's process-wide config."""
    text = os.fspath(url)
    return fsspec.core.url_to_fs(text, **with_run_secrets(text, storage_options))


def resolve_url(url: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem and the path inside it for ``url`` (local paths become absolute,
    trailing slashes dropped); built by :func:`filesystem_of`."""
    fs, path = filesystem_of(url, storage_options)
    return fs, path.rstrip("/") or "/"


def is_local_url(url: str | os.PathLike) -> bool:
    """Whether ``url`` is a plain path or ``file://`` URL (so DuckDB and ``os`` can open it directly)."""
    text = os.fspath(url)
    return "://" not in text or text.startswith(("file://", "local://"))


def local_path(url: str | os.PathLike) -> str | None:
    """The path a local URL names (a plain path, or ``file://`` / ``local://`` stripped); None when remote."""
    text = os.fspath(url)
    if not is_local_url(text):
        return None
    for prefix in ("file://", "local://"):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def to_url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """The URL of ``path`` on ``fs``: a plain absolute path for local files, else the fsspec URL."""
    # Local files are named by their plain absolute path so DuckDB reads them without fsspec.
    return path if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(path)


def _fsync_dir(path: str) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some filesystems do not support fsync on directories
    finally:
        os.close(descriptor)


def write_bytes_atomic(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` on ``fs`` through a temporary file moved into place (see the module docstring)."""
    directory, name = posixpath.split(path)
    fs.makedirs(directory, exist_ok=True)
    temporary = posixpath.join(directory, f".{name}{TEMP_MARK}{uuid.uuid4().hex[:12]}")
    try:
        if isinstance(fs, LocalFileSystem):
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            failpoint("atomic-write:before-replace")
            os.replace(temporary, path)
            _fsync_dir(directory)
        else:
            with fs.open(temporary, "wb") as handle:
                handle.write(data)
            fs.mv(temporary, path)
    except BaseException:
        try:
            if fs.exists(temporary):
                fs.rm(temporary)
        except Exception:  # the original error matters more than a leftover temp file
            pass
        raise


def write_json_atomic(url: str | os.PathLike, obj: Any, storage_options: Mapping[str, Any] | None = None) -> str:
    """Write ``obj`` as JSON to ``url`` so a reader sees the old file or the new one, never half.

    Returns:
        the URL written (local files as plain absolute paths).

    Raises:
        ValueError: when ``obj`` is not JSON-serialisable (NaN and infinities included).
    """
    try:
        text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"cannot write {os.fspath(url)} as JSON: {error}") from None
    fs, path = resolve_url(url, storage_options)
    write_bytes_atomic(fs, path, (text + "\n").encode("utf-8"))
    return to_url(fs, path)
