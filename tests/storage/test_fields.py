"""Field rules shared by manifests and run records (``storage/fields.py``): safe ids, ISO 8601 UTC times."""

from __future__ import annotations

from datetime import datetime

import pytest

from soccerfactory.storage.fields import check_id, check_time, utc_now


@pytest.mark.parametrize("good", ["match-1", "clip_0.a", "A" * 200])
def test_safe_ids_pass_unchanged(good):
    assert check_id("clip_id", good) == good


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "clip 1", "é", "A" * 201, 7, None])
def test_unsafe_ids_are_refused_naming_the_field(bad):
    with pytest.raises(ValueError, match="^clip_id "):
        check_id("clip_id", bad)


def test_times_need_a_time_zone_and_utc_now_has_one():
    assert check_time("started_at", "2024-05-01T10:00:00Z") == "2024-05-01T10:00:00Z"
    with pytest.raises(ValueError, match="started_at .* has no time zone"):
        check_time("started_at", "2024-05-01T10:00:00")
    with pytest.raises(ValueError, match="is not an ISO 8601 time"):
        check_time("started_at", "yesterday")
    with pytest.raises(ValueError, match="must be an ISO 8601 string"):
        check_time("started_at", 1714557600)
    now = utc_now()
    assert check_time("now", now) == now and datetime.fromisoformat(now).utcoffset().total_seconds() == 0
