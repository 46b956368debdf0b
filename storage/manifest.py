"""The shard manifest: what one committed shard holds, and its JSON codec.

``manifest.json`` sits in the shard's folder and names every table's file with its row count,
size and sha256; writing it is the shard's commit point (see ``storage/shards.py``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from soccerfactory.storage.fields import SAFE_ID, check_id, check_time

__all__ = ["MANIFEST_NAME", "ShardManifest", "check_shard_key", "clip_content_hash"]

MANIFEST_NAME = "manifest.json"
_MANIFEST_KIND = "soccerfactory.shard_manifest"
_SHARD_KEY = re.compile(r"[0-9a-f]{16,128}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_shard_key(value: object) -> str:
    """``value`` when it is a shard key: 16-128 lowercase hex characters.

    Raises:
        ValueError: naming the rule.
    """
    if not isinstance(value, str) or not _SHARD_KEY.fullmatch(value):
        raise ValueError(f"shard_key {value!r} must be 16-128 lowercase hex characters")
    return value


@dataclass(frozen=True)
class ShardManifest:
    """What one committed shard holds.

    Attributes:
        match_id, clip_id: the clip; safe characters only ([A-Za-z0-9._-]).
        shard_key: lowercase hex hash of everything that decides the content (>= 16 chars).
        schema_version: ``SHARD_SCHEMA_VERSION`` the files were written with.
        config_hash, code_version: what produced the shard.
        created_at: ISO 8601 UTC.
        files: table -> {"path": file name relative to the shard dir, "rows": int, "bytes": int,
            "sha256": hex}.
        metadata: JSON-serialisable extras (resolved config, model versions, clip info).
        url: where manifest.json lives (filled in on write and read; not stored in the file).
    """

    match_id: str
    clip_id: str
    shard_key: str
    schema_version: str
    config_hash: str
    code_version: str
    created_at: str
    # Compared but not hashed (dicts are unhashable): manifests can go in sets and dict keys.
    files: dict[str, dict[str, Any]] = field(hash=False)
    metadata: dict[str, Any] = field(default_factory=dict, hash=False)
    url: str = ""

    def __post_init__(self) -> None:
        check_id("match_id", self.match_id)
        check_id("clip_id", self.clip_id)
        check_shard_key(self.shard_key)
        for name in ("schema_version", "config_hash", "code_version", "url"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string, got {getattr(self, name)!r}")
        if not self.schema_version:
            raise ValueError("schema_version is empty")
        check_time("created_at", self.created_at)
        if not isinstance(self.metadata, dict):
            raise ValueError(f"metadata must be a dict, got {type(self.metadata).__name__}")
        if not isinstance(self.files, dict) or not self.files:
            raise ValueError("files must be a non-empty dict: table -> {path, rows, bytes, sha256}")
        files = {}
        for table, entry in self.files.items():
            check_id("table name", table)
            if not isinstance(entry, Mapping) or set(entry) != {"path", "rows", "bytes", "sha256"}:
                raise ValueError(f"files[{table!r}] must have exactly path, rows, bytes, sha256; got {entry!r}")
            path = entry["path"]
            if not isinstance(path, str) or not SAFE_ID.fullmatch(path) or path.startswith("."):
                raise ValueError(f"files[{table!r}].path {path!r} must be a plain file name in the shard dir")
            for count in ("rows", "bytes"):
                if not isinstance(entry[count], int) or isinstance(entry[count], bool) or entry[count] < 0:
                    raise ValueError(f"files[{table!r}].{count} must be an int >= 0, got {entry[count]!r}")
            if not isinstance(entry["sha256"], str) or not _SHA256.fullmatch(entry["sha256"]):
                raise ValueError(f"files[{table!r}].sha256 {entry['sha256']!r} is not a sha256 hex digest")
            files[table] = dict(entry)
        # Own copies, so the caller's dicts changing later cannot change a committed manifest.
        object.__setattr__(self, "files", files)
        try:
            object.__setattr__(self, "metadata", json.loads(json.dumps(self.metadata, allow_nan=False)))
        except (TypeError, ValueError) as error:
            raise ValueError(f"metadata is not JSON-serialisable: {error}") from None

    @property
    def rows(self) -> dict[str, int]:
        """table -> row count."""
        return {table: entry["rows"] for table, entry in self.files.items()}

    @property
    def dir_url(self) -> str:
        """The shard directory (the manifest's parent)."""
        if not self.url:
            raise ValueError(f"manifest of {self.match_id}/{self.clip_id} has no url; read it with read_manifest")
        return self.url.rsplit("/", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": _MANIFEST_KIND,
            "match_id": self.match_id,
            "clip_id": self.clip_id,
            "shard_key": self.shard_key,
            "schema_version": self.schema_version,
            "config_hash": self.config_hash,
            "code_version": self.code_version,
            "created_at": self.created_at,
            "files": self.files,
            "metadata": self.metadata,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes, url: str = "") -> ShardManifest:
        """Parse and validate a manifest.

        Raises:
            ValueError: naming ``url`` and what is wrong (not JSON, missing or bad field).
        """
        where = url or "<manifest>"
        try:
            data = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"shard manifest {where} is not valid JSON: {error}") from None
        if not isinstance(data, dict) or data.get("kind") != _MANIFEST_KIND:
            raise ValueError(f"shard manifest {where} is not a SoccerFactory shard manifest (kind != {_MANIFEST_KIND!r})")
        required = ("match_id", "clip_id", "shard_key", "schema_version", "config_hash", "code_version", "created_at", "files")
        missing = [name for name in required if name not in data]
        if missing:
            raise ValueError(f"shard manifest {where} lacks {missing}")
        try:
            return cls(**{name: data[name] for name in required}, metadata=data.get("metadata", {}), url=url)
        except (ValueError, TypeError) as error:
            raise ValueError(f"shard manifest {where}: {error}") from None


def clip_content_hash(manifest: ShardManifest) -> str | None:
    """The clip content hash a manifest records (``metadata.clip.content_hash``, as curate writes it)."""
    clip = manifest.metadata.get("clip")
    value = clip.get("content_hash") if isinstance(clip, dict) else None
    return value if isinstance(value, str) else None
