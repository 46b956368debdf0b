"""Field rules shared by shard manifests and run records: safe ids and ISO 8601 UTC times.

An id (match_id, clip_id, run_id, a table name) becomes a folder or file name under the root, so it
is limited to ``[A-Za-z0-9._-]``; every time stored is ISO 8601 with a time zone (UTC as written).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

__all__ = ["SAFE_ID", "check_id", "check_time", "utc_now"]

SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,200}")


def check_id(kind: str, value: object) -> str:
    """``value`` when it is a safe id (1-200 characters from [A-Za-z0-9._-], not ``.`` or ``..``).

    Raises:
        ValueError: naming ``kind`` and the rule.
    """
    if not isinstance(value, str) or not SAFE_ID.fullmatch(value) or value in (".", ".."):
        raise ValueError(f"{kind} {value!r} must be 1-200 characters from [A-Za-z0-9._-] (and not '.' or '..')")
    return value


def check_time(kind: str, value: object) -> str:
    """``value`` when it is an ISO 8601 time with a time zone.

    Raises:
        ValueError: naming ``kind`` and what is wrong.
    """
    if not isinstance(value, str):
        raise ValueError(f"{kind} {value!r} must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{kind} {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{kind} {value!r} has no time zone; write UTC, e.g. 2024-05-01T12:00:00+00:00")
    return value


def utc_now() -> str:
    """Now as ISO 8601 UTC with microseconds, the format manifests and run records use."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
