"""The allocator settings that keep peak RSS flat in the footage's length (curation/allocator.py).

Each check runs in a fresh interpreter: glibc's settings are per process, and applied once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")

# A frame-sized buffer freed once raises glibc's mmap threshold to its size; the next, smaller
# buffer (8 MiB, a third of a 720p batch) then comes from a thread's heap and stays there when
# freed, unless the threshold is fixed. RSS is read from /proc (pages resident).
_PROBE = r"""
import json, os, sys, threading
import numpy as np
from soccerfactory.curation.allocator import limit_allocator_retention

applied = limit_allocator_retention()
page = os.sysconf("SC_PAGE_SIZE")
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * page
kept = {}

def clip():
    big = np.ones(24 << 20, np.uint8); del big          # first free: glibc raises its threshold
    before = rss()
    frame = np.ones(8 << 20, np.uint8); del frame       # the next buffer, touched then freed
    kept["mib"] = (rss() - before) / 2**20

worker = threading.Thread(target=clip); worker.start(); worker.join()
child = __import__("subprocess").run([sys.executable, "-c", "import os; print(os.environ.get('MALLOC_ARENA_MAX'))"],
                                     capture_output=True, text=True).stdout.strip()
print(json.dumps({"applied": applied, "kept_mib": kept["mib"], "child_arena_max": child}))
"""


def _probe(**env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "SOCCERFACTORY_SYSTEM_MALLOC"}
    done = subprocess.run([sys.executable, "-c", _PROBE], env={**environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_freed_frame_goes_back_to_the_system_and_children_inherit_the_settings():
    tuned = _probe()
    assert tuned["applied"] == {"mmap_threshold": True, "arena_max": True}
    assert tuned["kept_mib"] < 1, f"8 MiB freed, {tuned['kept_mib']:.1f} MiB still resident"
    assert tuned["child_arena_max"] == "2"  # a Dask worker started afterwards gets the same


def test_the_system_allocator_keeps_it_and_a_users_own_setting_wins():
    system = _probe(SOCCERFACTORY_SYSTEM_MALLOC="1")
    assert system["applied"] == {"mmap_threshold": False, "arena_max": False}
    assert system["kept_mib"] > 6, "glibc's own behaviour: the freed buffer stays in the heap (what the module fixes)"
    assert system["child_arena_max"] == "None"
    user = _probe(MALLOC_ARENA_MAX="4")
    assert user["applied"] == {"mmap_threshold": True, "arena_max": False}
    assert user["child_arena_max"] == "4"
