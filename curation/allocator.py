"""Keep the C allocator from holding on to freed frames: peak memory flat in the footage's length.

Curation allocates and frees large buffers all the time: decoded 720p frames (2.7 MB each), batches
of them (22 MB), the detector's and calibrator's per-frame arrays, on several threads per clip (a
decode thread, a calibrate thread, one thread per parallel clip). glibc's ``malloc`` serves a
buffer of 128 KiB or more with ``mmap`` at first, but every time such a buffer is freed it raises
that threshold up to the buffer's size (up to 32 MiB), so from the first clip on frames and
batches are carved from the heaps of per-thread arenas (up to 8 per core) and, freed, stay in them:
fragmented, and not returned to the system. Measured (``decode.spatial_stride=25``, two clips at
a time, 2 busy cores): the process's RSS rose from 1,000 to 1,300-1,440 MiB over the first dozen
clips and kept jumping about by 100+ MiB a clip, so the peak of a run grew with the number of
clips it had; with the torch runtimes up to 600 MiB of a 1,600 MiB RSS was free memory that only
``malloc_trim`` gave back. Python's own objects stayed flat (``tracemalloc``: 206 MiB at clip 10
and at clip 19 of a 48-clip run), so nothing in the flow keeps clips alive: the allocator does.

:func:`limit_allocator_retention` fixes the threshold (a fixed value turns glibc's raising off) so
buffers of 4 MiB or more (batches of frames, 1080p frames) come from ``mmap`` and go back to the
system when freed, and caps the arenas at 2. 20-clip runs side by side (same load, two clips at a
time, no Prefect): with the onnx runtimes the default ended at 1,500-1,600 MiB, the arena cap alone
at 1,300-1,400, both settings at 1,215-1,320 from the 5th clip on (183 s against 175); with the
torch runtimes the default climbed from 1,226 to 1,827 MiB, both settings stayed at 870-1,030 from
the first clip (184 s against 164). The cost is mapping: a 1 MiB threshold mapped calibration's
per-frame arrays one by one and cost ~30 %; at 4 MiB it is 5-12 % of wall time on a busy machine. It changes nothing but where memory comes from:
no label changes. Where the C library is not glibc (macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["ARENA_MAX", "MMAP_THRESHOLD", "SYSTEM_MALLOC_VARIABLE", "limit_allocator_retention"]

#: Buffers at least this large (bytes) are mapped and unmapped on their own: every batch of frames
#: (22 MB at 720p) and every 1080p frame; smaller arrays stay in the heap, where they are cheap (a
#: mapped buffer costs a page fault per 4 KiB touched: at 1 MiB the calibrator's per-frame arrays
#: were mapped too, and a run took ~30 % longer; at 4 MiB no slower, see the module docstring).
MMAP_THRESHOLD = 4 << 20
#: Arenas at most: enough for the decode, detect and calibrate threads not to serialise on one
#: lock (the stages hold it for microseconds between milliseconds of native work), few enough that
#: freed memory is not spread over 16 heaps.
ARENA_MAX = 2

#: Set to ``1``: leave the allocator as it is (nothing applied, nothing set in the environment).
SYSTEM_MALLOC_VARIABLE = "SOCCERFACTORY_SYSTEM_MALLOC"
#: glibc's ``mallopt`` parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: The environment variables with which a user sets the same by hand; theirs wins.
_USER_VARIABLES = {"MALLOC_MMAP_THRESHOLD_": _M_MMAP_THRESHOLD, "MALLOC_ARENA_MAX": _M_ARENA_MAX}

_done: dict[str, bool] = {}


def limit_allocator_retention(environ: dict[str, str] | None = None) -> dict[str, bool]:
    """Set glibc's mmap threshold and arena cap for this process (once; later calls are free).

    Also sets ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_ARENA_MAX`` in ``os.environ`` when unset, so
    processes started afterwards (Dask workers, exports) start with the same settings.

    Args:
        environ: The environment to read and extend; defaults to ``os.environ``.

    Returns:
        ``{"mmap_threshold": bool, "arena_max": bool}``: which were applied to this process (False:
        not glibc, or the user set that variable; glibc then applied theirs at start-up).
    """
    if _done:
        return dict(_done)
    environ = os.environ if environ is None else environ
    # The way back to glibc's own behaviour (e.g. to measure the difference, or under another
    # allocator preloaded with LD_PRELOAD): SOCCERFACTORY_SYSTEM_MALLOC=1.
    libc = None if environ.get(SYSTEM_MALLOC_VARIABLE) == "1" else _glibc()
    wanted = {"MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD, "MALLOC_ARENA_MAX": ARENA_MAX}
    applied = {}
    for variable, value in wanted.items():
        name = "mmap_threshold" if variable.startswith("MALLOC_MMAP") else "arena_max"
        mine = variable not in environ
        applied[name] = bool(mine and libc is not None and libc.mallopt(_USER_VARIABLES[variable], value) == 1)
        if mine and libc is not None:
            environ[variable] = str(value)
    _done.update(applied)
    return applied


def _glibc():
    """The loaded glibc with ``mallopt``, or None (another C library, or not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - present only in glibc (musl lacks it)
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc
